"""Reporting's kept facts lose the health data RefugeeAssigned v2 carried (issue 15), on
real PostgreSQL: the migration strips each member's special needs, and the fact still
reads (upcast to v3) with every member and coarse attribute the views count."""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import reporting
from ankommen_contracts.events.allocation import RefugeeAssigned
from ankommen_contracts.generate import default_root, load_snapshots
from ankommen_runtime.db import RUNTIME_MIGRATIONS, create_pool, migrate
from reporting.domain.facts import FACT_COLUMNS, fact_from_row

MIGRATIONS = Path(reporting.__file__).parent / "migrations"
SCRUB = "0005_no_special_needs_in_facts.sql"


def v2_payload() -> dict[str, object]:
    [snapshot] = [
        s
        for s in load_snapshots(default_root())
        if (s.event_type, s.version) == ("RefugeeAssigned", 2)
    ]
    assert snapshot.example is not None
    data = json.loads(json.dumps(snapshot.example["data"]))
    data["members"][0]["special_needs"] = ["medical", "wheelchair"]
    data["members"][1]["special_needs"] = ["reduced_mobility"]
    return data


async def test_kept_v2_assignments_lose_their_special_needs_and_still_read(
    database: str, tmp_path: Path
) -> None:
    before = tmp_path / "migrations"
    before.mkdir()
    for path in sorted(MIGRATIONS.glob("*.sql")):
        if path.name < SCRUB:
            shutil.copy(path, before / path.name)
    pool = await create_pool(database)
    try:
        await migrate(pool, [("runtime", RUNTIME_MIGRATIONS), ("reporting", before)])
        data = v2_payload()
        at = datetime(2015, 10, 12, 9, 30, tzinfo=UTC)
        row = (uuid.uuid4(), "allocation", "RefugeeAssigned", 2, str(data["household_id"]), 1)
        await pool.execute(
            f"INSERT INTO fact ({', '.join(FACT_COLUMNS)}) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            *row,
            at,
            at,
            json.dumps(data),
        )
        assert "medical" in await pool.fetchval("SELECT data FROM fact")

        applied = await migrate(pool, [("runtime", RUNTIME_MIGRATIONS), ("reporting", MIGRATIONS)])
        assert applied == [f"reporting/{SCRUB}"]
        kept = await pool.fetchrow(f"SELECT {', '.join(FACT_COLUMNS)} FROM fact")
        assert kept is not None
        for health in ("special_needs", "medical", "wheelchair", "reduced_mobility"):
            assert health not in kept["data"], health
        fact = fact_from_row(kept)
        assert isinstance(fact.data, RefugeeAssigned)
        members = data["members"]
        assert isinstance(members, list)
        assert [(m.person_id, m.age_band.value, m.gender.value) for m in fact.data.members] == [
            (uuid.UUID(m["person_id"]), m["age_band"], m["gender"]) for m in members
        ], "every member, in order, with the attributes the views count"
    finally:
        await pool.close()
