"""Reporting's read models: idempotent folds of events, and the queries of the views.

Every fold on a site row is guarded by the event's per-subject ``sequence``: the inbox
already drops redeliveries, the guard also makes a replay from the beginning harmless.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
from ankommen_contracts import Pillar
from ankommen_contracts.events.housing import ShelterOpened, ShelterPlanned

from .domain import SiteCapacity


async def site_announced(
    conn: asyncpg.Connection,
    data: ShelterOpened | ShelterPlanned,
    *,
    sequence: int,
    at: datetime,
) -> None:
    """ShelterPlanned or ShelterOpened: the site's identity and places."""
    opened = isinstance(data, ShelterOpened)
    await conn.execute(
        """INSERT INTO site_capacity (site_id, name, pillar, district, operator, capacity,
                                      status, last_sequence, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (site_id) DO UPDATE SET
               name = EXCLUDED.name, pillar = EXCLUDED.pillar, district = EXCLUDED.district,
               operator = EXCLUDED.operator, capacity = EXCLUDED.capacity,
               status = EXCLUDED.status, last_sequence = EXCLUDED.last_sequence,
               updated_at = EXCLUDED.updated_at
           WHERE site_capacity.last_sequence < EXCLUDED.last_sequence""",
        data.site_id,
        data.name,
        data.pillar.value,
        data.district,
        data.operator,
        data.capacity if opened else data.planned_capacity,  # type: ignore[union-attr]
        "open" if opened else "planned",
        sequence,
        at,
    )


async def site_changed(
    conn: asyncpg.Connection,
    site_id: uuid.UUID,
    *,
    sequence: int,
    at: datetime,
    capacity: int | None = None,
    blocked: int | None = None,
    status: str | None = None,
    reserved_delta: int = 0,
    occupied_delta: int = 0,
) -> None:
    """Apply one housing event's effect on a known site; older sequences change nothing."""
    await conn.execute(
        """UPDATE site_capacity SET
               capacity = COALESCE($3, capacity),
               blocked = COALESCE($4, blocked),
               status = COALESCE($5, status),
               reserved = GREATEST(reserved + $6, 0),
               occupied = GREATEST(occupied + $7, 0),
               last_sequence = $2,
               updated_at = $8
           WHERE site_id = $1 AND last_sequence < $2""",
        site_id,
        sequence,
        capacity,
        blocked,
        status,
        reserved_delta,
        occupied_delta,
        at,
    )


async def reservation_held(
    conn: asyncpg.Connection, reservation_id: uuid.UUID, site_id: uuid.UUID, places: int
) -> bool:
    """Record a reservation; False if it was known already.

    Housing answers a repeated request by publishing the recorded BedReserved again (a new
    event, so the inbox lets it through): it must not count the places twice.
    """
    inserted = await conn.fetchval(
        """INSERT INTO site_reservation (reservation_id, site_id, places) VALUES ($1, $2, $3)
           ON CONFLICT (reservation_id) DO NOTHING RETURNING true""",
        reservation_id,
        site_id,
        places,
    )
    return bool(inserted)


async def reservation_closed(conn: asyncpg.Connection, reservation_id: uuid.UUID) -> int:
    """Mark a reservation used or released; its places, or 0 if unknown or closed already."""
    places = await conn.fetchval(
        """UPDATE site_reservation SET open = false
           WHERE reservation_id = $1 AND open RETURNING places""",
        reservation_id,
    )
    return int(places or 0)


async def site_capacities(pool: asyncpg.Pool | asyncpg.Connection) -> list[SiteCapacity]:
    rows = await pool.fetch(
        "SELECT pillar, district, capacity, blocked, reserved, occupied, status FROM site_capacity"
    )
    return [
        SiteCapacity(
            pillar=Pillar(r["pillar"]),
            district=r["district"],
            capacity=r["capacity"],
            blocked=r["blocked"],
            occupied=r["occupied"],
            open=r["status"] in ("open", "closing"),
            reserved=r["reserved"],
        )
        for r in rows
    ]
