"""Where this process has got to on Kafka: the barrier's knowledge of events on their way.

A simulated step is over when no event is on its way anywhere (docs/business-time.md). An
event is on its way from the moment its service's relay has it acknowledged until every
group reading its topic has committed past it. The barrier used to ask Kafka for this in
every answer of every service (end offsets, the group's committed offsets: two requests
through aiokafka's pure-Python protocol), and since five services answer at five moments,
a second round had to confirm the first.

Each process knows its part without asking: every event topic has one writer, its
service's outbox relay, and a group's offsets move only by its consumer's commits. So the
relay notes the next offset of each partition it wrote to (``wrote``), the consumer each
offset it committed (``committed_to``), and the barrier's answer carries both; the driver
sets each partition's end (its writer's note) against each reader's commit. Kafka is asked
once, when a simulation's service starts, for where things stood before it (``seed``: a
restarted process, a topic written by a service the run does not drive:
``kafka_clients.positions_on_kafka``).
"""

from __future__ import annotations

from collections.abc import Mapping

from aiokafka import TopicPartition


def key(topic: str, partition: int) -> str:
    """A partition's name in an answer: ``topic:partition`` (``:`` is never in a topic)."""
    return f"{topic}:{partition}"


class Positions:
    """The next offset of every partition this process knows the end of, and its consumer
    group's committed offset of every partition it reads; both only ever grow."""

    def __init__(self) -> None:
        self._ends: dict[str, int] = {}
        self._committed: dict[str, int] = {}

    def wrote(self, topic: str, partition: int, next_offset: int) -> None:
        """The relay had records acknowledged on the partition, the last at
        ``next_offset - 1``."""
        _raise(self._ends, key(topic, partition), next_offset)

    def committed_to(self, offsets: Mapping[TopicPartition, int]) -> None:
        """The consumer committed ``offsets`` (the next offset to read, per partition)."""
        for tp, offset in offsets.items():
            _raise(self._committed, key(tp.topic, tp.partition), offset)

    def seed(
        self, ends: Mapping[TopicPartition, int], committed: Mapping[TopicPartition, int]
    ) -> None:
        """Kafka's answer of before: taken where it is ahead of what this process noted
        (it cannot be ahead of the truth, and a note taken since is never behind it)."""
        for tp, end in ends.items():
            _raise(self._ends, key(tp.topic, tp.partition), end)
        for tp, offset in committed.items():
            _raise(self._committed, key(tp.topic, tp.partition), offset)

    def ends(self) -> dict[str, int]:
        return dict(self._ends)

    def committed(self) -> dict[str, int]:
        return dict(self._committed)


def _raise(positions: dict[str, int], name: str, offset: int) -> None:
    if offset > positions.get(name, -1):
        positions[name] = offset
