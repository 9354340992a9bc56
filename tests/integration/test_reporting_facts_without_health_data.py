"""Reporting's kept facts lose the health data RefugeeAssigned v2 carried (issue 15), on
real PostgreSQL: at start, facts kept at an older schema version are rewritten at the
current one through the contract's upcasters, exactly as a rebuild from the topics would
keep them, and still read with every member and coarse attribute the views count."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import reporting
from ankommen_contracts import decode
from ankommen_contracts.events.allocation import RefugeeAssigned
from ankommen_contracts.generate import default_root, load_snapshots
from ankommen_runtime.db import RUNTIME_MIGRATIONS, create_pool, migrate
from reporting.domain.facts import FACT_COLUMNS, fact_from_row, fact_row
from reporting.store import upgrade_kept_facts

MIGRATIONS = Path(reporting.__file__).parent / "migrations"


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


async def test_kept_v2_assignments_are_upgraded_losing_special_needs_as_a_rebuild_would(
    database: str,
) -> None:
    pool = await create_pool(database)
    try:
        await migrate(pool, [("runtime", RUNTIME_MIGRATIONS), ("reporting", MIGRATIONS)])
        data = v2_payload()
        at = datetime(2015, 10, 12, 9, 30, tzinfo=UTC)
        event_id = uuid.uuid4()
        row = (event_id, "allocation", "RefugeeAssigned", 2, str(data["household_id"]), 1)
        await pool.execute(
            f"INSERT INTO fact ({', '.join(FACT_COLUMNS)}) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            *row,
            at,
            at,
            json.dumps(data),
        )
        assert "medical" in await pool.fetchval("SELECT data FROM fact")

        assert await upgrade_kept_facts(pool, batch=1) == 1
        assert await upgrade_kept_facts(pool) == 0, "once upgraded, nothing is left to do"
        kept = await pool.fetchrow(f"SELECT {', '.join(FACT_COLUMNS)} FROM fact")
        assert kept is not None
        for health in ("special_needs", "medical", "reduced_mobility"):
            assert health not in kept["data"], health
        assert kept["schema_version"] == RefugeeAssigned.VERSION
        # The same event replayed from its topic by a rebuild is kept exactly so.
        envelope = decode(
            json.dumps(
                {
                    "event_id": str(event_id),
                    "type": "RefugeeAssigned",
                    "schema_version": 2,
                    "source": "allocation",
                    "subject": str(data["household_id"]),
                    "occurred_at": at.isoformat(),
                    "recorded_at": at.isoformat(),
                    "correlation_id": str(uuid.uuid4()),
                    "sequence": 1,
                    "data": data,
                }
            )
        )
        assert tuple(kept[c] for c in FACT_COLUMNS) == fact_row(envelope)
        fact = fact_from_row(kept)
        assert isinstance(fact.data, RefugeeAssigned)
        members = data["members"]
        assert isinstance(members, list)
        assert [(m.person_id, m.age_band.value, m.gender.value) for m in fact.data.members] == [
            (uuid.UUID(m["person_id"]), m["age_band"], m["gender"]) for m in members
        ], "every member, in order, with the attributes the views count"
    finally:
        await pool.close()
