"""Contract tests read released events as a consumer process would: with its pseudonym key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ankommen_contracts import pseudonym


@pytest.fixture(autouse=True)
def pseudonym_key() -> Iterator[None]:
    """The upcaster of RefugeeAssigned v1 pseudonymises the reference with the process key."""
    before = pseudonym._process_key
    pseudonym.set_process_key(pseudonym.LOCAL_DEVELOPMENT_KEY)
    yield
    pseudonym._process_key = before
