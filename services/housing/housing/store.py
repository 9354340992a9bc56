"""Housing's repository: SQL for sites, on the unit of work's connection."""

from __future__ import annotations

import uuid

import asyncpg
from ankommen_contracts import Pillar

from .domain import Site, SiteStatus

_COLUMNS = "site_id, name, pillar, district, operator, capacity, blocked, occupied, status"


def _site(row: asyncpg.Record) -> Site:
    return Site(
        site_id=row["site_id"],
        name=row["name"],
        pillar=Pillar(row["pillar"]),
        district=row["district"],
        operator=row["operator"],
        capacity=row["capacity"],
        blocked=row["blocked"],
        occupied=row["occupied"],
        status=SiteStatus(row["status"]),
    )


async def add(conn: asyncpg.Connection, site: Site) -> None:
    await conn.execute(
        f"INSERT INTO sites ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        site.site_id,
        site.name,
        site.pillar.value,
        site.district,
        site.operator,
        site.capacity,
        site.blocked,
        site.occupied,
        site.status.value,
    )


async def get(conn: asyncpg.Connection | asyncpg.Pool, site_id: uuid.UUID) -> Site | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM sites WHERE site_id = $1", site_id)
    return _site(row) if row else None


async def list_sites(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    pillar: Pillar | None = None,
    district: int | None = None,
) -> list[Site]:
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM sites
            WHERE ($1::text IS NULL OR pillar = $1) AND ($2::int IS NULL OR district = $2)
            ORDER BY district, name""",
        pillar.value if pillar else None,
        district,
    )
    return [_site(r) for r in rows]
