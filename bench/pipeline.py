"""Pipeline: command transaction → outbox → relay → Kafka → consumer policy → projection.

Two processes, as in production: a writer (allocation's runtime: unit of work, outbox,
relay; ``bench.worker``) and a projection service under uvicorn (``bench.projection``:
inbox, consumer policy, an idempotent upsert per event). Both databases are durable
(fsync on). Sustained events/s is measured end to end: from the first command
transaction to the last projected row.
"""

from __future__ import annotations

import json
import os

import asyncpg
from ankommen_runtime.topics import dead_letter_topic

from . import cpu
from .common import (
    Bench,
    Child,
    Figure,
    Result,
    ServiceChild,
    Target,
    rate,
    running,
    wait_for_count,
)
from .projection import SERVICE

PER_TX = 100  # events per command transaction: a weekly batch of assignments
WRITERS = 2  # concurrent command transactions
PARTITIONS = 3
TARGET = Target(">=", 10_000)
# The projection's handler: "batched" (runtime's batched(): one upsert per run of events,
# the default) or "each" (one upsert round trip per event, like reporting's handlers).
MODE = os.environ.get("BENCH_PROJECTION", "batched")
CPU_PARTS = ("writer", "projection", "postgres", "kafka")


def _name(dsn: str) -> str:
    return dsn.rsplit("/", 1)[-1]


async def run(bench: Bench) -> Result:
    result = Result("pipeline", "Pipeline (outbox → relay → Kafka → inbox → projection)")
    n = bench.size.pipeline_events
    prefix = bench.prefix("pipeline")
    topic = f"{prefix}allocation.events"
    group = f"bench-{bench.run_id}-projection"
    async with (
        bench.database("pipeline_writer") as writer_dsn,
        bench.database("pipeline_projection") as projection_dsn,
        bench.topics({topic: PARTITIONS, dead_letter_topic(SERVICE, topic, prefix): 1}),
    ):
        writer = Child(
            "pipeline-writer",
            [
                "-m",
                "bench.worker",
                json.dumps(
                    {
                        "service": "allocation",
                        "dsn": writer_dsn,
                        "bootstrap": bench.ep.kafka_bootstrap,
                        "prefix": prefix,
                        "kind": "assignments",
                        "events": n,
                        "per_tx": PER_TX,
                        "writers": WRITERS,
                    }
                ),
            ],
            {},
            bench.logdir,
        )
        projector = ServiceChild(
            "pipeline-projection",
            "bench.projection:create_app",
            {
                "ANKOMMEN_DATABASE_URL": projection_dsn,
                "ANKOMMEN_KAFKA_BOOTSTRAP": bench.ep.kafka_bootstrap,
                "ANKOMMEN_TOPIC_PREFIX": prefix,
                "ANKOMMEN_CONSUMER_GROUP": group,
                "BENCH_PROJECTION": MODE,
            },
            bench.logdir,
        )
        async with running(projector, writer):
            ready = json.loads(await writer.read_line(timeout=600))
            await _measure(bench, result, writer, projector, writer_dsn, projection_dsn, n)
        result.details["payload_build_seconds"] = round(ready["prebuilt_seconds"], 2)
    return result


async def _measure(
    bench: Bench,
    result: Result,
    writer: Child,
    projector: ServiceChild,
    writer_dsn: str,
    projection_dsn: str,
    n: int,
) -> None:
    proj = await asyncpg.connect(projection_dsn)
    pids = {"writer": writer.pid, "projection": projector.pid}
    try:
        cpu_before = cpu.snapshot(pids)
        await writer.write_line("go")
        with bench.ui.step(f"pipeline: {n:,} events end to end", n) as step:
            await wait_for_count(
                lambda: proj.fetchval("SELECT count(*) FROM assignment_view"),
                n,
                progress=step.update,
                children=[writer, projector],
                interval=0.25,
            )
        cpu_after = cpu.snapshot(pids)
        pg_pids = await cpu.postgres_pids(
            bench.ep.pg_admin_dsn, [_name(writer_dsn), _name(projection_dsn)]
        )
        written = json.loads(await writer.read_line())
        last_projected = await proj.fetchval(
            "SELECT extract(epoch FROM max(projected_at)) FROM assignment_view"
        )
        checks = await proj.fetchrow(
            """SELECT (SELECT count(*) FROM assignment_view) AS rows,
                      (SELECT count(*) FROM assignment_view WHERE last_sequence <> 1) AS odd,
                      (SELECT count(*) FROM inbox WHERE consumer = $1) AS inbox""",
            SERVICE,  # the inbox is keyed by the consumer's own name, not its Kafka group
        )
    finally:
        await proj.close()
    wconn = await asyncpg.connect(writer_dsn)
    try:
        outbox = await wconn.fetchrow(
            """SELECT count(*) AS rows, count(*) FILTER (WHERE published_at IS NULL) AS unsent,
                      extract(epoch FROM max(published_at)) AS last_published
               FROM outbox"""
        )
    finally:
        await wconn.close()

    first = written["first_write"]
    seconds = float(last_projected) - first
    events_per_s = rate(n, seconds)
    used = cpu.usage(cpu_before, cpu_after, n, pg_pids)
    cores = os.cpu_count() or 1
    result.figures += [
        bench.compared(
            "pipeline.events_per_s",
            "sustained events/s, first write to last projected",
            events_per_s,
            "events/s",
            ["pg.batch_outbox", "aiokafka.produce"],
            TARGET,
        ),
        # Robust to other people's load: what the pipeline's own CPU per event allows.
        Figure(
            "pipeline.capacity",
            f"capacity if it had the {cores} cores alone (own CPU per event)",
            cpu.capacity(used, CPU_PARTS, cores),
            "events/s",
        ),
    ]
    result.checks.update(
        {
            "every event projected once": checks["rows"] == n and checks["odd"] == 0,
            "inbox holds every event": checks["inbox"] == n,
            "outbox fully published": outbox["rows"] == n and outbox["unsent"] == 0,
        }
    )
    result.details.update(
        events=n,
        projection_handler=MODE,
        events_per_transaction=PER_TX,
        concurrent_writers=WRITERS,
        partitions=PARTITIONS,
        seconds=round(seconds, 2),
        # Where the time goes: each stage's finish, from the first write.
        written_after_s=round(written["written_at"] - first, 2),
        relayed_after_s=round(float(outbox["last_published"]) - first, 2),
        projected_after_s=round(seconds, 2),
        write_rate=round(rate(n, written["written_at"] - first)),
        cpu=used,
    )
