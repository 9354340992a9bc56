"""Housing's reservations on real Kafka and PostgreSQL: the race for the last places,
idempotency by reservation id, the allocation events it consumes, expiry and relocation."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from ankommen_contracts.events.allocation import (
    DepartureReason,
    PlacementCancelled,
    RefugeeDeparted,
)
from ankommen_local.infra import Endpoints
from housing_support import (
    allocation_event,
    allocation_topic,
    housing,
    housing_events,
    open_site,
    outbox,
    placement,
    produce,
    reservation,
    site,
)
from support import eventually

# -- the race ------------------------------------------------------------------------------


async def test_200_concurrent_reservations_for_50_places_never_overbook(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    # Two instances on one database: their transactions really run side by side.
    async with (
        housing(database, infra, topic_prefix, pool_max_size=20) as api_one,
        housing(database, infra, topic_prefix, pool_max_size=20) as api_two,
    ):
        site_id = await open_site(api_one, capacity=50)
        apis = (api_one, api_two)
        watching = True
        overbooked: list[int] = []

        async def watch() -> None:
            conn = await asyncpg.connect(database)
            try:
                while watching:
                    over = await conn.fetchval(
                        "SELECT occupied + reserved + blocked - capacity FROM sites"
                        " WHERE site_id = $1",
                        uuid.UUID(site_id),
                    )
                    if over > 0:
                        overbooked.append(over)
                    await asyncio.sleep(0.002)
            finally:
                await conn.close()

        watcher = asyncio.create_task(watch())
        bodies = [reservation(site_id) for _ in range(200)]
        answers = await asyncio.gather(
            *(apis[i % 2].post("/reservations", json=b) for i, b in enumerate(bodies))
        )
        watching = False
        await watcher

        assert Counter(a.status_code for a in answers) == {201: 50, 409: 150}
        rejected = [a.json() for a in answers if a.status_code == 409]
        assert {(r["reason"], r["free_places"]) for r in rejected} == {("no_free_places", 0)}
        assert all(r["reservation"]["status"] == "rejected" for r in rejected)
        assert overbooked == [], "never more places taken than the site has"
        after = await site(api_two, site_id)
        assert (after["reserved"], after["free"], after["occupied"]) == (50, 0, 0)

        # The same 200 requests again: the same answers, nothing reserved twice.
        repeats = await asyncio.gather(
            *(apis[(i + 1) % 2].post("/reservations", json=b) for i, b in enumerate(bodies))
        )
        assert [r.status_code for r in repeats] == [a.status_code for a in answers]
        assert [r.json() for r in repeats] == [a.json() for a in answers], "same figures"
        assert (await site(api_one, site_id))["reserved"] == 50
        held = await api_one.get("/reservations", params={"site_id": site_id, "status": "held"})
        assert len(held.json()["items"]) == 50

        reserved_ids = {
            b["reservation_id"]
            for b, a in zip(bodies, answers, strict=True)
            if a.status_code == 201
        }
        events = await housing_events(
            infra, topic_prefix, lambda es: sum(e.subject == site_id for e in es) >= 401
        )
        of_site = [e for e in events if e.subject == site_id]
        assert [e.sequence for e in of_site] == list(range(1, 402)), "in order, no gaps"
        granted = [e for e in of_site if e.type == "BedReserved"]
        assert len(granted) == 100, "50 reservations, each answered twice"
        assert {str(e.data.reservation_id) for e in granted} == reserved_ids
        assert sum(e.type == "ReservationRejected" for e in of_site) == 300


async def test_the_same_id_for_a_different_request_is_a_conflict(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with housing(database, infra, topic_prefix) as api:
        site_id = await open_site(api, capacity=10)
        body = reservation(site_id, places=2)
        assert (await api.post("/reservations", json=body)).status_code == 201
        clash = await api.post("/reservations", json={**body, "places": 3})
        assert clash.status_code == 409
        assert "use a new reservation_id" in clash.json()["detail"]
        assert (await site(api, site_id))["reserved"] == 2
        unknown = await api.post("/reservations", json=reservation(str(uuid.uuid4())))
        assert unknown.status_code == 404
        assert (unknown.json()["reason"], unknown.json()["free_places"]) == ("unknown_site", None)
        bad = await api.post("/reservations", json={**reservation(site_id), "beds": 1})
        assert bad.status_code == 422
        assert ["body", "beds"] in [e["loc"] for e in bad.json()["detail"]]

        assert len(await outbox(database, "BedReserved")) == 1, "the clash published nothing"


# -- PlacementDecided, PlacementCancelled, RefugeeDeparted from allocation.events ---------------


async def test_placement_decided_is_answered_once_however_often_it_arrives(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with housing(database, infra, topic_prefix) as api:
        site_id = await open_site(api, capacity=10)
        household, rid = uuid.uuid4(), uuid.uuid4()
        decided = allocation_event(placement(site_id, household, rid, places=3))
        # The same event delivered twice (a redelivery), then re-sent by allocation's
        # timeout (a new event, the same reservation id), then a marker to wait for.
        resent = allocation_event(placement(site_id, household, rid, places=3), sequence=2)
        marker_site = uuid.uuid4()
        marker = allocation_event(placement(str(marker_site), uuid.uuid4(), uuid.uuid4(), 1))
        await produce(
            infra.kafka_bootstrap, allocation_topic(topic_prefix), decided, decided, resent, marker
        )

        async def marker_answered() -> bool:
            return any(
                e["site_id"] == str(marker_site)
                for e in await outbox(database, "ReservationRejected")
            )

        assert await eventually(marker_answered), "the consumer got through all four"
        answers = await outbox(database, "BedReserved")
        assert len(answers) == 2, "answered for the decision and its re-send, not the redelivery"
        assert answers[0] == answers[1], "the re-send gets the same answer, same expiry"
        assert answers[0]["reservation_id"] == str(rid)
        assert answers[0]["places"] == 3
        mine = (await api.get("/reservations", params={"household_id": str(household)})).json()[
            "items"
        ]
        assert [(r["reservation_id"], r["status"]) for r in mine] == [(str(rid), "held")]
        assert (await site(api, site_id))["reserved"] == 3

        events = await housing_events(
            infra, topic_prefix, lambda es: sum(e.type == "BedReserved" for e in es) >= 2
        )
        first = next(e for e in events if e.type == "BedReserved")
        assert first.subject == site_id
        assert first.correlation_id == decided.correlation_id, "the saga's correlation travels on"
        assert first.causation_id == decided.event_id


async def test_placement_cancelled_releases_the_held_places_once(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with housing(database, infra, topic_prefix) as api:
        site_id = await open_site(api, capacity=10)
        household, rid = uuid.uuid4(), uuid.uuid4()
        cancel = PlacementCancelled(
            household_id=household,
            site_id=uuid.UUID(site_id),
            reservation_id=rid,
            reason="the household departed while housing was reserving",
        )
        await produce(
            infra.kafka_bootstrap,
            allocation_topic(topic_prefix),
            allocation_event(placement(site_id, household, rid, places=4)),
            allocation_event(cancel, sequence=2),
            allocation_event(cancel, sequence=3),  # sent again: nothing left to release
        )

        async def released() -> dict[str, Any] | None:
            r = (await api.get(f"/reservations/{rid}")).json()
            return r if r.get("status") == "released" else None

        done = await eventually(released)
        assert done, "the cancelled reservation is released"
        assert done["release_reason"] == "cancelled"
        assert (await site(api, site_id))["reserved"] == 0

        async def all_consumed() -> bool:
            conn = await asyncpg.connect(database)
            try:
                return await conn.fetchval("SELECT count(*) FROM inbox") == 3
            finally:
                await conn.close()

        assert await eventually(all_consumed)
        releases = await outbox(database, "ReservationReleased")
        assert [(r["reservation_id"], r["reason"], r["places"]) for r in releases] == [
            (str(rid), "cancelled", 4)
        ]


async def test_refugee_departed_releases_reservations_and_checks_the_household_out(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with housing(database, infra, topic_prefix) as api:
        home, next_site = await open_site(api, capacity=10), await open_site(api, capacity=10)
        first = reservation(home, places=2)
        household = first["household_id"]
        assert (await api.post("/reservations", json=first)).status_code == 201
        checked_in = await api.post(f"/reservations/{first['reservation_id']}/check-in")
        assert checked_in.status_code == 201, checked_in.text
        moving = {**reservation(next_site, places=2), "household_id": household}
        assert (await api.post("/reservations", json=moving)).status_code == 201

        departed = RefugeeDeparted(
            household_id=uuid.UUID(household),
            site_id=uuid.UUID(home),
            reason=DepartureReason.MOVED_AWAY,
            persons=2,
        )
        await produce(
            infra.kafka_bootstrap, allocation_topic(topic_prefix), allocation_event(departed)
        )

        async def gone() -> bool:
            return (await api.get("/occupants", params={"household_id": household})).json()[
                "items"
            ] == []

        assert await eventually(gone), "the household no longer lives anywhere"
        assert (await site(api, home))["occupied"] == 0
        assert (await site(api, next_site))["reserved"] == 0
        released = (await api.get(f"/reservations/{moving['reservation_id']}")).json()
        assert (released["status"], released["release_reason"]) == ("released", "departed")

        events = await housing_events(
            infra,
            topic_prefix,
            lambda es: (
                any(e.type == "OccupantCheckedOut" for e in es)
                and any(e.type == "ReservationReleased" for e in es)
            ),
        )
        out = next(e for e in events if e.type == "OccupantCheckedOut")
        assert (out.subject, out.data.reason.value, out.data.persons) == (home, "departed", 2)
        gone_event = next(e for e in events if e.type == "ReservationReleased")
        assert (gone_event.subject, gone_event.data.reason.value) == (next_site, "departed")


# -- expiry, check-in, relocation ----------------------------------------------------------


async def test_an_unclaimed_reservation_expires_and_its_places_return(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with housing(
        database, infra, topic_prefix, expiry_sweep_seconds=0.2, reservation_grace_seconds=1
    ) as api:
        site_id = await open_site(api, capacity=5)
        # Rule 1: held until the expected arrival plus the grace (1 s here).
        short = reservation(site_id, places=3)  # expected now: held for the grace only
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        long = reservation(site_id, places=1, expected_arrival_at=tomorrow)
        assert (await api.post("/reservations", json=short)).status_code == 201
        assert (await api.post("/reservations", json=long)).status_code == 201
        assert (await site(api, site_id))["free"] == 1

        async def expired() -> dict[str, Any] | None:
            r = (await api.get(f"/reservations/{short['reservation_id']}")).json()
            return r if r["status"] == "released" else None

        done = await eventually(expired, timeout=15)
        assert done, "the sweeper released the reservation after its hold"
        assert done["release_reason"] == "expired"
        assert (await site(api, site_id))["reserved"] == 1, "the other hold stays"
        late = await api.post(f"/reservations/{short['reservation_id']}/check-in")
        assert late.status_code == 409
        assert "released (expired)" in late.json()["detail"]
        ready = (await api.get("/health/ready")).json()
        assert ready["checks"]["expiry-sweeper"] == "ok"

        events = await housing_events(
            infra, topic_prefix, lambda es: any(e.type == "ReservationReleased" for e in es)
        )
        [released] = [e for e in events if e.type == "ReservationReleased"]
        assert str(released.data.reservation_id) == short["reservation_id"]
        assert (released.data.reason.value, released.data.places) == ("expired", 3)


async def test_check_in_moves_a_relocated_household_out_of_its_old_site(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with housing(database, infra, topic_prefix) as api:
        shelter = await open_site(api, capacity=200, pillar="notunterkunft", district=4)
        flat = await open_site(api, capacity=4, pillar="wohnung", district=10)
        first = reservation(shelter, places=4)
        household = first["household_id"]
        await api.post("/reservations", json=first)
        assert (await api.post(f"/reservations/{first['reservation_id']}/check-in")).is_success
        twice = await api.post(f"/reservations/{first['reservation_id']}/check-in")
        assert twice.status_code == 409
        assert "checked in already" in twice.json()["detail"]
        assert (await site(api, shelter))["occupied"] == 4

        move = {**reservation(flat, places=4), "household_id": household}
        assert (await api.post("/reservations", json=move)).status_code == 201
        moved = await api.post(f"/reservations/{move['reservation_id']}/check-in")
        assert moved.status_code == 201, moved.text
        assert moved.json()["site_id"] == flat
        assert ((await site(api, shelter))["occupied"], (await site(api, flat))["occupied"]) == (
            0,
            4,
        )
        lives = (await api.get("/occupants", params={"household_id": household})).json()["items"]
        assert [o["site_id"] for o in lives] == [flat], "a household lives in one place"
        assert (await api.get("/occupants", params={"site_id": shelter})).json()["items"] == []

        events = await housing_events(
            infra,
            topic_prefix,
            lambda es: (
                sum(e.type == "OccupantCheckedIn" for e in es) >= 2
                and any(e.type == "OccupantCheckedOut" for e in es)
            ),
        )
        [out] = [e for e in events if e.type == "OccupantCheckedOut"]
        assert (out.subject, out.data.reason.value, out.data.persons) == (shelter, "relocated", 4)
        moved_in = [e for e in events if e.type == "OccupantCheckedIn" and e.subject == flat]
        assert str(moved_in[0].data.reservation_id) == move["reservation_id"]
        assert moved_in[0].correlation_id == out.correlation_id, "one move, one correlation"


async def test_check_ins_check_outs_and_moves_at_one_site_at_once_lose_no_place(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    """A check-in, check-out or move writes its change of a site's places as a difference
    at the end of its transaction (not the row as read at its start): run side by side on
    two instances, every change must be kept and none counted twice."""
    async with (
        housing(database, infra, topic_prefix, pool_max_size=20) as api_one,
        housing(database, infra, topic_prefix, pool_max_size=20) as api_two,
    ):
        apis = (api_one, api_two)
        shelter = await open_site(api_one, capacity=300, pillar="notunterkunft", district=4)
        home = await open_site(api_one, capacity=100, pillar="wohnheim", district=7)

        async def reserve_all(bodies: list[dict[str, Any]]) -> None:
            answers = await asyncio.gather(
                *(apis[i % 2].post("/reservations", json=b) for i, b in enumerate(bodies))
            )
            assert {a.status_code for a in answers} == {201}, [a.text for a in answers]

        def check_in(i: int, body: dict[str, Any]) -> Any:
            return apis[i % 2].post(f"/reservations/{body['reservation_id']}/check-in")

        living = [reservation(shelter, places=1 + i % 3) for i in range(60)]
        await reserve_all(living)
        first = await asyncio.gather(*(check_in(i, b) for i, b in enumerate(living)))
        assert {a.status_code for a in first} == {201}, [a.text for a in first]

        arriving = [reservation(shelter, places=1 + i % 4) for i in range(40)]
        moving = [
            {**reservation(home, places=b["places"]), "household_id": b["household_id"]}
            for b in living[:20]
        ]
        leaving = living[20:40]
        await reserve_all(arriving + moving)
        answers = await asyncio.gather(
            *(check_in(i, b) for i, b in enumerate(arriving)),
            *(check_in(i + 1, b) for i, b in enumerate(moving)),
            *(
                apis[i % 2].post(
                    f"/sites/{shelter}/check-outs",
                    json={"household_id": b["household_id"], "reason": "moved_out"},
                )
                for i, b in enumerate(leaving)
            ),
        )
        assert {a.status_code for a in answers} == {201}, [a.text for a in answers]

        stays = living[40:] + arriving
        at_shelter, at_home = await site(api_one, shelter), await site(api_two, home)
        assert (at_shelter["reserved"], at_home["reserved"]) == (0, 0)
        assert at_shelter["occupied"] == sum(b["places"] for b in stays)
        assert at_home["occupied"] == sum(b["places"] for b in moving)
        conn = await asyncpg.connect(database)
        try:
            counted = dict(
                await conn.fetch("SELECT site_id, sum(persons) FROM occupants GROUP BY site_id")
            )
        finally:
            await conn.close()
        assert counted == {
            uuid.UUID(shelter): at_shelter["occupied"],
            uuid.UUID(home): at_home["occupied"],
        }, "the sites' counts are their occupants' persons"


async def test_a_check_in_list_checks_in_its_order_and_refuses_one_alone(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    """Monday's bus at the door in one request: each check-in as the single one, in the
    list's order (a household checked in at the shelter first moves on to its flat in
    the same list), a refused one alone with its reason, every event on the topic."""
    async with housing(database, infra, topic_prefix) as api:
        shelter = await open_site(api, capacity=200, pillar="notunterkunft", district=4)
        flat = await open_site(api, capacity=4, pillar="wohnung", district=10)
        arriving = reservation(shelter, places=4)
        household = arriving["household_id"]
        moving_on = {**reservation(flat, places=4), "household_id": household}
        neighbour = reservation(shelter, places=2)
        for body in (arriving, moving_on, neighbour):
            assert (await api.post("/reservations", json=body)).status_code == 201
        assert (await api.post(f"/reservations/{neighbour['reservation_id']}/check-in")).is_success
        unknown = str(uuid.uuid4())

        doubled = await api.post(
            "/check-ins",
            json={"check_ins": [{"reservation_id": unknown}, {"reservation_id": unknown}]},
        )
        assert doubled.status_code == 422
        assert "appears twice" in doubled.text
        assert "check_ins" in doubled.text

        answer = await api.post(
            "/check-ins",
            json={
                "check_ins": [
                    {"reservation_id": arriving["reservation_id"]},
                    {"reservation_id": neighbour["reservation_id"]},
                    {"reservation_id": unknown},
                    {"reservation_id": moving_on["reservation_id"]},
                ]
            },
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["checked_in"], body["refused"]) == (2, 2)
        outcomes = [(i["outcome"], i["reason"]) for i in body["items"]]
        assert outcomes[0] == ("checked_in", None)
        assert outcomes[1][0] == "refused"
        assert "checked in already" in outcomes[1][1]
        assert outcomes[2] == ("refused", f"no reservation {unknown}")
        assert outcomes[3] == ("checked_in", None)
        assert body["items"][3]["occupant"]["site_id"] == flat
        assert ((await site(api, shelter))["occupied"], (await site(api, flat))["occupied"]) == (
            2,
            4,
        ), "the household went through the shelter to its flat; the neighbour stays"
        lives = (await api.get("/occupants", params={"household_id": household})).json()["items"]
        assert [o["site_id"] for o in lives] == [flat]

        events = await housing_events(
            infra,
            topic_prefix,
            lambda es: (
                sum(e.type == "OccupantCheckedIn" for e in es) >= 3
                and any(e.type == "OccupantCheckedOut" for e in es)
            ),
        )
        moves = [
            (e.type, e.subject)
            for e in events
            if e.type in ("OccupantCheckedIn", "OccupantCheckedOut")
            and str(e.data.household_id) == household
        ]
        # a site's events share its partition, in order; the two sites' may interleave
        assert [t for t, s in moves if s == shelter] == ["OccupantCheckedIn", "OccupantCheckedOut"]
        assert [t for t, s in moves if s == flat] == ["OccupantCheckedIn"]
