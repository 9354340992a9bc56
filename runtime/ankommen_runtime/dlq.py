"""Dead letters: list, show, re-drive and purge the consumers' dead-letter topics.

Each consuming service owns its dead-letter topics, one per source topic:
``<prefix><consumer>.dlq.<source topic>`` (e.g. ``reporting.dlq.housing.events``), so
with per-service ACLs a consumer writes only under its own prefix, and an operator sees
both who failed and on what. A dead letter is the original record (key, value, headers)
plus ``dlq_*`` headers saying where it came from and why it failed (see
``consumer.dead_letter_headers``). Re-driving publishes the original back to its topic:
the consumers' inbox keys on ``event_id``, so a re-driven event is applied once, however
often it is re-driven. It runs as the operations identity (client id ``ankommen-ops``),
never as a service. Which letters were re-driven is remembered as the offsets of the
consumer group ``ankommen-dlq-redrive``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from .consumer import DLQ_MARK, VALUE_OMITTED
from .kafka_clients import partitions_of, started
from .topology import REDRIVE_GROUP

OPERATIONS_CLIENT = "ankommen-ops"


def parse_dead_letter_topic(name: str) -> tuple[str, str]:
    """``(consumer, source topic)`` of ``<prefix><consumer>.dlq.<source>``."""
    head, _, tail = name.partition(DLQ_MARK)
    prefix, _, consumer = head.rpartition(".")
    return consumer, f"{prefix}.{tail}" if prefix else tail


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
        return self.header("dlq_original_topic") or parse_dead_letter_topic(self.topic)[1]

    @property
    def consumer(self) -> str:
        return parse_dead_letter_topic(self.topic)[0]

    @property
    def original_headers(self) -> list[tuple[str, bytes]]:
        return [(k, v) for k, v in self.headers if not k.startswith("dlq_")]


async def dlq_topics(bootstrap: str, topic: str | None = None, **security: Any) -> list[str]:
    """The dead-letter topics; with ``topic``, those it names.

    ``topic`` is a dead-letter topic, a source topic (every consumer's letters from it),
    or a consumer (all its dead-letter topics).
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id=OPERATIONS_CLIENT, **security
    )
    async with started(admin):
        names = sorted(t for t in await admin.list_topics() if DLQ_MARK in t)
    if topic is None:
        return names
    wanted = [n for n in names if topic in (n, *parse_dead_letter_topic(n))]
    if not wanted:
        raise LookupError(f"no dead-letter topic for {topic}")
    return wanted


async def read_letters(bootstrap: str, topics: Sequence[str], **security: Any) -> list[DeadLetter]:
    """Every dead letter now in ``topics``, each marked whether it was re-driven."""
    partitions = await partitions_of(bootstrap, topics, **security)
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=REDRIVE_GROUP, enable_auto_commit=False, **security
    )
    letters: list[DeadLetter] = []
    async with started(consumer):
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


async def redrive(bootstrap: str, letters: Sequence[DeadLetter], **security: Any) -> int:
    """Publish each letter's original record to its original topic; return how many."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=OPERATIONS_CLIENT,
        acks="all",
        enable_idempotence=True,
        **security,
    )
    async with started(producer):
        for letter in letters:
            value = letter.value
            if letter.header(VALUE_OMITTED):
                value = await original_value(bootstrap, letter, **security)
            await producer.send_and_wait(
                letter.original_topic,
                value=value,
                key=letter.key,
                headers=letter.original_headers,
            )
    await _mark_redriven(bootstrap, letters, **security)
    return len(letters)


async def original_value(bootstrap: str, letter: DeadLetter, **security: Any) -> bytes:
    """The value of a letter sent without it (too large), read back from its source topic."""
    tp = TopicPartition(letter.original_topic, int(letter.header("dlq_original_partition")))
    offset = int(letter.header("dlq_original_offset"))
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id=OPERATIONS_CLIENT,
        enable_auto_commit=False,
        **security,
    )
    async with started(consumer):
        consumer.assign([tp])
        if (await consumer.beginning_offsets([tp]))[tp] > offset:
            raise LookupError(
                f"the original of {letter.topic}@{letter.offset} expired from {tp.topic}"
            )
        consumer.seek(tp, offset)
        record = await consumer.getone(tp)
    if record.offset != offset:
        raise LookupError(f"offset {offset} of {tp.topic}/{tp.partition} is gone")
    return bytes(record.value)


async def _mark_redriven(bootstrap: str, letters: Sequence[DeadLetter], **security: Any) -> None:
    """Move the re-drive group's offset past each partition's contiguous re-driven letters."""
    if not letters:
        return
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=REDRIVE_GROUP, enable_auto_commit=False, **security
    )
    async with started(consumer):
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


async def purge(bootstrap: str, letters: Sequence[DeadLetter], **security: Any) -> int:
    """Delete the dead letters listed (``letters``), never one that arrived since.

    Kafka deletes a prefix of a partition, so each partition is cut just after the last
    letter listed: a letter written after the listing keeps its place. Returns how many
    letters were deleted.
    """
    cut: dict[TopicPartition, int] = {}
    for letter in letters:
        tp = TopicPartition(letter.topic, letter.partition)
        cut[tp] = max(cut.get(tp, 0), letter.offset + 1)
    if not cut:
        return 0
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, client_id=OPERATIONS_CLIENT, **security
    )
    async with started(consumer):
        starts = await consumer.beginning_offsets(list(cut))
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id=OPERATIONS_CLIENT, **security
    )
    async with started(admin):
        await admin.delete_records(
            {tp: RecordsToDelete(before_offset=end) for tp, end in cut.items()}
        )
    return sum(max(end - starts[tp], 0) for tp, end in cut.items())
