"""Reporting's read models: idempotent upserts from events, and the queries of the views."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from ankommen_contracts import Pillar
from ankommen_contracts.events.housing import ShelterOpened

from .domain import SiteCapacity


async def site_opened(
    conn: asyncpg.Connection, data: ShelterOpened, *, sequence: int, at: datetime
) -> None:
    # The sequence guard makes the upsert safe against replays and stale redeliveries.
    await conn.execute(
        """INSERT INTO site_capacity (site_id, name, pillar, district, operator, capacity,
                                      status, last_sequence, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8)
           ON CONFLICT (site_id) DO UPDATE SET
               name = EXCLUDED.name, pillar = EXCLUDED.pillar, district = EXCLUDED.district,
               operator = EXCLUDED.operator, capacity = EXCLUDED.capacity, status = 'open',
               last_sequence = EXCLUDED.last_sequence, updated_at = EXCLUDED.updated_at
           WHERE site_capacity.last_sequence < EXCLUDED.last_sequence""",
        data.site_id,
        data.name,
        data.pillar.value,
        data.district,
        data.operator,
        data.capacity,
        sequence,
        at,
    )


async def site_capacities(pool: asyncpg.Pool | asyncpg.Connection) -> list[SiteCapacity]:
    rows = await pool.fetch(
        "SELECT pillar, district, capacity, blocked, occupied, status FROM site_capacity"
    )
    return [
        SiteCapacity(
            pillar=Pillar(r["pillar"]),
            district=r["district"],
            capacity=r["capacity"],
            blocked=r["blocked"],
            occupied=r["occupied"],
            open=r["status"] in ("open", "closing"),
        )
        for r in rows
    ]
