"""Helpers for the volunteers service's integration tests: run an instance with a business
clock the test moves, call it as a coordinator, produce integration's events, read back."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaProducer
from ankommen_contracts import Envelope, EventData, Skill, encode, new_envelope
from ankommen_contracts.events.integration import SupportRequested
from ankommen_local.infra import Endpoints
from ankommen_runtime.auth import Role
from ankommen_runtime.clock import local_date
from ankommen_runtime.local_issuer import LocalIssuer
from support import create_topics, read_events, running
from volunteers.app import VolunteersSettings, create_app

T = TypeVar("T")
AUDIENCE = "ankommen-volunteers"


class MovableClock:
    """The business clock of a test: starts on a day in 2016, moved by the test."""

    def __init__(self, start: datetime) -> None:
        self.instant = start

    def now(self) -> datetime:
        return self.instant

    def today(self) -> date:
        return local_date(self.instant)

    def advance(self, delta: timedelta) -> None:
        self.instant += delta


# The business day the volunteers tests take place on.
START = datetime(2016, 11, 15, 9, 0, tzinfo=UTC)


def clock() -> MovableClock:
    return MovableClock(START)


@contextlib.asynccontextmanager
async def volunteers(
    dsn: str,
    infra: Endpoints,
    prefix: str,
    state: Path,
    business_clock: MovableClock,
    **extra: Any,
) -> AsyncIterator[tuple[httpx.AsyncClient, LocalIssuer]]:
    """Run a volunteers instance in-process; a client with a coordinator's token."""
    issuer = LocalIssuer(state).ensure()
    await create_topics(infra.kafka_bootstrap, integration_topic(prefix))
    settings = VolunteersSettings(
        service="volunteers",
        database_url=dsn,
        kafka_bootstrap=infra.kafka_bootstrap,
        topic_prefix=prefix,
        consumer_group=f"{prefix}volunteers",
        relay_poll_seconds=0.2,
        oidc_jwks_url=issuer.jwks_url,
        sweep_seconds=0.2,
        **extra,
    )
    async with running(create_app(settings, business_clock)) as api:
        token = issuer.mint([Role.VOLUNTEER_COORDINATOR], audience=AUDIENCE)
        api.headers["authorization"] = f"Bearer {token}"
        yield api, issuer


def integration_topic(prefix: str) -> str:
    return f"{prefix}integration.events"


async def call(
    api: httpx.AsyncClient, method: str, path: str, body: Any = None, expect: int = 200
) -> Any:
    response = await api.request(method, path, json=body)
    assert response.status_code == expect, f"{method} {path}: {response.text}"
    return response.json()


def offer(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"Volunteer {uuid.uuid4().hex[:6]}",
        "email": "helper@example.org",
        "phone": "0511 1684 0",
        "skills": ["accompaniment", "homework_help"],
        "languages": ["de", "ar"],
        "districts": [10],
        "weekdays": ["mon", "wed"],
        "hours_per_week": 4,
    }
    body.update(changes)
    return body


async def register(api: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = await call(api, "POST", "/volunteers", offer(**changes), expect=201)
    return body


def need(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "accompaniment",
        "district": 10,
        "languages": ["ar", "de"],
        "hours_per_week": 2,
        "involves_children": False,
    }
    body.update(changes)
    return body


def support_requested(
    case_id: uuid.UUID, request_id: uuid.UUID, sequence: int = 1, **changes: Any
) -> Envelope[Any]:
    fields: dict[str, Any] = {
        "case_id": case_id,
        "request_id": request_id,
        "district": 10,
        "languages": ["ar", "de"],
        "skill": Skill.ACCOMPANIMENT,
        "involves_children": False,
        "hours_per_week": 2,
    }
    fields.update(changes)
    return integration_event(SupportRequested(**fields), sequence)


def integration_event(
    data: EventData, sequence: int = 1, occurred_at: datetime = START
) -> Envelope[Any]:
    """An event as integration raises it on the test's business day (a consumer takes its
    business time from the event)."""
    return new_envelope(
        data, sequence=sequence, correlation_id=uuid.uuid4(), occurred_at=occurred_at
    )


async def produce(bootstrap: str, topic: str, *envelopes: Envelope[Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for envelope in envelopes:
            await producer.send_and_wait(
                topic,
                value=encode(envelope),
                key=envelope.subject.encode(),
                headers=envelope.kafka_headers(),
            )
    finally:
        await producer.stop()


async def wait_for(check: Callable[[], Awaitable[T | None]], what: str, timeout: float = 30) -> T:
    """Await ``check()`` until it returns something truthy; raise naming ``what`` if not."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        await asyncio.sleep(0.1)


async def volunteer_events(
    infra: Endpoints,
    prefix: str,
    until: Callable[[list[Envelope[Any]]], bool],
    what: str,
    timeout: float = 30.0,
) -> list[Envelope[Any]]:
    """The events on ``volunteers.events``; raises naming ``what`` if ``until`` never held."""
    events = await read_events(
        infra.kafka_bootstrap, f"{prefix}volunteers.events", until=until, timeout=timeout
    )
    if not until(events):
        raise TimeoutError(
            f"waited {timeout:.0f} s for {what}; got {[(e.type, e.subject) for e in events]}"
        )
    return events
