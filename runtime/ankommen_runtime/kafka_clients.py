"""Short-lived aiokafka clients, opened and closed the one way.

aiokafka reports a producer or consumer that was made but never stopped when it is
collected ("Unclosed AIOKafkaProducer", through asyncio's handler at ERROR), and a start
that fails (a broker cut, a name that does not resolve) leaves its connections to close.
``started`` closes a client on every way out, its own failed start included.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

Client = TypeVar("Client", AIOKafkaAdminClient, AIOKafkaConsumer, AIOKafkaProducer)


@contextlib.asynccontextmanager
async def started(client: Client) -> AsyncIterator[Client]:
    """``client`` started for the block, closed after it, also when its start fails."""
    try:
        await client.start()
        yield client
    finally:
        if isinstance(client, AIOKafkaAdminClient):
            await client.close()
        else:
            await client.stop()


async def partitions_of(
    bootstrap: str, topics: Sequence[str], **security: Any
) -> list[TopicPartition]:
    """Every partition of those ``topics`` that exist, in order (a topic nobody published
    to yet may not exist)."""
    if not topics:
        return []
    async with started(AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security)) as admin:
        return await _partitions(admin, topics)


async def positions_on_kafka(
    bootstrap: str,
    group: str,
    read: Sequence[str],
    *,
    written: Sequence[str] = (),
    **security: Any,
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """Where things stand on Kafka: the next offset of every partition of the topics
    ``read`` and ``written``, and ``group``'s committed offset of every partition read (0
    where it has committed none). A simulation's service asks once, when it starts
    (``positions.Positions.seed``); from then on it notes its own writes and commits."""
    async with contextlib.AsyncExitStack() as clients:
        admin = await clients.enter_async_context(
            started(AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security))
        )
        reading = await _partitions(admin, read)
        writing = await _partitions(admin, [t for t in written if t not in read])
        if not reading and not writing:
            return {}, {}
        consumer = await clients.enter_async_context(
            started(AIOKafkaConsumer(bootstrap_servers=bootstrap, **security))
        )
        ends = await consumer.end_offsets(reading + writing)
        committed = (
            await admin.list_consumer_group_offsets(group, partitions=reading) if reading else {}
        )
    done = {tp: committed[tp].offset for tp in reading if tp in committed}
    return ends, {tp: max(done.get(tp, 0), 0) for tp in reading}


async def _partitions(admin: AIOKafkaAdminClient, topics: Sequence[str]) -> list[TopicPartition]:
    if not topics:
        return []
    described = await admin.describe_topics(list(topics))
    return [
        TopicPartition(t["topic"], p["partition"])
        for t in described
        if t.get("error_code", 0) == 0
        for p in sorted(t["partitions"], key=lambda p: p["partition"])
    ]
