"""A batch's events are claimed and its subjects' positions moved in one statement
(``inbox.claim_and_advance``), exactly as the two calls before it did: ``claim`` (kept
here as it was) and ``advance`` over the ignored events and the ones claimed.

Against real PostgreSQL: each case's batches go through both paths, each on a consumer of
its own, and must return the same fresh ids and gaps and leave the same inbox rows and
positions; random batches (duplicates across and within batches, ignored events, jumps,
old sequences, purges) likewise.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import asyncpg
import pytest
from ankommen_runtime import inbox
from ankommen_runtime.db import RUNTIME_MIGRATIONS, create_pool, migrate
from ankommen_runtime.inbox import InboxEntry

BEFORE, NOW = "before", "now"
TOPICS = ("housing.events", "allocation.events")
T = TOPICS[0]


@pytest.fixture
async def pool(new_database: Callable[[], Awaitable[str]]) -> AsyncIterator[asyncpg.Pool]:
    made = await create_pool(await new_database())
    await migrate(made, [("runtime", RUNTIME_MIGRATIONS)])
    yield made
    await made.close()


async def _claim(
    conn: asyncpg.Connection, consumer: str, entries: Sequence[InboxEntry]
) -> set[uuid.UUID]:
    """``inbox.claim`` as it was: record the entries, return the event ids not seen before."""
    if not entries:
        return set()
    rows = await conn.fetch(
        """INSERT INTO inbox (consumer, event_id, type, subject, sequence, topic,
                              kafka_partition, kafka_offset)
           SELECT $1, e.event_id, e.type, e.subject, e.sequence, e.topic,
                  e.kafka_partition, e.kafka_offset
           FROM unnest($2::uuid[], $3::text[], $4::text[], $5::bigint[],
                       $6::text[], $7::int[], $8::bigint[]) WITH ORDINALITY
                AS e(event_id, type, subject, sequence, topic, kafka_partition, kafka_offset, n)
           WHERE NOT EXISTS (
               SELECT 1 FROM consumer_subject_position p
               WHERE p.consumer = $1 AND p.topic = e.topic AND p.subject = e.subject
                 AND e.sequence <= p.purged_through)
           ORDER BY e.n  -- applied_order follows the batch
           ON CONFLICT (consumer, event_id) DO NOTHING
           RETURNING event_id""",
        consumer,
        [e.event_id for e in entries],
        [e.type for e in entries],
        [e.subject for e in entries],
        [e.sequence for e in entries],
        [e.topic for e in entries],
        [e.partition for e in entries],
        [e.offset for e in entries],
    )
    return {r["event_id"] for r in rows}


async def _as_before(
    conn: asyncpg.Connection,
    consumer: str,
    entries: Sequence[InboxEntry],
    ignored: Sequence[tuple[str, str, int]],
) -> tuple[set[uuid.UUID], int]:
    """What ``ConsumerPolicy._apply_in`` did: claim, keep each claimed event's first
    occurrence, then advance over the ignored events and those."""
    fresh = await _claim(conn, consumer, entries)
    todo: list[InboxEntry] = []
    for entry in entries:
        if entry.event_id in fresh:
            fresh.discard(entry.event_id)  # the same event twice in one batch
            todo.append(entry)
    gaps = await inbox.advance(
        conn, consumer, [*ignored, *((e.topic, e.subject, e.sequence) for e in todo)]
    )
    return {e.event_id for e in todo}, gaps


async def _state(pool: asyncpg.Pool, consumer: str) -> tuple[list[tuple], list[tuple]]:
    """A consumer's inbox rows in applied order, and its positions."""
    rows = await pool.fetch(
        """SELECT event_id, type, subject, sequence, topic, kafka_partition, kafka_offset
           FROM inbox WHERE consumer = $1 ORDER BY applied_order""",
        consumer,
    )
    positions = await pool.fetch(
        """SELECT topic, subject, last_sequence, purged_through, gaps
           FROM consumer_subject_position WHERE consumer = $1 ORDER BY topic, subject""",
        consumer,
    )
    return [tuple(r) for r in rows], [tuple(p) for p in positions]


def _id(label: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_OID, label)


def _entry(label: str, subject: str, sequence: int, topic: str = T) -> InboxEntry:
    return InboxEntry(_id(label), "ShelterOpened", subject, sequence, topic, 0, sequence)


@dataclass(frozen=True)
class Batch:
    """A batch: handled events (label, subject, sequence), ignored (topic, subject,
    sequence), and what the statement must find."""

    events: list[tuple[str, str, int]]
    ignored: list[tuple[str, str, int]] = field(default_factory=list)
    fresh: set[str] = field(default_factory=set)
    gaps: int = 0


@dataclass(frozen=True)
class Purge:
    """Every inbox row at or below its subject's position purged (``purged_through``)."""


@dataclass(frozen=True)
class Adopted:
    """Inbox rows claimed under the Kafka group's name and adopted: no position moved."""

    events: list[tuple[str, str, int]]


Step = Batch | Purge | Adopted

CASES: dict[str, tuple[list[Step], list[tuple[str, str, int, int, int]]]] = {
    # name: (steps, positions (topic, subject, last_sequence, purged_through, gaps) after)
    "fresh events are claimed and a first event at sequence 3 counts 2 missing": (
        [Batch([("a", "s", 3), ("b", "t", 1)], fresh={"a", "b"}, gaps=2)],
        [(T, "s", 3, 0, 2), (T, "t", 1, 0, 0)],
    ),
    "an event already claimed is a duplicate and moves nothing": (
        [
            Batch([("a", "s", 1)], fresh={"a"}),
            Batch([("a", "s", 1), ("b", "s", 2)], fresh={"b"}),
        ],
        [(T, "s", 2, 0, 0)],
    ),
    "a duplicate above its subject's position neither moves it nor counts a gap": (
        [
            Adopted([("a", "s", 5)]),
            Batch([("a", "s", 5), ("b", "t", 1)], fresh={"b"}),
        ],
        [(T, "t", 1, 0, 0)],
    ),
    "the same event twice in one batch is claimed once": (
        [Batch([("a", "s", 1), ("b", "s", 2), ("a", "s", 1)], fresh={"a", "b"})],
        [(T, "s", 2, 0, 0)],
    ),
    "ignored events move positions with the claimed ones and count their gaps": (
        [
            Batch(
                [("a", "s", 1), ("b", "s", 3)],
                ignored=[(T, "s", 2), (T, "u", 4), (TOPICS[1], "s", 2)],
                fresh={"a", "b"},
                gaps=3 + 1,
            )
        ],
        [(TOPICS[1], "s", 2, 0, 1), (T, "s", 3, 0, 0), (T, "u", 4, 0, 3)],
    ),
    "ignored events alone move positions": (
        [Batch([], ignored=[(T, "s", 2), (T, "s", 4)], gaps=2)],
        [(T, "s", 4, 0, 2)],
    ),
    "out of order sequences in one batch count only the ones none of them has": (
        [
            Batch([("a", "s", 1)], fresh={"a"}),
            Batch([("d", "s", 5), ("b", "s", 2), ("c", "s", 3)], fresh={"b", "c", "d"}, gaps=1),
        ],
        [(T, "s", 5, 0, 1)],
    ),
    "a sequence below the stored position is applied and counts nothing": (
        [
            Batch([("e", "s", 5)], fresh={"e"}, gaps=4),
            Batch([("c", "s", 3), ("f", "s", 7)], fresh={"c", "f"}, gaps=1),
        ],
        [(T, "s", 7, 0, 5)],
    ),
    "a sequence equal to the stored position does not stand in for a missing one": (
        [
            Batch([("e", "s", 5)], fresh={"e"}, gaps=4),
            Batch([("x", "s", 7)], ignored=[(T, "s", 5)], fresh={"x"}, gaps=1),
        ],
        [(T, "s", 7, 0, 5)],
    ),
    "gaps accumulate over batches and the position never goes back": (
        [
            Batch([("b", "s", 2)], fresh={"b"}, gaps=1),
            Batch([("a", "s", 1)], fresh={"a"}),
            Batch([("e", "s", 5)], ignored=[(T, "s", 4)], fresh={"e"}, gaps=1),
        ],
        [(T, "s", 5, 0, 2)],
    ),
    "an event at or below purged_through is stale and moves nothing": (
        [
            Batch([("a", "s", 1), ("b", "s", 2)], fresh={"a", "b"}),
            Purge(),
            Batch([("a", "s", 1), ("x", "s", 2), ("c", "s", 3)], fresh={"c"}),
            Batch([("y", "t", 2)], ignored=[(T, "s", 1)], fresh={"y"}, gaps=1),
        ],
        [(T, "s", 3, 2, 0), (T, "t", 2, 0, 1)],
    ),
}


async def _run(pool: asyncpg.Pool, consumer: str, steps: list[Step]) -> list[object]:
    """Each step through one path (``before``: the two calls, ``now``: the statement);
    what each batch returned."""
    found: list[object] = []
    for step in steps:
        if isinstance(step, Purge):
            assert await inbox.purge(pool, consumer, older_than_hours=0) > 0
        elif isinstance(step, Adopted):
            group = f"{consumer}-group"
            async with pool.acquire() as conn:
                await _claim(conn, group, [_entry(*e) for e in step.events])
            await inbox.adopt_group(pool, consumer, group)
        else:
            entries = [_entry(*e) for e in step.events]
            async with pool.acquire() as conn, conn.transaction():
                if consumer == BEFORE:
                    got = await _as_before(conn, consumer, entries, step.ignored)
                else:
                    got = await inbox.claim_and_advance(conn, consumer, entries, step.ignored)
            found.append(got)
            assert got == ({_id(label) for label in step.fresh}, step.gaps), consumer
    return found


@pytest.mark.parametrize("case", CASES)
async def test_claim_and_advance_does_what_claim_then_advance_did(
    pool: asyncpg.Pool, case: str
) -> None:
    steps, positions = CASES[case]
    assert await _run(pool, NOW, steps) == await _run(pool, BEFORE, steps)
    inbox_now, positions_now = await _state(pool, NOW)
    inbox_before, positions_before = await _state(pool, BEFORE)
    assert inbox_now == inbox_before
    assert positions_now == positions_before == positions


async def test_random_batches_claim_and_move_positions_as_the_two_calls_did(
    pool: asyncpg.Pool,
) -> None:
    rng = random.Random(1433)
    subjects = [f"site-{n}" for n in range(5)]
    made: dict[str, tuple[str, str, int]] = {}  # an event keeps its topic, subject, sequence
    gaps = duplicates = 0
    for round_ in range(80):
        if round_ % 20 == 19:
            for consumer in (BEFORE, NOW):
                await inbox.purge(pool, consumer, older_than_hours=0)
            continue
        events: list[InboxEntry] = []
        for _ in range(rng.randint(0, 8)):
            label = f"e{rng.randint(0, 120)}"
            if label not in made:
                made[label] = (rng.choice(TOPICS), rng.choice(subjects), rng.randint(1, 30))
            topic, subject, sequence = made[label]
            events.append(_entry(label, subject, sequence, topic))
        ignored = [
            (rng.choice(TOPICS), rng.choice(subjects), rng.randint(1, 30))
            for _ in range(rng.randint(0, 4))
        ]
        async with pool.acquire() as conn, conn.transaction():
            expected = await _as_before(conn, BEFORE, events, ignored)
        async with pool.acquire() as conn, conn.transaction():
            found = await inbox.claim_and_advance(conn, NOW, events, ignored)
        assert found == expected, (events, ignored)
        assert await _state(pool, NOW) == await _state(pool, BEFORE)
        gaps += found[1]
        duplicates += len({e.event_id for e in events} - found[0])
    # Batches with no jump or no duplicate would prove nothing.
    assert gaps > 0
    assert duplicates > 0
