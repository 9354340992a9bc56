"""Rebuild: reporting's own rebuild command on a full topic, beside the live facts.

A live reporting service (the real app under uvicorn) keeps the facts of the site
histories while they are published (its batched fold: one statement per consumed batch).
Then ``reporting.rebuild.rebuild`` — what ``ankommen-reporting rebuild`` runs — replays
the topic from the beginning into a table beside the live one with ``processes`` replay
processes sharing the partitions (decode as the live consumer, facts by COPY, offsets in
the same transactions), proves the rebuilt facts equal the live ones (checksum) and
switches. Its replay events/s is the rebuild speed; the views folded from the switched
table must equal the ones folded before.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from reporting import rebuild as reporting_rebuild
from reporting import store as reporting_store
from reporting.domain import VIEWS, Ledger, build

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
PARTITIONS = 6
PROCESSES = int(os.environ.get("BENCH_REBUILD_PROCESSES", "4"))
SEND_WINDOW = 10_000


def _reporting(bench: Bench, name: str, dsn: str, prefix: str, group: str) -> ServiceChild:
    return ServiceChild(
        name,
        "reporting.app:create_app",
        {
            "ANKOMMEN_DATABASE_URL": dsn,
            "ANKOMMEN_KAFKA_BOOTSTRAP": bench.ep.kafka_bootstrap,
            "ANKOMMEN_TOPIC_PREFIX": prefix,
            "ANKOMMEN_CONSUMER_GROUP": group,
            # The bench's topics have more partitions than the default: say so, or the
            # service's topic check (topics as code) rightly refuses readiness.
            "ANKOMMEN_TOPIC_PARTITIONS": str(PARTITIONS),
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


async def _views(dsn: str) -> tuple[tuple[int, str], dict[str, Any]]:
    """The fact table's checksum, and every view folded from it (internal, by month)."""
    conn = await asyncpg.connect(dsn)
    try:
        checksum = await reporting_store.checksum(conn, reporting_store.LIVE)
        ledger = Ledger.fold(await reporting_store.load_facts(conn))
    finally:
        await conn.close()
    return checksum, {key: build(ledger, key) for key in VIEWS}


async def run(bench: Bench) -> Result:
    result = Result("rebuild", "Rebuild (ankommen-reporting rebuild: replay beside, check, switch)")
    prefix = bench.prefix("rebuild")
    topic = f"{prefix}housing.events"
    sites = bench.size.rebuild_sites
    n = sites * REBUILD_EVENTS_PER_SITE
    async with (
        bench.database("rebuild_live") as dsn,
        bench.topics(service_topics(prefix, "reporting", partitions=PARTITIONS)),
    ):
        live = _reporting(bench, "rebuild-live", dsn, prefix, f"bench-{bench.run_id}-live")
        async with running(live):
            conn = await asyncpg.connect(dsn)
            try:
                published = await _publish(bench, topic, sites)
                with bench.ui.step("rebuild: live reporting catches up", n) as step:
                    began = await conn.fetchval("SELECT extract(epoch FROM now())::float8")
                    done = await wait_for_count(
                        lambda: reporting_store.count_facts(conn),
                        n,
                        progress=step.update,
                        children=[live],
                        interval=0.25,
                    )
                    first = await conn.fetchval(
                        "SELECT extract(epoch FROM min(processed_at))::float8 FROM inbox"
                    )
                live_rate = rate(n, done - float(first or began))
            finally:
                await conn.close()
            before = await _views(dsn)
            with bench.ui.step(f"rebuild: replay {n:,} events, {PROCESSES} processes", n) as step:
                rebuilt = await reporting_rebuild.rebuild(
                    dsn,
                    bench.ep.kafka_bootstrap,
                    prefix,
                    processes=PROCESSES,
                    progress=step.update,
                )
            after = await _views(dsn)

    ceilings = ["faststream.batch_consume", "aiokafka.consume"]
    result.figures += [
        bench.compared(
            "rebuild.events_per_s",
            f"replay events/s, ankommen-reporting rebuild ({PROCESSES} processes)",
            rebuilt.events_per_s,
            "events/s",
            ceilings,
            TARGET,
        ),
        bench.compared(
            "rebuild.cpu_capacity_events_per_s",
            "replay capacity from its own CPU per event (2 cores, replay processes only)",
            2 * 1e6 / rebuilt.cpu_us_per_event if rebuilt.cpu_us_per_event else None,
            "events/s",
            ceilings,
        ),
        bench.compared(
            "rebuild.live_events_per_s",
            "live consumption events/s, the real reporting service (batched fold)",
            live_rate,
            "events/s",
            ceilings,
        ),
    ]
    result.checks.update(
        {
            "every event published": published == n,
            "every event replayed": rebuilt.events == n,
            "rebuilt facts equal the live ones (checksum)": (rebuilt.facts, rebuilt.checksum)
            == before[0],
            "the switched table is the rebuilt one": after[0] == before[0],
            "every view folded after the switch equals the live one": after[1] == before[1],
            "the capacity view counts every site": after[1]["capacity"].notes["total"]["sites"]
            == sites,
        }
    )
    result.details.update(
        events=n,
        sites=sites,
        partitions=PARTITIONS,
        processes=PROCESSES,
        replay_seconds=round(rebuilt.seconds, 2),
        command_seconds=round(rebuilt.wall_seconds, 2),
        replay_cpu_us_per_event=round(rebuilt.cpu_us_per_event, 1),
        checksum=rebuilt.checksum,
        duplicates_dropped=rebuilt.duplicates,
    )
    return result
