"""The neighbourhood of Hannover's 13 Stadtbezirke, read from ``districts.json`` (data, not
code: the file says where the borders come from)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from .domain import Neighbourhood


@cache
def load() -> Neighbourhood:
    text = resources.files(__package__).joinpath("districts.json").read_text("utf-8")
    pairs = [(int(a), int(b)) for a, b in json.loads(text)["pairs"]]
    return Neighbourhood.of_pairs(pairs)
