"""How far a consumer has read a topic, on a real broker: the moment a request's answer is
awaited from (allocation's re-send of unanswered placements, docs/placement-saga.md)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from ankommen_contracts import Envelope
from ankommen_local.infra import Endpoints
from ankommen_runtime.consumer import dead_letter_topic
from ankommen_runtime.service import Runtime
from ankommen_runtime.uow import Transaction
from procs import consumer_under_test
from support import create_topics, eventually
from test_consumer_batched import opened, produce

SLOW = "slow to apply"


async def horizon_of(runtime: Runtime) -> datetime | None:
    assert runtime.policy is not None
    return await runtime.policy.read_until("housing")


async def test_the_horizon_waits_at_the_last_settled_event_while_later_ones_are_unread(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}housing.events"
    await create_topics(
        infra.kafka_bootstrap, topic, dead_letter_topic("reporting", topic, topic_prefix)
    )
    release = asyncio.Event()
    seen: list[str] = []

    async def apply(tx: Transaction, event: Envelope[Any]) -> None:
        seen.append(event.data.name)
        if event.data.name == SLOW:
            await release.wait()

    runtime = consumer_under_test(
        infra.kafka_bootstrap, database, topic_prefix, "horizon", {"ShelterOpened": apply}
    )
    await produce(infra.kafka_bootstrap, topic, [opened("first"), opened("second")])
    first_sent = datetime.now(UTC)
    await runtime.start()
    try:

        async def read_past(moment: datetime) -> bool:
            horizon = await horizon_of(runtime)
            return horizon is not None and horizon > moment

        # Read to the end: the horizon is the last fetch, and moves on while idle.
        assert await eventually(lambda: read_past(first_sent), what="read past the first two")
        idle = await horizon_of(runtime)
        assert idle is not None
        assert idle <= datetime.now(UTC) + timedelta(seconds=1), "never ahead of the clock"

        await produce(infra.kafka_bootstrap, topic, [opened(SLOW), opened("after")])
        slow_sent = datetime.now(UTC)

        async def slow_in_hand() -> bool:
            return SLOW in seen

        assert await eventually(slow_in_hand)
        # While the slow one is in hand, nothing after the last settled event counts as
        # read: not after several of the consumer's fetches (half a second apart) either.
        for _ in range(4):
            horizon = await horizon_of(runtime)
            assert horizon is not None, "the first two were settled"
            assert horizon < slow_sent, f"{horizon} counts an unread event as read"
            await asyncio.sleep(0.5)

        release.set()
        assert await eventually(lambda: read_past(slow_sent), what="read past the slow one")
        assert seen == ["first", "second", SLOW, "after"]
    finally:
        release.set()
        await runtime.stop()
