"""Helpers for housing's integration tests: run an instance, call it, produce, read back."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from ankommen_contracts import Envelope, EventData, Pillar, decode, encode, new_envelope
from ankommen_contracts.events.allocation import PlacementDecided
from ankommen_local.infra import Endpoints
from ankommen_runtime.topics import event_topic
from housing.app import HousingSettings, create_app
from support import create_topics, read_events, running


def settings(dsn: str, infra: Endpoints, prefix: str, **extra: Any) -> HousingSettings:
    return HousingSettings(
        service="housing",
        database_url=dsn,
        kafka_bootstrap=infra.kafka_bootstrap,
        topic_prefix=prefix,
        consumer_group=f"{prefix}housing",
        relay_poll_seconds=0.2,
        **extra,
    )


@contextlib.asynccontextmanager
async def housing(
    dsn: str, infra: Endpoints, prefix: str, **extra: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """Run a housing instance in-process; an HTTP client for it."""
    # Allocation does not run here: create the topic housing subscribes to.
    await create_topics(infra.kafka_bootstrap, allocation_topic(prefix))
    async with running(create_app(settings(dsn, infra, prefix, **extra))) as api:
        yield api


def allocation_topic(prefix: str) -> str:
    return event_topic("allocation", prefix)


async def open_site(api: httpx.AsyncClient, capacity: int, **extra: Any) -> str:
    body = {
        "name": f"Wohnheim {uuid.uuid4().hex[:6]}",
        "pillar": "wohnheim",
        "district": 9,
        "operator": "DRK",
        "capacity": capacity,
        **extra,
    }
    response = await api.post("/sites", json=body)
    assert response.status_code == 201, response.text
    site_id: str = response.json()["site_id"]
    return site_id


def reservation(site_id: str, places: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "reservation_id": str(uuid.uuid4()),
        "site_id": site_id,
        "household_id": str(uuid.uuid4()),
        "places": places,
        **extra,
    }


async def site(api: httpx.AsyncClient, site_id: str) -> dict[str, Any]:
    response = await api.get(f"/sites/{site_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def produce(bootstrap: str, topic: str, *envelopes: Envelope[Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for envelope in envelopes:
            await producer.send_and_wait(
                topic, value=encode(envelope), key=envelope.subject.encode()
            )
    finally:
        await producer.stop()


def allocation_event(data: EventData, sequence: int = 1) -> Envelope[Any]:
    return new_envelope(data, sequence=sequence, correlation_id=uuid.uuid4())


def placement(
    site_id: str, household_id: uuid.UUID, reservation_id: uuid.UUID, places: int
) -> PlacementDecided:
    return PlacementDecided(
        household_id=household_id,
        site_id=uuid.UUID(site_id),
        reservation_id=reservation_id,
        places=places,
        pillar=Pillar.WOHNHEIM,
        district=9,
        reason="new arrivals go to Wohnheime; the site with the most free places",
        attempt=1,
        expected_arrival_at=datetime.now(UTC),
    )


async def housing_events(
    infra: Endpoints,
    prefix: str,
    until: Callable[[list[Envelope[Any]]], bool],
    timeout: float = 30.0,
) -> list[Envelope[Any]]:
    return await read_events(
        infra.kafka_bootstrap, event_topic("housing", prefix), until=until, timeout=timeout
    )


async def outbox(dsn: str, event_type: str) -> list[dict[str, Any]]:
    """Events housing committed (published or about to be), oldest first."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT payload FROM outbox WHERE type = $1 ORDER BY id", event_type
        )
    finally:
        await conn.close()
    return [decode(r["payload"]).data.model_dump(mode="json") for r in rows]
