"""Rebuild: drop reporting's projections and replay housing's topic from the beginning.

A live reporting service (the real app under uvicorn) folds the site histories while
they are published; then a second reporting service with a fresh database and a new
consumer group replays the whole topic. Its events/s is the rebuild speed, and its tables
and capacity view must equal the live ones.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from reporting import domain as reporting_domain
from reporting import store as reporting_store

from . import cpu
from .common import (
    Bench,
    Result,
    ServiceChild,
    Target,
    rate,
    running,
    service_topics,
    wait_for_count,
)
from .events import REBUILD_EVENTS_PER_SITE, encoded_histories

TARGET = Target(">=", 50_000)
PARTITIONS = 3
SEND_WINDOW = 10_000


def _reporting(
    bench: Bench,
    name: str,
    dsn: str,
    prefix: str,
    group: str,
    factory: str = "reporting.app:create_app",
) -> ServiceChild:
    return ServiceChild(
        name,
        factory,
        {
            "ANKOMMEN_DATABASE_URL": dsn,
            "ANKOMMEN_KAFKA_BOOTSTRAP": bench.ep.kafka_bootstrap,
            "ANKOMMEN_TOPIC_PREFIX": prefix,
            "ANKOMMEN_CONSUMER_GROUP": group,
        },
        bench.logdir,
    )


async def _publish(bench: Bench, topic: str, sites: int) -> int:
    producer = AIOKafkaProducer(
        bootstrap_servers=bench.ep.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    count = 0
    try:
        with bench.ui.step(
            f"rebuild: publish {sites * REBUILD_EVENTS_PER_SITE:,} housing events",
            sites * REBUILD_EVENTS_PER_SITE,
        ) as step:
            futures: list[asyncio.Future[Any]] = []
            for key, value, headers in encoded_histories(sites):
                futures.append(await producer.send(topic, value, key=key, headers=headers))
                count += 1
                if len(futures) >= SEND_WINDOW:
                    await asyncio.gather(*futures)
                    futures.clear()
                    step.update(count)
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return count


Snapshot = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], Any]


async def _snapshot(dsn: str) -> Snapshot:
    """Every projected row, and the capacity view as reporting computes it."""
    conn = await asyncpg.connect(dsn)
    try:
        sites = [tuple(r) for r in await conn.fetch("SELECT * FROM site_capacity ORDER BY site_id")]
        reservations = [
            tuple(r)
            for r in await conn.fetch("SELECT * FROM site_reservation ORDER BY reservation_id")
        ]
        view = reporting_domain.capacity_view(await reporting_store.site_capacities(conn))
    finally:
        await conn.close()
    return sites, reservations, view


async def _inbox_count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM inbox"))


async def _replay(
    bench: Bench, name: str, factory: str, dsn: str, prefix: str, n: int, replicas: int = 1
) -> tuple[float, dict[str, float], Snapshot]:
    """Replay the topic into a fresh database with a new group: (events/s, cpu, tables).

    ``replicas`` processes share the group (the partitions), as a service scales out.
    """
    group = f"bench-{bench.run_id}-{name}"
    services = [
        _reporting(bench, f"{name}-{i}" if i else name, dsn, prefix, group, factory)
        for i in range(replicas)
    ]
    async with running(*services):
        conn = await asyncpg.connect(dsn)
        try:
            pids = {f"reporting{i or ''}": s.pid for i, s in enumerate(services)}
            cpu_before = cpu.snapshot(pids)
            with bench.ui.step(f"rebuild: {name} replays {n:,} events", n) as step:
                done = await wait_for_count(
                    lambda: _inbox_count(conn),
                    n,
                    progress=step.update,
                    children=services,
                    interval=0.1,
                )
            cpu_after = cpu.snapshot(pids)
            pg_pids = await cpu.postgres_pids(bench.ep.pg_admin_dsn, [dsn.rsplit("/", 1)[-1]])
            first = await conn.fetchval(
                "SELECT extract(epoch FROM min(processed_at))::float8 FROM inbox"
            )
        finally:
            await conn.close()
    # From the first transaction's start to the poll that saw the last event.
    events_per_s = rate(n, done - float(first))
    return events_per_s, cpu.usage(cpu_before, cpu_after, n, pg_pids), await _snapshot(dsn)


async def run(bench: Bench) -> Result:
    result = Result("rebuild", "Rebuild (replay housing.events into a fresh reporting)")
    prefix = bench.prefix("rebuild")
    topic = f"{prefix}housing.events"
    sites = bench.size.rebuild_sites
    n = sites * REBUILD_EVENTS_PER_SITE
    async with (
        bench.database("rebuild_live") as live_dsn,
        bench.database("rebuild_replay") as replay_dsn,
        bench.database("rebuild_batched") as batched_dsn,
        bench.topics(service_topics(prefix, "reporting", partitions=PARTITIONS)),
    ):
        live = _reporting(bench, "rebuild-live", live_dsn, prefix, f"bench-{bench.run_id}-live")
        async with running(live):
            conn = await asyncpg.connect(live_dsn)
            try:
                published = await _publish(bench, topic, sites)
                with bench.ui.step("rebuild: live reporting catches up", n) as step:
                    await wait_for_count(
                        lambda: _inbox_count(conn),
                        n,
                        progress=step.update,
                        children=[live],
                        interval=0.25,
                    )
            finally:
                await conn.close()
        live_state = await _snapshot(live_dsn)
        real_rate, real_cpu, replayed = await _replay(
            bench, "rebuild-reporting", "reporting.app:create_app", replay_dsn, prefix, n
        )
        batched_rate, batched_cpu, folded = await _replay(
            bench, "rebuild-batched", "bench.reporting_batched:create_app", batched_dsn, prefix, n
        )

    ceilings = ["faststream.batch_consume", "aiokafka.consume"]
    result.figures += [
        bench.compared(
            "rebuild.events_per_s",
            "replay events/s, the real reporting service",
            real_rate,
            "events/s",
            ceilings,
            TARGET,
        ),
        bench.compared(
            "rebuild.batched_events_per_s",
            "replay events/s, reporting's fold as one batched handler",
            batched_rate,
            "events/s",
            ceilings,
            TARGET,
        ),
    ]
    result.checks.update(
        {
            "every event published": published == n,
            "rebuilt site rows equal the live ones": replayed[0] == live_state[0],
            "rebuilt reservations equal the live ones": replayed[1] == live_state[1],
            "rebuilt capacity view equals the live one": replayed[2] == live_state[2],
            "the view counts every site": replayed[2][2].sites == sites,
            "batched fold's tables and view equal the live ones": folded == live_state,
        }
    )
    result.details.update(
        events=n,
        sites=sites,
        partitions=PARTITIONS,
        # From each replaying service's start, so its start-up is in it too.
        cpu_reporting=real_cpu,
        cpu_batched_fold=batched_cpu,
    )
    return result
