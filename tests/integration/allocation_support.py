"""Allocation against real Kafka and PostgreSQL, with the test playing housing's side.

``FakeHousing`` produces housing's events onto ``<prefix>housing.events`` exactly as
housing's outbox relay would (contract envelope, per-site sequence, key = site id,
CloudEvents headers), so allocation's side of the saga is tested on its own.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import allocation.app
import httpx
from aiokafka import AIOKafkaProducer
from ankommen_contracts import (
    Envelope,
    EventData,
    Pillar,
    Suitability,
    decode,
    encode,
    new_envelope,
)
from ankommen_contracts.events.allocation import PlacementDecided
from ankommen_contracts.events.housing import (
    BedReserved,
    OccupantCheckedIn,
    RejectionReason,
    ReservationRejected,
    ShelterOpened,
)
from ankommen_local.infra import Endpoints
from ankommen_runtime.local_issuer import LocalIssuer
from ankommen_runtime.topics import event_topic
from support import (
    create_topics,
    eventually,
    read_events,
    read_to_end,
    running,
    until_consumed,
    until_drained,
)


def settings(
    infra: Endpoints, dsn: str, prefix: str, **extra: Any
) -> allocation.app.AllocationSettings:
    return allocation.app.AllocationSettings(
        database_url=dsn,
        kafka_bootstrap=infra.kafka_bootstrap,
        topic_prefix=prefix,
        consumer_group=f"{prefix}allocation",
        relay_poll_seconds=0.2,
        **extra,
    )


@contextlib.asynccontextmanager
async def allocation_service(
    infra: Endpoints, dsn: str, prefix: str, *, issuer: LocalIssuer | None = None, **extra: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The allocation app in-process, its housing topic created first (3 partitions)."""
    await create_topics(infra.kafka_bootstrap, event_topic("housing", prefix), partitions=3)
    app = allocation.app.create_app(settings(infra, dsn, prefix, **extra))
    async with running(app, issuer=issuer) as api:
        yield api


class FakeHousing:
    """Housing's side of the saga, driven by the test."""

    def __init__(self, infra: Endpoints, prefix: str) -> None:
        self.topic = event_topic("housing", prefix)
        self.producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
        self.sequence: dict[str, int] = defaultdict(int)

    async def __aenter__(self) -> FakeHousing:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    async def send(self, data: EventData) -> Envelope[Any]:
        self.sequence[data.subject()] += 1
        envelope = new_envelope(
            data, sequence=self.sequence[data.subject()], correlation_id=uuid.uuid4()
        )
        await self.deliver_again(envelope)
        return envelope

    async def deliver_again(self, envelope: Envelope[Any]) -> None:
        """Put the very same event (same event_id) on the topic: a redelivery."""
        await self.producer.send_and_wait(
            self.topic,
            value=encode(envelope),
            key=envelope.subject.encode(),
            headers=envelope.kafka_headers(),
        )

    async def open(
        self,
        name: str,
        pillar: Pillar,
        capacity: int,
        *suitability: Suitability,
        district: int = 1,
    ) -> uuid.UUID:
        site_id = uuid.uuid4()
        await self.send(
            ShelterOpened(
                site_id=site_id,
                name=name,
                pillar=pillar,
                district=district,
                operator="DRK",
                capacity=capacity,
                suitability=list(suitability),
            )
        )
        return site_id

    async def reserve(self, request: PlacementDecided) -> Envelope[Any]:
        return await self.send(
            BedReserved(
                site_id=request.site_id,
                reservation_id=request.reservation_id,
                household_id=request.household_id,
                places=request.places,
                expires_at=datetime.now(UTC) + timedelta(hours=24),
            )
        )

    async def reject(self, request: PlacementDecided, free: int = 0) -> Envelope[Any]:
        return await self.send(
            ReservationRejected(
                site_id=request.site_id,
                reservation_id=request.reservation_id,
                household_id=request.household_id,
                places=request.places,
                reason=RejectionReason.NO_FREE_PLACES,
                free_places=free,
            )
        )

    async def check_in(self, request: PlacementDecided) -> Envelope[Any]:
        return await self.send(
            OccupantCheckedIn(
                site_id=request.site_id,
                household_id=request.household_id,
                reservation_id=request.reservation_id,
                persons=request.places,
            )
        )


async def allocation_events(
    infra: Endpoints,
    prefix: str,
    until: Callable[[list[Envelope[Any]]], bool],
    timeout: float = 30.0,
) -> list[Envelope[Any]]:
    """Everything allocation published so far, decoded, once ``until`` holds (or time is up)."""
    return await read_events(
        infra.kafka_bootstrap, event_topic("allocation", prefix), until=until, timeout=timeout
    )


async def everything_published(infra: Endpoints, prefix: str, dsn: str) -> list[Envelope[Any]]:
    """All allocation has published, once its outbox is drained (no fixed wait)."""
    await until_drained(dsn)
    records = await read_to_end(infra.kafka_bootstrap, event_topic("allocation", prefix))
    return [decode(r.value) for r in records]


async def until_housing_consumed(infra: Endpoints, prefix: str) -> None:
    """Allocation applied every housing event sent so far (its group's lag is 0)."""
    await until_consumed(
        infra.kafka_bootstrap, f"{prefix}allocation", event_topic("housing", prefix)
    )


async def sweep_rounds(api: httpx.AsyncClient, name: str) -> float:
    """Rounds a periodic sweep of allocation has run (``ankommen_periodic_rounds_total``)."""
    text = (await api.get("/metrics")).text
    wanted = ("ankommen_periodic_rounds_total{", f'name="{name}"', 'service="allocation"')
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(wanted[0]) and all(w in line for w in wanted[1:])
    )


def of_type(events: list[Envelope[Any]], type_: str, household_id: Any = None) -> list[Any]:
    """The payloads of one type, optionally of one household, in publishing order."""
    return [
        e.data
        for e in events
        if e.type == type_ and (household_id is None or e.subject == str(household_id))
    ]


def a_member(**overrides: Any) -> dict[str, Any]:
    return {
        "age_band": "27-49",
        "gender": "female",
        "country_of_origin": "SYR",
        **overrides,
    }


def an_assignment(reference: str, size: int = 3, **overrides: Any) -> dict[str, Any]:
    members = [a_member()] + [a_member(age_band="6-17") for _ in range(size - 1)]
    return {"land_reference": reference, "members": members, **overrides}


async def household(api: httpx.AsyncClient, household_id: Any) -> dict[str, Any]:
    response = await api.get(f"/households/{household_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def until_status(api: httpx.AsyncClient, household_id: Any, status: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        found = await household(api, household_id)
        return found if found["status"] == status else None

    found = await eventually(check)
    assert found, f"household {household_id} never became {status}"
    return found


async def until_sites(api: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    """Wait until allocation's replica knows ``count`` sites."""

    async def check() -> list[dict[str, Any]] | None:
        sites = (await api.get("/sites")).json()["items"]
        return sites if len(sites) >= count else None

    sites = await eventually(check)
    assert sites, f"allocation never saw {count} sites"
    return sites
