"""The batch subscriber polls without faststream's sleep after an empty poll
(``consumer.poll_at_once``): a record arriving in a quiet moment is handled at once.

faststream's consume loop and a fake aiokafka consumer; the real broker's consumption is
in every integration test, the latency it saves in ``bench/latency.py`` (idle)."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import ConsumerStoppedError
from ankommen_runtime.consumer import poll_at_once
from ankommen_runtime.kafka import new_consumer_broker
from faststream.kafka.subscriber import usecase
from support import consumer_record

UNREACHABLE = "127.0.0.1:1"
TP = TopicPartition("housing.events", 0)


class QuietThenBusy:
    """getmany answers: nothing, nothing, two records, then the consumer is stopped."""

    def __init__(self) -> None:
        self.answers: list[dict[TopicPartition, list[Any]]] = [
            {},
            {},
            {TP: [consumer_record(offset=0), consumer_record(offset=1)]},
        ]
        self.polls: list[tuple[int, int | None]] = []

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Any]]:
        self.polls.append((timeout_ms, max_records))
        if not self.answers:
            raise ConsumerStoppedError
        return self.answers.pop(0)


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    async def sleep(seconds: float) -> None:
        raise AssertionError(f"the consume loop slept {seconds} s after an empty poll")

    monkeypatch.setattr(usecase.anyio, "sleep", sleep)


def batch_subscriber() -> Any:
    broker = new_consumer_broker(UNREACHABLE, client_id="test")
    return broker.subscriber(
        "housing.events", group_id="reporting", batch=True, batch_timeout_ms=20, max_records=500
    )


async def test_faststreams_own_batch_poll_sleeps_after_an_empty_poll(
    no_sleep: None,
) -> None:
    """Why ``poll_at_once`` exists: if faststream stops sleeping, it can go."""
    with pytest.raises(AssertionError, match=r"slept 0\.02 s"):
        await batch_subscriber().get_msg(QuietThenBusy())


async def test_the_consume_loop_polls_again_at_once_and_hands_over_the_records(
    no_sleep: None,
) -> None:
    subscriber = batch_subscriber()
    poll_at_once(subscriber, max_records=500, poll_ms=20)
    handed: list[tuple[Any, ...]] = []

    async def consume_one(batch: tuple[Any, ...]) -> None:
        handed.append(batch)

    subscriber.consume_one = consume_one
    subscriber.running = True
    consumer = QuietThenBusy()
    await subscriber._run_consume_loop(consumer)  # returns when the consumer stops
    assert consumer.polls == [(20, 500)] * 4
    assert [[r.offset for r in batch] for batch in handed] == [[0, 1]]
