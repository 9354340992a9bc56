"""The composition root every service's ``app.py`` calls: one shape for all five.

``create_service_app`` builds the FastAPI app; all I/O (pool, migrations, producer,
topics, relay, subscribers) happens in its lifespan, never at import.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker

from . import health, ids, pseudonym, simulation
from . import topics as topic_config
from .activity import Activity
from .auth import TokenVerifier
from .clock import Clock, SimulatedClock, WallClock
from .consumer import (
    TRANSIENT_ERRORS,
    ConsumerPolicy,
    RetryPolicy,
    Subscription,
    subscribe,
)
from .context import request_context
from .db import RUNTIME_MIGRATIONS, create_pool, migrate
from .errors import DomainError, Unprocessable, outcome_unknown
from .http import (
    UNSTORABLE_ERRORS,
    Correlation,
    InputGuard,
    RetryConflicts,
    document_statuses,
    mark_conflict,
    unstorable_value,
)
from .inbox import adopt_group
from .kafka import new_consumer_broker, new_producer
from .kafka_clients import positions_on_kafka
from .kafka_security import broker_security
from .logging import configure_logging, get_logger
from .metrics import PERIODIC_ROUNDS
from .outbox import OutboxRelay
from .positions import Positions
from .settings import ServiceSettings
from .startup import when_reachable
from .topics import DEAD_LETTERS, EVENTS, TopicConfig, dead_letter_topic
from .tracing import TracingMiddleware, configure_tracing
from .uow import UnitOfWork

log = get_logger(__name__)


@dataclass(frozen=True)
class Periodic:
    """Work the runtime repeats for a service (a sweep): declared on the spec, run here.

    ``work`` returns whether more is waiting (a full batch): then it runs again at once,
    else after ``every(settings)`` seconds. Each round has its own correlation id; a
    failure (database away) is logged and the round tried again later, never ending the
    loop. Business time comes from ``runtime.clock``, never from ``datetime.now()``.
    """

    name: str
    work: Callable[[Runtime], Awaitable[bool]]
    every: Callable[[Any], float]
    # ``business`` (holds, waitlist, readiness): in a simulation run it does not loop on
    # wall time but runs when the simulated clock advances, until nothing more is due.
    # ``wall`` (technical timeouts such as the saga's resend after silence): always loops
    # on wall time and reads ``runtime.wall_clock``, so a simulated week never looks like
    # a week of silence (docs/business-time.md).
    timer: Literal["business", "wall"] = "business"

    async def run(self, runtime: Runtime) -> None:
        interval = self.every(runtime.settings)
        while True:
            more, outcome = False, "failed"
            try:
                # A wall-clock sweep runs whenever wall time says, so no seed can replay its
                # rounds: each round's ids come from a random scope of their own, never from
                # the process-wide stream a seeded simulation relies on. (One fixed scope
                # gave every round the same ids: the second round that raised an event hit
                # the outbox's unique event id, and failed so on every round after.)
                scope = (
                    ids.id_scope(f"wall:{self.name}:{uuid.uuid4()}")
                    if self.timer == "wall"
                    else nullcontext()
                )
                with scope, request_context():
                    more = await self.work(runtime)
                outcome = "more" if more else "done"
            except Exception as exc:
                log.warning(f"{self.name} failed; trying again", error=repr(exc))
            # Counted, so operators (and tests) see a sweep run instead of guessing by time.
            PERIODIC_ROUNDS.labels(runtime.spec.name, self.name, outcome).inc()
            if not more:
                await asyncio.sleep(interval)


@dataclass(frozen=True)
class ServiceSpec:
    """What makes a service itself; everything else is the runtime's.

    ``settings`` is the service's settings class (a ``ServiceSettings`` subclass, read from
    the environment once by ``create_service_app``). ``subscriptions`` is the handler-map
    convention of every service: ``handlers.subscriptions(settings)`` returns one
    ``Subscription(source, {event type: handler})`` per topic consumed.
    """

    name: str
    title: str
    description: str = ""
    settings: type[ServiceSettings] = ServiceSettings
    migrations: Path | None = None
    routers: Sequence[APIRouter] = ()
    subscriptions: Callable[[Any], Sequence[Subscription]] | Sequence[Subscription] = ()
    publishes: bool = True
    version: str = "0.1.0"
    on_started: Sequence[Callable[[Runtime], Awaitable[None]]] = field(default_factory=tuple)
    # Sweeps the runtime repeats; each shows in /health/ready under its name.
    periodic: Sequence[Periodic] = ()
    # The service's store over a connection (e.g. ``PgHousingStore``): every transaction
    # the runtime opens carries one as ``tx.store``.
    store: Callable[[asyncpg.Connection], Any] | None = None
    # Long-running tasks, started after everything else is up and cancelled on stop; each
    # shows in /health/ready under its function's name.
    background: Sequence[Callable[[Runtime], Awaitable[None]]] = field(default_factory=tuple)

    def configure(self, given: ServiceSettings | None = None) -> ServiceSettings:
        """The service's own settings class, keeping whatever ``given`` set explicitly."""
        if isinstance(given, self.settings) and given.service == self.name:
            return given
        values = given.model_dump(exclude_unset=True) if given is not None else {}
        values["service"] = self.name
        return self.settings(**values)

    def bind(self, settings: ServiceSettings) -> ServiceSpec:
        """This spec for one settings object: subscriptions resolved, sweeps as tasks.

        In a simulation run the business sweeps stay in ``periodic``: the simulated
        clock's advance runs them (``simulation.advance``), never wall time.
        """
        subscriptions = self.subscriptions
        if callable(subscriptions):
            subscriptions = subscriptions(settings)
        tasks = [*self.background]
        simulated = settings.simulation
        for sweep in self.periodic:
            if simulated and sweep.timer == "business":
                continue

            async def task(runtime: Runtime, sweep: Periodic = sweep) -> None:
                await sweep.run(runtime)

            task.__name__ = sweep.name.replace("-", "_")
            tasks.append(task)
        kept = tuple(s for s in self.periodic if simulated and s.timer == "business")
        return replace(
            self, subscriptions=tuple(subscriptions), periodic=kept, background=tuple(tasks)
        )


_gc_frozen = False


def tune_gc(threshold: int) -> None:
    """Make CPython's cyclic GC cheap for event handling; once per process.

    Every event decoded or raised allocates dozens of objects (pydantic models), so with
    the default threshold of 700 the collector runs constantly, and its older-generation
    passes re-walk everything the service imported at start-up. Freezing what start-up
    made and collecting the young generation every ``threshold`` allocations cut a
    consumer's CPU per event by about 40 % (bench/NOTES.md). 0 keeps the interpreter's
    threshold (the freeze still happens).
    """
    global _gc_frozen
    if not _gc_frozen:  # the first start is the service's; tests start many apps
        _gc_frozen = True
        gc.collect()
        gc.freeze()
    if threshold:
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(threshold, older, oldest)


async def _within(deadline: float, stage: str, awaitable: Awaitable[Any]) -> bool:
    """Await ``awaitable`` until ``deadline`` (loop time); False, logged, if it did not end."""
    # a stage reached after the deadline still gets a moment: what is already done ends
    left = max(deadline - asyncio.get_running_loop().time(), 0.1)
    try:
        async with asyncio.timeout(left):
            await awaitable
    except TimeoutError:
        log.error("stopping went on without a stage that did not end in time", stage=stage)
        return False
    except Exception as exc:  # stopping goes on: the next stage still lets go of its part
        log.warning("a stage of stopping failed", stage=stage, error=repr(exc))
    return True


class Runtime:
    """The running adapters of one service process (``app.state.runtime``)."""

    def __init__(
        self, spec: ServiceSpec, settings: ServiceSettings, clock: Clock | None = None
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self.broker: KafkaBroker | None = None
        self.relay: OutboxRelay | None = None
        self.policy: ConsumerPolicy | None = None
        # Seconds a relay or consumer may fail without progress before readiness says stuck.
        self.stuck_after = 30.0
        self.topic_problems: list[str] | None = None  # None: not checked yet
        self._topics_checked_at = 0.0
        # The business clock: simulated in a simulation run (moved by the scenario only),
        # else the wall clock (or the one a test gives). ``wall_clock`` serves technical
        # timeouts in both modes.
        self.wall_clock: Clock = WallClock()
        self.clock: Clock = clock or (
            SimulatedClock(settings.simulation_start) if settings.simulation else WallClock()
        )
        self.simulation_lock = asyncio.Lock()
        # consumer batches and relay rounds in progress (the barrier's answer waits on it)
        self.activity = Activity()
        self.positions = Positions()  # this process's part of the barrier's answer
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def business_sweeps(self) -> Sequence[Periodic]:
        """Sweeps the simulated clock's advance runs (empty outside a simulation)."""
        return self.spec.periodic

    @property
    def uow(self) -> UnitOfWork:
        assert self.pool is not None, "runtime not started"
        return UnitOfWork(
            self.pool,
            self.settings.topic_prefix,
            self.clock,
            self.spec.store,
            on_published=self._wake_relay,
        )

    def _wake_relay(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    async def start(self) -> None:
        spec, settings = self.spec, self.settings
        self.pool = await when_reachable(
            lambda: create_pool(
                settings.dsn, min_size=settings.pool_min_size, max_size=settings.pool_max_size
            ),
            errors=(OSError, asyncpg.CannotConnectNowError),
            what="database",
        )
        folders = [("runtime", RUNTIME_MIGRATIONS)]
        if spec.migrations is not None:
            folders.append((spec.name, spec.migrations))
        await migrate(self.pool, folders)
        remembered = await simulation.claim_mode(
            self.pool, simulation=settings.simulation, seed=settings.simulation_seed
        )
        if settings.simulation:
            assert isinstance(self.clock, SimulatedClock)
            if remembered is not None and remembered > self.clock.now():
                self.clock.advance_to(remembered)  # a restart never takes the clock back
            ids.seed(settings.simulation_seed, namespace=spec.name)
            log.warning(
                "SIMULATION RUN: simulated business clock and seeded ids",
                now=self.clock.now().isoformat(),
                seed=settings.simulation_seed,
            )
        self.producer = new_producer(
            settings.kafka_bootstrap,
            client_id=spec.name,
            request_timeout_ms=settings.kafka_request_timeout_ms,
            **settings.kafka_client_options(),
        )
        await when_reachable(self.producer.start, errors=(KafkaConnectionError,), what="kafka")
        await self._topics()
        if spec.publishes:
            self.relay = OutboxRelay(
                self.pool,
                self.producer,
                service=spec.name,
                batch_size=settings.relay_batch_size,
                poll_seconds=settings.relay_poll_seconds,
                retention_hours=settings.outbox_retention_hours,
                activity=self.activity,
                positions=self.positions,
            )
            self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        if spec.subscriptions:
            self.broker = new_consumer_broker(
                settings.kafka_bootstrap, client_id=spec.name, security=broker_security(settings)
            )
            self.policy = policy = ConsumerPolicy(
                service=spec.name,
                group=settings.group,
                uow=self.uow,
                producer=self.producer,
                subscriptions=spec.subscriptions,
                topic_prefix=settings.topic_prefix,
                retry=RetryPolicy(
                    settings.retry_attempts, settings.retry_base_seconds, settings.retry_max_seconds
                ),
            )
            adopted = await adopt_group(self.pool, policy.consumer, policy.group)
            if adopted:
                log.info("inbox rows re-keyed from the group to the consumer", rows=adopted)
            subscribe(
                self.broker,
                policy,
                max_records=settings.consumer_batch_size,
                poll_ms=settings.consumer_poll_ms,
                fetch_min_bytes=settings.consumer_fetch_min_bytes,
                fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
                activity=self.activity,
                positions=self.positions,
            )
            await self.broker.start()
            self._tasks.append(asyncio.create_task(policy.run_drain(), name="held-subjects-drain"))
        if settings.simulation:
            # Where the topics stood before this process (a restart, a run's earlier
            # steps): asked once; from here on the relay and the consumer note their own.
            self.positions.seed(
                *await positions_on_kafka(
                    settings.kafka_bootstrap,
                    settings.group,
                    [settings.topic(sub.source) for sub in spec.subscriptions],
                    written=[settings.topic(spec.name)] if spec.publishes else [],
                    **settings.kafka_client_options(),
                )
            )
        for hook in spec.on_started:
            await hook(self)
        for task in spec.background:
            name = getattr(task, "__name__", "background").replace("_", "-")
            self._tasks.append(asyncio.create_task(task(self), name=name))
        tune_gc(settings.gc_threshold)
        log.info("service started", consumes=[s.source for s in spec.subscriptions])

    def desired_topics(self) -> dict[str, TopicConfig]:
        """The topics this service publishes to, consumes and dead-letters into."""
        spec, settings = self.spec, self.settings
        events = replace(EVENTS, partitions=settings.topic_partitions)
        topics: dict[str, TopicConfig] = {}
        if spec.publishes:
            topics[settings.topic(spec.name)] = events
        for sub in spec.subscriptions:
            # The source's topic too: a consumer may start before its publisher.
            topics[settings.topic(sub.source)] = events
            dlq = dead_letter_topic(spec.name, settings.topic(sub.source), settings.topic_prefix)
            topics[dlq] = DEAD_LETTERS
        return topics

    async def _topics(self) -> None:
        """Create missing topics (unless an operator owns them), then check them all."""
        topics = self.desired_topics()
        if self.settings.create_topics:
            await topic_config.ensure(
                self.settings.kafka_bootstrap, topics, **self.settings.kafka_client_options()
            )
        await self._check_topics(topics)

    async def _check_topics(
        self, topics: dict[str, TopicConfig] | None = None, *, patience: float = 10.0
    ) -> None:
        """Compare the topics with the code; a topic just created (by this process or a
        replica) may take a moment to show in metadata, so "missing" is asked again."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        self._topics_checked_at = loop.time()
        while True:
            try:
                problems = await topic_config.check(
                    self.settings.kafka_bootstrap,
                    topics or self.desired_topics(),
                    **self.settings.kafka_client_options(),
                )
            except Exception as exc:  # the broker went away: readiness checks again
                log.warning("topic configuration not checked yet", error=repr(exc))
                self.topic_problems = None
                return
            if not any(p.endswith(": missing") for p in problems) or loop.time() > deadline:
                break
            await asyncio.sleep(0.5)
        if problems != self.topic_problems:
            for problem in problems:
                log.error("topic configured differently from the code", problem=problem)
        self.topic_problems = problems

    async def stop(self) -> None:
        """Let go of everything, in order, within ``settings.stop_seconds``.

        Each stage gets what is left of that time: a stage that does not finish is logged
        by name and left behind, so a stop never hangs (aiokafka's ``consumer.stop`` waits
        for a group coordination in progress: in CI one did not end within 300 s). A
        consumer left so is evicted by its group's session timeout; what it was handling
        was never committed and is redelivered.
        """
        deadline = asyncio.get_running_loop().time() + self.settings.stop_seconds
        if self.broker is not None:
            # faststream cancels its consume loop without waiting for it: wait here, so the
            # handler it interrupts has rolled back and let go of its connection and the
            # producer before they are closed under it.
            consuming = list(getattr(getattr(self.policy, "subscriber", None), "tasks", []))
            await _within(deadline, "consumers", self.broker.stop())
            if consuming:
                await _within(deadline, "handlers", asyncio.wait(consuming))
        if self._tasks:
            for task in self._tasks:
                task.cancel()
            await _within(deadline, "tasks", asyncio.wait(self._tasks))
            for task in self._tasks:  # how a task ended was logged where it ended
                if task.done() and not task.cancelled():
                    task.exception()
        if self.producer is not None:
            await _within(deadline, "producer", self.producer.stop())
        pool = self.pool
        if pool is not None and not await _within(deadline, "database pool", pool.close()):
            pool.terminate()  # a connection still lent out (to a consumer left behind)
        if self.settings.simulation:
            ids.seed(None)
        log.info("service stopped")

    async def readiness(self) -> dict[str, str]:
        """Can this process do its job? Each check is ``ok…`` or says why not.

        Kafka alone being down does not make a service unready: commands are durable in
        the outbox and views are served from the database (the check says ``ok, degraded``).
        Stuck is unready: a relay failing for ``stuck_after`` seconds while the broker
        answers (a refused row, a dead producer), a consumer that has not settled a batch
        for as long (dead-letter publish failing, the database refusing writes), a task
        that ended.
        """
        checks: dict[str, str] = {}
        loop = asyncio.get_running_loop()
        try:
            assert self.pool is not None
            await self.pool.fetchval("SELECT 1")
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        kafka_up = True
        try:
            assert self.producer is not None
            async with asyncio.timeout(3.0):
                await self.producer.client.fetch_all_metadata()
            checks["kafka"] = "ok"
        except Exception as exc:
            kafka_up = False
            checks["kafka"] = (
                f"ok, degraded: unreachable ({type(exc).__name__}); commands wait in the outbox"
            )
        recheck = self.topic_problems is None or (
            self.topic_problems and loop.time() - self._topics_checked_at > 10.0
        )
        if recheck and kafka_up:  # an operator may have fixed them meanwhile
            await self._check_topics(patience=0.0)
        if self.topic_problems is None:
            checks["topics"] = "ok, degraded: not checked yet (Kafka unreachable)"
        elif self.topic_problems:
            checks["topics"] = "misconfigured: " + "; ".join(self.topic_problems)
        else:
            checks["topics"] = "ok"
        if self.relay is not None:
            checks["outbox-relay"] = self.relay.health(
                kafka_up=kafka_up, stuck_after=self.stuck_after, now=loop.time()
            )
        if self.policy is not None:
            policy = self.policy
            since = policy.stalled_since
            if policy.stalled and since is not None and loop.time() - since > self.stuck_after:
                checks["consumer"] = f"stalled for {loop.time() - since:.0f} s: {policy.stalled}"
            else:
                checks["consumer"] = "ok"
            held = ", ".join(f"{k}: {v}" for k, v in sorted(policy.held.items()))
            checks["held-subjects"] = f"ok: {policy.parked} events parked" + (
                f"; subjects held: {held}" if held else ""
            )
        for task in self._tasks:
            checks[task.get_name()] = "stopped" if task.done() else "ok"
        return checks


def create_service_app(
    spec: ServiceSpec, settings: ServiceSettings | None = None, clock: Clock | None = None
) -> FastAPI:
    """Build the service's HTTP app; nothing connects until the app starts.

    ``clock`` is the business clock (the wall clock unless given: tests move their own)."""
    settings = spec.configure(settings)
    spec = spec.bind(settings)
    configure_logging(spec.name, settings.log_level)  # before uvicorn's first line
    configure_tracing(spec.name, settings.otlp_endpoint)  # off unless an endpoint is set
    assert settings.pseudonym_key is not None  # the settings fill it or refuse to start
    pseudonym.configure(settings.pseudonym_key)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(spec, settings, clock)
        try:
            await runtime.start()
            app.state.runtime = runtime
            yield
        finally:
            app.state.runtime = None
            await runtime.stop()

    app = FastAPI(
        title=spec.title, description=spec.description, version=spec.version, lifespan=lifespan
    )
    app.state.runtime = None
    app.state.settings = settings
    app.state.verifier = TokenVerifier(settings.oidc_issuer, settings.audience, settings.jwks_url)
    # Added first, so the innermost of the middlewares (Starlette wraps the last added
    # outermost): one SERVER span per run of the route, a retried one (RetryConflicts) too.
    app.add_middleware(TracingMiddleware)

    app.add_middleware(Correlation)

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)

    @app.exception_handler(Unprocessable)
    async def unprocessable(_: Request, exc: Unprocessable) -> JSONResponse:
        # Shaped like FastAPI's own 422, so clients read one format for every bad field.
        detail = [{"loc": list(exc.loc), "msg": str(exc), "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=422)

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The database or broker is down (a restart, a failover). Not a bug, so no
        # traceback at error level. If the connection dropped while a COMMIT may have been
        # on its way, the change may have been applied: the answer must not say otherwise.
        if not mark_conflict(request, exc):  # a lost deadlock: RetryConflicts runs it again
            log.warning("dependency unavailable; answered 503", error=repr(exc))
        if outcome_unknown(exc):
            detail = (
                f"connection lost ({type(exc).__name__}): the change may or may not have "
                "been applied; check its state before repeating it"
            )
        else:
            detail = f"temporarily unavailable ({type(exc).__name__}); nothing was changed; retry"
        return JSONResponse(
            {"detail": detail, "outcome": "unknown" if outcome_unknown(exc) else "not-applied"},
            status_code=503,
            headers={"retry-after": "1"},
        )

    for transient in TRANSIENT_ERRORS:
        app.add_exception_handler(transient, unavailable)

    for unstorable in UNSTORABLE_ERRORS:
        app.add_exception_handler(unstorable, unstorable_value)
    # Inside the input guard (added first, so it is the inner one): only checked input
    # is run again.
    app.add_middleware(RetryConflicts)
    app.add_middleware(InputGuard, max_body_bytes=settings.max_body_bytes)

    app.include_router(health.router)
    if settings.simulation:  # the route exists only in a simulation run
        app.include_router(simulation.router())
    for router in spec.routers:
        app.include_router(router)
    document_statuses(app)
    return app


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime | None = request.app.state.runtime
    if runtime is None:
        raise RuntimeError("service is not started")
    return runtime


async def get_uow(request: Request) -> UnitOfWork:
    """FastAPI dependency: the unit of work of this process."""
    return runtime_of(request).uow


async def get_clock(request: Request) -> Clock:
    """FastAPI dependency: the business clock (wall clock, or simulated in a simulation)."""
    return runtime_of(request).clock


async def get_pool(request: Request) -> asyncpg.Pool:
    """FastAPI dependency: the pool, for read-only queries."""
    pool = runtime_of(request).pool
    assert pool is not None
    return pool
