"""The scenario's side of a simulation run: advance every service's clock, then wait.

One simulated *step* (docs/business-time.md): ``POST /_simulation/clock`` on every
service (each runs its business sweeps up to the new time before answering), then the
barrier: poll ``GET /_simulation/backlog`` on every service until one full round finds
every outbox empty and every consumer group caught up. Only then may the scenario send
the next commands or the next advance; that is what makes a run deterministic.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import httpx


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


class SimulationDriver:
    """Drives the services of one run through their ``/_simulation`` routes.

    ``services`` maps a service name to an HTTP client for it; ``tokens`` its bearer token
    (role ``operations``, audience ``ankommen-<service>``).
    """

    def __init__(
        self,
        services: Mapping[str, httpx.AsyncClient],
        tokens: Mapping[str, str],
        *,
        poll_seconds: float = 0.02,
    ) -> None:
        self.services = dict(services)
        self.headers = {name: {"authorization": f"Bearer {tokens[name]}"} for name in services}
        self.poll_seconds = poll_seconds

    async def advance(self, to: datetime, *, timeout: float = 60.0) -> StepCost:
        """One step: every clock to ``to`` (in the services' order), then the barrier."""
        started = time.perf_counter()
        sweeps: dict[str, dict[str, int]] = {}
        for name, client in self.services.items():
            response = await client.post(
                "/_simulation/clock", json={"to": to.isoformat()}, headers=self.headers[name]
            )
            if response.status_code != 200:
                raise NotSettled(f"{name} refused to advance to {to}: {response.text}")
            sweeps[name] = response.json()["sweeps"]
        advanced = time.perf_counter()
        rounds = await self.settle(timeout=timeout)
        return StepCost(advanced - started, time.perf_counter() - advanced, rounds, sweeps)

    async def backlog(self) -> dict[str, dict[str, int]]:
        answers = await asyncio.gather(
            *(
                client.get("/_simulation/backlog", headers=self.headers[name])
                for name, client in self.services.items()
            )
        )
        result = {}
        for name, response in zip(self.services, answers, strict=True):
            response.raise_for_status()
            result[name] = response.json()
        return result

    async def settle(self, *, timeout: float = 60.0) -> int:
        """Wait until nothing is left to publish or to handle anywhere; the rounds it took.

        The services are asked one after another, so one round is not a snapshot: an event
        may move from a consumer's lag into its outbox (or from an outbox onto a topic)
        between two answers. But every move grows a counter (``recorded``, ``handled``),
        so two consecutive rounds that both find no backlog *and* the same counters saw a
        world in which nothing moved: settled. Raises ``NotSettled`` on timeout.
        """
        deadline = time.perf_counter() + timeout
        rounds = 0
        previous: dict[str, dict[str, int]] | None = None
        while True:
            rounds += 1
            backlog = await self.backlog()
            idle = all(b["outbox"] == 0 and b["lag"] == 0 for b in backlog.values())
            if idle and backlog == previous:
                return rounds
            previous = backlog if idle else None
            if time.perf_counter() > deadline:
                raise NotSettled(f"not settled after {timeout} s: {backlog}")
            if not idle:
                await asyncio.sleep(self.poll_seconds)
