"""A batch of events a consumer does not handle moves its subjects' positions in one
statement (``inbox.advance_unless_held``), exactly as the batch's transaction did: held
subjects keep theirs, and the gaps come out as ``inbox.advance`` counts them.

Against real PostgreSQL: random batches (duplicates, old sequences, jumps, held subjects)
through both, each on a database of its own, compared position by position.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from ankommen_runtime import inbox
from ankommen_runtime.db import RUNTIME_MIGRATIONS, create_pool, migrate

CONSUMER = "reporting"
TOPICS = ("housing.events", "allocation.events")
SUBJECTS = [f"site-{n}" for n in range(6)]


@pytest.fixture
async def pools(new_database: Callable[[], Awaitable[str]]) -> AsyncIterator[list[asyncpg.Pool]]:
    made = []
    for _ in range(2):
        pool = await create_pool(await new_database())
        await migrate(pool, [("runtime", RUNTIME_MIGRATIONS)])
        made.append(pool)
    yield made
    for pool in made:
        await pool.close()


async def _as_before(pool: asyncpg.Pool, seen: list[tuple[str, str, int]]) -> int:
    """What ``ConsumerPolicy`` did with such a batch: holds first, then the transaction."""
    held = await inbox.holds_among(pool, CONSUMER, [(t, s) for t, s, _ in seen])
    async with pool.acquire() as conn, conn.transaction():
        return await inbox.advance(
            conn, CONSUMER, [(t, s, q) for t, s, q in seen if (t, s) not in held]
        )


async def _positions(pool: asyncpg.Pool) -> list[tuple[str, str, int, int]]:
    rows = await pool.fetch(
        "SELECT topic, subject, last_sequence, gaps FROM consumer_subject_position "
        "WHERE consumer = $1 ORDER BY topic, subject",
        CONSUMER,
    )
    return [tuple(r) for r in rows]


async def test_random_batches_move_positions_and_count_gaps_as_the_transaction_did(
    pools: list[asyncpg.Pool],
) -> None:
    before, now = pools
    rng = random.Random(2088)
    for pool in pools:  # two subjects on hold in both
        async with pool.acquire() as conn:
            for subject in SUBJECTS[:2]:
                await inbox.hold(conn, CONSUMER, TOPICS[0], subject, reason="dead_letter")
    gaps_before = gaps_now = 0
    for _ in range(60):
        seen = [
            (rng.choice(TOPICS), rng.choice(SUBJECTS), rng.randint(1, 40))
            for _ in range(rng.randint(1, 12))
        ]
        expected = await _as_before(before, seen)
        found = await inbox.advance_unless_held(now, CONSUMER, seen)
        assert found == expected, seen
        gaps_before, gaps_now = gaps_before + expected, gaps_now + found
        assert await _positions(now) == await _positions(before)
    assert gaps_now > 0, "the batches had jumps: a check that counted none proves nothing"
    held = await now.fetch(
        "SELECT 1 FROM consumer_subject_position WHERE topic = $1 AND subject = ANY($2)",
        TOPICS[0],
        SUBJECTS[:2],
    )
    assert held == [], "a held subject keeps its position"


async def test_a_subject_met_first_counts_the_sequences_before_it_as_missing(
    pools: list[asyncpg.Pool],
) -> None:
    pool = pools[0]
    assert await inbox.advance_unless_held(pool, CONSUMER, [(TOPICS[0], "s", 4)]) == 3
    assert await inbox.advance_unless_held(pool, CONSUMER, [(TOPICS[0], "s", 5)]) == 0
    assert await inbox.advance_unless_held(pool, CONSUMER, [(TOPICS[0], "s", 3)]) == 0
    assert await _positions(pool) == [(TOPICS[0], "s", 5, 3)]
