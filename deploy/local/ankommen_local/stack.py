"""up / down / status for both servers: the code behind the CLI and the test fixtures."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from . import kafka, kafka_acls, postgres
from .config import SERVICES, TOPICS, Settings
from .util import Echo, file_lock, quiet, run_sync

COMPONENTS: tuple[str, ...] = ("kafka", "postgres")


@dataclass(frozen=True)
class UpReport:
    kafka_pid: int | None
    pg_pid: int | None
    started: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class ServerStatus:
    name: str
    running: bool
    pid: int | None
    endpoint: str
    ready: bool


def up(
    settings: Settings | None = None,
    echo: Echo = quiet,
    components: tuple[str, ...] = COMPONENTS,
) -> UpReport:
    """Install, start and provision what is missing; quick and harmless when all runs."""
    s = settings or Settings.from_env()
    began = time.monotonic()
    started: list[str] = []
    kafka_pid: int | None = None
    pg_pid: int | None = None
    s.state_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(s.lockfile):
        if "postgres" in components:
            # PostgreSQL first: it starts in about a second while the JVM warms up later.
            bindir = postgres.ensure_installed(echo)
            postgres.prepare_dirs(s, echo)
            postgres.init_cluster(s, bindir, echo)
            pg_pid, fresh = postgres.start(s, bindir, echo)
            if fresh:
                started.append("postgres")
        if "kafka" in components:
            kafka.fetch_jars(s, echo)
            kafka.write_config(s)
            kafka.format_storage(s, echo)
            kafka_pid, fresh = kafka.start(s, echo)
            if fresh:
                started.append("kafka")
        run_sync(_ready_and_provision(s, components, kafka_pid, echo))
    return UpReport(kafka_pid, pg_pid, started, time.monotonic() - began)


async def _ready_and_provision(
    s: Settings, components: tuple[str, ...], kafka_pid: int | None, echo: Echo
) -> None:
    if "postgres" in components:
        await postgres.wait_ready(s)
        await postgres.ensure_databases(
            s.pg_admin_dsn, SERVICES, echo, passwords=s.service_passwords()
        )
    if "kafka" in components:
        await kafka.wait_ready(s, kafka_pid)
        if s.kafka_sasl:
            admin = kafka_acls.client_options(s)
            await kafka.ensure_topics(s.kafka_bootstrap, kafka.secured_topics(), echo, **admin)
            await asyncio.to_thread(kafka.apply_acls, s, echo)
        else:
            await kafka.ensure_topics(s.kafka_bootstrap, TOPICS, echo)


def down(
    settings: Settings | None = None,
    echo: Echo = quiet,
    components: tuple[str, ...] = COMPONENTS,
) -> list[str]:
    """Stop what runs (Kafka first: it may still flush to disk); names of those stopped."""
    s = settings or Settings.from_env()
    stopped: list[str] = []
    if not s.state_dir.is_dir():
        return stopped
    with file_lock(s.lockfile):
        if "kafka" in components and kafka.stop(s, echo):
            stopped.append("kafka")
        if "postgres" in components and postgres.stop(s, postgres.find_bin(), echo):
            stopped.append("postgres")
    return stopped


def status(settings: Settings | None = None) -> list[ServerStatus]:
    s = settings or Settings.from_env()
    kafka_pid = kafka.running_pid(s)
    pg_pid = postgres.running_pid(s)
    return [
        ServerStatus(
            "kafka",
            kafka_pid is not None,
            kafka_pid,
            s.kafka_bootstrap,
            kafka_pid is not None and kafka.ready_now(s),
        ),
        ServerStatus(
            "postgres",
            pg_pid is not None,
            pg_pid,
            f"{s.host}:{s.pg_port}",
            pg_pid is not None and postgres.ready_now(s),
        ),
    ]
