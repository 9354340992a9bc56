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
        described = await admin.describe_topics(list(topics))
    return [
        TopicPartition(t["topic"], p["partition"])
        for t in described
        if t.get("error_code", 0) == 0
        for p in sorted(t["partitions"], key=lambda p: p["partition"])
    ]
