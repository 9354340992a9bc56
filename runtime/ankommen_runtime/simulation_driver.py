"""The scenario's side of a simulation run: advance every service's clock, then wait.

One simulated *step* (docs/business-time.md): ``POST /_simulation/clock`` on every
service (each runs its business sweeps up to the new time before answering), then the
barrier: ask ``GET /_simulation/backlog`` of every service until one round finds every
outbox empty and every consumer group committed to the ends its partitions' writers
reported (``settle``). Only then may the scenario send
the next commands or the next advance; that is what makes a run deterministic. Each
service answers when its own work has run out (``?wait=``), not the moment it is asked,
so the barrier neither polls on a timer nor oversleeps the end of a step's work. Each
answer to the clock carries its service's part of the barrier too: when those answers
are settled already (no sweep had anything to do), the step needs no barrier at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlencode

CITY_STAGES = [["allocation", "integration", "volunteers", "reporting"], ["housing"]]
"""The five services' advance order: allocation's and housing's business sweeps feed each
other (waitlist placements, expired holds), so they advance one after the other; the
others have no business timers yet and advance beside allocation."""


class HttpAnswer(Protocol):
    """What the driver reads of an answer: an ``httpx.Response`` is one."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...

    def raise_for_status(self) -> Any: ...


class HttpClient(Protocol):
    """A client of one service: an ``httpx.AsyncClient`` with its ``base_url`` is one (the
    tests' in-process apps), the scenario's aiohttp client another."""

    async def request(self, method: str, url: str, **kwargs: Any) -> HttpAnswer: ...

    async def get(self, url: str, *, headers: Mapping[str, str]) -> HttpAnswer: ...

    async def post(self, url: str, *, json: Any, headers: Mapping[str, str]) -> HttpAnswer: ...


class NotSettled(RuntimeError):
    """The barrier timed out: what each service still had to do is in the message."""


@dataclass
class StepCost:
    """How long one step took: advancing the clocks, then the barrier (seconds)."""

    advance: float
    barrier: float
    rounds: int
    sweeps: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return self.advance + self.barrier


@dataclass(frozen=True)
class Moved:
    """What moving the clocks found: each service's sweep rounds, and whether the answers
    settled the step by themselves (``SimulationDriver.move_clocks``)."""

    sweeps: dict[str, dict[str, int]]
    settled: bool


class SimulationDriver:
    """Drives the services of one run through their ``/_simulation`` routes.

    ``services`` maps a service name to an HTTP client for it; ``tokens`` its bearer token
    (role ``operations``, audience ``ankommen-<service>``).
    """

    def __init__(
        self,
        services: Mapping[str, HttpClient],
        tokens: Mapping[str, str],
        *,
        stages: Sequence[Sequence[str]] | None = None,
        poll_seconds: float = 0.02,
        max_poll_seconds: float = 0.1,
        wait_seconds: float = 1.0,
    ) -> None:
        """``stages``: the order in which clocks advance; services of one stage advance
        concurrently, stages one after another. Default: one service after another, in
        the mapping's order. Two services whose business sweeps feed each other (housing's
        expired holds, allocation's waitlist) belong in different stages, or the order in
        which one handles the other's events and runs its own sweep would vary.

        ``wait_seconds``: how long a service's answer may wait for its work to run out
        (``GET /_simulation/backlog?wait=``); with 0 each answer comes at once and the
        driver pauses between busy rounds instead (``poll_seconds``, growing by half
        each round up to ``max_poll_seconds``)."""
        self.services = dict(services)
        self.headers = {name: {"authorization": f"Bearer {tokens[name]}"} for name in services}
        self.stages = [list(stage) for stage in stages] if stages else [[n] for n in services]
        staged = sorted(n for stage in self.stages for n in stage)
        if staged != sorted(self.services):
            raise ValueError(f"stages {self.stages} must name every service exactly once")
        self.poll_seconds = poll_seconds
        self.max_poll_seconds = max(max_poll_seconds, poll_seconds)
        self.wait_seconds = wait_seconds
        # Services that write no topic, as their answers to a round of all said (none
        # known before one): ``settle(skip_sinks=True)`` does not wait for them.
        self.sinks: frozenset[str] = frozenset()

    async def _advance_one(self, name: str, to: datetime) -> dict[str, Any]:
        response = await self.services[name].post(
            "/_simulation/clock", json={"to": to.isoformat()}, headers=self.headers[name]
        )
        if response.status_code != 200:
            raise NotSettled(f"{name} refused to advance to {to}: {response.text}")
        answer: dict[str, Any] = response.json()
        return answer

    async def move_clocks(self, to: datetime, *, skip_sinks: bool = False) -> Moved:
        """Every clock to ``to``, stage by stage, each service running its business sweeps
        before it answers; no barrier.

        Each answer carries the service's part of the barrier as its sweeps left it
        (``ClockView.backlog``). Taken together they are a round like ``settle``'s, each a
        snapshot of its own moment, so when they are settled (those of every service, or
        with ``skip_sinks`` of all but the sinks) nothing the sweeps did is on its way to
        anyone, and a barrier would find nothing to wait for (``Moved.settled``)."""
        answers: dict[str, dict[str, Any]] = {}
        for stage in self.stages:
            got = await asyncio.gather(*(self._advance_one(name, to) for name in stage))
            answers.update(zip(stage, got, strict=True))
        parts = {
            name: answer.get("backlog")
            for name, answer in answers.items()
            if not (skip_sinks and name in self.sinks)
        }
        return Moved(
            sweeps={name: answer["sweeps"] for name, answer in answers.items()},
            settled=all(part is not None for part in parts.values()) and settled(parts),
        )

    async def advance(self, to: datetime, *, timeout: float = 60.0) -> StepCost:
        """One step: every clock to ``to`` (stage by stage), then the barrier, unless the
        clocks' answers settled the step already (then no round: ``StepCost.rounds`` 0)."""
        started = time.perf_counter()
        moved = await self.move_clocks(to)
        advanced = time.perf_counter()
        rounds = 0 if moved.settled else await self.settle(timeout=timeout)
        return StepCost(advanced - started, time.perf_counter() - advanced, rounds, moved.sweeps)

    async def backlog(
        self,
        wait: float = 0.0,
        until: Mapping[str, int] | None = None,
        among: Sequence[str] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """The part of the barrier (``simulation.Backlog``) of every service, or of those
        ``among``; each answer waits up to ``wait`` s for its work to end and, where it
        reads a partition in ``until`` (``topic:partition`` -> offset), for its group to
        commit up to it."""
        query: list[tuple[str, str]] = [("wait", f"{wait:.3f}")] if wait > 0 else []
        query += [("until", f"{p}:{offset}") for p, offset in sorted((until or {}).items())]
        path = "/_simulation/backlog" + (f"?{urlencode(query)}" if query else "")
        asked = list(among) if among is not None else list(self.services)
        answers = await asyncio.gather(
            *(self.services[name].get(path, headers=self.headers[name]) for name in asked)
        )
        result = {}
        for name, response in zip(asked, answers, strict=True):
            response.raise_for_status()
            result[name] = response.json()
        return result

    async def settle(self, *, timeout: float = 60.0, skip_sinks: bool = False) -> int:
        """Wait until nothing is left to publish or to handle anywhere; the rounds it took.

        One round asks every service for its part (``simulation.Backlog``): its outbox,
        the ends of the partitions it writes (its relay's acknowledged offsets), its group's
        committed offsets, each a snapshot of a moment in which none of its work ran. The
        moments differ, but when every outbox is empty and every reader has committed
        exactly to its partitions' ends as their writers reported them, no event is on its
        way: one that was would have been written after its writer's moment and read before
        its reader's, and then the reader's commit would be past the writer's end. So one
        such round settles the step, and no service has to ask Kafka for it. Until then the
        next round tells each service the ends to wait for. Raises ``NotSettled`` on
        timeout.

        ``skip_sinks``: the services that write no topic (``sinks``: reporting) are not
        asked. No other service reads anything of theirs, so the rest is still a consistent
        cut: nothing is on its way to anyone the next commands depend on, while the sinks
        go on with their work beside those commands. Wait for them too (a settle without
        it) before reading what they hold.
        """
        deadline = time.perf_counter() + timeout
        rounds = 0
        until: dict[str, int] = {}
        pause = self.poll_seconds
        among = [n for n in self.services if not (skip_sinks and n in self.sinks)]
        while True:
            rounds += 1
            wait = min(self.wait_seconds, max(deadline - time.perf_counter(), 0.0))
            answers = await self.backlog(wait, until, among)
            if len(answers) == len(self.services):
                self.sinks = frozenset(n for n, a in answers.items() if not a["writes"])
            if settled(answers):
                return rounds
            if time.perf_counter() > deadline:
                raise NotSettled(f"not settled after {timeout} s: {left(answers)}")
            until = ends_of(answers)
            if not self.wait_seconds:
                # the longer the services are busy, the less often they are asked
                await asyncio.sleep(pause)
                pause = min(pause * 1.5, self.max_poll_seconds)


def ends_of(answers: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Each partition's end (next offset) as the round's answers know it: its writer's."""
    ends: dict[str, int] = {}
    for answer in answers.values():
        for partition, end in answer["ends"].items():
            ends[partition] = max(ends.get(partition, 0), end)
    return ends


def lags(answers: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Per service, the events on the partitions it reads that its group has not committed
    (against the ends the same round reported)."""
    ends = ends_of(answers)
    return {
        name: sum(max(ends.get(p, 0) - c, 0) for p, c in answer["committed"].items())
        for name, answer in answers.items()
    }


def settled(answers: Mapping[str, Mapping[str, Any]]) -> bool:
    """No work ran in any answer's moment, every outbox is empty and every reader has
    committed exactly to the end its partitions' writers reported (past it: the moments
    saw a world that moved, ask again)."""
    ends = ends_of(answers)
    return all(
        answer["quiet"]
        and answer["outbox"] == 0
        and all(ends.get(p) == c for p, c in answer["committed"].items())
        for answer in answers.values()
    )


def left(answers: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """What each service still had: outbox, lag, whether it was quiet (for ``NotSettled``)."""
    lag = lags(answers)
    return {
        name: {"outbox": a["outbox"], "lag": lag[name], "quiet": a["quiet"]}
        for name, a in answers.items()
    }
