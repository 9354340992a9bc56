"""Reporting folds housing's events into view 3; a replay from the start gives the same view."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import reporting.app
from aiokafka import AIOKafkaProducer
from ankommen_contracts import EventData, Pillar, encode, new_envelope
from ankommen_contracts.events import housing as ho
from ankommen_local.infra import Endpoints
from ankommen_runtime.consumer import dead_letter_topic
from ankommen_runtime.settings import ServiceSettings
from support import create_topics, eventually, running


def site_history(site_id: uuid.UUID) -> list[EventData]:
    """A Wohnheim's life: opened, grown, places blocked, two households in, one moves on."""
    first, second = uuid.uuid4(), uuid.uuid4()
    r1, r2, r3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    expires = datetime.now(UTC) + timedelta(days=2)
    return [
        ho.ShelterOpened(
            site_id=site_id,
            name="Tresckowstraße",
            pillar=Pillar.WOHNHEIM,
            district=9,
            operator="DRK",
            capacity=100,
        ),
        ho.ShelterCapacityChanged(
            site_id=site_id, capacity=120, blocked_places=0, reason=ho.CapacityChangeReason.EXPANDED
        ),
        ho.ShelterCapacityChanged(
            site_id=site_id,
            capacity=120,
            blocked_places=10,
            reason=ho.CapacityChangeReason.PLACES_BLOCKED,
        ),
        ho.BedReserved(
            site_id=site_id, reservation_id=r1, household_id=first, places=4, expires_at=expires
        ),
        ho.BedReserved(
            site_id=site_id, reservation_id=r2, household_id=second, places=2, expires_at=expires
        ),
        # Housing answers a repeated request by publishing the recorded outcome again.
        ho.BedReserved(
            site_id=site_id, reservation_id=r2, household_id=second, places=2, expires_at=expires
        ),
        ho.BedReserved(
            site_id=site_id,
            reservation_id=r3,
            household_id=uuid.uuid4(),
            places=3,
            expires_at=expires,
        ),
        ho.ReservationReleased(
            site_id=site_id,
            reservation_id=r3,
            household_id=uuid.uuid4(),
            places=3,
            reason=ho.ReleaseReason.EXPIRED,
        ),
        ho.OccupantCheckedIn(site_id=site_id, household_id=first, reservation_id=r1, persons=4),
        ho.OccupantCheckedIn(site_id=site_id, household_id=second, reservation_id=r2, persons=2),
        ho.OccupantCheckedOut(
            site_id=site_id, household_id=second, persons=2, reason=ho.CheckOutReason.RELOCATED
        ),
    ]


async def publish(bootstrap: str, topic: str, events: list[EventData]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        sequences: dict[str, int] = {}
        for data in events:
            seq = sequences[data.subject()] = sequences.get(data.subject(), 0) + 1
            env = new_envelope(data, sequence=seq, correlation_id=uuid.uuid4())
            await producer.send_and_wait(topic, encode(env), key=env.subject.encode())
    finally:
        await producer.stop()


def settings(dsn: str, infra: Endpoints, prefix: str, group: str) -> ServiceSettings:
    return ServiceSettings(
        service="reporting",
        database_url=dsn,
        kafka_bootstrap=infra.kafka_bootstrap,
        topic_prefix=prefix,
        consumer_group=group,
    )


async def capacity_once_settled(
    dsn: str, infra: Endpoints, prefix: str, group: str, sites: int
) -> dict[str, Any]:
    app = reporting.app.create_app(settings(dsn, infra, prefix, group))
    async with running(app) as api:

        async def settled() -> dict[str, Any] | None:
            view = (await api.get("/views/capacity")).json()
            total = view["total"]
            # Only the final state has every reservation settled and 4 people per site.
            done = (total["sites"], total["occupied"], total["reserved"]) == (sites, 4 * sites, 0)
            return view if done else None

        view = await eventually(settled)
    assert view, "the projection caught up"
    return view


async def test_capacity_view_follows_the_site_lifecycle_and_a_replay_equals_it(
    infra: Endpoints, new_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> None:
    topic = f"{topic_prefix}housing.events"
    await create_topics(
        infra.kafka_bootstrap,
        topic,
        dead_letter_topic("reporting", topic, topic_prefix),
        partitions=3,
    )
    sites = [uuid.uuid4() for _ in range(3)]
    for site_id in sites:
        await publish(infra.kafka_bootstrap, topic, site_history(site_id))

    live = await capacity_once_settled(await new_database(), infra, topic_prefix, "live", 3)
    heime = next(r for r in live["by_pillar"] if r["key"] == "wohnheim")
    assert (heime["capacity"], heime["blocked"], heime["reserved"], heime["occupied"]) == (
        360,
        30,
        0,
        12,
    )
    assert heime["free"] == 360 - 30 - 12
    ricklingen = next(r for r in live["by_district"] if r["key"] == "09")
    assert ricklingen["sites"] == 3

    rebuilt = await capacity_once_settled(await new_database(), infra, topic_prefix, "replay", 3)
    assert rebuilt == live, "a rebuild from the topic equals the live view"
