"""Latency: a command's HTTP response → the change visible in reporting's capacity view.

The real housing app runs in this process (in-process ASGI, with its relay); the real
reporting app runs under uvicorn in a child process. A writer process (``bench.worker``)
keeps housing's outbox busy at about half the sustainable rate (the lower of the pipeline's
and the rebuild's in this run), so the probes measure a loaded system, not an idle one.
Each probe is ``POST /sites``; it counts as visible when its row is in reporting's
``fact`` table (what ``/views/capacity`` folds), polled every POLL_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from ankommen_runtime.local_issuer import local_tool_headers
from ankommen_runtime.settings import ServiceSettings
from fastapi import FastAPI

from .common import Bench, Child, Figure, Result, ServiceChild, Target, running, service_topics

TARGET = Target("<=", 100.0)
POLL_SECONDS = 0.005  # resolution of "visible": ±2.5 ms
DEFAULT_SUSTAINED = 5_000.0  # events/s assumed when the pipeline benchmark did not run
LOAD_PER_TX = 50
PARTITIONS = 3


@dataclass
class Probed:
    latencies: list[float]  # ms, response -> visible
    commands: list[float]  # ms, request -> response
    lost: int
    answered: dict[uuid.UUID, float]  # site id -> response time (epoch seconds)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@contextlib.contextmanager
def logs_to(path: Path) -> Any:
    """The in-process app configures JSON logging to stdout; keep it off the terminal."""
    root = logging.getLogger()
    handlers = root.handlers[:]
    file = logging.FileHandler(path)
    if handlers:
        file.setFormatter(handlers[0].formatter)
    root.handlers[:] = [file]
    # faststream's access logger prints to stdout unless it has a handler already.
    access = logging.getLogger("faststream.access.kafka")
    access.disabled = True
    try:
        yield
    finally:
        root.handlers[:] = handlers
        access.disabled = False
        file.close()


@contextlib.asynccontextmanager
async def in_process(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Start an app with its lifespan (pool, relay, subscribers); an HTTP client to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://housing", headers=local_tool_headers()
        ) as client:
            yield client


@dataclass(frozen=True)
class Variant:
    factory: str  # the reporting app
    label: str
    loaded: bool  # background load at half the sustainable rate, or none
    percentiles: tuple[int, ...]


VARIANTS = {
    "reporting": Variant("reporting.app:create_app", "the real reporting", True, (50, 95, 99)),
    # Sparse commands on a quiet system: what the consumer's poll interval costs.
    "idle": Variant("reporting.app:create_app", "the real reporting, idle", False, (50, 99)),
}
IDLE_PROBE_RATE = 5.0


async def run(bench: Bench) -> Result:
    result = Result("latency", "Latency (HTTP response → visible in reporting)")
    basis = min(bench.sustained.items(), key=lambda kv: kv[1], default=None)
    sustained = basis[1] if basis else DEFAULT_SUSTAINED
    # BENCH_LATENCY_LOAD overrides the share of the sustained rate (0: an idle system).
    share = float(os.environ.get("BENCH_LATENCY_LOAD", "0.5"))
    load_rate = max(1, round(sustained * share))
    result.details.update(
        probe_rate_per_s=bench.size.latency_probe_rate,
        background_load_events_per_s=load_rate,
        background_load_basis=(
            f"{share:.2f} × the {basis[0]} benchmark's {basis[1]:,.0f} events/s in this run"
            if basis
            else f"{share:.2f} × an assumed {DEFAULT_SUSTAINED:,.0f} events/s (not measured)"
        ),
        idle_probe_rate_per_s=IDLE_PROBE_RATE,
        poll_resolution_ms=POLL_SECONDS * 1000,
    )
    for name, variant in VARIANTS.items():
        probes = bench.size.latency_probes if variant.loaded else bench.size.latency_probes // 4
        probe_rate = bench.size.latency_probe_rate if variant.loaded else IDLE_PROBE_RATE
        measured, view, stages = await _variant(
            bench, name, variant.factory, load_rate if variant.loaded else 0, probes, probe_rate
        )
        latencies, commands = measured.latencies, measured.commands
        result.figures += [
            _ms(
                f"latency.{name}.p{p}",
                f"p{p} response → visible, {variant.label}",
                latencies,
                p,
                TARGET if p == 99 else None,
            )
            for p in variant.percentiles
        ]
        result.checks[f"every probe became visible ({name})"] = (
            not measured.lost and len(latencies) == probes
        )
        result.checks[f"the capacity view counts the probe sites ({name})"] = (
            view["total"]["sites"] >= probes
        )
        result.details[name] = {
            "probes": probes,
            "max_ms": round(max(latencies), 1) if latencies else None,
            "http_command_p50_ms": round(percentile(commands, 50), 1) if commands else None,
            "http_command_p99_ms": round(percentile(commands, 99), 1) if commands else None,
            **stages,
        }
    return result


async def _variant(
    bench: Bench, variant: str, factory: str, load_rate: int, probes: int, probe_rate: float
) -> tuple[Probed, dict[str, Any], dict[str, float | None]]:
    """One latency run: fresh databases and topics, housing in process, reporting child."""
    import housing.app  # the API as it exists on main when the benchmark runs

    prefix = bench.prefix(f"latency-{variant}")
    topics = service_topics(prefix, "housing", "reporting", partitions=PARTITIONS)
    async with (
        bench.database(f"latency_{variant}_housing") as housing_dsn,
        bench.database(f"latency_{variant}_reporting") as reporting_dsn,
        bench.topics(topics),
    ):
        reporting = ServiceChild(
            f"latency-{variant}",
            factory,
            {
                "ANKOMMEN_DATABASE_URL": reporting_dsn,
                "ANKOMMEN_KAFKA_BOOTSTRAP": bench.ep.kafka_bootstrap,
                "ANKOMMEN_TOPIC_PREFIX": prefix,
                "ANKOMMEN_CONSUMER_GROUP": f"bench-{bench.run_id}-latency-{variant}",
            },
            bench.logdir,
        )
        settings = ServiceSettings(
            service="housing",
            database_url=housing_dsn,
            kafka_bootstrap=bench.ep.kafka_bootstrap,
            topic_prefix=prefix,
            consumer_group=f"bench-{bench.run_id}-latency-{variant}-housing",
            create_topics=False,
            log_level="WARNING",
        )
        with logs_to(bench.logdir / f"latency-{variant}-housing.log"):
            app = housing.app.create_app(settings)
            async with in_process(app) as api:
                # The housing app has migrated its database: the load can write into it.
                load = Child(
                    f"latency-{variant}-load",
                    [
                        "-m",
                        "bench.worker",
                        json.dumps(
                            {
                                "service": "housing",
                                "dsn": housing_dsn,
                                "bootstrap": bench.ep.kafka_bootstrap,
                                "prefix": prefix,
                                "kind": "capacity",
                                "events": 10_000_000,  # until stopped
                                "per_tx": LOAD_PER_TX,
                                "writers": 1,
                                "rate": load_rate,
                                "relay": False,  # housing's own relay publishes them
                            }
                        ),
                    ],
                    {},
                    bench.logdir,
                )
                children = [reporting, load] if load_rate else [reporting]
                async with running(*children):
                    if load_rate:
                        await load.read_line(timeout=300)  # ready
                        await load.write_line("go")
                    await asyncio.sleep(bench.size.latency_warmup_seconds)
                    measured = await _probe(
                        bench, variant, api, reporting_dsn, children, probes, probe_rate
                    )
                    async with httpx.AsyncClient(
                        base_url=reporting.url, headers=local_tool_headers()
                    ) as client:
                        view = (await client.get("/views/capacity")).json()
                stages = await _stages(housing_dsn, reporting_dsn, measured.answered)
    return measured, view, stages


def _ms(
    key: str, label: str, values: list[float], p: float, target: Target | None = None
) -> Figure:
    value = round(percentile(values, p), 1) if values else None
    return Figure(key, label, value, "ms", target=target)


async def _stages(
    housing_dsn: str, reporting_dsn: str, answered: dict[uuid.UUID, float]
) -> dict[str, float | None]:
    """Where a probe's time went: response → relay's broker ack (outbox ``published_at``)
    → start of reporting's transaction (inbox ``processed_at``). p50 and p99 of each."""
    ids = [str(s) for s in answered]
    housing = await asyncpg.connect(housing_dsn)
    try:
        published = {
            r["subject"]: r["t"]
            for r in await housing.fetch(
                """SELECT subject, extract(epoch FROM published_at)::float8 AS t FROM outbox
                   WHERE type = 'ShelterOpened' AND subject = ANY($1::text[])""",
                ids,
            )
        }
    finally:
        await housing.close()
    reporting = await asyncpg.connect(reporting_dsn)
    try:
        processed = {
            r["subject"]: r["t"]
            for r in await reporting.fetch(
                """SELECT subject, extract(epoch FROM processed_at)::float8 AS t FROM inbox
                   WHERE type = 'ShelterOpened' AND subject = ANY($1::text[])""",
                ids,
            )
        }
    finally:
        await reporting.close()
    relay, consume = [], []
    for site, t in answered.items():
        p, c = published.get(str(site)), processed.get(str(site))
        if p is not None and c is not None:
            relay.append((p - t) * 1000)
            consume.append((c - p) * 1000)

    def pct(values: list[float], p: float) -> float | None:
        return round(percentile(values, p), 1) if values else None

    return {
        "relay_ms_p50": pct(relay, 50),
        "relay_ms_p99": pct(relay, 99),
        "broker_to_consumer_tx_ms_p50": pct(consume, 50),
        "broker_to_consumer_tx_ms_p99": pct(consume, 99),
    }


async def _probe(
    bench: Bench,
    variant: str,
    api: httpx.AsyncClient,
    reporting_dsn: str,
    children: list[Child],
    probes: int,
    probe_rate: float,
) -> Probed:
    """Fire ``probes`` POST /sites at ``probe_rate`` per second."""
    waiting: dict[uuid.UUID, float] = {}  # site id -> when its command answered
    answered_wall: dict[uuid.UUID, float] = {}  # the same, wall clock (to compare with DB times)
    latencies: list[float] = []
    commands: list[float] = []
    done = asyncio.Event()
    sent = 0

    async def watch() -> None:
        conn = await asyncpg.connect(reporting_dsn)
        try:
            while not (done.is_set() and not waiting):
                if waiting:
                    rows = await conn.fetch(
                        """SELECT subject FROM fact
                           WHERE type = 'ShelterOpened' AND subject = ANY($1::text[])""",
                        [str(s) for s in waiting],
                    )
                    now = time.perf_counter()
                    for row in rows:
                        answered = waiting.pop(uuid.UUID(row["subject"]))
                        latencies.append((now - answered) * 1000)
                await asyncio.sleep(POLL_SECONDS)
        finally:
            await conn.close()

    async def one(i: int) -> None:
        site_id = uuid.uuid4()
        body = {
            "site_id": str(site_id),
            "name": f"Latenz-Probe {i}",
            "pillar": "wohnheim",
            "district": 1 + i % 13,
            "operator": "DRK",
            "capacity": 50,
        }
        started = time.perf_counter()
        response = await api.post("/sites", json=body)
        answered = time.perf_counter()
        if response.status_code != 201:
            raise RuntimeError(f"POST /sites answered {response.status_code}: {response.text}")
        commands.append((answered - started) * 1000)
        answered_wall[site_id] = time.time()
        waiting[site_id] = answered

    watcher = asyncio.create_task(watch())
    interval = 1.0 / probe_rate
    tasks: list[asyncio.Task[None]] = []
    with bench.ui.step(f"latency ({variant}): {probes} commands", probes) as step:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while sent < probes:
            tasks.append(asyncio.create_task(one(sent)))
            sent += 1
            step.update(len(latencies))
            due += interval
            await asyncio.sleep(max(0.0, due - loop.time()))
            for child in children:
                child.check_alive()
        await asyncio.gather(*tasks)
        done.set()
        try:
            await asyncio.wait_for(asyncio.shield(watcher), 60)
        except TimeoutError:
            watcher.cancel()
        step.update(len(latencies))
    return Probed(latencies, commands, len(waiting), answered_wall)
