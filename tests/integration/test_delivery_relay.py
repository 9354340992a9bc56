"""Delivery holes of the relay, the topics and readiness (issue 14), on real Kafka + PostgreSQL.

Before the fix a relay round had no time limit (one replica held the lock through an
outage), one refused outbox row stopped the relay for good, topics got the broker's
7-day retention, and readiness said ready while the relay failed every round.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from ankommen_contracts import Pillar
from ankommen_contracts.events.housing import ShelterOpened
from ankommen_local.infra import Endpoints
from ankommen_runtime import dlq
from ankommen_runtime.consumer import VALUE_OMITTED
from ankommen_runtime.db import RUNTIME_MIGRATIONS, create_pool, migrate
from ankommen_runtime.kafka import new_producer
from ankommen_runtime.outbox import OutboxRelay
from ankommen_runtime.service import Runtime, ServiceSpec
from ankommen_runtime.settings import ServiceSettings
from ankommen_runtime.topics import dead_letter_topic
from ankommen_runtime.uow import UnitOfWork
from procs import consumer_under_test, record_effect
from support import create_topics, read_topic
from test_consumer_policy import consumer_runtime
from test_delivery_consumer import _committed, produce_to_partition_0, wait_for


def opened(site_id: uuid.UUID) -> ShelterOpened:
    return ShelterOpened(
        site_id=site_id,
        name="Testheim",
        pillar=Pillar.WOHNHEIM,
        district=3,
        operator="DRK",
        capacity=10,
    )


async def create_small_topic(bootstrap: str, name: str, max_bytes: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(
                    name,
                    num_partitions=1,
                    replication_factor=1,
                    topic_configs={"max.message.bytes": str(max_bytes)},
                )
            ]
        )
    finally:
        await admin.close()


async def outbox_rows(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT id, subject, published_at, parked_at, park_reason FROM outbox")


async def test_a_row_the_broker_refuses_is_parked_and_other_subjects_go_on(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}housing.events"
    await create_small_topic(infra.kafka_bootstrap, topic, 4096)
    pool = await create_pool(database)
    await migrate(pool, [("runtime", RUNTIME_MIGRATIONS)])
    uow = UnitOfWork(pool, topic_prefix)
    huge, fine = uuid.uuid4(), [uuid.uuid4() for _ in range(4)]
    async with uow() as tx:
        tx.publish(opened(huge))
    async with uow() as tx:
        tx.publish(opened(huge))  # waits behind the refused one: order within a subject
        tx.publish(*(opened(s) for s in fine))
    # The first row becomes larger than the topic accepts (as an oversized event would be).
    await pool.execute(
        "UPDATE outbox SET payload = payload || $1::bytea WHERE id = (SELECT min(id) FROM outbox)",
        b" " * 8000,
    )
    producer = new_producer(infra.kafka_bootstrap, client_id="relay-test")
    await producer.start()
    relay = OutboxRelay(pool, producer, service="housing", poll_seconds=0.1)
    task = asyncio.create_task(relay.run())
    try:

        async def settled() -> bool:
            rows = await outbox_rows(pool)
            return sum(r["published_at"] is not None for r in rows) == 4 and relay.parked == 1

        await wait_for("the other subjects published and one row parked", settled)
        await asyncio.sleep(1.0)  # rounds go on: nothing is re-sent, nothing fails
        assert relay.failing_since is None, relay.last_error
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await producer.stop()
    rows = {r["id"]: r for r in await outbox_rows(pool)}
    await pool.close()
    first, second = sorted(i for i, r in rows.items() if r["subject"] == str(huge))
    assert rows[first]["parked_at"] is not None
    assert "MessageSizeTooLarge" in rows[first]["park_reason"]
    assert rows[second]["published_at"] is None, "its subject's later row waits"
    records = await read_topic(infra.kafka_bootstrap, topic, until=lambda rs: len(rs) >= 4)
    assert sorted(r.key.decode() for r in records) == sorted(str(s) for s in fine)
    assert relay.health(kafka_up=True, stuck_after=30, now=0).startswith("ok: 1 rows parked")


class HangingProducer:
    """A producer cut off from the broker: batches are accepted and never acknowledged."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def send_batch(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()


async def test_a_relay_cut_off_from_kafka_gives_up_its_round_and_another_replica_publishes(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}housing.events"
    await create_topics(infra.kafka_bootstrap, topic)
    pool = await create_pool(database)
    await migrate(pool, [("runtime", RUNTIME_MIGRATIONS)])
    uow = UnitOfWork(pool, topic_prefix)
    sites = [uuid.uuid4() for _ in range(10)]
    async with uow() as tx:
        tx.publish(*(opened(s) for s in sites))
    real = new_producer(infra.kafka_bootstrap, client_id="relay-test")
    await real.start()
    cut_off = OutboxRelay(
        pool, HangingProducer(real), service="housing", round_seconds=1.0, poll_seconds=0.1
    )  # type: ignore[arg-type]
    healthy = OutboxRelay(pool, real, service="housing", round_seconds=1.0, poll_seconds=0.1)
    stuck = asyncio.create_task(cut_off.run())
    try:
        await wait_for("a round to time out", lambda: cut_off.round_failures >= 1, timeout=10)
        assert "TimeoutError" in cut_off.last_error
        now = asyncio.get_running_loop().time()
        health = cut_off.health(kafka_up=True, stuck_after=0.0, now=now + 1)
        assert health.startswith("failing for"), health
        assert cut_off.health(kafka_up=False, stuck_after=0.0, now=now + 1).startswith(
            "ok, degraded: waiting for Kafka"
        )
        second = asyncio.create_task(healthy.run())
        try:

            async def all_published() -> bool:
                return all(r["published_at"] for r in await outbox_rows(pool))

            await wait_for("the healthy replica to publish", all_published, timeout=20)
        finally:
            second.cancel()
            await asyncio.gather(second, return_exceptions=True)
    finally:
        stuck.cancel()
        await asyncio.gather(stuck, return_exceptions=True)
        await real.stop()
        await pool.close()
    records = await read_topic(infra.kafka_bootstrap, topic, until=lambda rs: len(rs) >= 10)
    assert {r.key.decode() for r in records} == {str(s) for s in sites}


async def test_a_dead_letter_too_large_for_the_dlq_goes_without_its_value_and_redrives_whole(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}housing.events"
    dead = dead_letter_topic("reporting", topic, topic_prefix)
    await create_topics(infra.kafka_bootstrap, topic)
    await create_small_topic(infra.kafka_bootstrap, dead, 3000)
    garbage = b"\x00" + b"x" * 2900  # not an event: dead-lettered at once
    await produce_to_partition_0(infra.kafka_bootstrap, topic, [(garbage, [])])
    runtime = consumer_runtime(infra, database, topic_prefix, "bigdlq")
    await runtime.start()
    try:
        await wait_for("the partition moved on", lambda: _committed(infra, topic, "bigdlq", 1))
    finally:
        await runtime.stop()
    letters = await dlq.read_letters(infra.kafka_bootstrap, [dead])
    assert len(letters) == 1
    assert letters[0].value is None
    assert letters[0].header(VALUE_OMITTED) == str(len(garbage))
    assert await dlq.original_value(infra.kafka_bootstrap, letters[0]) == garbage


async def test_topics_are_created_as_code_says_and_a_different_one_fails_readiness(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    # The broker's default retention (7 days) on the source topic: created by hand.
    topic = f"{topic_prefix}housing.events"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    settings = ServiceSettings(
        service="housing",
        database_url=database,
        kafka_bootstrap=infra.kafka_bootstrap,
        topic_prefix=topic_prefix,
    )
    runtime = Runtime(ServiceSpec(name="housing", title="t"), settings)
    await runtime.start()
    try:
        checks = await runtime.readiness()
    finally:
        await runtime.stop()
    assert checks["topics"].startswith("misconfigured: ")
    assert f"{topic}: retention.ms=604800000, must be -1" in checks["topics"]

    fresh = f"{topic_prefix}volunteers.events"
    runtime = Runtime(
        ServiceSpec(name="volunteers", title="t"),
        ServiceSettings(
            service="volunteers",
            database_url=database,
            kafka_bootstrap=infra.kafka_bootstrap,
            topic_prefix=topic_prefix,
        ),
    )
    await runtime.start()
    try:
        checks = await runtime.readiness()
    finally:
        await runtime.stop()
    assert checks["topics"] == "ok", checks
    described = await _configs(infra.kafka_bootstrap, fresh)
    assert described["retention.ms"] == "-1", "events are kept for ever"
    assert described["min.insync.replicas"] == "1", "capped at the single local broker"


async def _configs(bootstrap: str, topic: str) -> dict[str, str]:
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)]
        )
    finally:
        await admin.close()
    return {e[0]: e[1] for e in response.resources[0][4]}


async def test_readiness_says_stuck_when_the_consumer_cannot_dead_letter_and_not_when_kafka_is_down(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}housing.events"
    await create_topics(infra.kafka_bootstrap, topic)
    runtime = consumer_under_test(
        infra.kafka_bootstrap,
        database,
        topic_prefix,
        "ready",
        {"ShelterOpened": record_effect},
        create_topics=False,
        # a send to the missing topic fails after this wait for its metadata (30 s by default)
        kafka_request_timeout_ms=2_000,
    )
    await runtime.start()
    try:
        runtime.stuck_after = 1.0
        checks = await runtime.readiness()
        assert checks["consumer"] == "ok"
        dead = dead_letter_topic("reporting", topic, topic_prefix)
        assert f"{dead}: missing" in checks["topics"], "the missing dead-letter topic is named"
        # No dead-letter topic (an operator owns topics and forgot it): every publish fails.
        await produce_to_partition_0(infra.kafka_bootstrap, topic, [(b"not json", [])])

        async def stuck() -> str:
            checks = await runtime.readiness()
            return checks["consumer"] if checks["consumer"].startswith("stalled") else ""

        reason = await wait_for("readiness to say the consumer is stuck", stuck, timeout=30)
        assert "dead-letter publish" in reason

        # Kafka unreachable alone: still ready (commands are kept in the outbox).
        assert runtime.producer is not None
        real = runtime.producer.client.fetch_all_metadata

        async def unreachable() -> None:
            raise ConnectionError("broker down")

        runtime.producer.client.fetch_all_metadata = unreachable  # type: ignore[method-assign]
        checks = await runtime.readiness()
        runtime.producer.client.fetch_all_metadata = real  # type: ignore[method-assign]
        assert checks["kafka"].startswith("ok, degraded: unreachable")
    finally:
        await runtime.stop()
