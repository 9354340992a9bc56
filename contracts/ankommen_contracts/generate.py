"""Write (or check) the generated contract documents.

    python -m ankommen_contracts.generate           # write schemas, AsyncAPI, new snapshots
    python -m ankommen_contracts.generate --check   # exit 1 if anything is out of date

Files, relative to the ``contracts/`` directory:

- ``schemas/<Type>.v<N>.json``: JSON Schema of every current event (envelope + data);
  regenerated from the models every time, stale files are removed;
- ``asyncapi.json``: AsyncAPI 3.0 document of all topics, messages and dead-letter topics;
- ``snapshots/<Type>.v<N>.json``: the schema of each *released* version, written once when
  a (type, version) first appears and never overwritten; the compatibility test compares
  the models against them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .compat import Snapshot
from .envelope import EventData
from .registry import CATALOGUE
from .schema import asyncapi_document, dumps, event_schema, schema_filename

SCHEMAS_DIR = "schemas"
SNAPSHOTS_DIR = "snapshots"
ASYNCAPI_FILE = "asyncapi.json"
_SCHEMA_FILE = re.compile(r"^(?P<type>[A-Za-z][A-Za-z0-9]*)\.v(?P<version>[1-9][0-9]*)\.json$")


def default_root() -> Path:
    """The ``contracts/`` source directory this package was imported from."""
    return Path(__file__).resolve().parents[1]


def expected_files(catalogue: Mapping[str, type[EventData]] | None = None) -> dict[str, str]:
    """Generated text by path relative to the root: every schema file and the AsyncAPI."""
    catalogue = CATALOGUE if catalogue is None else catalogue
    files = {
        f"{SCHEMAS_DIR}/{schema_filename(t, m.VERSION)}": dumps(event_schema(m))
        for t, m in sorted(catalogue.items())
    }
    files[ASYNCAPI_FILE] = dumps(asyncapi_document(catalogue))
    return files


def load_snapshots(root: Path) -> list[Snapshot]:
    """Every released snapshot under ``root/snapshots``."""
    snapshots = []
    for path in sorted((root / SNAPSHOTS_DIR).glob("*.json")):
        match = _SCHEMA_FILE.match(path.name)
        if match is None:
            raise ValueError(f"{path}: not named <Type>.v<N>.json")
        snapshots.append(
            Snapshot(match["type"], int(match["version"]), json.loads(path.read_text("utf-8")))
        )
    return snapshots


def _problems(root: Path, files: Mapping[str, str]) -> list[tuple[str, str]]:
    """(path, problem) for every generated file that is missing, different or stale."""
    problems = []
    for rel, text in files.items():
        path = root / rel
        if not path.exists():
            problems.append((rel, "missing"))
        elif path.read_text("utf-8") != text:
            problems.append((rel, "out of date"))
    for path in sorted((root / SCHEMAS_DIR).glob("*.json")):
        rel = f"{SCHEMAS_DIR}/{path.name}"
        if rel not in files:
            problems.append((rel, "stale (no such event type and version in the catalogue)"))
    for rel in files:
        if rel.startswith(f"{SCHEMAS_DIR}/"):
            snapshot = f"{SNAPSHOTS_DIR}/{rel.removeprefix(f'{SCHEMAS_DIR}/')}"
            if not (root / snapshot).exists():
                problems.append((snapshot, "missing (new type or version not yet snapshotted)"))
    return problems


def check(root: Path, catalogue: Mapping[str, type[EventData]] | None = None) -> list[str]:
    """What ``generate`` would change; empty when the checked-in files are up to date."""
    return [f"{rel}: {problem}" for rel, problem in _problems(root, expected_files(catalogue))]


def write(root: Path, catalogue: Mapping[str, type[EventData]] | None = None) -> list[str]:
    """Bring the files up to date; returns what changed. Never overwrites a snapshot."""
    files = expected_files(catalogue)
    (root / SCHEMAS_DIR).mkdir(exist_ok=True)
    (root / SNAPSHOTS_DIR).mkdir(exist_ok=True)
    changed = []
    for rel, problem in _problems(root, files):
        path = root / rel
        if rel.startswith(f"{SNAPSHOTS_DIR}/"):
            schema_rel = f"{SCHEMAS_DIR}/{path.name}"
            path.write_text(files[schema_rel], "utf-8")
            changed.append(f"{rel}: added (released snapshot)")
        elif rel in files:
            path.write_text(files[rel], "utf-8")
            changed.append(f"{rel}: written ({problem})")
        else:
            path.unlink()
            changed.append(f"{rel}: removed ({problem})")
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ankommen_contracts.generate",
        description="Generate the JSON Schemas, the AsyncAPI document and release snapshots.",
    )
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if files are out of date"
    )
    parser.add_argument(
        "--root", type=Path, default=None, help="the contracts/ directory (default: this tree)"
    )
    args = parser.parse_args(argv)
    root: Path = args.root or default_root()
    if not (root / "pyproject.toml").exists():
        parser.error(f"{root} is not the contracts/ source directory; pass --root")
    if args.check:
        problems = check(root)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print("run: python -m ankommen_contracts.generate", file=sys.stderr)
            return 1
        print("contract documents are up to date")
        return 0
    for line in write(root) or ["nothing to do"]:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
