"""The in-memory unit of work keeps the real one's promises: the same scenarios run against
both (the real one on PostgreSQL is marked integration by its fixture)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any, Protocol

import asyncpg
import pytest
from ankommen_contracts import decode
from ankommen_contracts.events.housing import ShelterOpened
from ankommen_contracts.examples import example_envelope
from ankommen_runtime import audit
from ankommen_runtime.auth import Actor, Role
from ankommen_runtime.clock import CITY_TZ
from ankommen_runtime.context import request_context
from ankommen_runtime.db import RUNTIME_MIGRATIONS, create_pool, migrate
from ankommen_runtime.memory import InMemoryUnitOfWork
from ankommen_runtime.uow import UnitOfWork

BUSINESS_NOW = datetime(2016, 3, 14, 9, 30, tzinfo=UTC)
STAFF = Actor("staff-7f3a", frozenset({Role.HOUSING_STAFF}))

# (type, subject, sequence, correlation_id, actor) of each committed event, in order
Committed = list[tuple[str, str, int, uuid.UUID, str | None]]
# (actor, roles, action, subjects, business_time) of each audit row, in order
Audited = list[tuple[str, list[str], str, list[str], datetime]]


class FixedClock:
    def now(self) -> datetime:
        return BUSINESS_NOW

    def today(self) -> date:
        return BUSINESS_NOW.astimezone(CITY_TZ).date()


class Tally(Protocol):
    """A store as small as a store gets: one number a transaction reads and changes."""

    async def read(self) -> int: ...
    async def add(self, n: int) -> None: ...


class InMemoryTally:
    def __init__(self) -> None:
        self.value = 0

    async def read(self) -> int:
        return self.value

    async def add(self, n: int) -> None:
        self.value += n


class PgTally:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def read(self) -> int:
        return int(await self.conn.fetchval("SELECT value FROM tally"))

    async def add(self, n: int) -> None:
        await self.conn.execute("UPDATE tally SET value = value + $1", n)


class Backend(Protocol):
    uow: Any

    async def committed(self) -> Committed: ...
    async def audited(self) -> Audited: ...
    async def occurred(self) -> list[datetime]: ...


class Memory:
    def __init__(self) -> None:
        self.uow = InMemoryUnitOfWork(FixedClock(), store=InMemoryTally())

    async def committed(self) -> Committed:
        return [
            (e.type, e.subject, e.sequence, e.correlation_id, e.actor) for e in self.uow.committed
        ]

    async def audited(self) -> Audited:
        return [
            (r.actor, r.roles, r.action, r.subjects, r.business_time) for r in self.uow.audit_rows
        ]

    async def occurred(self) -> list[datetime]:
        return [e.occurred_at for e in self.uow.committed]


class Postgres:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.uow = UnitOfWork(pool, clock=FixedClock(), store=PgTally)

    async def committed(self) -> Committed:
        rows = await self.pool.fetch("SELECT payload, headers FROM outbox ORDER BY id")
        out: Committed = []
        for row in rows:
            e = decode(row["payload"])
            headers = dict(json.loads(row["headers"]))
            out.append((e.type, e.subject, e.sequence, e.correlation_id, headers.get("ce_actor")))
        return out

    async def occurred(self) -> list[datetime]:
        rows = await self.pool.fetch("SELECT payload FROM outbox ORDER BY id")
        return [decode(row["payload"]).occurred_at for row in rows]

    async def audited(self) -> Audited:
        rows = await self.pool.fetch(
            "SELECT actor, roles, action, subjects, business_time FROM audit_log ORDER BY id"
        )
        return [
            (r["actor"], list(r["roles"]), r["action"], list(r["subjects"]), r["business_time"])
            for r in rows
        ]


def site_event(site_id: uuid.UUID) -> ShelterOpened:
    data: ShelterOpened = example_envelope("ShelterOpened").data
    return data.model_copy(update={"site_id": site_id})


async def events_exist_only_after_commit_numbered_per_subject(b: Backend) -> None:
    a, other = uuid.uuid4(), uuid.uuid4()
    async with b.uow() as tx:
        tx.publish(site_event(a), site_event(other))
        assert await b.committed() == [], "nothing before commit"
    async with b.uow() as tx:
        tx.publish(site_event(a))
    assert [(t, s, n) for t, s, n, _, _ in await b.committed()] == [
        ("ShelterOpened", str(a), 1),
        ("ShelterOpened", str(other), 1),
        ("ShelterOpened", str(a), 2),
    ]


async def _publish_then_fail(b: Backend, site: uuid.UUID) -> None:
    async with b.uow() as tx:
        tx.publish(site_event(site))
        raise ValueError("refused")


async def a_failed_transaction_leaves_nothing(b: Backend) -> None:
    site = uuid.uuid4()
    with pytest.raises(ValueError, match="refused"):
        await _publish_then_fail(b, site)
    async with b.uow() as tx:
        tx.publish(site_event(site))
    assert [(s, n) for _, s, n, _, _ in await b.committed()] == [(str(site), 1)]


async def the_request_names_correlation_and_the_staff_member(b: Backend) -> None:
    site, correlation = uuid.uuid4(), uuid.uuid4()
    with request_context(correlation), audit.acting(STAFF, "POST /sites/{site_id}/block", "s1"):
        async with b.uow() as tx:
            tx.publish(site_event(site))
    async with b.uow() as tx:  # the system acting by itself: no actor, no audit row
        tx.publish(site_event(site))
    [(_, _, _, cid, actor), (_, _, _, _, nobody)] = await b.committed()
    assert (cid, actor, nobody) == (correlation, "staff-7f3a", None)
    assert await b.audited() == [
        ("staff-7f3a", ["housing-staff"], "POST /sites/{site_id}/block", ["s1", str(site)],
         BUSINESS_NOW)
    ]  # fmt: skip


async def _add_then_fail(b: Backend) -> None:
    async with b.uow() as tx:
        await tx.store.add(5)
        assert await tx.store.read() == 6, "a transaction sees its own change"
        raise ValueError("refused")


async def the_store_keeps_a_change_only_on_commit(b: Backend) -> None:
    async with b.uow() as tx:
        await tx.store.add(1)
    with pytest.raises(ValueError, match="refused"):
        await _add_then_fail(b)
    async with b.uow() as tx:
        assert await tx.store.read() == 1


async def business_time_is_the_clocks_unless_the_event_says_when(b: Backend) -> None:
    site, earlier = uuid.uuid4(), datetime(2016, 3, 1, 8, 0, tzinfo=UTC)
    async with b.uow() as tx:
        assert tx.now() == BUSINESS_NOW
        tx.publish(site_event(site))
        tx.publish(site_event(site), at=earlier)
    assert await b.occurred() == [BUSINESS_NOW, earlier]


SCENARIOS: list[Callable[[Backend], Awaitable[None]]] = [
    events_exist_only_after_commit_numbered_per_subject,
    a_failed_transaction_leaves_nothing,
    the_request_names_correlation_and_the_staff_member,
    the_store_keeps_a_change_only_on_commit,
    business_time_is_the_clocks_unless_the_event_says_when,
]


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database, min_size=1, max_size=2)
    await migrate(pool, [("runtime", RUNTIME_MIGRATIONS)])
    await pool.execute("CREATE TABLE tally (value int NOT NULL); INSERT INTO tally VALUES (0)")
    yield pool
    await pool.close()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_the_in_memory_unit_of_work(
    scenario: Callable[[Backend], Awaitable[None]],
) -> None:
    await scenario(Memory())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_the_real_unit_of_work_on_postgres(
    scenario: Callable[[Backend], Awaitable[None]], pool: asyncpg.Pool
) -> None:
    await scenario(Postgres(pool))
