"""The transactional outbox and its relay against real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from pathlib import Path

import asyncpg
import pytest
from ankommen_contracts import Pillar, decode
from ankommen_contracts.events.housing import ShelterOpened
from ankommen_local.infra import Endpoints
from ankommen_runtime.db import RUNTIME_MIGRATIONS, create_pool, migrate
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
