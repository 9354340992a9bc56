"""Where things stood on Kafka when a simulation's service starts (``positions_on_kafka``):
the ends of what it reads and writes and its group's committed offsets, from fakes of the
two aiokafka clients (the real broker's answers are compared with what the processes noted
in the integration tests of the simulation barrier)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata
from ankommen_runtime import kafka_clients
from ankommen_runtime.kafka_clients import positions_on_kafka

READ = "housing.events"
WRITTEN = "allocation.events"


class FakeAdmin:
    """Two partitions a topic; the group committed partition 0 of what it reads at 7,
    partition 1 never (Kafka answers -1)."""

    opened: ClassVar[list[FakeAdmin]] = []

    def __init__(self, **options: Any) -> None:
        self.asked: list[list[TopicPartition]] = []
        self.closed = False
        FakeAdmin.opened.append(self)

    async def start(self) -> None: ...

    async def close(self) -> None:
        self.closed = True

    async def describe_topics(self, topics: list[str]) -> list[dict[str, Any]]:
        return [{"topic": t, "partitions": [{"partition": 1}, {"partition": 0}]} for t in topics]

    async def list_consumer_group_offsets(
        self, group_id: str, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        self.asked.append(partitions)
        return {tp: OffsetAndMetadata(7 if tp.partition == 0 else -1, "") for tp in partitions}


class FakeConsumer:
    asked: ClassVar[list[list[TopicPartition]]] = []

    def __init__(self, **options: Any) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        FakeConsumer.asked.append(partitions)
        return {tp: 10 + tp.partition for tp in partitions}


@pytest.fixture(autouse=True)
def fake_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeAdmin.opened, FakeConsumer.asked = [], []
    monkeypatch.setattr(kafka_clients, "AIOKafkaAdminClient", FakeAdmin)
    monkeypatch.setattr(kafka_clients, "AIOKafkaConsumer", FakeConsumer)


def tp(topic: str, partition: int) -> TopicPartition:
    return TopicPartition(topic, partition)


async def test_the_ends_of_what_it_reads_and_writes_and_its_groups_commits() -> None:
    ends, committed = await positions_on_kafka("b:9092", "allocation", [READ], written=[WRITTEN])
    assert ends == {tp(READ, 0): 10, tp(READ, 1): 11, tp(WRITTEN, 0): 10, tp(WRITTEN, 1): 11}
    assert committed == {tp(READ, 0): 7, tp(READ, 1): 0}, "a partition never committed: 0"
    [admin] = FakeAdmin.opened
    assert admin.asked == [[tp(READ, 0), tp(READ, 1)]], "the commits of what it reads only"
    assert admin.closed


async def test_a_topic_it_both_reads_and_writes_is_asked_for_once() -> None:
    await positions_on_kafka("b:9092", "g", [READ], written=[READ])
    assert FakeConsumer.asked == [[tp(READ, 0), tp(READ, 1)]]


async def test_a_sink_asks_for_the_ends_of_what_it_reads_and_a_silent_service_nothing() -> None:
    ends, committed = await positions_on_kafka("b:9092", "reporting", [READ])
    assert set(ends) == set(committed) == {tp(READ, 0), tp(READ, 1)}
    assert await positions_on_kafka("b:9092", "g", []) == ({}, {})
    assert len(FakeConsumer.asked) == 1, "nothing read or written: no consumer asked"
