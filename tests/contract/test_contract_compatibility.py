"""No change to the models may break an existing consumer of a released event version."""

from __future__ import annotations

import json

from ankommen_contracts import CATALOGUE, decode
from ankommen_contracts.compat import check_released
from ankommen_contracts.generate import SNAPSHOTS_DIR, default_root, load_snapshots
from ankommen_contracts.schema import schema_id

ROOT = default_root()


def test_current_models_are_compatible_with_every_released_version() -> None:
    problems = check_released(load_snapshots(ROOT))
    assert not problems, "\n".join(problems)


def test_snapshots_are_what_their_names_say() -> None:
    snapshots = load_snapshots(ROOT)
    assert snapshots, f"no snapshots in {ROOT / SNAPSHOTS_DIR}"
    for snap in snapshots:
        assert snap.schema["$id"] == schema_id(snap.event_type, snap.version)
        assert snap.schema["properties"]["type"]["const"] == snap.event_type
        assert snap.schema["properties"]["schema_version"]["const"] == snap.version


def test_every_released_example_is_still_readable() -> None:
    """What a consumer stored years ago decodes today (through upcasters if needed)."""
    for snap in load_snapshots(ROOT):
        assert snap.example is not None, f"{snap.event_type} v{snap.version} has no example"
        decoded = decode(json.dumps(snap.example))
        assert decoded.type == snap.event_type
        assert decoded.schema_version == CATALOGUE[snap.event_type].VERSION
