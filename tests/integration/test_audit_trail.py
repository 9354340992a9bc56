"""Who did what: every staff command and every read of a household's details leaves an
audit row in the same transaction, and the events a command raises name the actor."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import allocation.app
import asyncpg
from allocation_support import FakeHousing, an_assignment, of_type, settings, until_sites
from ankommen_contracts import Pillar, decode
from ankommen_local.infra import Endpoints
from ankommen_runtime.auth import Role
from ankommen_runtime.clock import CITY_TZ
from ankommen_runtime.topics import event_topic
from support import create_topics, read_topic, running

BUSINESS_NOW = datetime(2016, 3, 14, 9, 30, tzinfo=UTC)  # the simulated day of the command


class FixedClock:
    def now(self) -> datetime:
        return BUSINESS_NOW

    def today(self) -> date:
        return BUSINESS_NOW.astimezone(CITY_TZ).date()


async def audit_rows(dsn: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT * FROM audit_log ORDER BY id")
    finally:
        await conn.close()
    return [dict(r) for r in rows]


async def test_commands_and_reads_are_recorded_and_events_name_the_actor(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    await create_topics(infra.kafka_bootstrap, event_topic("housing", topic_prefix), partitions=3)
    app = allocation.app.create_app(settings(infra, database, topic_prefix))
    staff = {"roles": [Role.ALLOCATION_STAFF, Role.LAND_INTAKE], "subject": "staff-4f1c"}
    async with running(app, **staff) as api, FakeHousing(infra, topic_prefix) as housing:
        app.state.runtime.clock = FixedClock()
        await housing.open("Wohnheim Tresckowstraße", Pillar.WOHNHEIM, 100, district=9)
        await until_sites(api, 1)
        before = datetime.now(UTC)

        created = await api.post("/assignments", json=an_assignment("NI-2016-0901", size=2))
        assert created.status_code == 201, created.text
        household_id = created.json()["household_id"]
        assert (await api.get(f"/households/{household_id}")).status_code == 200
        departed = {"reason": "moved_away"}
        url = f"/households/{household_id}/departure"
        assert (await api.post(url, json=departed)).status_code == 200
        assert (await api.post(url, json=departed)).status_code == 409, "departed already"

        records = await read_topic(
            infra.kafka_bootstrap,
            event_topic("allocation", topic_prefix),
            until=lambda rs: len(rs) >= 4,
        )

    rows = await audit_rows(database)
    assert [(r["action"], r["subjects"]) for r in rows] == [
        ("POST /assignments", [household_id]),
        ("GET /households/{household_id}", [household_id]),
        ("POST /households/{household_id}/departure", [household_id]),
    ], "the refused second departure rolled its audit row back with it"
    for row in rows:
        assert row["actor"] == "staff-4f1c"
        assert row["roles"] == sorted([Role.ALLOCATION_STAFF, Role.LAND_INTAKE])
        assert row["business_time"] == BUSINESS_NOW
        assert row["recorded_at"] >= before - timedelta(seconds=5), "recorded now, not then"
    events = {decode(r.value).type: dict(r.headers) for r in records}
    for event_type in ("RefugeeAssigned", "PlacementDecided", "PlacementCancelled"):
        assert events[event_type]["ce_actor"] == b"staff-4f1c", event_type
    assert events["RefugeeDeparted"]["ce_actor"] == b"staff-4f1c"
    assert of_type([decode(r.value) for r in records], "RefugeeAssigned")


async def test_what_the_system_does_by_itself_names_no_actor(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    await create_topics(infra.kafka_bootstrap, event_topic("housing", topic_prefix), partitions=3)
    app = allocation.app.create_app(settings(infra, database, topic_prefix))
    async with running(app) as api, FakeHousing(infra, topic_prefix) as housing:
        first = await housing.open("Wohnheim A", Pillar.WOHNHEIM, 10, district=9)
        await housing.open("Wohnheim B", Pillar.WOHNHEIM, 5, district=3)
        await until_sites(api, 2)
        created = await api.post("/assignments", json=an_assignment("NI-2016-0902", size=2))
        household_id = uuid.UUID(created.json()["household_id"])

        def decided(rs: list[Any]) -> list[Any]:
            return [decode(r.value) for r in rs if decode(r.value).type == "PlacementDecided"]

        topic = event_topic("allocation", topic_prefix)
        records = await read_topic(infra.kafka_bootstrap, topic, until=lambda rs: decided(rs))
        [request] = [e.data for e in decided(records)]
        assert request.site_id == first
        await housing.reject(request)  # allocation's consumer decides again, on its own
        records = await read_topic(
            infra.kafka_bootstrap, topic, until=lambda rs: len(decided(rs)) >= 2
        )
    by_attempt = {
        decode(r.value).data.attempt: dict(r.headers)
        for r in records
        if decode(r.value).type == "PlacementDecided"
    }
    assert by_attempt[1].get("ce_actor"), "the staff member's command"
    assert "ce_actor" not in by_attempt[2], "the consumer's reaction to the rejection"
    rows = await audit_rows(database)
    assert [r["action"] for r in rows] == ["POST /assignments"]
    assert rows[0]["subjects"] == [str(household_id)]
