"""Dead letters: list, show, re-drive and purge the ``<topic>.dlq`` topics.

A dead letter is the original record (key, value, headers) plus ``dlq_*`` headers saying
where it came from and why it failed (see ``consumer.dead_letter_headers``). Re-driving
publishes the original back to its topic: the consumers' inbox keys on ``event_id``, so a
re-driven event is applied once, however often it is re-driven or by how many groups.
Which letters were re-driven is remembered as the offsets of the consumer group
``ankommen-dlq-redrive``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from .consumer import DLQ_SUFFIX

REDRIVE_GROUP = "ankommen-dlq-redrive"


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    redriven: bool

    def header(self, name: str) -> str:
        for key, value in self.headers:
            if key == name:
                return value.decode(errors="replace")
        return ""

    @property
    def original_topic(self) -> str:
        return self.header("dlq_original_topic") or self.topic.removesuffix(DLQ_SUFFIX)

    @property
    def original_headers(self) -> list[tuple[str, bytes]]:
        return [(k, v) for k, v in self.headers if not k.startswith("dlq_")]


async def dlq_topics(bootstrap: str, topic: str | None = None) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = sorted(t for t in await admin.list_topics() if t.endswith(DLQ_SUFFIX))
    finally:
        await admin.close()
    if topic is None:
        return names
    wanted = topic if topic.endswith(DLQ_SUFFIX) else topic + DLQ_SUFFIX
    if wanted not in names:
        raise LookupError(f"no dead-letter topic {wanted}")
    return [wanted]


async def partitions_of(bootstrap: str, topics: Sequence[str]) -> list[TopicPartition]:
    if not topics:
        return []
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]


async def read_letters(bootstrap: str, topics: Sequence[str]) -> list[DeadLetter]:
    """Every dead letter now in ``topics``, each marked whether it was re-driven."""
    partitions = await partitions_of(bootstrap, topics)
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=REDRIVE_GROUP, enable_auto_commit=False
    )
    await consumer.start()
    letters: list[DeadLetter] = []
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        for tp in partitions:
            done = await consumer.committed(tp) or 0
            if starts[tp] >= ends[tp]:
                continue
            consumer.seek(tp, starts[tp])
            while (await consumer.position(tp)) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                for record in batch.get(tp, []):
                    if record.offset < ends[tp]:
                        letters.append(_letter(record, redriven=record.offset < done))
    finally:
        await consumer.stop()
    return letters


def _letter(record: ConsumerRecord[Any, Any], *, redriven: bool) -> DeadLetter:
    return DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=tuple(record.headers or ()),
        redriven=redriven,
    )


async def redrive(bootstrap: str, letters: Sequence[DeadLetter]) -> int:
    """Publish each letter's original record to its original topic; return how many."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for letter in letters:
            await producer.send_and_wait(
                letter.original_topic,
                value=letter.value,
                key=letter.key,
                headers=letter.original_headers,
            )
    finally:
        await producer.stop()
    await _mark_redriven(bootstrap, letters)
    return len(letters)


async def _mark_redriven(bootstrap: str, letters: Sequence[DeadLetter]) -> None:
    """Move the re-drive group's offset past each partition's contiguous re-driven letters."""
    if not letters:
        return
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=REDRIVE_GROUP, enable_auto_commit=False
    )
    await consumer.start()
    try:
        by_partition: dict[TopicPartition, set[int]] = {}
        for letter in letters:
            tp = TopicPartition(letter.topic, letter.partition)
            by_partition.setdefault(tp, set()).add(letter.offset)
        consumer.assign(list(by_partition))
        offsets: dict[TopicPartition, int] = {}
        for tp, done in by_partition.items():
            position = await consumer.committed(tp) or (await consumer.beginning_offsets([tp]))[tp]
            while position in done:
                position += 1
            offsets[tp] = position
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def purge(bootstrap: str, topics: Sequence[str]) -> int:
    """Delete every dead letter now in ``topics``; return how many were deleted."""
    partitions = await partitions_of(bootstrap, topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
    finally:
        await consumer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_records(
            {tp: RecordsToDelete(before_offset=end) for tp, end in ends.items() if end > 0}
        )
    finally:
        await admin.close()
    return sum(ends[tp] - starts[tp] for tp in partitions)
