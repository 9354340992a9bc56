"""The inbox: which events a consumer has applied, where each subject stands, what waits.

Claimed in the same transaction as the effect, so an event redelivered after a crash
(offset not yet committed) finds its row and changes nothing.

Keyed by the consumer's own name (the service), never by the Kafka consumer group: the
group is a deployment setting, and renaming it or replaying through a new group must not
apply anything twice.

Order per subject is the runtime's job, not each fold's: a subject whose event cannot be
applied now (a newer schema version, a dead letter) is put on hold, and its later events
are parked in ``consumer_parked`` until the hold is released; other subjects go on. So
per consumer and subject, events are applied in sequence order, and
``consumer_subject_position.last_sequence`` only grows.

Purging (``purge``): an inbox row may go once it is older than the retention *and* its
sequence is at or below its subject's position. Its subject's ``purged_through`` then
records the highest purged sequence, and ``claim`` treats any event at or below it as a
duplicate. That is safe because events of a subject are applied in sequence order (the
hold above): every sequence up to ``purged_through`` was already seen, so a redelivery of
one of them, from Kafka, a replay through a new group or a re-drive, is recognised without
its row. What it costs: a producer whose sequences restart (a wiped database) would be
taken for duplicates; that is counted and logged, never silent (``stale`` outcome).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True, slots=True)
class InboxEntry:
    event_id: uuid.UUID
    type: str
    subject: str
    sequence: int
    topic: str
    partition: int
    offset: int


# The positions of a batch's subjects (``k``), each found by its key in the primary key's
# index, however many subjects there are: ``(topic, subject) IN (SELECT unnest…)`` was
# planned as a hash join over a sequential scan of every position of the consumer, a cost
# that grew with the run (3.3 ms for 30 subjects among 5,000; this form 0.6 ms). Locked,
# in the order of ``k``.
_POSITION_OF_KEY = """CROSS JOIN LATERAL (
               SELECT topic, subject, last_sequence FROM consumer_subject_position
               WHERE consumer = $1 AND topic = k.topic AND subject = k.subject
               FOR UPDATE) AS p"""


async def claim(
    conn: asyncpg.Connection, consumer: str, entries: Sequence[InboxEntry]
) -> set[uuid.UUID]:
    """Record the entries; return the event ids not seen before (the ones to apply)."""
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


async def advance(
    conn: asyncpg.Connection, consumer: str, seen: Sequence[tuple[str, str, int]]
) -> int:
    """Move each (topic, subject)'s position to the sequences seen; return the gaps found.

    A gap is a sequence skipped: the next event of a subject should be ``last + 1``. The
    first event of a subject counts the sequences before it (a consumer reads topics
    from the beginning, so those were never on the topic, or have expired). ``seen`` is
    taken in sequence order: a gap is a sequence none of them has, whatever their order.
    """
    if not seen:
        return 0
    keys = sorted({(t, s) for t, s, _ in seen})
    rows = await conn.fetch(
        f"""SELECT p.topic, p.subject, p.last_sequence
            FROM unnest($2::text[], $3::text[]) AS k(topic, subject)
            {_POSITION_OF_KEY}""",
        consumer,
        [t for t, _ in keys],
        [s for _, s in keys],
    )
    last = {(r["topic"], r["subject"]): r["last_sequence"] for r in rows}
    gaps: dict[tuple[str, str], int] = {}
    for topic, subject, sequence in sorted(seen, key=lambda s: s[2]):
        key = (topic, subject)
        before = last.get(key, 0)
        if sequence > before + 1:
            gaps[key] = gaps.get(key, 0) + sequence - before - 1
        last[key] = max(before, sequence)
    await conn.execute(
        """INSERT INTO consumer_subject_position AS p
               (consumer, topic, subject, last_sequence, gaps)
           SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[])
           ON CONFLICT (consumer, topic, subject) DO UPDATE
               SET last_sequence = GREATEST(p.last_sequence, EXCLUDED.last_sequence),
                   gaps = p.gaps + EXCLUDED.gaps""",
        consumer,
        [t for t, _ in keys],
        [s for _, s in keys],
        [last[k] for k in keys],
        [gaps.get(k, 0) for k in keys],
    )
    return sum(gaps.values())


async def advance_unless_held(
    db: asyncpg.Connection | asyncpg.Pool, consumer: str, seen: Sequence[tuple[str, str, int]]
) -> int:
    """``advance`` for a batch of events this consumer does not handle, in one statement:
    a subject on hold keeps its position (its parked events come first, in order); the
    gaps found are returned as ``advance`` counts them.

    Half the events a service reads are of types it does not handle (the full Hannover
    run: 199,000 of 357,000). A batch of only those took the holds' query, then a
    transaction with the positions' read and their upsert: four round trips to move
    positions. The gaps of a subject are the sequences after its last position up to the
    highest one seen that were not seen: ``highest - last - (distinct ones above last)``.
    """
    if not seen:
        return 0
    gaps: int = await db.fetchval(
        f"""WITH seen AS (
               SELECT s.topic, s.subject, s.sequence
               FROM unnest($2::text[], $3::text[], $4::bigint[]) AS s(topic, subject, sequence)
               WHERE NOT EXISTS (
                   SELECT 1 FROM consumer_hold h
                   WHERE h.consumer = $1 AND h.topic = s.topic AND h.subject = s.subject)),
           old AS (
               SELECT p.topic, p.subject, p.last_sequence
               FROM (SELECT DISTINCT topic, subject FROM seen ORDER BY 1, 2) AS k
               {_POSITION_OF_KEY}),
           moved AS (
               SELECT s.topic, s.subject, coalesce(o.last_sequence, 0) AS before,
                      max(s.sequence) AS highest,
                      count(DISTINCT s.sequence)
                          FILTER (WHERE s.sequence > coalesce(o.last_sequence, 0)) AS arrived
               FROM seen s LEFT JOIN old o USING (topic, subject)
               GROUP BY s.topic, s.subject, o.last_sequence),
           written AS (
               INSERT INTO consumer_subject_position AS p
                   (consumer, topic, subject, last_sequence, gaps)
               SELECT $1, topic, subject, greatest(highest, before),
                      greatest(highest - before - arrived, 0)
               FROM moved
               ON CONFLICT (consumer, topic, subject) DO UPDATE
                   SET last_sequence = GREATEST(p.last_sequence, EXCLUDED.last_sequence),
                       gaps = p.gaps + EXCLUDED.gaps
               RETURNING 1)
           SELECT coalesce(sum(greatest(highest - before - arrived, 0)), 0)::bigint
           FROM moved""",
        consumer,
        [t for t, _, _ in seen],
        [s for _, s, _ in seen],
        [q for _, _, q in seen],
    )
    return gaps


async def adopt_group(pool: asyncpg.Pool, consumer: str, group: str) -> int:
    """Re-key inbox rows written under the Kafka group name to the consumer's own name."""
    if consumer == group:
        return 0
    async with pool.acquire() as conn, conn.transaction():
        moved = await conn.execute(
            """INSERT INTO inbox (consumer, event_id, type, subject, sequence, topic,
                                  kafka_partition, kafka_offset, processed_at)
               SELECT $1, event_id, type, subject, sequence, topic, kafka_partition,
                      kafka_offset, processed_at
               FROM inbox WHERE consumer = $2
               ON CONFLICT (consumer, event_id) DO NOTHING""",
            consumer,
            group,
        )
        await conn.execute("DELETE FROM inbox WHERE consumer = $1", group)
    return int(moved.split()[-1])


async def purge(pool: asyncpg.Pool, consumer: str, *, older_than_hours: float) -> int:
    """Delete inbox rows that can no longer be redelivered unrecognised; return how many.

    See the module docstring for why this is safe.
    """
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """WITH gone AS (
                   DELETE FROM inbox i USING consumer_subject_position p
                   WHERE i.consumer = $1 AND p.consumer = $1 AND p.topic = i.topic
                     AND p.subject = i.subject AND i.sequence <= p.last_sequence
                     AND i.processed_at < now() - make_interval(secs => $2)
                   RETURNING i.topic, i.subject, i.sequence)
               SELECT topic, subject, max(sequence) AS through, count(*) AS n
               FROM gone GROUP BY topic, subject""",
            consumer,
            older_than_hours * 3600,
        )
        if rows:
            await conn.execute(
                """UPDATE consumer_subject_position p
                   SET purged_through = GREATEST(p.purged_through, u.through)
                   FROM unnest($2::text[], $3::text[], $4::bigint[]) AS u(topic, subject, through)
                   WHERE p.consumer = $1 AND p.topic = u.topic AND p.subject = u.subject""",
                consumer,
                [r["topic"] for r in rows],
                [r["subject"] for r in rows],
                [r["through"] for r in rows],
            )
    return sum(r["n"] for r in rows)


# --- Holds and parked events ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Parked:
    """An event waiting behind its subject's hold, as it came from Kafka."""

    id: int
    topic: str
    subject: str
    event_id: uuid.UUID
    type: str
    schema_version: int
    sequence: int
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    attempts: int


@dataclass(frozen=True, slots=True)
class Hold:
    topic: str
    subject: str
    reason: str
    detail: str
    blocker: uuid.UUID | None


NEWER_VERSION = "newer_version"
DEAD_LETTER = "dead_letter"
PARKED = "parked"


async def holds_among(
    conn: asyncpg.Connection | asyncpg.Pool, consumer: str, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Hold]:
    keys = sorted(set(keys))
    if not keys:
        return {}
    rows = await conn.fetch(
        """SELECT h.topic, h.subject, h.reason, h.detail, h.blocker
           FROM unnest($2::text[], $3::text[]) AS k(topic, subject)
           JOIN consumer_hold h
             ON h.consumer = $1 AND h.topic = k.topic AND h.subject = k.subject""",
        consumer,
        [t for t, _ in keys],
        [s for _, s in keys],
    )
    return {(r["topic"], r["subject"]): Hold(**dict(r)) for r in rows}


async def hold(
    conn: asyncpg.Connection,
    consumer: str,
    topic: str,
    subject: str,
    *,
    reason: str,
    detail: str = "",
    blocker: uuid.UUID | None = None,
    replace: bool = True,
) -> None:
    """Put a subject on hold (or change why it is held, if ``replace``)."""
    await conn.execute(
        f"""INSERT INTO consumer_hold (consumer, topic, subject, reason, detail, blocker)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (consumer, topic, subject) DO {
            "UPDATE SET reason = EXCLUDED.reason, detail = EXCLUDED.detail, "
            "blocker = EXCLUDED.blocker, held_at = now()"
            if replace
            else "NOTHING"
        }""",
        consumer,
        topic,
        subject,
        reason,
        detail[:2000],
        blocker,
    )


async def park(conn: asyncpg.Connection, consumer: str, events: Sequence[Parked]) -> None:
    """Park events behind their subject's hold; a subject parked into is always held."""
    if not events:
        return
    await conn.executemany(
        """INSERT INTO consumer_parked (consumer, topic, subject, event_id, type,
                                         schema_version, sequence, kafka_partition,
                                         kafka_offset, key, value, headers)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           ON CONFLICT (consumer, event_id) DO NOTHING""",
        [
            (
                consumer,
                e.topic,
                e.subject,
                e.event_id,
                e.type,
                e.schema_version,
                e.sequence,
                e.partition,
                e.offset,
                e.key,
                e.value,
                json.dumps([[k, v.hex()] for k, v in e.headers]),
            )
            for e in events
        ],
    )
    for topic, subject in sorted({(e.topic, e.subject) for e in events}):
        # A hold released by another replica meanwhile: hold again, so the drain applies
        # what was just parked (in order) instead of stranding it.
        await hold(conn, consumer, topic, subject, reason=PARKED, replace=False)


def _parked(row: asyncpg.Record) -> Parked:
    return Parked(
        id=row["id"],
        topic=row["topic"],
        subject=row["subject"],
        event_id=row["event_id"],
        type=row["type"],
        schema_version=row["schema_version"],
        sequence=row["sequence"],
        partition=row["kafka_partition"],
        offset=row["kafka_offset"],
        key=row["key"],
        value=row["value"],
        headers=[(k, bytes.fromhex(v)) for k, v in json.loads(row["headers"])],
        attempts=row["attempts"],
    )


async def parked_of(
    conn: asyncpg.Connection, consumer: str, topic: str, subject: str
) -> list[Parked]:
    """A held subject's parked events in the order to apply them: by sequence."""
    rows = await conn.fetch(
        """SELECT * FROM consumer_parked WHERE consumer = $1 AND topic = $2 AND subject = $3
           ORDER BY sequence, id""",
        consumer,
        topic,
        subject,
    )
    return [_parked(r) for r in rows]


async def summary(pool: asyncpg.Pool, consumer: str) -> tuple[dict[str, int], int]:
    """(held subjects by reason, parked events) of one consumer."""
    held = await pool.fetch(
        "SELECT reason, count(*) AS n FROM consumer_hold WHERE consumer = $1 GROUP BY reason",
        consumer,
    )
    parked = await pool.fetchval(
        "SELECT count(*) FROM consumer_parked WHERE consumer = $1", consumer
    )
    return {r["reason"]: r["n"] for r in held}, parked
