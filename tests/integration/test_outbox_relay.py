"""The transactional outbox and its relay against real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from ankommen_contracts import Pillar, decode, encode
from ankommen_contracts.events.housing import ShelterOpened
from ankommen_local.infra import Endpoints
from ankommen_runtime.db import RUNTIME_MIGRATIONS, create_pool, migrate
from ankommen_runtime.kafka import new_producer
from ankommen_runtime.outbox import RELAY_LOCK, OutboxRelay
from ankommen_runtime.uow import UnitOfWork
from support import create_topics, eventually, read_topic

PROCS = Path(__file__).parent / "procs.py"
SUBJECTS = 20
PER_SUBJECT = 150


def opened(site_id: uuid.UUID, n: int) -> ShelterOpened:
    return ShelterOpened(
        site_id=site_id,
        name=f"Testheim {n}",
        pillar=Pillar.WOHNHEIM,
        district=1 + n % 13,
        operator="DRK",
        capacity=1 + n % 1000,
    )


async def failing_command(uow: UnitOfWork, site_id: uuid.UUID, n: int) -> None:
    async with uow() as tx:
        tx.publish(opened(site_id, n))
        raise RuntimeError("command failed after raising an event")


@contextlib.asynccontextmanager
async def idle_relay(
    infra: Endpoints, database: str, topic_prefix: str
) -> AsyncIterator[tuple[asyncpg.Pool, OutboxRelay, str]]:
    """A migrated outbox, its topic and a relay that would poll only every 10 minutes:
    whatever it publishes sooner, it was woken for. Not started: the test decides when."""
    topic = f"{topic_prefix}housing.events"
    await create_topics(infra.kafka_bootstrap, topic, partitions=1)
    pool = await create_pool(database)
    producer = new_producer(infra.kafka_bootstrap, client_id="relay-test")
    try:
        await migrate(pool, [("runtime", RUNTIME_MIGRATIONS)])
        await producer.start()
        yield pool, OutboxRelay(pool, producer, service="housing", poll_seconds=600), topic
    finally:
        await producer.stop()
        await pool.close()


def start_relay(dsn: str, bootstrap: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            str(PROCS),
            "relay",
            "--dsn",
            dsn,
            "--bootstrap",
            bootstrap,
            "--batch",
            "50",
            "--pace",
            "0.02",
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def test_relay_publishes_committed_events_only_in_order_across_a_kill(
    infra: Endpoints, database: str, topic_prefix: str, tmp_path: Path
) -> None:
    topic = f"{topic_prefix}housing.events"
    await create_topics(infra.kafka_bootstrap, topic, partitions=3)
    pool = await create_pool(database)
    await migrate(pool, [("runtime", RUNTIME_MIGRATIONS)])
    uow = UnitOfWork(pool, topic_prefix)
    subjects = [uuid.uuid4() for _ in range(SUBJECTS)]

    committed: set[uuid.UUID] = set()
    for n in range(PER_SUBJECT):
        for site_id in subjects:
            async with uow() as tx:
                tx.publish(opened(site_id, n))
            committed.add(tx.published[-1].event_id)
        # A failing command raises after publishing: its event must never leave.
        with pytest.raises(RuntimeError):
            await failing_command(uow, subjects[n % SUBJECTS], 10_000 + n)
    assert await pool.fetchval("SELECT count(*) FROM outbox") == len(committed)

    log = tmp_path / "relay.log"
    relay = start_relay(database, infra.kafka_bootstrap, log)
    published = "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"
    seen_midway = await eventually(lambda: _between(pool, published, 500, len(committed)))
    relay.send_signal(signal.SIGKILL)
    relay.wait()
    assert seen_midway, "the relay should have been killed part-way through"
    halfway = await pool.fetchval(published)
    assert 0 < halfway < len(committed)

    relay = start_relay(database, infra.kafka_bootstrap, log)
    try:
        done = await eventually(
            lambda: _between(pool, published, len(committed), len(committed) + 1), timeout=60
        )
        assert done, f"only {await pool.fetchval(published)} of {len(committed)} published"
    finally:
        relay.terminate()
        relay.wait()
    await pool.close()

    records = await read_topic(
        infra.kafka_bootstrap,
        topic,
        until=lambda rs: {decode(r.value).event_id for r in rs} >= committed,
    )
    envelopes = [decode(r.value) for r in records]
    received = {e.event_id for e in envelopes}
    assert received == committed, "every committed event arrives, no rolled-back one does"
    firsts: dict[str, list[int]] = defaultdict(list)
    seen: set[uuid.UUID] = set()
    for record, envelope in zip(records, envelopes, strict=True):
        assert record.key == envelope.subject.encode(), "the subject is the Kafka key"
        if envelope.event_id not in seen:
            seen.add(envelope.event_id)
            firsts[envelope.subject].append(envelope.sequence)
    for subject, sequences in firsts.items():
        assert sequences == list(range(1, PER_SUBJECT + 1)), f"order broken for {subject}"


async def _between(pool: asyncpg.Pool, sql: str, low: int, high: int) -> bool:
    return low <= await pool.fetchval(sql) < high


async def test_sequence_numbers_are_per_subject_and_gapless_under_concurrency(
    database: str,
) -> None:
    pool = await create_pool(database, max_size=8)
    await migrate(pool, [("runtime", RUNTIME_MIGRATIONS)])
    uow = UnitOfWork(pool)
    site_id = uuid.uuid4()

    async def command(n: int) -> None:
        async with uow() as tx:
            tx.publish(opened(site_id, n), opened(site_id, n + 1000))

    await asyncio.gather(*(command(n) for n in range(40)))
    rows = await pool.fetch(
        "SELECT sequence FROM outbox WHERE subject = $1 ORDER BY id", str(site_id)
    )
    await pool.close()
    assert [r["sequence"] for r in rows] == list(range(1, 81)), "outbox order is sequence order"


async def test_a_unit_of_work_wakes_the_relay_once_its_events_are_committed(
    database: str,
) -> None:
    """The relay is woken in its own process (no NOTIFY, whose commit lock every
    notifying commit of the cluster queued for): once per transaction with events, which
    the relay's connection then sees; not for one without events, nor one rolled back."""
    pool = await create_pool(database, min_size=2, max_size=2)
    await migrate(pool, [("runtime", RUNTIME_MIGRATIONS)])
    visible_at_wake: list[asyncio.Task[int]] = []

    async def visible() -> int:  # what the relay's own connection would claim
        async with pool.acquire() as relay_conn:
            return int(await relay_conn.fetchval("SELECT count(*) FROM outbox"))

    def wake() -> None:
        visible_at_wake.append(asyncio.ensure_future(visible()))

    uow = UnitOfWork(pool, on_published=wake)
    site_id = uuid.uuid4()
    try:
        async with uow() as tx:
            tx.publish(opened(site_id, 1), opened(site_id, 2))
        assert [await t for t in visible_at_wake] == [2], "woken once; the relay sees both"
        async with uow():
            pass  # nothing raised: nothing to wake for
        with pytest.raises(RuntimeError):
            await failing_command(uow, site_id, 3)
        assert len(visible_at_wake) == 1, "not for a transaction without events or rolled back"
    finally:
        await pool.close()


async def test_a_woken_relay_publishes_at_once_without_waiting_for_its_poll(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with idle_relay(infra, database, topic_prefix) as (pool, relay, topic):
        task = asyncio.create_task(relay.run())
        try:
            await asyncio.sleep(0.5)  # its first round, on an empty outbox: now it polls
            uow = UnitOfWork(pool, topic_prefix, on_published=relay.wake)
            async with uow() as tx:
                tx.publish(opened(uuid.uuid4(), 1))
            records = await read_topic(
                infra.kafka_bootstrap, topic, until=lambda rs: len(rs) >= 1, timeout=10
            )
            assert [r.value for r in records] == [encode(tx.published[0])]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_a_relay_that_finds_another_replica_at_work_looks_again_soon(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    """Woken while another replica's round holds the lock (a round that may have begun
    before these rows committed), a relay looks again after ``LOCK_RETRY_SECONDS``, not
    after its poll."""
    async with idle_relay(infra, database, topic_prefix) as (pool, relay, topic):
        other_replica = await asyncpg.connect(database)
        task: asyncio.Task[None] | None = None
        try:
            busy = other_replica.transaction()
            await busy.start()
            assert await other_replica.fetchval("SELECT pg_try_advisory_xact_lock($1)", RELAY_LOCK)
            uow = UnitOfWork(pool, topic_prefix, on_published=relay.wake)
            async with uow() as tx:
                tx.publish(opened(uuid.uuid4(), 1))
            task = asyncio.create_task(relay.run())
            await asyncio.sleep(0.5)  # rounds while the lock is taken publish nothing
            unpublished = "SELECT count(*) FROM outbox WHERE published_at IS NULL"
            assert await pool.fetchval(unpublished) == 1
            await busy.rollback()  # the other replica's round ends
            records = await read_topic(
                infra.kafka_bootstrap, topic, until=lambda rs: len(rs) >= 1, timeout=10
            )
            assert [r.value for r in records] == [encode(tx.published[0])]
        finally:
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            await other_replica.close()


async def test_a_connection_goes_back_to_the_pool_without_a_round_trip(database: str) -> None:
    """asyncpg's default reset (unlock, close, unlisten, reset all) was a round trip on
    every release, one in eight of the services' statements. The pool sends nothing; a
    transaction left open is still rolled back, so its writes never leak."""
    pool = await create_pool(database, min_size=1, max_size=1)
    sent: list[str] = []
    try:
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda record: sent.append(record.query))
            await conn.execute("CREATE TABLE IF NOT EXISTS released (n int)")
            left_open = conn.transaction()
            await left_open.start()
            await conn.execute("INSERT INTO released VALUES (1)")
        assert sent == [
            "CREATE TABLE IF NOT EXISTS released (n int)",
            "BEGIN;",
            "INSERT INTO released VALUES (1)",
            "ROLLBACK",
        ], "only the rollback of the open transaction on release"
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM released") == 0
    finally:
        await pool.close()


async def test_the_services_connections_run_their_statements_without_jit(database: str) -> None:
    """A statement estimated dear was compiled by LLVM on every execution: allocation's
    board spent 0.3-0.6 s a read compiling at a hundred times Hannover. The pool turns
    JIT off for every connection it opens, and a plan above the threshold says so."""
    pool = await create_pool(database, min_size=2, max_size=2)
    try:
        async with pool.acquire() as one, pool.acquire() as two:
            assert [await c.fetchval("SHOW jit") for c in (one, two)] == ["off", "off"]
            await one.execute("SET jit_above_cost = 0")  # every plan above the threshold
            plan = "\n".join(
                r[0]
                for r in await one.fetch(
                    "EXPLAIN ANALYZE SELECT count(*) FROM generate_series(1, 1000)"
                )
            )
            assert "JIT" not in plan, plan
    finally:
        await pool.close()
