"""Kafka adapters: the producer every service uses, the consumers' broker and idempotent
topic creation."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from faststream.security import BaseSecurity

from .topics import DEAD_LETTERS, EVENTS, TopicConfig, ensure

DLQ_MARK = ".dlq."
# how long a send waits for the broker (ANKOMMEN_KAFKA_REQUEST_TIMEOUT_MS)
REQUEST_TIMEOUT_MS = 30_000


def new_producer(
    bootstrap: str,
    *,
    client_id: str,
    request_timeout_ms: int = REQUEST_TIMEOUT_MS,
    **security: Any,
) -> AIOKafkaProducer:
    # acks=all + idempotence: an acknowledged event is durable and a retried send is not
    # written twice by the broker. No linger: the relay builds its record batches itself
    # (one per partition, submitted without yielding, so one request carries them all);
    # a linger only held each finished batch back 5 ms. bench, two pairs alternating:
    # idle response -> visible p50 15.0/15.7 ms with it, 10.0/10.2 without; pipeline
    # 4,106/3,552 and 3,743/3,557 events/s.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=0,
        max_batch_size=256 * 1024,
        request_timeout_ms=request_timeout_ms,
        **security,  # ServiceSettings.kafka_client_options(): SASL/SCRAM where locked down
    )


# faststream's consumer-only broker says this once per subscriber at every start; here it
# is not news: the runtime has created and checked the topics before (``Runtime._topics``).
_TOPICS_NOT_CREATED = "Topic creation is skipped in consumer-only mode"


class _TopicsOwnedByRuntime(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _TOPICS_NOT_CREATED not in record.getMessage()


def new_consumer_broker(
    bootstrap: str, *, client_id: str, security: BaseSecurity | None = None
) -> KafkaBroker:
    """faststream's broker for a service's consumers, and nothing else.

    Consumer-only: the runtime publishes (outbox relay, dead letters) with its own
    ``new_producer``. A broker that also made a producer would start it in ``start()`` and,
    when the broker is unreachable there, drop it unclosed (asyncio then logs "Unclosed
    AIOKafkaProducer" at ERROR when it is collected); it would also hold a producer's and an
    admin client's connections for nothing.
    """
    # Its own logger would print coloured text lines; this one propagates to the root's
    # JSON handler like every other library logger.
    logger = logging.getLogger("faststream.access")
    if not any(isinstance(f, _TopicsOwnedByRuntime) for f in logger.filters):
        logger.addFilter(_TopicsOwnedByRuntime())
    return KafkaBroker(
        bootstrap,
        client_id=client_id,
        security=security,
        consumer_only=True,
        logger=logger,
        # faststream's "Received" and "Processed" for every batch, with no event id or
        # correlation id of their own: at DEBUG. At INFO they were two JSON lines per poll,
        # the bulk of a consumer's log and a tenth of its CPU in quiet weeks (py-spy); the
        # consumer policy logs what an operator acts on (retries, parking, dead letters).
        log_level=logging.DEBUG,
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
