"""How far this process's consumer has read a topic, as a moment of wall time.

A request answered on a topic this service consumes (allocation's PlacementDecided,
answered by housing's BedReserved) may be re-sent when no answer came in time. "No answer
came" is only known for the answers that were read: while the consumer is behind, the
answer may be waiting, unread, in the topic. A timeout measured on the wall clock alone
then re-sends every request that waits longer than the backlog is deep, each re-send is
answered again, the answers deepen the backlog, and the service never catches up (a
hundred times Hannover's volume: 121,639 unread answers for 16,632 reservations, up to 13
each, after 13 minutes).

The horizon is the moment up to which everything the topic's writer published has been
read, and a request counts as overdue only measured from there. For each partition of the
topic this consumer holds:

- read to its end, as the broker's last fetch answer reported it (the high watermark):
  everything published before that fetch has been read, so the horizon is the fetch's
  moment (``last_poll_timestamp``; an idle consumer fetches every half second);
- otherwise the timestamp of the last record settled there (its writer's, its relay's
  send): everything published before it came before it in the partition;
- nothing settled yet since the process started, and behind: unknown.

The topic's horizon is the earliest of its partitions', and unknown if any is unknown or
the consumer holds none of them (before the group's assignment, during a rebalance, or
another replica reads them all). With several replicas each knows only its own partitions;
docs/placement-saga.md says what that leaves.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError


class Reader(Protocol):
    """What the horizon asks of aiokafka's ``AIOKafkaConsumer``."""

    def assignment(self) -> set[TopicPartition]: ...

    def highwater(self, partition: TopicPartition) -> int | None: ...

    def last_poll_timestamp(self, partition: TopicPartition) -> int | None: ...

    async def position(self, partition: TopicPartition) -> int: ...


@dataclass(frozen=True)
class _Settled:
    next_offset: int  # one past the last record settled
    timestamp_ms: int  # that record's timestamp (its writer's send)


class ReadHorizon:
    """What the consumer settled per partition, and the batches still in its hands."""

    def __init__(self) -> None:
        self._settled: dict[TopicPartition, _Settled] = {}
        self._in_hand: set[TopicPartition] = set()

    @contextlib.contextmanager
    def handling(self, records: Sequence[Any]) -> Iterator[None]:
        """A batch is being handled: its partitions' read positions (already past it) do
        not count as read until ``settled`` notes it."""
        partitions = {TopicPartition(r.topic, r.partition) for r in records}
        self._in_hand |= partitions
        try:
            yield
        finally:
            self._in_hand -= partitions

    def settled(self, records: Sequence[Any]) -> None:
        """``records`` are applied or dead-lettered, and their offsets committed."""
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            before = self._settled.get(tp)
            if before is None or record.offset + 1 > before.next_offset:
                self._settled[tp] = _Settled(record.offset + 1, record.timestamp)

    async def of(self, consumer: Reader | None, topic: str) -> datetime | None:
        """The moment up to which this consumer has read everything published on
        ``topic``; None if that is not known (see the module docstring)."""
        if consumer is None:
            return None
        partitions = [tp for tp in consumer.assignment() if tp.topic == topic]
        if not partitions:
            return None
        moments = []
        for tp in partitions:
            moment = await self._partition(consumer, tp)
            if moment is None:
                return None
            moments.append(moment)
        return datetime.fromtimestamp(min(moments) / 1000, UTC)

    async def _partition(self, consumer: Reader, tp: TopicPartition) -> int | None:
        settled = self._settled.get(tp)
        end, fetched_at = consumer.highwater(tp), consumer.last_poll_timestamp(tp)
        if end is not None and fetched_at is not None:  # a fetch answered: a position exists
            read_to = settled.next_offset if settled else None
            if read_to is None and tp not in self._in_hand:
                # Nothing settled since the start: the position is the group's commit
                # until the first batch is handed out (in hand until it is settled).
                with contextlib.suppress(IllegalStateError):
                    read_to = await consumer.position(tp)
            if read_to is not None and read_to >= end:
                return int(fetched_at)
        return settled.timestamp_ms if settled else None


__all__ = ["ReadHorizon", "Reader"]
