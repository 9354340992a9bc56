"""The relay claims from a burst by index, in index order, whatever the statistics say.

A burst fills the outbox faster than autovacuum counts it (it looks once a minute). Here
the outbox holds 20,000 unpublished rows it has never analysed, the case in which
PostgreSQL sorted every unpublished row to claim 500 and read every one of them to find
the parked subjects (pipeline benchmark, 1 Dec 2026).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from ankommen_runtime import outbox
from ankommen_runtime.db import RUNTIME_MIGRATIONS, create_pool, migrate
from ankommen_runtime.outbox import OutboxRelay

BURST = 20_000


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database)
    await migrate(pool, [("runtime", RUNTIME_MIGRATIONS)])
    await pool.execute(
        """INSERT INTO outbox (event_id, topic, subject, type, sequence, payload)
           SELECT gen_random_uuid(), 'housing.events', 'site-' || g, 'ShelterOpened', 1, '\\x00'
           FROM generate_series(1, $1) g""",
        BURST,
    )
    yield pool
    await pool.close()


async def _plan(pool: asyncpg.Pool, sql: str, *args: Any) -> str:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(outbox.QUEUE_PLANS)
        rows = await conn.fetch(f"EXPLAIN {sql}", *args)
    return "\n".join(r[0] for r in rows)


async def test_the_claim_reads_the_oldest_rows_in_index_order(pool: asyncpg.Pool) -> None:
    plan = await _plan(pool, outbox.CLAIM_ANY, 500)
    assert "Index Scan using outbox_unpublished" in plan, plan
    assert "Sort" not in plan, plan
    assert "Bitmap" not in plan, plan


async def test_the_claim_behind_parked_subjects_reads_in_index_order(pool: asyncpg.Pool) -> None:
    plan = await _plan(pool, outbox.CLAIM_BEHIND_PARKED, 500, ["housing.events"], ["site-7"])
    assert "Index Scan using outbox_unpublished" in plan, plan
    assert "Sort" not in plan, plan
    assert "Bitmap" not in plan, plan


@pytest.mark.parametrize("query", [outbox.PARKED_SUBJECTS, outbox.PARKED_ROWS])
async def test_the_parked_subjects_are_read_from_the_parked_index_alone(
    pool: asyncpg.Pool, query: str
) -> None:
    plan = await _plan(pool, query)
    assert "Index Scan using outbox_parked" in plan, plan
    assert "outbox_unpublished" not in plan, plan
    assert "Seq Scan" not in plan, plan


async def test_a_relay_round_plans_as_a_queue(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queue's plans are in force for every query the round reads the outbox with
    (they come with the round's lock, in one round trip)."""
    await pool.execute("UPDATE outbox SET parked_at = now()")  # nothing to send: no producer
    settings_seen: list[tuple[str, str, str]] = []
    fetch = asyncpg.Connection.fetch

    async def spy(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
        if "FROM outbox" in query:
            seqscan, bitmapscan = await self.fetchrow(
                "SELECT current_setting('enable_seqscan'), current_setting('enable_bitmapscan')"
            )
            settings_seen.append((query.split()[0], seqscan, bitmapscan))
        return await fetch(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "fetch", spy)
    relay = OutboxRelay(pool, producer=None, service="housing")  # type: ignore[arg-type]
    assert await relay.publish_batch() == 0
    assert settings_seen, "the round read the outbox"
    assert all(seen[1:] == ("off", "off") for seen in settings_seen), settings_seen
    async with pool.acquire() as conn:  # and only in the round's transaction
        assert await conn.fetchval("SELECT current_setting('enable_seqscan')") == "on"
