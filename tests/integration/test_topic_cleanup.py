"""Deleting a run's or a test's topics (``ankommen_local.kafka.delete_topics``) on the real
broker: the scenario's fresh and dropped runs, the bench's topics and the tests' own."""

from __future__ import annotations

import asyncio

from ankommen_local.infra import Endpoints
from ankommen_local.kafka import delete_topics, list_topics
from ankommen_runtime.kafka import ensure_topics


async def test_a_prefix_takes_its_topics_a_name_its_own_and_nothing_else(
    infra: Endpoints, topic_prefix: str
) -> None:
    run, other = f"{topic_prefix}run.", f"{topic_prefix}runner."
    made = [f"{run}housing.events", f"{run}allocation.events", f"{other}housing.events"]
    named = f"{topic_prefix}bench.events"
    await ensure_topics(infra.kafka_bootstrap, {name: 1 for name in [*made, named]})
    for _ in range(100):  # the broker lists a new topic a moment after creating it
        if {*made, named} <= set(await list_topics(infra.kafka_bootstrap)):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the topics made were not listed within 10 s")

    deleted = await delete_topics(
        infra.kafka_bootstrap, prefixes=[run], names=[named, f"{topic_prefix}never.made"]
    )

    assert deleted == sorted([f"{run}allocation.events", f"{run}housing.events", named])
    left: list[str] = []
    for _ in range(100):  # the broker deletes asynchronously
        left = [t for t in await list_topics(infra.kafka_bootstrap) if t.startswith(topic_prefix)]
        if left == [f"{other}housing.events"]:
            break
        await asyncio.sleep(0.1)
    assert left == [f"{other}housing.events"], "a prefix's deletion left or took the wrong topics"
    assert await delete_topics(infra.kafka_bootstrap, prefixes=[run]) == []
