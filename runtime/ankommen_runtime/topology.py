"""Who writes and reads which topic: the single source the deployment reads names from.

Names and configuration come from ``topics`` (event streams, per-consumer dead letters);
this module applies them to the services' own ``ServiceSpec``s, so that Kubernetes
KafkaTopics, KafkaUser ACLs, the local broker's topics and ACLs and the alert rules are
derived from what the services really publish and consume instead of being typed out again.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import topics
from .settings import ServiceSettings

if TYPE_CHECKING:
    from .service import ServiceSpec

EVENTS_SUFFIX = ".events"
# Event streams are the system of record for the read models (reporting rebuilds from
# them), so they are kept forever; dead letters wait four weeks for a fix and a re-drive.
EVENT_RETENTION_MS = int(topics.EVENTS.configs["retention.ms"])
DEAD_LETTER_RETENTION_MS = int(topics.DEAD_LETTERS.configs["retention.ms"])
DEAD_LETTER_PARTITIONS = topics.DEAD_LETTERS.partitions


def event_topic(source: str, prefix: str = "") -> str:
    """The topic ``source`` publishes on (same rule as ``ServiceSettings.topic``)."""
    return f"{prefix}{source}{EVENTS_SUFFIX}"


def dead_letter_topic(topic: str, consumer: str, prefix: str = "") -> str:
    """Where ``consumer`` parks events of ``topic`` that failed every retry (``topics``)."""
    return topics.dead_letter_topic(consumer, topic, prefix)


def owner_of(topic: str, prefix: str = "") -> str | None:
    """The service that owns (alone may write) an event topic; None for anything else."""
    if not topic.startswith(prefix) or not topic.endswith(EVENTS_SUFFIX):
        return None
    if ".dlq." in topic:  # <consumer>.dlq.<source>.events: dead letters, no event stream
        return None
    owner = topic[len(prefix) : -len(EVENTS_SUFFIX)]
    return owner or None


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    dead_letter: bool = False


@dataclass(frozen=True)
class ServiceTopology:
    """One service's place on the broker: what it writes, reads, and as which group."""

    service: str
    group: str
    publishes: tuple[str, ...]
    consumes: tuple[str, ...]
    dead_letters: tuple[str, ...]

    @property
    def writes(self) -> tuple[str, ...]:
        return self.publishes + self.dead_letters


def topology_of(spec: ServiceSpec, settings: ServiceSettings) -> ServiceTopology:
    """Derived exactly as ``Runtime.start`` creates topics and subscribes."""
    consumes = tuple(settings.topic(sub.source) for sub in spec.subscriptions)
    return ServiceTopology(
        service=spec.name,
        group=settings.group,
        publishes=(settings.topic(spec.name),) if spec.publishes else (),
        consumes=consumes,
        dead_letters=tuple(
            dead_letter_topic(t, spec.name, settings.topic_prefix) for t in consumes
        ),
    )


def topics_of(topologies: Iterable[ServiceTopology], partitions: int) -> list[TopicSpec]:
    """Every topic the services need, event streams and dead letters, sorted by name."""
    found: dict[str, TopicSpec] = {}
    for t in topologies:
        for name in (*t.publishes, *t.consumes):
            found[name] = TopicSpec(name, partitions, EVENT_RETENTION_MS)
        for name in t.dead_letters:
            found[name] = TopicSpec(
                name, DEAD_LETTER_PARTITIONS, DEAD_LETTER_RETENTION_MS, dead_letter=True
            )
    return [found[name] for name in sorted(found)]


# --- the operator's dead-letter commands ----------------------------------------------------
OPERATIONS_USER = "operations"
REDRIVE_GROUP = "ankommen-dlq-redrive"  # remembers which dead letters were re-driven


@dataclass(frozen=True)
class OperationsAccess:
    """What ``ankommen dlq`` may do as the ``operations`` user, never as a service: read
    and purge (Delete) every dead-letter topic, re-drive into (Write) and read an original
    back from (Read) the event streams, remember re-drives in its own group."""

    user: str
    group: str
    dead_letters: tuple[str, ...]
    event_streams: tuple[str, ...]


def operations_access(topologies: Iterable[ServiceTopology]) -> OperationsAccess:
    found = list(topologies)
    return OperationsAccess(
        user=OPERATIONS_USER,
        group=REDRIVE_GROUP,
        dead_letters=tuple(sorted({d for t in found for d in t.dead_letters})),
        event_streams=tuple(sorted({n for t in found for n in (*t.publishes, *t.consumes)})),
    )


# --- the five services, as their packages define them ---------------------------------------
SERVICE_NAMES: tuple[str, ...] = ("allocation", "housing", "integration", "volunteers", "reporting")


def settings_class(service: str) -> type[ServiceSettings]:
    """The service's own settings class (a ServiceSettings subclass), or the runtime's."""
    module = importlib.import_module(f"{service}.app")
    own = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, ServiceSettings)
        and value is not ServiceSettings
        and value.__module__ == module.__name__
    ]
    if len(own) > 1:
        raise LookupError(f"{service}.app defines several settings classes: {own}")
    return own[0] if own else ServiceSettings


def service_spec(service: str, settings: ServiceSettings | None = None) -> ServiceSpec:
    """The ServiceSpec a service's app runs with: its ``SPEC``, or ``service_spec(settings)``."""
    module = importlib.import_module(f"{service}.app")
    settings = settings or settings_class(service)(service=service)
    if hasattr(module, "SPEC"):
        spec: ServiceSpec = module.SPEC
        return spec.bind(spec.configure(settings))
    if hasattr(module, "service_spec"):
        return module.service_spec(settings)
    raise LookupError(f"{service}.app has neither SPEC nor service_spec(settings)")


def service_topologies(prefix: str = "") -> list[ServiceTopology]:
    """The topology of all five services with default settings (and a topic prefix)."""
    result = []
    for name in SERVICE_NAMES:
        settings = settings_class(name)(service=name, topic_prefix=prefix)
        result.append(topology_of(service_spec(name, settings), settings))
    return result
