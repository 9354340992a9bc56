"""Batched handlers on real Kafka and PostgreSQL: runs of one type at once, same guarantees."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from ankommen_contracts import Envelope, Pillar, encode, new_envelope
from ankommen_contracts.events.housing import (
    CapacityChangeReason,
    ShelterCapacityChanged,
    ShelterOpened,
)
from ankommen_local.infra import Endpoints
from ankommen_runtime.consumer import batched, dead_letter_topic
from ankommen_runtime.service import Runtime
from ankommen_runtime.uow import Transaction
from procs import consumer_under_test
from support import create_topics, eventually, read_topic

SQL = Path(__file__).parent / "sql_batched"
POISON = "poison"


def opened(name: str = "Testheim") -> Envelope[Any]:
    data = ShelterOpened(
        site_id=uuid.uuid4(),
        name=name,
        pillar=Pillar.WOHNHEIM,
        district=1,
        operator="AWO",
        capacity=10,
    )
    return new_envelope(data, sequence=1, correlation_id=uuid.uuid4())


def changed() -> Envelope[Any]:
    data = ShelterCapacityChanged(
        site_id=uuid.uuid4(), capacity=20, blocked_places=0, reason=CapacityChangeReason.EXPANDED
    )
    return new_envelope(data, sequence=1, correlation_id=uuid.uuid4())


class Recorder:
    """A batched handler for ShelterOpened and a one-by-one one for ShelterCapacityChanged."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    async def many(self, tx: Transaction, events: Sequence[Envelope[Any]]) -> None:
        self.calls.append(len(events))
        if any(getattr(e.data, "name", None) == POISON for e in events):
            raise ValueError("this site cannot be projected")
        await tx.conn.executemany(
            "INSERT INTO applied (event_id, type, call) VALUES ($1, $2, $3)",
            [(e.event_id, e.type, len(self.calls)) for e in events],
        )

    async def one(self, tx: Transaction, event: Envelope[Any]) -> None:
        await tx.conn.execute(
            "INSERT INTO applied (event_id, type, call) VALUES ($1, $2, 0)",
            event.event_id,
            event.type,
        )


def consumer(
    infra: Endpoints, dsn: str, prefix: str, recorder: Recorder, *, one_fold: bool = False
) -> Runtime:
    many = batched(recorder.many)
    handlers: dict[str, Any] = {
        "ShelterOpened": many,
        # The same batched object for a second type: runs span both types.
        "ShelterCapacityChanged": many if one_fold else recorder.one,
    }
    return consumer_under_test(
        infra.kafka_bootstrap,
        dsn,
        prefix,
        "batched",
        handlers,
        migrations=SQL,
        retry_attempts=2,
        retry_base_seconds=0.01,
    )


async def produce(bootstrap: str, topic: str, events: list[Envelope[Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=50)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, encode(e), key=b"one-key", headers=e.kafka_headers())
            for e in events
        ]
        for future in futures:
            await future
    finally:
        await producer.stop()


async def applied(dsn: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch("SELECT * FROM applied ORDER BY position")
    except asyncpg.UndefinedTableError:
        return []
    finally:
        await conn.close()


async def test_runs_of_a_type_are_applied_at_once_in_order_and_a_poison_event_is_dead_lettered(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}housing.events"
    await create_topics(
        infra.kafka_bootstrap, topic, dead_letter_topic("reporting", topic, topic_prefix)
    )
    first = [opened() for _ in range(4)]
    middle = changed()
    last = [opened() for _ in range(3)]
    sent = [*first, first[0], middle, *last]  # first[0] redelivered within the stream
    await produce(infra.kafka_bootstrap, topic, sent)
    recorder = Recorder()
    runtime = consumer(infra, database, topic_prefix, recorder)
    await runtime.start()
    try:
        assert await eventually(lambda: _count(database, 8))
        rows = await applied(database)
        expected = [e.event_id for e in (*first, middle, *last)]
        assert [r["event_id"] for r in rows] == expected, "effects in stream order, each once"
        assert max(recorder.calls) > 1, "a run of one type went to the handler at once"

        poison = opened(POISON)
        after = opened()
        await produce(infra.kafka_bootstrap, topic, [opened(), poison, after])
        assert await eventually(lambda: _count(database, 10))
    finally:
        await runtime.stop()
    ids = [r["event_id"] for r in await applied(database)]
    assert after.event_id in ids
    assert poison.event_id not in ids
    assert len(ids) == len(set(ids)) == 10
    dead = await read_topic(
        infra.kafka_bootstrap,
        dead_letter_topic("reporting", topic, topic_prefix),
        until=lambda rs: len(rs) >= 1,
    )
    assert [r.value for r in dead] == [encode(poison)]
    assert b"this site cannot be projected" in dict(dead[0].headers)["dlq_error"]


async def _count(dsn: str, n: int) -> bool:
    return len(await applied(dsn)) >= n


async def test_one_batched_handler_for_several_types_gets_them_together_in_order(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}housing.events"
    await create_topics(
        infra.kafka_bootstrap, topic, dead_letter_topic("reporting", topic, topic_prefix)
    )
    sent = [opened(), changed(), opened(), changed(), changed(), opened()]
    await produce(infra.kafka_bootstrap, topic, sent)
    recorder = Recorder()
    runtime = consumer(infra, database, topic_prefix, recorder, one_fold=True)
    await runtime.start()
    try:
        assert await eventually(lambda: _count(database, len(sent)))
    finally:
        await runtime.stop()
    rows = await applied(database)
    assert [r["event_id"] for r in rows] == [e.event_id for e in sent]
    assert sum(recorder.calls) == len(sent)
    assert len(recorder.calls) < len(sent), "mixed types reached the fold together"


async def test_a_subscriptions_prefetch_sees_each_batchs_new_events_before_their_handlers(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    """``Subscription.prefetch`` runs in the batch's transaction before its handlers, with
    exactly the events they will handle: a redelivered one is in no prefetch again."""
    topic = f"{topic_prefix}housing.events"
    await create_topics(
        infra.kafka_bootstrap, topic, dead_letter_topic("reporting", topic, topic_prefix)
    )
    sent = [opened() for _ in range(5)]
    sent = [*sent, sent[1], changed(), opened()]  # sent[1] redelivered
    await produce(infra.kafka_bootstrap, topic, sent)
    log: list[tuple[str, list[uuid.UUID]]] = []

    async def prefetch(tx: Transaction, events: Sequence[Envelope[Any]]) -> None:
        assert tx.conn.is_in_transaction()
        log.append(("prefetch", [e.event_id for e in events]))

    class Logged(Recorder):
        async def many(self, tx: Transaction, events: Sequence[Envelope[Any]]) -> None:
            log.append(("handled", [e.event_id for e in events]))
            await super().many(tx, events)

        async def one(self, tx: Transaction, event: Envelope[Any]) -> None:
            log.append(("handled", [event.event_id]))
            await super().one(tx, event)

    recorder = Logged()
    runtime = consumer_under_test(
        infra.kafka_bootstrap,
        database,
        topic_prefix,
        "prefetched",
        {"ShelterOpened": batched(recorder.many), "ShelterCapacityChanged": recorder.one},
        migrations=SQL,
        prefetch=prefetch,
    )
    await runtime.start()
    try:
        assert await eventually(lambda: _count(database, 7))
    finally:
        await runtime.stop()
    unique = list(dict.fromkeys(e.event_id for e in sent))
    prefetched = [i for kind, ids in log if kind == "prefetch" for i in ids]
    handled = [i for kind, ids in log if kind == "handled" for i in ids]
    assert prefetched == handled == unique, "each event prefetched once, in the stream's order"
    for position, (kind, ids) in enumerate(log):
        if kind == "handled":
            before = [i for k, seen in log[:position] if k == "prefetch" for i in seen]
            assert set(ids) <= set(before), "a batch's prefetch comes before its handlers"
