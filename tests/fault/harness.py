"""Fault-injection harness: an isolated Kafka + PostgreSQL, services as processes, and checks.

The cluster lives in its own state folder and on free ports (picked per run, so runs and
other helpers' tests never collide), so killing the broker or restarting PostgreSQL never
disturbs the servers other tests use. The broker has a second listener that is advertised
at a loopback proxy (``proxy.Proxy``): a client bootstrapped through the proxy stays on it
(its metadata names the proxy), so cutting the proxy partitions exactly the processes
configured to use it.

The checks are pure functions over what the run read back, each with a self-test in
``test_harness_checks.py`` that proves it can fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
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
from ankommen_local.util import free_port, run_sync
from ankommen_runtime.kafka_clients import partitions_of
from proxy import Proxy

REPO = Path(__file__).resolve().parents[2]
RUNS = REPO / ".state" / "chaos-runs"
JAR_CACHE = Settings(state_dir=REPO / ".state" / "chaos-jars")

# state dir -> (port of the broker's PROXIED listener, port of the proxy in front of it)
_PROXIED: dict[Path, tuple[int, int]] = {}
_server_properties = kafka.server_properties


def _with_proxied_listener(s: Settings) -> str:
    text = _server_properties(s)
    ports = _PROXIED.get(s.state_dir)
    if ports is None:
        return text
    listen, proxy = ports
    h = s.host
    # Later keys win in a Java properties file.
    return text + (
        "\n# Fault harness: a listener advertised at a loopback proxy the controller cuts.\n"
        f"listeners=PLAINTEXT://{h}:{s.kafka_port},CONTROLLER://{h}:{s.kafka_controller_port},"
        f"PROXIED://{h}:{listen}\n"
        f"advertised.listeners=PLAINTEXT://{h}:{s.kafka_port},PROXIED://{h}:{proxy}\n"
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,"
        "PROXIED:PLAINTEXT\n"
    )


kafka.server_properties = _with_proxied_listener


def _fresh_settings() -> Settings:
    return Settings(
        state_dir=RUNS / uuid.uuid4().hex[:8],
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        pg_port=free_port(),
    )


@dataclass
class Cluster:
    """Kafka and PostgreSQL of one fault run, on their own free ports and state folder."""

    settings: Settings = field(default_factory=_fresh_settings)
    broker_restarts: int = 0
    postgres_restarts: int = 0
    kafka_proxy: Proxy | None = None
    pg_proxy: Proxy | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.settings.host}:{self.settings.kafka_port}"

    @property
    def proxied_bootstrap(self) -> str:
        assert self.kafka_proxy is not None
        return f"{self.settings.host}:{self.kafka_proxy.port}"

    def proxied_dsn(self, service: str) -> str:
        """The service's own DSN (with its generated password) through the proxy's port."""
        assert self.pg_proxy is not None
        direct = f"{self.settings.host}:{self.settings.pg_port}"
        return self.dsn(service).replace(
            f"@{direct}/", f"@{self.settings.host}:{self.pg_proxy.port}/"
        )

    @property
    def admin_dsn(self) -> str:
        # With the generated password where the cluster has one (scram-sha-256).
        return self.settings.pg_admin_dsn

    def dsn(self, service: str) -> str:
        return self.settings.service_dsn(service)

    def up(self) -> None:
        self._seed_jars()
        listen, proxy = free_port(), free_port()
        _PROXIED[self.settings.state_dir] = (listen, proxy)
        # The Kafka proxy listens before the servers start: Kafka advertises its port, so
        # it is chosen first, and while the JVMs start (seconds) one of their ephemeral
        # client sockets may take a port that is only chosen, not bound (it did: EADDRINUSE)
        self.kafka_proxy = Proxy(listen, port=proxy).start()
        stack.up(self.settings)
        self.pg_proxy = Proxy(self.settings.pg_port).start()

    def down(self) -> None:
        for proxy in (self.kafka_proxy, self.pg_proxy):
            if proxy is not None:
                proxy.stop()
        stack.down(self.settings)
        if self.settings.state_dir.parent == RUNS:
            shutil.rmtree(self.settings.state_dir, ignore_errors=True)

    def _seed_jars(self) -> None:
        """The broker's jars, fetched once into a cache and hard-linked into each run."""
        if kafka.jars_present(self.settings):
            return
        kafka.fetch_jars(JAR_CACHE)
        target = self.settings.kafka_lib
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copytree(JAR_CACHE.kafka_lib, target, copy_function=os.link)
        except OSError:
            shutil.copytree(JAR_CACHE.kafka_lib, target)

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
        pid = kafka.running_pid(self.settings)
        run_sync(kafka.wait_ready(self.settings, pid, timeout=RECOVERY_TIMEOUT))
        self.broker_restarts += 1

    def restart_postgres(self, down_seconds: float = 0.0) -> None:
        """Stop PostgreSQL in immediate mode (a crash: no checkpoint), wait, start it again."""
        self.crash_postgres()
        time.sleep(down_seconds)
        self.start_postgres()

    def crash_postgres(self) -> None:
        pid = postgres.running_pid(self.settings)
        if pid is not None:
            os.kill(pid, signal.SIGQUIT)  # the postmaster's immediate shutdown
            _wait_gone(pid)

    def start_postgres(self) -> None:
        bindir = postgres.find_bin()
        assert bindir is not None
        postgres.start(self.settings, bindir)
        run_sync(postgres.wait_ready(self.settings, timeout=RECOVERY_TIMEOUT))
        self.postgres_restarts += 1

    def service(
        self, name: str, port: int, log_dir: Path, *, replica: int = 1, **extra: str
    ) -> ServiceProcess:
        """Replica 1 talks to the servers directly, replica 2 through the cuttable proxies."""
        proxied = replica > 1 and self.kafka_proxy is not None
        bootstrap = self.proxied_bootstrap if proxied else self.bootstrap
        dsn = self.proxied_dsn(name) if proxied else self.dsn(name)
        return ServiceProcess(
            name=name,
            port=port,
            env=service_env(name, kafka_bootstrap=bootstrap, database_url=dsn, **extra),
            log_path=log_dir / f"{name}-{replica}.log",
        )


# A server restarted after a SIGKILL/crash recovers its log first (KRaft metadata and
# segments, PostgreSQL's WAL); on a loaded 2-core machine that took over 60 s (the start-up
# timeout of ankommen-local). A slow recovery only lengthens the outage the run injects.
RECOVERY_TIMEOUT = 300.0


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


# --- the checks: pure, each with a self-test that makes it fail -----------------------------


def set_differences(what: str, expected: Iterable[object], actual: Iterable[object]) -> list[str]:
    """Both directions of a set equality, as failure lines (empty when equal)."""
    want, have = set(expected), set(actual)
    problems = []
    if want - have:
        problems.append(
            f"{what}: {len(want - have)} missing, e.g. {sorted(map(str, want - have))[:3]}"
        )
    if have - want:
        problems.append(
            f"{what}: {len(have - want)} unexpected, e.g. {sorted(map(str, have - want))[:3]}"
        )
    return problems


def topic_event_ids(records: Iterable[tuple[bytes, bytes]]) -> tuple[set[uuid.UUID], int]:
    """Event ids on a topic, and how many records are not events (counted, never skipped)."""
    ids: set[uuid.UUID] = set()
    undecodable = 0
    for _, value in records:
        try:
            ids.add(decode(value).event_id)
        except UnknownEventType as exc:
            ids.add(exc.envelope.event_id)
        except (InvalidEvent, TypeError):
            undecodable += 1
    return ids, undecodable


def event_types(records: Iterable[tuple[bytes, bytes]]) -> dict[uuid.UUID, str]:
    """Each event id on a topic and its type (records that are not events left out)."""
    out: dict[uuid.UUID, str] = {}
    for _, value in records:
        try:
            env = decode(value)
        except UnknownEventType as exc:
            out[exc.envelope.event_id] = exc.envelope.type
        except (InvalidEvent, TypeError):
            continue
        else:
            out[env.event_id] = env.type
    return out


def applied_once(
    delivered: Iterable[uuid.UUID], applied: Sequence[uuid.UUID], what: str
) -> list[str]:
    """Every event delivered to a consumer is in its inbox exactly once, nothing else is."""
    counts: dict[uuid.UUID, int] = defaultdict(int)
    for event_id in applied:
        counts[event_id] += 1
    twice = [str(e) for e, n in counts.items() if n > 1]
    problems = [f"{what}: {len(twice)} applied more than once, e.g. {twice[:3]}"] if twice else []
    return problems + set_differences(f"{what} applied vs delivered", delivered, counts)


def applied_out_of_order(rows: Iterable[tuple[str, int, int]]) -> list[str]:
    """(subject, sequence, applied_order) rows: per subject, sequence grows with applied order."""
    by_subject: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for subject, sequence, order in rows:
        by_subject[subject].append((order, sequence))
    problems = []
    for subject, applied in by_subject.items():
        sequences = [seq for _, seq in sorted(applied)]
        if any(b <= a for a, b in itertools.pairwise(sequences)):
            problems.append(f"{subject}: applied in the order {sequences}")
    return problems


# ERROR lines a fault may cause (by the kinds of fault that ran); any other fails the run.
EXPECTED_ERRORS: dict[str, tuple[str, ...]] = {
    # aiokafka logs a consumer group's coordinator lookup at ERROR while it retries; a fresh
    # group on a fresh broker always sees it once or twice. Not a fault's doing, not a loss.
    "always": ("Group Coordinator Request failed",),
    "poison": ("event dead-lettered",),
    "broker": (
        "Kafka error occurred",
        "Unable connect to node",
        'Unable connect to "',  # the bootstrap address (the proxy, when cut)
        "Unable to update metadata",
        "Failed fetch messages",
        "Unable to request metadata",
        "Coordinator",
        "Heartbeat",
        "OffsetCommit failed",
        "Error sending",
    ),
    # A replica (re)started while a server is down gives up after 60 s and is restarted.
    # A server killed under an open connection resets it; a client library's read future
    # may then hold the ConnectionResetError nobody awaits any more, which asyncio reports
    # at ERROR when the future is collected (seen once in 100 kills, seed 7). Only that
    # exception: any other unretrieved one still fails the run.
    "postgres": (
        "Application startup failed",
        "in lifespan",
        "Future exception was never retrieved\nfuture: <Future finished "
        "exception=ConnectionResetError(",
    ),
}
EXPECTED_ERRORS["broker"] += EXPECTED_ERRORS["postgres"]
EXPECTED_ERRORS["partition"] = EXPECTED_ERRORS["broker"]


def unexpected_errors(lines: Iterable[str], fault_kinds: Iterable[str]) -> list[str]:
    """ERROR log lines (JSON lines of the services) that none of the faults run explains."""
    allowed = tuple(p for kind in ("always", *fault_kinds) for p in EXPECTED_ERRORS.get(kind, ()))
    problems = []
    for line in lines:
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if str(entry.get("level", "")).lower() not in ("error", "critical"):
            continue
        text = f"{entry.get('event', '')} {entry.get('error', '')}"
        if not any(re.search(re.escape(p), text) for p in allowed):
            problems.append(f"{entry.get('service')}: {text[:200]}")
    return problems
