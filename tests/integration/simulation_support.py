"""Allocation and housing in a simulation run on real Kafka and PostgreSQL, driven by the
runtime's ``SimulationDriver`` (docs/business-time.md). Shared by the business-time tests
and the simulated-step benchmark."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import allocation.app
import asyncpg
import housing.app
import httpx
from ankommen_contracts import Envelope
from ankommen_local.infra import Endpoints
from ankommen_runtime.auth import Role
from ankommen_runtime.local_issuer import LocalIssuer, audience_of
from ankommen_runtime.simulation_driver import SimulationDriver
from support import create_topics, read_events, running

SERVICES = ("allocation", "housing")


@dataclass
class Simulated:
    """A running simulation: the services' HTTP clients, the driver and the topic prefix."""

    allocation: httpx.AsyncClient
    housing: httpx.AsyncClient
    driver: SimulationDriver
    prefix: str
    infra: Endpoints
    dsns: dict[str, str]

    async def events(self, source: str, until: Callable[[list[Envelope[Any]]], bool]) -> list[Any]:
        return await read_events(
            self.infra.kafka_bootstrap, f"{self.prefix}{source}.events", until=until
        )

    async def all_events(self, source: str) -> list[Any]:
        """Every event ``source`` recorded, once all of them are on its topic."""
        conn = await asyncpg.connect(self.dsns[source])
        try:
            recorded = await conn.fetchval("SELECT count(*) FROM outbox")
        finally:
            await conn.close()
        events = await self.events(source, lambda es: len(es) >= recorded)
        assert len(events) == recorded, f"{source}: {len(events)} of {recorded} events read"
        return events


def simulation_settings(
    service: str, infra: Endpoints, dsn: str, prefix: str, start: datetime, seed: int
) -> dict[str, Any]:
    return {
        "database_url": dsn,
        "kafka_bootstrap": infra.kafka_bootstrap,
        "topic_prefix": prefix,
        "consumer_group": f"{prefix}{service}",
        # One partition per topic: the log order is the handling order (determinism).
        "topic_partitions": 1,
        "relay_poll_seconds": 0.05,
        "environment": "test",
        "simulation": True,
        "simulation_seed": seed,
        "simulation_start": start,
    }


@contextlib.asynccontextmanager
async def simulated(
    infra: Endpoints,
    new_database: Callable[[], Awaitable[str]],
    prefix: str,
    *,
    start: datetime,
    seed: int = 2015,
    **housing_extra: Any,
) -> AsyncIterator[Simulated]:
    """Allocation and housing on fresh databases, in simulation mode, clocks at ``start``."""
    for source in SERVICES:
        await create_topics(infra.kafka_bootstrap, f"{prefix}{source}.events", partitions=1)
    dsns = {s: await new_database() for s in SERVICES}
    alloc = allocation.app.AllocationSettings(
        **simulation_settings("allocation", infra, dsns["allocation"], prefix, start, seed)
    )
    hous = housing.app.HousingSettings(
        **simulation_settings("housing", infra, dsns["housing"], prefix, start, seed),
        **housing_extra,
    )
    issuer = LocalIssuer()
    tokens = {s: issuer.mint([Role.OPERATIONS], audience=audience_of(s)) for s in SERVICES}
    async with (
        running(allocation.app.create_app(alloc)) as allocation_api,
        running(housing.app.create_app(hous)) as housing_api,
    ):
        driver = SimulationDriver({"allocation": allocation_api, "housing": housing_api}, tokens)
        await driver.settle()
        yield Simulated(allocation_api, housing_api, driver, prefix, infra, dsns)
