"""The relay's batched send: records per partition in id order, and the acknowledged prefix
ends at the first row whose batch failed or never left (the rest is sent again)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from aiokafka.partitioner import DefaultPartitioner
from ankommen_runtime.outbox import OutboxRelay

PARTITIONS = [0, 1, 2]


class Batch:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.records: list[dict[str, Any]] = []

    def append(self, **record: Any) -> object | None:
        if len(self.records) >= self.capacity:
            return None
        self.records.append(record)
        return object()


class Producer:
    """Just the batch API of AIOKafkaProducer; fails where a test says so."""

    def __init__(
        self,
        capacity: int = 100,
        fail_partition: int | None = None,
        refuse_submission: int | None = None,
    ) -> None:
        self.capacity = capacity
        self.fail_partition = fail_partition
        self.refuse_submission = refuse_submission
        self.batches: list[tuple[int, Batch]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return set(PARTITIONS)

    def create_batch(self) -> Batch:
        return Batch(self.capacity)

    async def send_batch(self, batch: Batch, topic: str, *, partition: int) -> Any:
        if self.refuse_submission is not None and len(self.batches) == self.refuse_submission:
            raise TimeoutError("buffer full")
        self.batches.append((partition, batch))
        ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if partition == self.fail_partition:
            ack.set_exception(ConnectionError("leader gone"))
        else:
            ack.set_result(None)
        return ack


def rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": i + 1,
            "topic": "housing.events",
            "subject": str(uuid.uuid4()),
            "payload": f"event {i}".encode(),
            "headers": json.dumps([["ce_type", "ShelterOpened"]]),
        }
        for i in range(n)
    ]


def partition_of(row: dict[str, Any]) -> int:
    return DefaultPartitioner()(row["subject"].encode(), PARTITIONS, PARTITIONS)


def relay(producer: Producer) -> OutboxRelay:
    return OutboxRelay(None, producer, service="test")  # type: ignore[arg-type]


async def test_every_row_goes_to_its_keys_partition_in_id_order() -> None:
    producer, batch = Producer(capacity=4), rows(30)
    acked, failure = await relay(producer)._send(batch)  # type: ignore[arg-type]
    assert (acked, failure) == (30, None)
    for partition in PARTITIONS:
        sent = [r["value"] for p, b in producer.batches if p == partition for r in b.records]
        assert sent == [r["payload"] for r in batch if partition_of(r) == partition]
    record = producer.batches[0][1].records[0]
    assert record["headers"] == [("ce_type", b"ShelterOpened")]


async def test_a_failed_batch_ends_the_acknowledged_prefix_at_its_first_row() -> None:
    batch = rows(30)
    failing = partition_of(batch[5])
    first_failing = next(i for i, r in enumerate(batch) if partition_of(r) == failing)
    acked, failure = await relay(Producer(fail_partition=failing))._send(batch)  # type: ignore[arg-type]
    assert acked == first_failing
    assert isinstance(failure, ConnectionError)


async def test_rows_never_submitted_are_not_acknowledged() -> None:
    batch = rows(30)
    producer = Producer(capacity=3, refuse_submission=2)
    acked, failure = await relay(producer)._send(batch)  # type: ignore[arg-type]
    assert isinstance(failure, TimeoutError)
    submitted = {id(b) for _, b in producer.batches}
    assert len(submitted) == 2
    # Every row before the prefix's end is in a submitted, acknowledged batch.
    in_submitted = {r["value"] for _, b in producer.batches for r in b.records}
    assert all(r["payload"] in in_submitted for r in batch[:acked])
    assert batch[acked]["payload"] not in in_submitted
