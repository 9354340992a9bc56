"""Kafka adapters: the producer every service uses and idempotent topic creation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaProducer

from .topics import DEAD_LETTERS, EVENTS, TopicConfig, ensure

DLQ_MARK = ".dlq."


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
    """Create the named topics (name -> partitions) that do not exist yet; return those.

    Configured as ``topics.EVENTS`` (retention for ever, replication and min ISR), or as
    ``topics.DEAD_LETTERS`` for dead-letter topics, with the partitions given.
    """
    wanted = {
        name: TopicConfig(
            partitions,
            (DEAD_LETTERS if DLQ_MARK in name else EVENTS).replication_factor,
            (DEAD_LETTERS if DLQ_MARK in name else EVENTS).configs,
        )
        for name, partitions in topics.items()
    }
    return await ensure(bootstrap, wanted, **security)
