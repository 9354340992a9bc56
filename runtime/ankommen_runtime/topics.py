"""Topic configuration as code: what every topic must look like, checked at start-up.

Event topics are the system of record for "rebuild from the beginning": they keep their
records for ever (``retention.ms=-1``), as do dead-letter topics (a letter is deleted by
``ankommen dlq purge``, not by a timer). Replication is 3 with ``min.insync.replicas=2``
(one broker may fail without losing an acknowledged event, ``acks=all``), capped at the
cluster's size where it is smaller (the local single broker: 1 and 1).

``check`` compares what the broker has with this; a difference is a readiness failure
that names the topic, the setting, what it is and what it must be. Partitions of an event
topic are fixed once created: more would move subjects to other partitions and break
their order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError
from ankommen_contracts import topic_for

from .kafka_clients import started

# Services that publish an event stream: "<name>.events".
EVENT_STREAMS: tuple[str, ...] = ("allocation", "housing", "integration", "volunteers")
EVENT_PARTITIONS = 3
REPLICATION = 3
MIN_IN_SYNC = 2
FOR_EVER = "-1"


@dataclass(frozen=True)
class TopicConfig:
    partitions: int
    replication_factor: int
    configs: Mapping[str, str]

    def for_cluster(self, brokers: int) -> TopicConfig:
        """Replication capped at the cluster's size (min ISR one below, at least 1)."""
        rf = max(1, min(self.replication_factor, brokers))
        configs = dict(self.configs)
        configs["min.insync.replicas"] = str(min(int(configs["min.insync.replicas"]), rf - 1 or 1))
        return TopicConfig(self.partitions, rf, configs)


def _config(partitions: int) -> TopicConfig:
    return TopicConfig(
        partitions=partitions,
        replication_factor=REPLICATION,
        configs={
            "retention.ms": FOR_EVER,
            "retention.bytes": "-1",
            "cleanup.policy": "delete",
            "min.insync.replicas": str(MIN_IN_SYNC),
        },
    )


EVENTS = _config(EVENT_PARTITIONS)
DEAD_LETTERS = _config(1)


def event_topic(source: str, prefix: str = "") -> str:
    """The topic ``source`` publishes on, in the environment named by ``prefix``."""
    return prefix + topic_for(source)


def dead_letter_topic(consumer: str, source_topic: str, prefix: str = "") -> str:
    """``<prefix><consumer>.dlq.<source topic>``: whose letters, and from where.

    The consumer's own name comes first, so the topic falls under the consumer's prefix
    (``reporting.``): with per-service ACLs on prefixes, each service writes only its own
    dead letters, and an operator sees at a glance which consumer failed on which topic.
    """
    return f"{prefix}{consumer}.dlq.{source_topic.removeprefix(prefix)}"


def all_topics(prefix: str = "") -> dict[str, TopicConfig]:
    """Every topic of the system with its configuration."""
    # Who consumes what is read from the services' specs (topology), never typed out here.
    from .topology import service_topologies

    topics = {event_topic(s, prefix): EVENTS for s in EVENT_STREAMS}
    for service in service_topologies(prefix):
        for name in service.dead_letters:
            topics[name] = DEAD_LETTERS
    return topics


async def cluster_size(admin: AIOKafkaAdminClient) -> int:
    described = await admin.describe_cluster()
    return max(1, len(described.get("brokers", [])))


async def ensure(bootstrap: str, topics: Mapping[str, TopicConfig], **security: Any) -> list[str]:
    """Create the missing topics with their configuration; return the names created."""
    async with started(AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security)) as admin:
        brokers = await cluster_size(admin)
        existing = set(await admin.list_topics())
        missing = []
        for name, config in topics.items():
            if name in existing:
                continue
            c = config.for_cluster(brokers)
            missing.append(
                NewTopic(
                    name,
                    num_partitions=c.partitions,
                    replication_factor=c.replication_factor,
                    topic_configs=dict(c.configs),
                )
            )
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # a replica was quicker
                await admin.create_topics(missing)
        return [t.name for t in missing]


async def check(bootstrap: str, topics: Mapping[str, TopicConfig], **security: Any) -> list[str]:
    """What differs between the broker's topics and ``topics``: one line per difference."""
    if not topics:
        return []
    async with started(AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security)) as admin:
        brokers = await cluster_size(admin)
        names = sorted(topics)
        described = {d["topic"]: d for d in await admin.describe_topics(names)}
        resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
        responses = await admin.describe_configs(resources)
    actual: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.resources:
            _, _, _, name, entries = resource[:5]
            actual[name] = {e[0]: e[1] for e in entries}
    return _differences(topics, brokers, described, actual)


def _differences(
    topics: Mapping[str, TopicConfig],
    brokers: int,
    described: Mapping[str, dict],  # type: ignore[type-arg]
    actual: Mapping[str, Mapping[str, str]],
) -> list[str]:
    problems: list[str] = []
    for name, config in sorted(topics.items()):
        want = config.for_cluster(brokers)
        topic = described.get(name)
        if topic is None or topic.get("error_code", 0) != 0:
            problems.append(f"{name}: missing")
            continue
        partitions: Sequence[dict] = topic["partitions"]  # type: ignore[type-arg]
        if len(partitions) != want.partitions:
            problems.append(f"{name}: {len(partitions)} partitions, must be {want.partitions}")
        replicas = min((len(p["replicas"]) for p in partitions), default=0)
        if replicas != want.replication_factor:
            problems.append(
                f"{name}: replication factor {replicas}, must be {want.replication_factor}"
            )
        for key, value in want.configs.items():
            have = actual.get(name, {}).get(key)
            if have != value:
                problems.append(f"{name}: {key}={have}, must be {value}")
    return problems
