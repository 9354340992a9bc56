"""The inbox's batch statements probe a batch's subjects by index, whatever the plan cache.

asyncpg prepares every statement, and PostgreSQL may keep a generic plan made while a
table was small. The pipeline benchmark of 1 Dec 2026 showed the inbox's claim and the
subject positions' lookup as hash joins over every position the consumer had (190,000 by
the end): 58 and 28 ms a batch on average, a third of PostgreSQL's time. Here the generic
plan is forced on a table of a few rows, the worst case, and the plans are read.
"""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from ankommen_runtime import inbox
from ankommen_runtime.db import RUNTIME_MIGRATIONS, create_pool, migrate

BATCH = 490
CLAIM_TYPES = "text, uuid[], text[], text[], bigint[], text[], int[], bigint[]"
POSITIONS_TYPES = "text, text[], text[]"


def _array(values: list[object]) -> str:
    return "'{" + ",".join(str(v) for v in values) + "}'"


async def _generic_plan(conn: asyncpg.Connection, sql: str, types: str, args: list[str]) -> str:
    await conn.execute(f"PREPARE probe({types}) AS {sql}")
    try:
        async with conn.transaction():
            rows = await conn.fetch(f"EXPLAIN EXECUTE probe({', '.join(args)})")
    finally:
        await conn.execute("DEALLOCATE probe")
    return "\n".join(r[0] for r in rows)


@pytest.fixture
async def conn(database: str) -> asyncpg.Connection:
    pool = await create_pool(database)
    await migrate(pool, [("runtime", RUNTIME_MIGRATIONS)])
    await pool.close()
    connection = await asyncpg.connect(database)
    await connection.execute(
        """INSERT INTO consumer_subject_position (consumer, topic, subject, last_sequence)
           SELECT 'c', 't', 'household-' || g, 1 FROM generate_series(1, 6) g"""
    )
    await connection.execute("SET plan_cache_mode = force_generic_plan")
    yield connection
    await connection.close()


def _probes_by_subject(plan: str) -> None:
    assert "Hash" not in plan, plan
    assert "Nested Loop" in plan, plan
    assert "Index Cond: ((consumer = $1) AND (topic = " in plan, plan
    assert "AND (subject = " in plan, plan


async def test_the_claim_probes_each_subject_of_a_batch_by_index(conn: asyncpg.Connection) -> None:
    subjects = [f"household-{i}" for i in range(BATCH)]
    plan = await _generic_plan(
        conn,
        inbox.CLAIM,
        CLAIM_TYPES,
        [
            "'c'",
            _array([uuid.uuid4() for _ in subjects]),
            _array(["T"] * BATCH),
            _array(subjects),
            _array([1] * BATCH),
            _array(["t"] * BATCH),
            _array([0] * BATCH),
            _array(list(range(BATCH))),
        ],
    )
    _probes_by_subject(plan)


async def test_the_positions_of_a_batch_are_locked_by_index(conn: asyncpg.Connection) -> None:
    subjects = [f"household-{i}" for i in range(BATCH)]
    plan = await _generic_plan(
        conn, inbox.POSITIONS, POSITIONS_TYPES, ["'c'", _array(["t"] * BATCH), _array(subjects)]
    )
    _probes_by_subject(plan)
