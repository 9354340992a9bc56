"""The positions a simulation's service reads from Kafka when it starts (``LagProbe``):
one round trip a question, and a coordinator that moved is found again (fakes of the two
aiokafka clients; the real broker's answers are in the integration tests of the
simulation barrier)."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError, NotCoordinatorForGroupError
from aiokafka.structs import OffsetAndMetadata
from ankommen_runtime.simulation import LagProbe

TOPIC = "allocation.events"
PARTITIONS = [TopicPartition(TOPIC, p) for p in range(3)]
# the fakes' answers: each partition one past its committed offset (0, 10, 20)
ENDS_AND_COMMITTED = (
    {tp: 10 * tp.partition + 1 for tp in PARTITIONS},
    {tp: 10 * tp.partition for tp in PARTITIONS},
)


class FakeAdmin:
    def __init__(self, coordinators: list[int], failures: list[Exception]) -> None:
        self.coordinators = coordinators  # what each find_coordinator answers, in turn
        self.failures = failures  # raised by the next offset fetches, in turn
        self.found = 0
        self.asked: list[int | None] = []

    async def describe_topics(self, topics: list[str]) -> list[dict[str, Any]]:
        return [{"topic": t, "partitions": [{"partition": p} for p in range(3)]} for t in topics]

    async def find_coordinator(self, group_id: str) -> int:
        self.found += 1
        return self.coordinators.pop(0)

    async def list_consumer_group_offsets(
        self,
        group_id: str,
        group_coordinator_id: int | None = None,
        partitions: list[TopicPartition] | None = None,
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        self.asked.append(group_coordinator_id)
        if self.failures:
            raise self.failures.pop(0)
        return {tp: OffsetAndMetadata(10 * tp.partition, "") for tp in partitions or []}


class FakeConsumer:
    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: 10 * tp.partition + 1 for tp in partitions}


def probe_with(admin: FakeAdmin) -> LagProbe:
    probe = LagProbe("unused:9092", "reporting", [TOPIC])
    probe._admin, probe._consumer = admin, FakeConsumer()  # type: ignore[assignment]
    return probe


async def test_the_probe_finds_the_coordinator_once_and_asks_it_every_time() -> None:
    admin = FakeAdmin(coordinators=[1], failures=[])
    probe = probe_with(admin)
    for _ in range(3):
        assert await probe.where() == ENDS_AND_COMMITTED
    assert admin.found == 1
    assert admin.asked == [1, 1, 1]


async def test_a_coordinator_that_moved_is_found_again_and_asked_at_once() -> None:
    admin = FakeAdmin(coordinators=[1, 2], failures=[NotCoordinatorForGroupError()])
    probe = probe_with(admin)
    assert await probe.where() == ENDS_AND_COMMITTED
    assert admin.asked == [1, 2]
    assert await probe.where() == ENDS_AND_COMMITTED
    assert admin.found == 2
    assert admin.asked == [1, 2, 2]


async def test_a_second_failure_is_raised_and_the_next_question_looks_afresh() -> None:
    admin = FakeAdmin(
        coordinators=[1, 1, 1], failures=[KafkaConnectionError(), KafkaConnectionError()]
    )
    probe = probe_with(admin)
    with pytest.raises(KafkaConnectionError):
        await probe.where()
    assert await probe.where() == ENDS_AND_COMMITTED
    assert admin.found == 3
