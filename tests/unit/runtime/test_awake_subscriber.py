"""A consumer's poll is its only wait: faststream's nap after an empty poll is left out."""

from __future__ import annotations

from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from ankommen_runtime.consumer import ConsumerPolicy, Subscription, subscribe
from ankommen_runtime.settings import ServiceSettings
from ankommen_runtime.uow import UnitOfWork
from faststream.kafka import KafkaBroker


class _Consumer:
    """Answers each getmany with the next of ``polls``; records what it was asked."""

    def __init__(self, polls: list[dict[TopicPartition, list[Any]]]) -> None:
        self.polls, self.asked = polls, []

    async def getmany(self, *, timeout_ms: int, max_records: int) -> Any:
        self.asked.append((timeout_ms, max_records))
        return self.polls.pop(0)


def _record(topic: str, partition: int, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, partition, offset, 0, 0, None, b"{}", None, 0, 2, [])


def _subscriber(poll_ms: int, **fetch: int) -> Any:
    async def on_event(tx: Any, envelope: Any) -> None:
        raise AssertionError("not called")

    policy = ConsumerPolicy(
        service="housing",
        group="housing",
        uow=UnitOfWork(pool=None),  # type: ignore[arg-type]
        producer=None,  # type: ignore[arg-type]
        subscriptions=[Subscription("allocation", {"RefugeeAssigned": on_event})],
    )
    subscribe(KafkaBroker("127.0.0.1:1", consumer_only=True), policy, poll_ms=poll_ms, **fetch)
    return policy.subscriber


async def test_an_empty_poll_returns_at_once_without_a_nap(monkeypatch: Any) -> None:
    subscriber = _subscriber(poll_ms=100)
    naps: list[float] = []

    async def nap(seconds: float) -> None:
        naps.append(seconds)

    monkeypatch.setattr("anyio.sleep", nap)
    consumer = _Consumer([{}])
    assert await subscriber.get_msg(consumer) == ()
    assert consumer.asked == [(100, 500)], "the poll itself waits up to poll_ms"
    assert naps == [], "faststream's own get_msg sleeps poll_ms after an empty poll"


async def test_a_poll_returns_every_partitions_records_as_one_batch() -> None:
    subscriber = _subscriber(poll_ms=20)
    a, b = TopicPartition("allocation.events", 0), TopicPartition("allocation.events", 1)
    records = {a: [_record(a.topic, 0, 7), _record(a.topic, 0, 8)], b: [_record(b.topic, 1, 3)]}
    batch = await subscriber.get_msg(_Consumer([records]))
    assert [(r.partition, r.offset) for r in batch] == [(0, 7), (0, 8), (1, 3)]


def test_a_fetch_answers_at_the_first_record_unless_the_service_asks_for_more() -> None:
    """Kafka's defaults (one byte, 500 ms) unless the settings say otherwise: a consumer
    no step waits for (reporting in a scenario run) may ask for larger fetches."""
    default = ServiceSettings(service="housing")
    assert (default.consumer_fetch_min_bytes, default.consumer_fetch_max_wait_ms) == (1, 500)
    assert _fetch(_subscriber(poll_ms=100)) == (1, 500)
    sink = ServiceSettings(
        service="reporting", consumer_fetch_min_bytes=1 << 20, consumer_fetch_max_wait_ms=1000
    )
    subscriber = _subscriber(
        poll_ms=100,
        fetch_min_bytes=sink.consumer_fetch_min_bytes,
        fetch_max_wait_ms=sink.consumer_fetch_max_wait_ms,
    )
    assert _fetch(subscriber) == (1 << 20, 1000), "what the aiokafka consumer is built with"


def _fetch(subscriber: Any) -> tuple[int, int]:
    args = subscriber._connection_args  # faststream builds the AIOKafkaConsumer from these
    return args["fetch_min_bytes"], args["fetch_max_wait_ms"]
