"""What every benchmark shares: sizes, results, fresh topics and databases, child processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from ankommen_local.infra import Endpoints
from ankommen_local.kafka import delete_topics
from ankommen_local.util import free_port
from ankommen_runtime.kafka import ensure_topics
from ankommen_runtime.topology import service_topologies, topics_of

from .ui import Ui

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Size:
    """How much work each benchmark does. ``full`` is the real run, ``tiny`` keeps them alive."""

    name: str
    kafka_events: int  # raw aiokafka / faststream ceilings
    perf_records: int  # Kafka's ProducerPerformance
    pg_batch_rows: int  # asyncpg batched inserts (500 rows per transaction)
    pg_single_rows: int  # one row per transaction (fsync-bound)
    pipeline_events: int
    latency_probes: int
    latency_probe_rate: float  # HTTP commands per second
    latency_warmup_seconds: float  # background load before the first probe
    rebuild_sites: int  # each site's history is REBUILD_EVENTS_PER_SITE events
    placement_assignments: int


SIZES: dict[str, Size] = {
    "full": Size(
        name="full",
        kafka_events=200_000,
        perf_records=200_000,
        pg_batch_rows=200_000,
        pg_single_rows=5_000,
        pipeline_events=200_000,
        latency_probes=600,
        latency_probe_rate=20.0,
        latency_warmup_seconds=3.0,
        rebuild_sites=20_000,
        placement_assignments=2_000,
    ),
    "tiny": Size(
        name="tiny",
        kafka_events=2_000,
        perf_records=2_000,
        pg_batch_rows=2_000,
        pg_single_rows=100,
        pipeline_events=2_000,
        latency_probes=20,
        latency_probe_rate=20.0,
        latency_warmup_seconds=0.5,
        rebuild_sites=200,
        placement_assignments=20,
    ),
}

EVENT_BYTES = 1024  # the size every throughput figure is measured at
BATCH_ROWS = 500  # rows per transaction in the batched Postgres ceiling (the runtime's batch)


@dataclass(frozen=True)
class Target:
    """A goal from issue 10, e.g. ``Target(">=", 10_000)``."""

    op: str  # ">=" or "<="
    value: float

    def met(self, value: float | None) -> bool | None:
        if value is None:
            return None
        return value >= self.value if self.op == ">=" else value <= self.value

    def __str__(self) -> str:
        return f"{'≥' if self.op == '>=' else '≤'} {self.value:,.0f}"


@dataclass
class Figure:
    """One number of a benchmark, beside its ceilings (same run) and target where it has them.

    ``ratios`` maps a ceiling's key to value / ceiling (None when that ceiling was not run).
    """

    key: str
    label: str
    value: float | None
    unit: str
    ratios: dict[str, float | None] = field(default_factory=dict)
    target: Target | None = None

    @property
    def met(self) -> bool | None:
        return self.target.met(self.value) if self.target else None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["target"] = str(self.target) if self.target else None
        out["met"] = self.met
        return out


@dataclass
class Result:
    """What one benchmark measured; ``checks`` are the sanity checks (counts, equality)."""

    name: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"  # ok | failed | not done
    error: str | None = None
    seconds: float = 0.0

    def figure(self, key: str) -> Figure | None:
        return next((f for f in self.figures if f.key == key), None)

    @property
    def sane(self) -> bool:
        return self.status == "ok" and all(self.checks.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "error": self.error,
            "seconds": round(self.seconds, 2),
            "figures": [f.to_json() for f in self.figures],
            "checks": self.checks,
            "details": self.details,
        }


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def ratio(value: float | None, ceiling: float | None) -> float | None:
    if value is None or not ceiling:
        return None
    return round(value / ceiling, 4)


def service_topics(prefix: str, *services: str, partitions: int) -> dict[str, int]:
    """Every topic the named services publish, consume and dead-letter into (topics as
    code: ``<consumer>.dlq.<source topic>``), name -> partitions, so a service that creates
    no topics of its own finds what its readiness checks."""
    chosen = [t for t in service_topologies(prefix) if t.service in services]
    return {spec.name: spec.partitions for spec in topics_of(chosen, partitions)}


class Bench:
    """One benchmark run: the endpoints, the size, the UI and everything to clean up."""

    def __init__(self, ep: Endpoints, size: Size, ui: Ui) -> None:
        self.ep = ep
        self.size = size
        self.ui = ui
        self.run_id = uuid.uuid4().hex[:8]
        self.ceilings: dict[str, Figure] = {}
        # Sustained events/s of the pipeline and the rebuild in this run: the latency
        # benchmark loads the system at half the lower one.
        self.sustained: dict[str, float] = {}
        # Child-process logs live here; kept only when something failed.
        self.logdir = Path(tempfile.mkdtemp(prefix=f"ankommen-bench-{self.run_id}-"))

    def prefix(self, benchmark: str) -> str:
        """A topic prefix of one benchmark: nothing it publishes meets another's."""
        return f"bench-{self.run_id}-{benchmark}."

    def ceiling(self, key: str) -> float | None:
        figure = self.ceilings.get(key)
        return figure.value if figure else None

    def compared(
        self,
        key: str,
        label: str,
        value: float | None,
        unit: str,
        ceilings: Sequence[str],
        target: Target | None = None,
    ) -> Figure:
        """A figure beside ceilings of this run."""
        ratios = {c: ratio(value, self.ceiling(c)) for c in ceilings}
        return Figure(key, label, value, unit, ratios, target)

    @contextlib.asynccontextmanager
    async def database(self, label: str) -> AsyncIterator[str]:
        """A fresh, empty database for the block; its DSN. Dropped afterwards."""
        name = f"bench_{self.run_id}_{label}"
        admin = await asyncpg.connect(self.ep.pg_admin_dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        try:
            yield self.ep.dsn_for(name)
        finally:
            admin = await asyncpg.connect(self.ep.pg_admin_dsn)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()

    @contextlib.asynccontextmanager
    async def topics(self, topics: Mapping[str, int]) -> AsyncIterator[None]:
        """Create the topics (name -> partitions) for the block; delete them afterwards."""
        await ensure_topics(self.ep.kafka_bootstrap, topics)
        try:
            yield
        finally:
            await delete_topics(self.ep.kafka_bootstrap, names=topics)


class Child:
    """A Python child process (a service under uvicorn, or a bench worker); logs to a file.

    Benchmarks run the parts of the pipeline in separate processes, as in production:
    one Python process cannot use the second core.
    """

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        env: Mapping[str, str],
        logdir: Path,
        *,
        reports: bool = True,
    ) -> None:
        self.name = name
        self.args = list(args)
        self.env = {**os.environ, **env}
        self.log_path = logdir / f"{name}.log"
        # Workers report JSON lines on stdout; services log there, so it goes to the file.
        self.reports = reports
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def profiled(self) -> bool:
        return self.name in os.environ.get("BENCH_PROFILE", "").split(",")

    async def start(self) -> None:
        log = self.log_path.open("ab")
        args = self.args
        # BENCH_PROFILE=name,... runs those children under pyinstrument (when installed:
        # `uv run --with pyinstrument python -m bench ...`); the report lands in the log dir.
        if self.profiled and self.reports:  # services profile themselves (bench/profiled.py)
            out = self.log_path.with_suffix(".profile.txt")
            args = ["-m", "pyinstrument", "-r", "text", "-o", str(out), *args]
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                *args,
                cwd=REPO_ROOT,
                env=self.env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE if self.reports else log,
                stderr=log,
            )
        finally:
            log.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} not started"
        return self.proc.pid

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.returncode is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")

    async def read_line(self, timeout: float = 120.0) -> str:
        """The next line the child printed on stdout (workers report JSON this way)."""
        assert self.proc is not None
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except TimeoutError as exc:
            raise RuntimeError(f"{self.name} said nothing for {timeout}s:\n{self.tail()}") from exc
        if not line:
            await self.proc.wait()
            self.check_alive()
            raise RuntimeError(f"{self.name} closed its output:\n{self.tail()}")
        return line.decode().strip()

    async def write_line(self, text: str) -> None:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()

    async def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (uvicorn and the workers shut down cleanly), SIGKILL if it hangs."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        if proc.stdin is not None:
            proc.stdin.close()  # a worker waiting on stdin sees EOF and ends
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class ServiceChild(Child):
    """A service app (``module:create_app`` factory) under uvicorn, configured by env vars."""

    def __init__(
        self, name: str, factory: str, env: Mapping[str, str], logdir: Path, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.name = name
        if self.profiled:  # see bench/profiled.py
            env = {
                **env,
                "BENCH_FACTORY": factory,
                "BENCH_PROFILE_OUT": str(logdir / f"{name}.profile.txt"),
            }
            factory = "bench.profiled:create_app"
        super().__init__(
            name,
            [
                "-m",
                "uvicorn",
                "--factory",
                factory,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            {"ANKOMMEN_LOG_LEVEL": "WARNING", "ANKOMMEN_CREATE_TOPICS": "false", **env},
            logdir,
            reports=False,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=5.0) as client:
            while True:
                self.check_alive()
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/health/ready")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not ready after {timeout}s:\n{self.tail()}")
                await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def running(*children: Child) -> AsyncIterator[None]:
    """Start the children (services are awaited until ready); stop them all afterwards."""
    try:
        for child in children:
            await child.start()
        for child in children:
            if isinstance(child, ServiceChild):
                await child.wait_ready()
        yield
    finally:
        await asyncio.gather(*(c.stop() for c in children), return_exceptions=True)


async def wait_for_count(
    count: Callable[[], Awaitable[int]],
    total: int,
    *,
    progress: Callable[[int], None] | None = None,
    children: Sequence[Child] = (),
    stall_seconds: float = 120.0,
    interval: float = 0.05,
) -> float:
    """Poll ``count()`` until it reaches ``total``; the wall time it did.

    Fails if the count does not move for ``stall_seconds`` or a child died: a benchmark
    must end with an error, never hang.
    """
    last, last_change = -1, time.monotonic()
    while True:
        value = await count()
        now = time.monotonic()
        if progress is not None:
            progress(value)
        if value >= total:
            return time.time()
        if value != last:
            last, last_change = value, now
        elif now - last_change > stall_seconds:
            tails = "\n".join(f"--- {c.name}\n{c.tail()}" for c in children)
            raise RuntimeError(f"stalled at {value}/{total} for {stall_seconds}s\n{tails}")
        for child in children:
            child.check_alive()
        await asyncio.sleep(interval)
