"""``read_horizon.ReadHorizon``: up to when a consumer has read a topic (the real broker's
side: tests/integration/test_consumer_read_horizon.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError
from ankommen_runtime.read_horizon import ReadHorizon

TOPIC = "housing.events"
P0, P1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
OTHER = TopicPartition("integration.events", 0)


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    timestamp: int  # ms


@dataclass
class Consumer:
    """What the horizon asks of aiokafka's consumer, as the last fetch left it."""

    ends: dict[TopicPartition, int] = field(default_factory=dict)
    fetched_at: dict[TopicPartition, int] = field(default_factory=dict)
    positions: dict[TopicPartition, int] = field(default_factory=dict)

    def assignment(self) -> set[TopicPartition]:
        return set(self.positions)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.ends.get(tp)

    def last_poll_timestamp(self, tp: TopicPartition) -> int | None:
        return self.fetched_at.get(tp)

    async def position(self, tp: TopicPartition) -> int:
        if tp not in self.positions:
            raise IllegalStateError(f"{tp} is not assigned")
        return self.positions[tp]


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


T1, T2, T3 = (datetime(2026, 12, 5, 10, minute, tzinfo=UTC) for minute in (1, 2, 3))


async def test_read_to_the_end_the_horizon_is_the_last_fetch() -> None:
    horizon = ReadHorizon()
    horizon.settled([Record(TOPIC, 0, 4, ms(T1))])
    consumer = Consumer(ends={P0: 5}, fetched_at={P0: ms(T3)}, positions={P0: 5})
    assert await horizon.of(consumer, TOPIC) == T3


async def test_behind_the_horizon_is_the_last_settled_records_timestamp() -> None:
    horizon = ReadHorizon()
    horizon.settled([Record(TOPIC, 0, 3, ms(T1)), Record(TOPIC, 0, 4, ms(T2))])
    consumer = Consumer(ends={P0: 9}, fetched_at={P0: ms(T3)}, positions={P0: 9})
    # The position is past the fetched records already: only what was settled counts.
    assert await horizon.of(consumer, TOPIC) == T2
    horizon.settled([Record(TOPIC, 0, 2, ms(T1))])  # a redelivered older one
    assert await horizon.of(consumer, TOPIC) == T2, "the horizon never goes back"


async def test_the_earliest_partition_is_the_topics_horizon_and_other_topics_do_not_count() -> None:
    horizon = ReadHorizon()
    horizon.settled([Record(TOPIC, 0, 4, ms(T1)), Record(TOPIC, 1, 7, ms(T2))])
    consumer = Consumer(
        ends={P0: 9, P1: 8, OTHER: 50},
        fetched_at={P0: ms(T3), P1: ms(T3), OTHER: ms(T3)},
        positions={P0: 9, P1: 8, OTHER: 0},
    )
    assert await horizon.of(consumer, TOPIC) == T1


async def test_nothing_settled_since_the_start_reads_the_groups_position() -> None:
    horizon = ReadHorizon()
    caught_up = Consumer(ends={P0: 5}, fetched_at={P0: ms(T3)}, positions={P0: 5})
    assert await horizon.of(caught_up, TOPIC) == T3
    behind = Consumer(ends={P0: 9}, fetched_at={P0: ms(T3)}, positions={P0: 5})
    assert await horizon.of(behind, TOPIC) is None
    # The first batch handed out: the position is past it, but it is not settled yet.
    handed_out = Consumer(ends={P0: 9}, fetched_at={P0: ms(T3)}, positions={P0: 9})
    with horizon.handling([Record(TOPIC, 0, 8, ms(T2))]):
        assert await horizon.of(handed_out, TOPIC) is None
    assert await horizon.of(handed_out, TOPIC) == T3


async def test_without_a_consumer_a_partition_or_a_fetch_nothing_is_known() -> None:
    horizon = ReadHorizon()
    assert await horizon.of(None, TOPIC) is None
    assert await horizon.of(Consumer(), TOPIC) is None
    never_fetched = Consumer(positions={P0: 0})
    assert await horizon.of(never_fetched, TOPIC) is None
    horizon.settled([Record(TOPIC, 0, 0, ms(T1))])
    assert await horizon.of(never_fetched, TOPIC) == T1
