"""The in-memory reporting store keeps ``ReportingStore``'s promises (the facts ledger): the
same scenarios run against ``InMemoryReportingStore`` and ``PgReportingStore`` on a fresh
database with reporting's migrations (that half is marked integration by its fixture)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import pytest
import reporting
from ankommen_contracts.examples import example_envelope
from ankommen_runtime.db import RUNTIME_MIGRATIONS, create_pool, migrate
from fakes.reporting import InMemoryReportingStore
from reporting import store as sql
from reporting.domain.facts import REPORTED, Fact, FactRow, fact_row
from reporting.store import PgReportingStore, ReportingStore

MIGRATIONS = Path(reporting.__file__).parent / "migrations"


class Backend(Protocol):
    store: ReportingStore

    async def kept(self) -> list[tuple[uuid.UUID, int]]: ...
    async def version(self) -> int: ...
    async def facts(self) -> list[Fact]: ...


class Memory:
    def __init__(self) -> None:
        self.store = InMemoryReportingStore()

    async def kept(self) -> list[tuple[uuid.UUID, int]]:
        return sorted((event_id, v) for event_id, (_, v) in self.store.facts.items())

    async def version(self) -> int:
        return self.store.version

    async def facts(self) -> list[Fact]:
        return self.store.decoded()


@dataclass
class Postgres:
    pool: asyncpg.Pool

    def __post_init__(self) -> None:
        self.store = PgReportingStore(self.pool)

    async def kept(self) -> list[tuple[uuid.UUID, int]]:
        rows = await self.pool.fetch("SELECT event_id, kept_version FROM fact ORDER BY event_id")
        return [(r["event_id"], r["kept_version"]) for r in rows]

    async def version(self) -> int:
        return (await sql.fact_version(self.pool))[1]

    async def facts(self) -> list[Fact]:
        return await sql.load_facts(self.pool)


def rows(*types: str) -> list[FactRow]:
    """A fact row of each type's example, each its own event."""
    out = []
    for t in types:
        example = example_envelope(t)
        out.append(fact_row(example.model_copy(update={"event_id": uuid.uuid4()})))
    return out


SOME = [t for types in REPORTED.values() for t in sorted(types)][:3]


def by_id(facts: list[Any]) -> list[Any]:
    return sorted(facts, key=lambda f: f.event_id)


async def each_batch_is_kept_under_the_next_version(b: Backend) -> None:
    assert (await b.kept(), await b.version()) == ([], 0)
    first, second = rows(*SOME[:2]), rows(SOME[2])
    await b.store.add_facts(first)
    await b.store.add_facts(second)
    assert await b.version() == 2
    assert await b.kept() == sorted([(r[0], 1) for r in first] + [(second[0][0], 2)])
    facts = await b.facts()
    assert [(f.event_id, f.type) for f in by_id(facts)] == sorted(
        (r[0], r[2]) for r in [*first, *second]
    )


async def a_redelivered_fact_keeps_its_first_version_and_changes_nothing(b: Backend) -> None:
    [once] = rows(SOME[0])
    await b.store.add_facts([once])
    before = await b.facts()
    [fresh] = rows(SOME[1])
    await b.store.add_facts([once, fresh])
    await b.store.add_facts([once])
    assert await b.kept() == sorted([(once[0], 1), (fresh[0], 2)])
    assert [f for f in await b.facts() if f.event_id == once[0]] == before
    assert await b.version() == 3, "every batch takes a version, even one of repeats"


async def an_empty_batch_takes_no_version(b: Backend) -> None:
    await b.store.add_facts([])
    assert (await b.kept(), await b.version()) == ([], 0)


SCENARIOS: list[Callable[[Backend], Awaitable[None]]] = [
    each_batch_is_kept_under_the_next_version,
    a_redelivered_fact_keeps_its_first_version_and_changes_nothing,
    an_empty_batch_takes_no_version,
]


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database, min_size=1, max_size=2)
    await migrate(pool, [("runtime", RUNTIME_MIGRATIONS), ("reporting", MIGRATIONS)])
    yield pool
    await pool.close()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_the_in_memory_reporting_store(
    scenario: Callable[[Backend], Awaitable[None]],
) -> None:
    await scenario(Memory())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_the_reporting_store_on_postgres(
    scenario: Callable[[Backend], Awaitable[None]], pool: asyncpg.Pool
) -> None:
    await scenario(Postgres(pool))
