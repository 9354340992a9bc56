"""Kafka adapters: the producer every service uses and idempotent topic creation."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError


def new_producer(bootstrap: str, *, client_id: str, **security: Any) -> AIOKafkaProducer:
    # acks=all + idempotence: an acknowledged event is durable and a retried send is not
    # written twice by the broker; linger lets the relay's batch fill a request.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=30_000,
        **security,  # ServiceSettings.kafka_client_options(): SASL/SCRAM where locked down
    )


async def ensure_topics(bootstrap: str, topics: Mapping[str, int], **security: Any) -> list[str]:
    """Create the named topics (name -> partitions) that do not exist yet; return those."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, num_partitions=partitions, replication_factor=1)
            for name, partitions in topics.items()
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # a replica was quicker
                await admin.create_topics(missing)
        return [t.name for t in missing]
    finally:
        await admin.close()
