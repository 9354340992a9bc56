"""Simulation runs: the simulated clock's guards and how a service learns the time.

Design in docs/business-time.md. In short: a service started with
``ANKOMMEN_SIMULATION=true`` runs on a ``SimulatedClock`` and seeded ids, and offers
``POST /_simulation/clock`` (role ``operations``) through which the scenario moves its
clock forward; advancing runs every business sweep of the service until nothing more is
due, in the spec's order, then answers. Without the setting the route does not exist.

Guarded twice: the setting is refused where ``ANKOMMEN_ENVIRONMENT=production``
(``ServiceSettings``), and at start-up the database's ``runtime_mode`` row, written once,
must agree: a simulation never starts on a database that holds live data (or any data
written before the mode was recorded), a live service never on a simulation's database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .auth import Actor, Role, allow
from .clock import BusinessTime, SimulatedClock
from .context import request_context
from .ids import id_scope
from .logging import get_logger
from .positions import key

if TYPE_CHECKING:
    from .service import Runtime

log = get_logger(__name__)


class ModeMismatch(RuntimeError):
    """The database belongs to the other mode: the service refuses to start."""


async def claim_mode(pool: asyncpg.Pool, *, simulation: bool, seed: int | None) -> datetime | None:
    """Record or check this database's mode; the simulated time it last had, if any."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE runtime_mode IN EXCLUSIVE MODE")
        row = await conn.fetchrow("SELECT simulation, simulated_now FROM runtime_mode")
        if row is None:
            if simulation and await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM subject_sequence) OR EXISTS (SELECT 1 FROM inbox)"
            ):
                raise ModeMismatch(
                    "ANKOMMEN_SIMULATION is on, but this database holds events written "
                    "outside a simulation; use a fresh database for a simulation run"
                )
            await conn.execute(
                "INSERT INTO runtime_mode (simulation, seed) VALUES ($1, $2)",
                simulation,
                seed if simulation else None,
            )
            return None
        if row["simulation"] != simulation:
            raise ModeMismatch(
                "this database belongs to a simulation run; start without "
                "ANKOMMEN_SIMULATION only on a live database"
                if row["simulation"]
                else "this database holds live data; ANKOMMEN_SIMULATION must not be "
                "switched on against it"
            )
        simulated_now: datetime | None = row["simulated_now"]
        return simulated_now


async def save_simulated_now(pool: asyncpg.Pool, now: datetime) -> None:
    await pool.execute("UPDATE runtime_mode SET simulated_now = $1", now)


class Backlog(BaseModel):
    """One service's part of the barrier (``SimulationDriver.settle``): what it has still to
    publish, where the partitions it knows of end, how far its group has committed, and
    whether no work of its own ran while this was read (a snapshot of one moment)."""

    outbox: int = Field(description="Events recorded but not yet acknowledged by Kafka")
    ends: dict[str, int] = Field(
        description="`topic:partition` -> the next offset: of the partitions its relay "
        "writes (as acknowledged), and of those it reads as Kafka had them when it "
        "started"
    )
    committed: dict[str, int] = Field(
        description="`topic:partition` -> the offset its consumer group committed (the "
        "next to read), of every partition it reads"
    )
    quiet: bool = Field(
        description="No consumer batch or relay round ran while the answer was taken"
    )
    writes: list[str] = Field(
        default_factory=list,
        description="The topics its relay writes; none for a sink (reporting), whose work "
        "a step's barrier may leave to go on beside the next commands",
    )

    def caught_up(self, until: Mapping[str, int]) -> bool:
        """Committed up to ``until`` on every partition of it this service reads."""
        return all(self.committed[p] >= end for p, end in until.items() if p in self.committed)


MAX_BACKLOG_WAIT = 30.0  # seconds an answer may wait for the service's work to run out


async def backlog(
    runtime: Runtime, wait: float = 0.0, until: Mapping[str, int] | None = None
) -> Backlog:
    """One service's part of the barrier, taken when no work of its own runs.

    With ``wait`` the answer waits, up to that many seconds, until this process's work
    (consumer batches, relay rounds: ``runtime.activity``) has run out with nothing left
    to publish and, where ``until`` names partitions it reads, its group committed up to
    those offsets (the ends other services reported in the barrier's round before). It
    looks again only each time its work has run out, not on a timer, so the barrier hears
    of the end of a step's work as soon as it comes and the services are not asked in
    between. Nothing here asks Kafka (``Positions``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    activity = runtime.activity
    await activity.quiet_since(None, wait)  # a batch or round under way: its end first
    while True:
        seen = activity.quieted
        answer = await _backlog_now(runtime, seen)
        remaining = deadline - loop.time()
        done = (
            answer.quiet
            and answer.outbox == 0
            and answer.caught_up(until or {})
            and answer.caught_up(_arriving(runtime))
        )
        if done or remaining <= 0:
            return answer
        # Something is left that this process has not finished (or not begun: an event on
        # its way to the consumer): look again once its work has run out after this answer.
        if not await activity.quiet_since(seen, remaining):
            return await _backlog_now(runtime, activity.quieted)  # the time is up: as it is


def _arriving(runtime: Runtime) -> dict[str, int]:
    """How far the partitions this process's consumer reads end, as its last fetch from
    each heard (the high watermark): events already on their way here. Waiting for them
    too spares the barrier a round for each wave of a long chain of work (at ten times
    the volume: 9.3 rounds a barrier without). Only ever a reason to wait longer: whether
    the step is over is decided by the answers' ends and commits alone."""
    consumer = runtime.policy.kafka_consumer if runtime.policy is not None else None
    if consumer is None:
        return {}
    arriving = {}
    for tp in consumer.assignment():
        end = consumer.highwater(tp)
        if end is not None:
            arriving[key(tp.topic, tp.partition)] = end
    return arriving


async def _backlog_now(runtime: Runtime, seen: int) -> Backlog:
    """The outbox's count, then the positions noted: one moment's, when no work began or
    ended in between (``quiet``; the positions are read without yielding to other work)."""
    assert runtime.pool is not None
    activity = runtime.activity
    # Two index lookups (the partial index of unpublished rows): the outbox keeps published
    # rows for days, and a scan of them grew with every step of a long run.
    outbox = await runtime.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    quiet = activity.running == 0 and activity.quieted == seen
    positions = runtime.positions
    return Backlog(
        outbox=outbox,
        ends=positions.ends(),
        committed=positions.committed(),
        quiet=quiet,
        writes=[runtime.settings.topic(runtime.spec.name)] if runtime.spec.publishes else [],
    )


class Advance(BaseModel):
    """Move the simulated clock forward to ``to``; every business timer due fires."""

    model_config = ConfigDict(extra="forbid")

    to: BusinessTime = Field(description="The new simulated time (a date means 00:00 Hannover)")


class ClockView(BaseModel):
    now: datetime = Field(description="The service's simulated time, UTC")
    seed: int = Field(description="Seed of the run's ids")
    sweeps: dict[str, int] = Field(
        default_factory=dict, description="Rounds each business sweep ran while advancing"
    )
    backlog: Backlog | None = Field(
        default=None,
        description="After an advance: the service's part of the barrier as its sweeps left "
        "it (`GET /_simulation/backlog` at once). When every service's answer of one "
        "advance is settled, so is the step: nothing its sweeps did is on its way to anyone",
    )


Operations = Annotated[Actor, Depends(allow(Role.OPERATIONS))]


def _runtime(request: Request) -> Runtime:
    from .service import runtime_of

    return runtime_of(request)


async def advance(runtime: Runtime, to: datetime) -> dict[str, int]:
    """Move the runtime's simulated clock to ``to`` and run its business sweeps until
    none has more to do; deterministic: one advance at a time, sweeps in spec order."""
    clock = runtime.clock
    assert isinstance(clock, SimulatedClock), "advance needs a simulation run"
    async with runtime.simulation_lock:
        now = clock.advance_to(to)
        assert runtime.pool is not None
        await save_simulated_now(runtime.pool, now)
        rounds: dict[str, int] = {}
        for sweep in runtime.business_sweeps:
            n = 0
            while True:
                n += 1
                # Each round's ids derive from the sweep, the time and the round.
                with request_context(), id_scope(f"sweep:{sweep.name}:{now.isoformat()}:{n}"):
                    more = await sweep.work(runtime)
                if not more:
                    break
            rounds[sweep.name] = n
        return rounds


PartitionOffset = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,249}:[0-9]{1,9}:[0-9]{1,19}$")
]
"""``topic:partition:offset`` (a Kafka topic's name has no ``:``)."""


def _offsets(until: list[str]) -> dict[str, int]:
    """``topic:partition:offset`` items as ``{"topic:partition": offset}``, the highest
    offset where a partition is named twice."""
    offsets: dict[str, int] = {}
    for item in until:
        name, _, offset = item.rpartition(":")
        offsets[name] = max(offsets.get(name, 0), int(offset))
    return offsets


def router() -> APIRouter:
    """The simulation's routes; ``create_service_app`` adds them only in a simulation run."""
    r = APIRouter(prefix="/_simulation", tags=["simulation"])

    @r.get("/clock", summary="The simulated time of this service")
    async def get_clock(request: Request, actor: Operations) -> ClockView:
        runtime = _runtime(request)
        return ClockView(now=runtime.clock.now(), seed=runtime.settings.simulation_seed)

    @r.get(
        "/backlog",
        summary="Events still to publish and to handle: a step is over when every service "
        "answers 0 and 0",
    )
    async def get_backlog(
        request: Request,
        actor: Operations,
        wait: Annotated[
            float,
            Query(
                ge=0,
                le=MAX_BACKLOG_WAIT,
                description="Seconds the answer may wait for the service's work to run out "
                "(answers at once when nothing is left; 0: as it is now)",
            ),
        ] = 0.0,
        until: Annotated[
            list[PartitionOffset] | None,
            Query(
                max_length=10_000,
                description="`topic:partition:offset`, repeated: also wait until the group "
                "has committed up to these offsets where it reads the partition",
            ),
        ] = None,
    ) -> Backlog:
        return await backlog(_runtime(request), wait, _offsets(until or []))

    @r.post(
        "/clock",
        summary="Advance the simulated clock; every business timer that fell due fires",
        responses={409: {"description": "the clock would go back"}},
    )
    async def post_clock(request: Request, body: Advance, actor: Operations) -> ClockView:
        runtime = _runtime(request)
        sweeps = await advance(runtime, body.to)
        return ClockView(
            now=runtime.clock.now(),
            seed=runtime.settings.simulation_seed,
            sweeps=sweeps,
            backlog=await backlog(runtime),
        )

    return r
