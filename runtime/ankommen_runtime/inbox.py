"""The inbox: which events a consumer has already applied.

Claimed in the same transaction as the effect, so an event redelivered after a crash
(offset not yet committed) finds its row and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
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


async def claim(
    conn: asyncpg.Connection, consumer: str, entries: Sequence[InboxEntry]
) -> set[uuid.UUID]:
    """Record the entries; return the event ids not seen before (the ones to apply)."""
    if not entries:
        return set()
    rows = await conn.fetch(
        """INSERT INTO inbox (consumer, event_id, type, subject, sequence, topic,
                              kafka_partition, kafka_offset)
           SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::text[], $5::bigint[],
                                    $6::text[], $7::int[], $8::bigint[])
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
