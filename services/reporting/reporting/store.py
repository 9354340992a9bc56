"""Reporting's SQL: the facts (live and rebuilt beside), their version, rebuild records.

Facts are written by one statement per consumed batch (live) or by COPY (rebuild), in
``domain.FACT_COLUMNS`` order, always from ``domain.fact_row``. What the handlers write
through is the port ``ReportingStore`` (``tx.store``): ``PgReportingStore`` here, the tests'
``InMemoryReportingStore`` in memory. The read side (the views fold ``load_facts``) and
the rebuild's bulk work stay module functions over a connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import asyncpg
from ankommen_contracts import CATALOGUE
from ankommen_runtime.store import Db

from .domain.facts import FACT_COLUMNS, FACT_TYPES, Fact, FactRow, fact_from_row, payload

LIVE = "fact"
NEXT = "fact_next"
NEXT_OFFSETS = "fact_next_offset"

_COLUMNS = ", ".join(FACT_COLUMNS)
_VERSION_ARG = len(FACT_TYPES) + 1
INSERT_FACTS = f"""
INSERT INTO {{table}} ({_COLUMNS}, kept_version)
SELECT *, ${_VERSION_ARG}::bigint
FROM unnest({", ".join(f"${i}::{t}[]" for i, t in enumerate(FACT_TYPES, 1))})
ON CONFLICT (event_id) DO NOTHING"""


class ReportingStore(Protocol):
    """What reporting's handlers keep (``tx.store``), inside the consumer's transaction."""

    async def add_facts(self, rows: Sequence[FactRow]) -> None:
        """Keep the facts of a consumed batch (``domain.fact_row`` rows) under the next
        version, one version per non-empty batch, so a reader that has seen version n has
        seen every fact of the versions up to n. A fact whose ``event_id`` is kept already
        (a redelivery) changes nothing; an empty batch takes no version."""
        ...


class PgReportingStore:
    """``ReportingStore`` on PostgreSQL: the live ``fact`` table, or the table a rebuild
    fills beside it (``table=NEXT``)."""

    def __init__(self, db: Db, table: str = LIVE) -> None:
        self.db = db
        self.table = table

    async def add_facts(self, rows: Sequence[FactRow]) -> None:
        """The batch first takes the next version (locking the one version row until it
        commits), so versions become visible in order."""
        if not rows:
            return
        version = await self.db.fetchval(
            "UPDATE fact_version SET version = version + 1 RETURNING version"
        )
        await self.db.execute(
            INSERT_FACTS.format(table=self.table),
            *(list(col) for col in zip(*rows, strict=True)),
            version,
        )


async def fact_version(db: Db) -> tuple[int, int]:
    """(generation, version): the generation moves when a rebuild switches tables."""
    row = await db.fetchrow("SELECT generation, version FROM fact_version")
    return int(row["generation"]), int(row["version"])


async def load_facts(db: Db, table: str = LIVE, *, after: int | None = None) -> list[Fact]:
    """The kept facts (those of versions after ``after``), decoded to their contract models."""
    if after is None:
        rows = await db.fetch(f"SELECT {_COLUMNS} FROM {table}")
    else:
        rows = await db.fetch(f"SELECT {_COLUMNS} FROM {table} WHERE kept_version > $1", after)
    # Decoding is CPU work, a contract model per fact (1.6 million in the hundredfold bench
    # run). In the event loop it would stop the consumer's Kafka heartbeats (the group
    # expels a member silent for its session timeout) and every other request.
    return await asyncio.to_thread(_decoded, rows)


def _decoded(rows: Sequence[asyncpg.Record]) -> list[Fact]:
    return [fact_from_row(tuple(r)) for r in rows]


async def upgrade_kept_facts(pool: asyncpg.Pool, batch: int = 1000) -> int:
    """Rewrite every fact kept at an older schema version as the contract's current one
    (through its upcasters, ``domain.facts.payload``); how many.

    Facts are kept as they were decoded, so after a version bump the older ones would
    differ from the same events replayed by a rebuild (which decodes them at the current
    version) and keep what the new version dropped: RefugeeAssigned v2's members' special
    needs, health data that v3 no longer carries. Runs at start, in batches, each its own
    transaction; a crash leaves the rest for the next start.
    """
    current = {kind: model.VERSION for kind, model in CATALOGUE.items()}
    upgraded = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"""SELECT event_id, type, schema_version, data FROM {LIVE} f
                    WHERE f.schema_version < (
                        SELECT v FROM unnest($1::text[], $2::int[]) AS c(t, v) WHERE c.t = f.type)
                    ORDER BY event_id LIMIT $3 FOR UPDATE SKIP LOCKED""",
                list(current),
                list(current.values()),
                batch,
            )
            if not rows:
                return upgraded
            await conn.executemany(
                f"UPDATE {LIVE} SET schema_version = $2, data = $3 WHERE event_id = $1",
                [
                    (
                        r["event_id"],
                        current[r["type"]],
                        payload(r["type"], r["schema_version"], r["data"]).model_dump_json(),
                    )
                    for r in rows
                ],
            )
            upgraded += len(rows)


async def count_facts(db: Db, table: str = LIVE) -> int:
    return int(await db.fetchval(f"SELECT count(*) FROM {table}"))


# -- rebuild beside the live table -------------------------------------------------------


async def prepare_next(conn: asyncpg.Connection, *, resume: bool) -> dict[tuple[str, int], int]:
    """Create the table the rebuild fills (no index until it is full) and its offsets.

    With ``resume`` an unfinished rebuild carries on from the offsets it recorded with its
    facts; otherwise both start empty. Returns the recorded next offsets.
    """
    if not resume:
        await conn.execute(f"DROP TABLE IF EXISTS {NEXT}; DROP TABLE IF EXISTS {NEXT_OFFSETS}")
    await conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {NEXT} (LIKE {LIVE} INCLUDING DEFAULTS);
            CREATE TABLE IF NOT EXISTS {NEXT_OFFSETS} (
                topic text NOT NULL, kafka_partition integer NOT NULL,
                next_offset bigint NOT NULL, PRIMARY KEY (topic, kafka_partition))"""
    )
    rows = await conn.fetch(f"SELECT topic, kafka_partition, next_offset FROM {NEXT_OFFSETS}")
    return {(r["topic"], r["kafka_partition"]): r["next_offset"] for r in rows}


async def copy_next(
    conn: asyncpg.Connection, rows: Sequence[FactRow], offsets: dict[tuple[str, int], int]
) -> None:
    """One chunk of the replay: its facts by COPY and the offsets after them, atomically."""
    async with conn.transaction():
        if rows:
            await conn.copy_records_to_table(NEXT, records=rows, columns=FACT_COLUMNS)
        if offsets:
            topics, partitions, nexts = zip(
                *((t, p, o) for (t, p), o in offsets.items()), strict=True
            )
            await conn.execute(
                f"""INSERT INTO {NEXT_OFFSETS} (topic, kafka_partition, next_offset)
                    SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[])
                    ON CONFLICT (topic, kafka_partition)
                    DO UPDATE SET next_offset = EXCLUDED.next_offset""",
                list(topics),
                list(partitions),
                list(nexts),
            )


async def index_next(conn: asyncpg.Connection) -> int:
    """Key the rebuilt table once it is full; returns duplicate rows removed first.

    A relay publishes at least once, so an event may be on its topic twice; the live
    inbox drops the second, the rebuild keeps the first here.
    """
    keyed = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = $1)", f"{NEXT}_pkey"
    )
    if keyed:  # a resumed rebuild that had been keyed before it stopped
        return 0
    removed = await conn.execute(
        f"""DELETE FROM {NEXT} a USING {NEXT} b
            WHERE a.event_id = b.event_id AND a.ctid > b.ctid"""
    )
    await conn.execute(f"ALTER TABLE {NEXT} ADD PRIMARY KEY (event_id)")
    await conn.execute(f"CREATE INDEX {NEXT}_kept_version ON {NEXT} (kept_version)")
    return int(removed.split()[-1])


REBUILD_LOCK = 0x18_2088
"""Advisory lock held by the one rebuild that may run against a database at a time."""


async def claim_rebuild(conn: asyncpg.Connection) -> bool:
    """Take the rebuild's advisory lock on this connection; False if another rebuild has it."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", REBUILD_LOCK))


async def next_offsets(conn: asyncpg.Connection) -> dict[tuple[str, int], int]:
    rows = await conn.fetch(f"SELECT topic, kafka_partition, next_offset FROM {NEXT_OFFSETS}")
    return {(r["topic"], r["kafka_partition"]): r["next_offset"] for r in rows}


CHECKSUM = """SELECT count(*) AS n,
       coalesce(md5(string_agg(md5(concat_ws('|', {cols})), '' ORDER BY event_id)), '') AS sum
FROM {table} {where}"""


async def checksum(
    conn: asyncpg.Connection, table: str, *, only_live: bool = False
) -> tuple[int, str]:
    """(rows, md5 over every column of every row in event-id order).

    ``only_live``: the rows of ``table`` whose events the live table has too.
    """
    where = f"t WHERE EXISTS (SELECT 1 FROM {LIVE} l WHERE l.event_id = t.event_id)"
    row = await conn.fetchrow(
        CHECKSUM.format(cols=", ".join(FACT_COLUMNS), table=table, where=where if only_live else "")
    )
    return int(row["n"]), str(row["sum"])


async def lock_live(conn: asyncpg.Connection) -> None:
    """Hold live writes (the live consumer waits; readers go on) until the switch.

    The version row first, as a live batch takes it first (``add_facts``): a batch then
    waits at its first step and never holds the row while waiting for the table.
    """
    await conn.execute("SELECT version FROM fact_version FOR UPDATE")
    await conn.execute(f"LOCK TABLE {LIVE} IN EXCLUSIVE MODE")


async def switch(conn: asyncpg.Connection, run: dict[str, Any]) -> None:
    """Put the rebuilt table in place of the live one (inside the caller's transaction)."""
    await conn.execute(
        f"""ALTER TABLE {LIVE} RENAME TO fact_old;
            ALTER INDEX fact_pkey RENAME TO fact_old_pkey;
            ALTER INDEX fact_kept_version RENAME TO fact_old_kept_version;
            ALTER TABLE {NEXT} RENAME TO {LIVE};
            ALTER INDEX {NEXT}_pkey RENAME TO fact_pkey;
            ALTER INDEX {NEXT}_kept_version RENAME TO fact_kept_version;
            DROP TABLE fact_old;
            DROP TABLE {NEXT_OFFSETS};
            UPDATE fact_version SET version = version + 1, generation = generation + 1"""
    )
    await conn.execute(
        """INSERT INTO rebuild_run (started_at, switched_at, events, facts, events_per_s,
                                    processes, checksum, live_checksum, behind_live)
           VALUES ($1, now(), $2, $3, $4, $5, $6, $7, $8)""",
        run["started_at"],
        run["events"],
        run["facts"],
        run["events_per_s"],
        run["processes"],
        run["checksum"],
        run["live_checksum"],
        run["behind_live"],
    )


async def last_rebuild(db: Db) -> dict[str, Any] | None:
    row = await db.fetchrow("SELECT * FROM rebuild_run ORDER BY id DESC LIMIT 1")
    return dict(row) if row else None


def as_utc(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
