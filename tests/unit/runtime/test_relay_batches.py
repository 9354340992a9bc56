"""The relay's batched send: records per partition in id order; per partition, the
acknowledged prefix ends at the first row whose batch failed or never left (the rest of
that partition is sent again), and other partitions are not held back."""

from __future__ import annotations

import asyncio
import json
import uuid
from types import SimpleNamespace
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
        self.log_end = dict.fromkeys(PARTITIONS, 0)  # the next offset of each partition

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
            # as aiokafka answers a batch: the offset of its first record
            ack.set_result(SimpleNamespace(offset=self.log_end[partition]))
            self.log_end[partition] += len(batch.records)
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
    acked, failures = await relay(producer)._send(batch)  # type: ignore[arg-type]
    assert (acked, failures) == (list(range(30)), {})
    for partition in PARTITIONS:
        sent = [r["value"] for p, b in producer.batches if p == partition for r in b.records]
        assert sent == [r["payload"] for r in batch if partition_of(r) == partition]
    record = producer.batches[0][1].records[0]
    assert record["headers"] == [("ce_type", b"ShelterOpened")]


async def test_the_relay_notes_where_each_partition_it_wrote_to_ends() -> None:
    producer, batch = Producer(capacity=4), rows(30)
    sender = relay(producer)
    await sender._send(batch)  # type: ignore[arg-type]
    await sender._send(rows(5))  # type: ignore[arg-type]
    assert sender.positions.ends() == {
        f"housing.events:{p}": end for p, end in producer.log_end.items() if end
    }
    assert sum(sender.positions.ends().values()) == 35, "the barrier's end: the next offset"


async def test_a_partition_whose_batch_failed_is_not_noted() -> None:
    batch = rows(30)
    failing = partition_of(batch[5])
    sender = relay(Producer(fail_partition=failing))
    await sender._send(batch)  # type: ignore[arg-type]
    assert f"housing.events:{failing}" not in sender.positions.ends()


async def test_a_failed_batch_holds_back_its_partition_only() -> None:
    batch = rows(30)
    failing = partition_of(batch[5])
    first_failing = next(i for i, r in enumerate(batch) if partition_of(r) == failing)
    acked, failures = await relay(Producer(fail_partition=failing))._send(batch)  # type: ignore[arg-type]
    assert acked == [i for i, r in enumerate(batch) if partition_of(r) != failing]
    assert list(failures) == [("housing.events", failing)]
    position, error = failures[("housing.events", failing)]
    assert position == first_failing
    assert isinstance(error, ConnectionError)


async def test_rows_never_submitted_are_not_acknowledged() -> None:
    batch = rows(30)
    producer = Producer(capacity=3, refuse_submission=2)
    acked, failures = await relay(producer)._send(batch)  # type: ignore[arg-type]
    assert any(isinstance(e, TimeoutError) for _, e in failures.values())
    submitted = {id(b) for _, b in producer.batches}
    assert len(submitted) == 2
    in_submitted = {r["value"] for _, b in producer.batches for r in b.records}
    assert {batch[i]["payload"] for i in acked} <= in_submitted
    assert len(acked) == len(in_submitted), "everything submitted and acknowledged is marked"
    for partition in PARTITIONS:
        # Per partition, what is marked is a prefix of its rows in id order.
        mine = [i for i, r in enumerate(batch) if partition_of(r) == partition]
        marked = [i for i in mine if i in acked]
        assert marked == mine[: len(marked)]
