"""How far behind each topic reporting's live consumer is (consumer lag), from Kafka."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from ankommen_runtime.kafka_clients import partitions_of, started
from ankommen_runtime.settings import ServiceSettings

from .domain.facts import REPORTED


@dataclass(frozen=True)
class TopicLag:
    topic: str
    source: str
    end: int
    committed: int

    @property
    def behind(self) -> int:
        return max(self.end - self.committed, 0)


async def consumer_lag(settings: ServiceSettings) -> list[TopicLag]:
    """Per reported topic: records published and records the live group has committed."""
    bootstrap, security = settings.kafka_bootstrap, settings.kafka_client_options()
    topics = {settings.topic(source): source for source in REPORTED}
    partitions = await partitions_of(bootstrap, list(topics), **security)
    ends: dict[TopicPartition, int] = {}
    committed: dict[TopicPartition, Any] = {}
    if partitions:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, **security)
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security)
        async with started(consumer), started(admin):
            ends = await consumer.end_offsets(partitions)
            committed = await admin.list_consumer_group_offsets(
                settings.group, partitions=partitions
            )
    out = []
    for topic, source in topics.items():
        end = sum(o for tp, o in ends.items() if tp.topic == topic)
        done = sum(max(meta.offset, 0) for tp, meta in committed.items() if tp.topic == topic)
        out.append(TopicLag(topic, source, end, done))
    return out
