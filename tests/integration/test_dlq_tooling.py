"""Dead-letter tooling on real Kafka: list, show, re-drive after a fix (applied once), purge."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer
from ankommen_contracts import Envelope, encode
from ankommen_local.infra import Endpoints
from ankommen_runtime import dlq
from ankommen_runtime.consumer import dead_letter_topic
from ankommen_runtime.uow import Transaction
from procs import record_effect
from support import create_topics, eventually
from test_consumer_policy import consumer_runtime, effects, envelope, produce


async def cli(infra: Endpoints, *args: str) -> str:
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "ankommen_runtime.cli",
            "dlq",
            *args,
            "--bootstrap",
            infra.kafka_bootstrap,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "200", "PATH": ""},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


async def test_a_dead_letter_is_listed_redriven_after_the_fix_applied_once_and_purged(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}housing.events"
    dead = dead_letter_topic("reporting", topic, topic_prefix)
    await create_topics(infra.kafka_bootstrap, topic, dead)
    broken = {"yes": True}

    async def projection(tx: Transaction, env: Envelope[Any]) -> None:
        if broken["yes"] and env.data.capacity == 13:
            raise ValueError("projection bug for capacity 13")
        await record_effect(tx, env)

    poison, fine = envelope(uuid.uuid4(), 13), envelope(uuid.uuid4(), 1)
    await produce(infra.kafka_bootstrap, topic, [encode(poison), encode(fine)])
    runtime = consumer_runtime(infra, database, topic_prefix, "projection", projection)
    await runtime.start()
    try:
        assert await eventually(lambda: _letters(infra, dead, 1))
        listed = await cli(infra, "list", topic)
        assert "ValueError: projection bug for capacity 13" in listed
        assert "pending" in listed
        shown = await cli(infra, "show", dead, "0")
        assert str(poison.event_id) in shown
        assert "dlq_original_offset" in shown

        broken["yes"] = False  # the fix is deployed
        assert "re-driven: 1" in await cli(infra, "redrive", topic, "--all")
        assert await eventually(lambda: _effect_count(database, 2))
        # Re-driving the same letter again must not apply it twice.
        assert "re-driven: 1" in await cli(infra, "redrive", topic, "--offset", "0")
        assert "re-driven: 0" in await cli(infra, "redrive", topic, "--all")
        await produce(infra.kafka_bootstrap, topic, [encode(envelope(uuid.uuid4(), 2))])
        assert await eventually(lambda: _effect_count(database, 3))
    finally:
        await runtime.stop()
    rows = {r["event_id"]: r["applied"] for r in await effects(database)}
    assert rows[poison.event_id] == 1, "a re-driven event is applied once"
    letters = await dlq.read_letters(infra.kafka_bootstrap, [dead])
    assert [x.redriven for x in letters] == [True]

    assert "purged: 1" in await cli(infra, "purge", topic, "--yes")
    assert await dlq.read_letters(infra.kafka_bootstrap, [dead]) == []


async def _letters(infra: Endpoints, dead: str, n: int) -> bool:
    return len(await dlq.read_letters(infra.kafka_bootstrap, [dead])) >= n


async def _effect_count(dsn: str, n: int) -> bool:
    return len(await effects(dsn)) >= n


async def test_purge_deletes_the_letters_listed_and_keeps_one_that_arrived_since(
    infra: Endpoints, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}housing.events"
    dead = dead_letter_topic("reporting", topic, topic_prefix)
    await create_topics(infra.kafka_bootstrap, dead)
    headers = [("dlq_error", b"ValueError: x"), ("dlq_original_topic", topic.encode())]
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for n in range(3):
            await producer.send_and_wait(dead, value=f"letter {n}".encode(), headers=headers)
        listed = await dlq.read_letters(infra.kafka_bootstrap, [dead])
        assert len(listed) == 3
        # A new failure arrives while the operator reads the list.
        await producer.send_and_wait(dead, value=b"arrived later", headers=headers)
    finally:
        await producer.stop()
    assert await dlq.purge(infra.kafka_bootstrap, listed) == 3
    left = await dlq.read_letters(infra.kafka_bootstrap, [dead])
    assert [x.value for x in left] == [b"arrived later"]
    assert left[0].consumer == "reporting"
    assert left[0].original_topic == topic
