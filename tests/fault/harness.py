"""Fault-injection harness: an isolated Kafka + PostgreSQL, services as processes, and checks.

The cluster lives in its own state folder and ports, so killing the broker or restarting
PostgreSQL never disturbs the servers other tests use.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from ankommen_contracts import InvalidEvent, UnknownEventType, decode
from ankommen_local import kafka, postgres, stack
from ankommen_local.config import SERVICES, Settings
from ankommen_local.supervisor import ServiceProcess, service_env
from ankommen_local.util import run_sync
from ankommen_runtime.dlq import partitions_of

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Cluster:
    """Kafka and PostgreSQL of one fault run, on their own ports and state folder."""

    settings: Settings = field(
        default_factory=lambda: Settings(
            state_dir=REPO / ".state" / "chaos",
            kafka_port=29092,
            kafka_controller_port=29093,
            pg_port=55532,
        )
    )
    broker_restarts: int = 0
    postgres_restarts: int = 0

    @property
    def bootstrap(self) -> str:
        return f"{self.settings.host}:{self.settings.kafka_port}"

    @property
    def admin_dsn(self) -> str:
        # With the generated password where the cluster has one (scram-sha-256).
        return self.settings.pg_admin_dsn

    def dsn(self, service: str) -> str:
        return self.settings.service_dsn(service)

    def up(self) -> None:
        stack.up(self.settings)

    def down(self) -> None:
        stack.down(self.settings)

    async def reset_databases(self) -> None:
        """Fresh service databases for a run: nothing from an earlier run counts."""
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            for name in SERVICES:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await conn.execute(f'CREATE DATABASE "{name}" OWNER "{name}"')
        finally:
            await conn.close()

    def kill_broker(self) -> None:
        """SIGKILL the broker: no clean shutdown, as when its node dies."""
        pid = kafka.running_pid(self.settings)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid)

    def start_broker(self) -> None:
        kafka.start(self.settings)
        run_sync(kafka.wait_ready(self.settings, kafka.running_pid(self.settings)))
        self.broker_restarts += 1

    def restart_postgres(self) -> None:
        """Stop PostgreSQL in immediate mode (a crash: no checkpoint) and start it again."""
        bindir = postgres.find_bin()
        assert bindir is not None
        pid = postgres.running_pid(self.settings)
        if pid is not None:
            os.kill(pid, signal.SIGQUIT)  # the postmaster's immediate shutdown
            _wait_gone(pid)
        postgres.start(self.settings, bindir)
        run_sync(postgres.wait_ready(self.settings))
        self.postgres_restarts += 1

    def service(self, name: str, port: int, log_dir: Path, **extra: str) -> ServiceProcess:
        return ServiceProcess(
            name=name,
            port=port,
            env=service_env(
                name, kafka_bootstrap=self.bootstrap, database_url=self.dsn(name), **extra
            ),
            log_path=log_dir / f"{name}.log",
        )


def _wait_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):  # reap it if it is our child
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)


async def consumer_lag(bootstrap: str, group: str, topics: Sequence[str]) -> int:
    """Events in ``topics`` that ``group`` has not committed yet."""
    partitions = await partitions_of(bootstrap, topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    lag = 0
    for tp in partitions:
        meta = committed.get(tp)
        lag += ends[tp] - (meta.offset if meta is not None and meta.offset >= 0 else 0)
    return lag


async def read_all(bootstrap: str, topics: Iterable[str]) -> dict[str, list[tuple[bytes, bytes]]]:
    """Every record (key, value) of each topic, in partition order."""
    topics = list(topics)
    partitions = await partitions_of(bootstrap, topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    out: dict[str, list[tuple[bytes, bytes]]] = defaultdict(list)
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        # An explicit seek: seek_to_beginning() is lazy and position() may report the end.
        for tp, start in (await consumer.beginning_offsets(partitions)).items():
            consumer.seek(tp, start)
        for tp in partitions:
            while await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                out[tp.topic].extend((r.key, r.value) for r in batch.get(tp, []))
    finally:
        await consumer.stop()
    return out


def order_violations(records: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """Subjects whose first deliveries are not 1, 2, 3, … (duplicates allowed, gaps not)."""
    seen: set[uuid.UUID] = set()
    last: dict[str, int] = {}
    problems: list[str] = []
    for _, value in records:
        try:
            env = decode(value)
        except (InvalidEvent, UnknownEventType):
            continue
        if env.event_id in seen:
            continue
        seen.add(env.event_id)
        expected = last.get(env.subject, 0) + 1
        if env.sequence != expected:
            problems.append(f"{env.subject}: sequence {env.sequence} after {expected - 1}")
        last[env.subject] = env.sequence
    return problems


async def until(check: object, *, timeout: float, interval: float = 0.5) -> bool:
    """Await ``check()`` (sync or async) until truthy or the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()  # type: ignore[operator]
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return True
        await asyncio.sleep(interval)
    return False
