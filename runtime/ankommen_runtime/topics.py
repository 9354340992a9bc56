"""Topic names: the one home of ``<prefix><source>.events`` and its ``.dlq`` topic.

The contract names a service's topic (``ankommen_contracts.topic_for``) and the dead-letter
suffix its AsyncAPI documents; this module adds the environment's prefix (``staging.``,
a test's namespace) and is what services, tools and tests use, instead of f-strings.
"""

from __future__ import annotations

from ankommen_contracts import topic_for
from ankommen_contracts.schema import DLQ_SUFFIX


def event_topic(source: str, prefix: str = "") -> str:
    """The topic ``source`` publishes on, in the environment named by ``prefix``."""
    return prefix + topic_for(source)


def dlq_topic(topic: str) -> str:
    """Where consumers of ``topic`` put what they cannot process."""
    return topic if topic.endswith(DLQ_SUFFIX) else topic + DLQ_SUFFIX


__all__ = ["DLQ_SUFFIX", "dlq_topic", "event_topic"]
