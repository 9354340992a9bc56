"""The consumer policy against real Kafka and PostgreSQL: once-only effects, DLQ, kills."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from ankommen_contracts import Envelope, Pillar, encode, new_envelope
from ankommen_contracts.events.housing import ShelterOpened
from ankommen_local.infra import Endpoints
from ankommen_runtime.consumer import dead_letter_topic
from ankommen_runtime.service import Runtime
from ankommen_runtime.uow import Transaction
from procs import consumer_under_test, record_effect
from support import create_topics, eventually, read_topic

PROCS = Path(__file__).parent / "procs.py"


def envelope(site_id: uuid.UUID, sequence: int) -> Envelope[Any]:
    data = ShelterOpened(
        site_id=site_id,
        name="Testheim",
        pillar=Pillar.WOHNUNG,
        district=10,
        operator="AWO",
        capacity=sequence,
    )
    return new_envelope(data, sequence=sequence, correlation_id=uuid.uuid4())


async def produce(bootstrap: str, topic: str, values: list[bytes], key: bytes = b"k") -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()


def consumer_runtime(
    infra: Endpoints, dsn: str, prefix: str, group: str, handler: Any = record_effect
) -> Runtime:
    return consumer_under_test(
        infra.kafka_bootstrap,
        dsn,
        prefix,
        group,
        {"ShelterOpened": handler},
        retry_attempts=3,
        retry_base_seconds=0.01,
    )


async def committed_offset(bootstrap: str, topic: str, group: str) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()


async def effects(dsn: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch("SELECT * FROM effects ORDER BY sequence")
    except asyncpg.UndefinedTableError:
        return []
    finally:
        await conn.close()


async def test_the_same_event_delivered_twice_changes_state_once(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}housing.events"
    await create_topics(infra.kafka_bootstrap, topic)
    first, second = envelope(uuid.uuid4(), 1), envelope(uuid.uuid4(), 1)
    # Redelivered: once in the same poll, once much later after other traffic.
    await produce(infra.kafka_bootstrap, topic, [encode(first), encode(first), encode(second)])
    runtime = consumer_runtime(infra, database, topic_prefix, "dedup")
    await runtime.start()
    try:
        assert await eventually(lambda: _count(database, 2))
        await produce(infra.kafka_bootstrap, topic, [encode(first)])
        assert await eventually(lambda: _committed_at(infra.kafka_bootstrap, topic, "dedup", 4)), (
            "the redelivered event is consumed and its offset committed"
        )
    finally:
        await runtime.stop()
    rows = await effects(database)
    assert {r["event_id"] for r in rows} == {first.event_id, second.event_id}
    assert all(r["applied"] == 1 for r in rows), "a redelivered event is applied once"


async def _count(dsn: str, n: int) -> bool:
    return len(await effects(dsn)) >= n


async def _committed_at(bootstrap: str, topic: str, group: str, offset: int) -> bool:
    return await committed_offset(bootstrap, topic, group) == offset


async def test_poison_messages_go_to_the_dlq_and_the_partition_moves_on(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}housing.events"
    await create_topics(
        infra.kafka_bootstrap, topic, dead_letter_topic("reporting", topic, topic_prefix)
    )
    poison_site = uuid.uuid4()

    async def fails_for_poison_site(tx: Transaction, env: Envelope[Any]) -> None:
        if env.subject == str(poison_site):
            raise ValueError("capacity cannot be projected for this site")
        await record_effect(tx, env)

    good = [envelope(uuid.uuid4(), 1) for _ in range(5)]
    failing = envelope(poison_site, 1)
    unknown = json.loads(encode(envelope(uuid.uuid4(), 1)))
    unknown["type"] = "SomethingNew"  # a newer producer's type: ignored and counted
    values = [
        b"\x00not json at all",
        encode(good[0]),
        encode(failing),
        encode(good[1]),
        json.dumps({"event_id": "nope"}).encode(),
        json.dumps(unknown).encode(),
        *(encode(e) for e in good[2:]),
    ]
    await produce(infra.kafka_bootstrap, topic, values)
    runtime = consumer_runtime(infra, database, topic_prefix, "dlq", fails_for_poison_site)
    await runtime.start()
    try:
        assert await eventually(lambda: _count(database, 5))
        assert await eventually(
            lambda: _committed_at(infra.kafka_bootstrap, topic, "dlq", len(values))
        )
    finally:
        await runtime.stop()
    assert {r["event_id"] for r in await effects(database)} == {e.event_id for e in good}

    dead = await read_topic(
        infra.kafka_bootstrap,
        dead_letter_topic("reporting", topic, topic_prefix),
        until=lambda rs: len(rs) >= 3,
    )
    assert len(dead) == 3
    by_value = {r.value: dict(r.headers) for r in dead}
    assert set(by_value) == {values[0], values[2], values[4]}, "originals kept byte for byte"
    assert b"ValueError: capacity cannot be projected" in by_value[values[2]]["dlq_error"]
    assert by_value[values[2]]["dlq_attempts"] == b"3"
    assert b"invalid envelope" in by_value[values[0]]["dlq_error"]
    assert b"event_id" in by_value[values[4]]["dlq_error"], "the reason names the field"
    assert by_value[values[2]]["dlq_original_offset"] == b"2"
    assert by_value[values[2]]["dlq_consumer_group"] == b"dlq"


def run_consumer(
    infra: Endpoints, dsn: str, prefix: str, group: str, log: Path, die: str | None
) -> subprocess.Popen[bytes]:
    args = [
        sys.executable,
        str(PROCS),
        "consumer",
        "--dsn",
        dsn,
        "--bootstrap",
        infra.kafka_bootstrap,
        "--prefix",
        prefix,
        "--group",
        group,
    ]
    if die:
        args += ["--die", die]
    return subprocess.Popen(args, stdout=log.open("ab"), stderr=subprocess.STDOUT)


async def _killed_then_restarted(
    infra: Endpoints, dsn: str, prefix: str, tmp_path: Path, die: str
) -> tuple[list[asyncpg.Record], str]:
    topic = f"{prefix}housing.events"
    await create_topics(infra.kafka_bootstrap, topic, dead_letter_topic("reporting", topic, prefix))
    sent = [envelope(uuid.uuid4(), 1) for _ in range(20)]
    await produce(infra.kafka_bootstrap, topic, [encode(e) for e in sent])
    log = tmp_path / "consumer.log"

    dying = run_consumer(infra, dsn, prefix, die, log, die)
    assert dying.wait(timeout=60) == -9, "the consumer died by SIGKILL at the chosen point"
    assert await committed_offset(infra.kafka_bootstrap, topic, die) is None, "no offset yet"
    after_kill = await effects(dsn)

    survivor = run_consumer(infra, dsn, prefix, die, log, None)
    try:
        assert await eventually(
            lambda: _committed_at(infra.kafka_bootstrap, topic, die, len(sent)), timeout=60
        ), log.read_text()[-3000:]
    finally:
        survivor.terminate()
        survivor.wait(timeout=30)
    rows = await effects(dsn)
    assert {r["event_id"] for r in rows} == {e.event_id for e in sent}, "nothing lost"
    assert all(r["applied"] == 1 for r in rows), "nothing applied twice"
    return after_kill, log.read_text()


async def test_consumer_killed_before_its_database_commit_applies_once_after_restart(
    infra: Endpoints, database: str, topic_prefix: str, tmp_path: Path
) -> None:
    after_kill, _ = await _killed_then_restarted(
        infra, database, topic_prefix, tmp_path, "before_commit"
    )
    assert after_kill == [], "the killed transaction left no effect"


async def test_consumer_killed_after_db_commit_before_offset_commit_applies_once(
    infra: Endpoints, database: str, topic_prefix: str, tmp_path: Path
) -> None:
    after_kill, log = await _killed_then_restarted(
        infra, database, topic_prefix, tmp_path, "after_commit"
    )
    assert after_kill, "the first process committed its effects before dying"
    redelivered = [
        json.loads(line)
        for line in log.splitlines()
        if line.startswith("{") and "redelivered events ignored" in line
    ]
    assert redelivered, "the restarted consumer re-read the events and skipped them"
    assert sum(r["count"] for r in redelivered) == len(after_kill)
    assert all(r["service"] == "reporting" for r in redelivered)
