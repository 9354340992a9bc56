"""Allocation's side of the placement saga on real Kafka and PostgreSQL (the test is housing)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from allocation_support import (
    FakeHousing,
    allocation_events,
    allocation_service,
    an_assignment,
    everything_published,
    household,
    of_type,
    sweep_rounds,
    until_housing_consumed,
    until_sites,
    until_status,
)
from ankommen_contracts import Envelope, Pillar
from ankommen_contracts.events.allocation import RelocationReason
from ankommen_contracts.events.housing import (
    BedReserved,
    CapacityChangeReason,
    ClosingReason,
    ShelterCapacityChanged,
    ShelterClosing,
)
from ankommen_local.infra import Endpoints
from support import eventually


async def test_an_assignment_flows_to_a_checked_in_bed(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with (
        allocation_service(infra, database, topic_prefix) as api,
        FakeHousing(infra, topic_prefix) as housing,
    ):
        home = await housing.open("Wohnheim Tresckowstraße", Pillar.WOHNHEIM, 100, district=9)
        await housing.open("Ex-Oststadtkrankenhaus", Pillar.NOTUNTERKUNFT, 800, district=4)
        await until_sites(api, 2)

        correlation = uuid.uuid4()
        created = await api.post(
            "/assignments",
            json=an_assignment("NI-2016-0042", size=4),
            headers={"x-correlation-id": str(correlation)},
        )
        assert created.status_code == 201, created.text
        household_id = created.json()["household_id"]
        assert created.json()["status"] == "placing"

        events = await allocation_events(
            infra, topic_prefix, lambda es: len(of_type(es, "PlacementDecided")) >= 1
        )
        assert [e.type for e in events] == ["RefugeeAssigned", "PlacementDecided"]
        assert {e.subject for e in events} == {household_id}
        assert all(e.correlation_id == correlation for e in events)
        [request] = of_type(events, "PlacementDecided")
        assert request.site_id == home, "a new arrival goes to the Wohnheim, not the shelter"
        assert (request.places, request.attempt, request.pillar) == (4, 1, Pillar.WOHNHEIM)
        assert "new arrival" in request.reason

        reserved = await housing.reserve(request)
        await until_status(api, household_id, "reserved")
        checked_in = await housing.check_in(request)
        found = await until_status(api, household_id, "housed")
        assert found["site"]["site_id"] == str(home)
        assert found["site"]["pillar"] == "wohnheim"
        assert found["site"]["checked_in_at"]
        assert found["pending"] is None
        assert [h["kind"] for h in found["history"]] == [
            "assigned",
            "decided",
            "reserved",
            "housed",
        ]
        assert "new arrival" in found["history"][1]["reason"]

        sites = {s["site_id"]: s for s in (await api.get("/sites")).json()["items"]}
        assert (sites[str(home)]["occupied"], sites[str(home)]["free"]) == (4, 96)

        # The same housing events delivered again change nothing.
        await housing.deliver_again(reserved)
        await housing.deliver_again(checked_in)
        marker = await housing.open("Wohnung Limmerstraße", Pillar.WOHNUNG, 2, district=10)
        await until_sites(api, 3)
        await until_housing_consumed(infra, topic_prefix)  # the duplicates were applied too
        assert await household(api, household_id) == found
        sites = {s["site_id"]: s for s in (await api.get("/sites")).json()["items"]}
        assert (sites[str(home)]["occupied"], sites[str(home)]["reserved"]) == (4, 0)
        assert sites[str(marker)]["free"] == 2

        summary = (await api.get("/placements/summary")).json()
        assert summary["by_status"]["housed"] == {"households": 1, "persons": 4}
        assert summary["living_by_pillar"]["wohnheim"] == {"households": 1, "persons": 4}

        everything = await everything_published(infra, topic_prefix, database)
        assert [e.type for e in everything] == ["RefugeeAssigned", "PlacementDecided"]


async def test_rejections_move_to_the_next_candidate_then_waitlist_then_retry(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with (
        allocation_service(infra, database, topic_prefix) as api,
        FakeHousing(infra, topic_prefix) as housing,
    ):
        big = await housing.open("Wohnheim A", Pillar.WOHNHEIM, 10)
        small = await housing.open("Wohnheim B", Pillar.WOHNHEIM, 5)
        await until_sites(api, 2)
        household_id = (await api.post("/assignments", json=an_assignment("NI-1", 4))).json()[
            "household_id"
        ]

        def decisions(n: int) -> Callable[[list[Envelope[Any]]], bool]:
            return lambda es: len(of_type(es, "PlacementDecided", household_id)) >= n

        [first] = of_type(
            await allocation_events(infra, topic_prefix, decisions(1)), "PlacementDecided"
        )
        assert first.site_id == big, "most free places first"
        await housing.reject(first)

        events = await allocation_events(infra, topic_prefix, decisions(2))
        second = of_type(events, "PlacementDecided")[1]
        assert second.site_id == small, "the next candidate; the rejected site is not tried again"
        assert second.attempt == 2
        assert second.reservation_id != first.reservation_id

        await housing.reject(second, free=1)
        events = await allocation_events(
            infra, topic_prefix, lambda es: bool(of_type(es, "PlacementFailed"))
        )
        [failed] = of_type(events, "PlacementFailed")
        assert failed.waitlisted
        assert failed.persons == 4
        found = await until_status(api, household_id, "waitlisted")
        assert [h["kind"] for h in found["history"]][-1] == "failed"

        [waiting] = (await api.get("/waitlist")).json()["items"]
        assert (waiting["household_id"], waiting["position"]) == (household_id, 1)
        [alert] = (await api.get("/alerts")).json()["items"]
        assert alert["household_id"] == household_id
        assert "already tried in this round" in alert["reason"]

        # Places appear: the waitlist is retried in the same transaction as the fold.
        await housing.send(
            ShelterCapacityChanged(
                site_id=big, capacity=30, blocked_places=0, reason=CapacityChangeReason.EXPANDED
            )
        )
        events = await allocation_events(infra, topic_prefix, decisions(3))
        third = of_type(events, "PlacementDecided")[2]
        assert third.site_id == big
        assert third.attempt == 3
        assert third.reason.startswith("from the waitlist: ")
        await until_status(api, household_id, "placing")
        assert (await api.get("/alerts")).json()["items"] == []
        assert len(of_type(events, "PlacementFailed")) == 1, "one alert, not one per retry"


async def test_a_request_without_an_answer_is_sent_again_unchanged(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with (
        allocation_service(infra, database, topic_prefix, placement_timeout_seconds=1.0) as api,
        FakeHousing(infra, topic_prefix) as housing,
    ):
        await housing.open("Wohnheim", Pillar.WOHNHEIM, 50)
        await until_sites(api, 1)
        household_id = (await api.post("/assignments", json=an_assignment("NI-7", 2))).json()[
            "household_id"
        ]
        events = await allocation_events(
            infra, topic_prefix, lambda es: len(of_type(es, "PlacementDecided")) >= 2
        )
        first, again = of_type(events, "PlacementDecided")[:2]
        assert again == first, "same reservation_id and attempt: re-sent, never doubled"
        ready = (await api.get("/health/ready")).json()
        assert ready["checks"]["placement-timeouts"] == "ok"

        await housing.reserve(first)
        await until_status(api, household_id, "reserved")
        published = await everything_published(infra, topic_prefix, database)
        sent = len(of_type(published, "PlacementDecided"))
        # Not a fixed sleep: two more complete rounds of the timeout sweep, counted.
        rounds = await sweep_rounds(api, "placement-timeouts")

        async def two_more_rounds() -> bool:
            return await sweep_rounds(api, "placement-timeouts") >= rounds + 2

        await eventually(two_more_rounds, what="two more rounds of the placement-timeout sweep")
        later = of_type(
            await everything_published(infra, topic_prefix, database), "PlacementDecided"
        )
        assert len(later) == sent, "an answered request is not sent again"


async def test_departure_while_reserving_cancels_and_stray_reservations_are_compensated(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with (
        allocation_service(infra, database, topic_prefix) as api,
        FakeHousing(infra, topic_prefix) as housing,
    ):
        home = await housing.open("Wohnheim", Pillar.WOHNHEIM, 50)
        await until_sites(api, 1)
        household_id = (await api.post("/assignments", json=an_assignment("NI-9", 3))).json()[
            "household_id"
        ]
        departed = await api.post(
            f"/households/{household_id}/departure", json={"reason": "moved_away"}
        )
        assert departed.status_code == 200, departed.text
        assert departed.json()["status"] == "departed"
        again = await api.post(f"/households/{household_id}/departure", json={"reason": "other"})
        assert again.status_code == 409
        assert "departed already" in again.json()["detail"]

        events = await allocation_events(
            infra, topic_prefix, lambda es: bool(of_type(es, "RefugeeDeparted"))
        )
        [request] = of_type(events, "PlacementDecided")
        [cancelled] = of_type(events, "PlacementCancelled")
        assert (cancelled.reservation_id, cancelled.site_id) == (request.reservation_id, home)
        [gone] = of_type(events, "RefugeeDeparted")
        assert (gone.persons, gone.site_id) == (3, None)
        types = [e.type for e in events]
        assert types.index("PlacementCancelled") < types.index("RefugeeDeparted")

        # Housing reserved before it saw the cancellation: compensated already, nothing new.
        await housing.reserve(request)
        # A reservation the household never waits for: handed back (PlacementCancelled).
        stray = uuid.uuid4()
        await housing.send(
            BedReserved(
                site_id=home,
                reservation_id=stray,
                household_id=uuid.UUID(household_id),
                places=3,
                expires_at=datetime.now(UTC) + timedelta(hours=1),
            )
        )
        events = await allocation_events(
            infra, topic_prefix, lambda es: len(of_type(es, "PlacementCancelled")) >= 2
        )
        cancellations = of_type(events, "PlacementCancelled")
        assert [c.reservation_id for c in cancellations] == [request.reservation_id, stray]
        assert "no longer wanted" in cancellations[1].reason


async def test_a_closing_site_relocates_its_residents_and_shelters_are_dissolved(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with (
        allocation_service(infra, database, topic_prefix) as api,
        FakeHousing(infra, topic_prefix) as housing,
    ):
        hall = await housing.open("Messehalle 27", Pillar.NOTUNTERKUNFT, 100, district=6)
        pavilion = await housing.open("Deutscher Pavillon", Pillar.NOTUNTERKUNFT, 50, district=6)
        await until_sites(api, 2)
        created = await api.post(
            "/assignments/batch",
            json={"assignments": [an_assignment("NI-A", 2), an_assignment("NI-B", 2)]},
        )
        assert created.status_code == 201, created.text
        a, b = (item["household_id"] for item in created.json()["items"])
        events = await allocation_events(
            infra, topic_prefix, lambda es: len(of_type(es, "PlacementDecided")) >= 2
        )
        requests = {str(r.household_id): r for r in of_type(events, "PlacementDecided")}
        assert {r.site_id for r in requests.values()} == {hall}
        assert "a Notunterkunft only because nothing else is free" in requests[a].reason
        for request in requests.values():
            await housing.reserve(request)
            await housing.check_in(request)
        await until_status(api, a, "housed")
        await until_status(api, b, "housed")

        # The hall closes: both households must move; the pavilion is the only place left.
        await housing.send(ShelterClosing(site_id=hall, reason=ClosingReason.BUILDING_NEEDED))
        events = await allocation_events(
            infra, topic_prefix, lambda es: len(of_type(es, "PlacementDecided")) >= 4
        )
        relocations = of_type(events, "RelocationRequested")
        assert {(str(r.household_id), r.from_site_id, r.reason) for r in relocations} == {
            (a, hall, RelocationReason.SITE_CLOSING),
            (b, hall, RelocationReason.SITE_CLOSING),
        }
        moves = {h: of_type(events, "PlacementDecided", h)[-1] for h in (a, b)}
        assert {m.site_id for m in moves.values()} == {pavilion}
        found = await household(api, a)
        assert found["status"] == "housed", "it lives in the hall until it moved"
        assert found["relocation_reason"] == "site_closing"

        await housing.reserve(moves[a])
        await housing.check_in(moves[a])
        events = await allocation_events(
            infra, topic_prefix, lambda es: bool(of_type(es, "RefugeeRelocated"))
        )
        [relocated] = of_type(events, "RefugeeRelocated")
        assert (relocated.from_site_id, relocated.to_site_id) == (hall, pavilion)
        assert (await until_status(api, a, "housed"))["site"]["site_id"] == str(pavilion)

        # A regular place opens: the longest stay in a Notunterkunft moves first.
        await housing.reserve(moves[b])
        await housing.check_in(moves[b])
        await eventually(lambda: _lives_at(api, b, pavilion))
        home = await housing.open("Wohnheim Am Bahndamm", Pillar.WOHNHEIM, 2, district=11)
        events = await allocation_events(
            infra, topic_prefix, lambda es: len(of_type(es, "PlacementDecided", a)) >= 3
        )
        [dissolution] = [
            r
            for r in of_type(events, "RelocationRequested")
            if r.reason is RelocationReason.EMERGENCY_DISSOLUTION
        ]
        assert str(dissolution.household_id) == a, "the longest stay in a Notunterkunft first"
        assert of_type(events, "PlacementDecided", a)[-1].site_id == home


async def _lives_at(api: httpx.AsyncClient, household_id: str, site_id: uuid.UUID) -> bool:
    found = await household(api, household_id)
    return found["site"] is not None and found["site"]["site_id"] == str(site_id)


async def test_a_restarted_service_resumes_the_saga_where_it_stopped(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with FakeHousing(infra, topic_prefix) as housing:
        async with allocation_service(infra, database, topic_prefix) as api:
            await housing.open("Wohnheim", Pillar.WOHNHEIM, 20)
            await until_sites(api, 1)
            created = await api.post("/assignments", json=an_assignment("NI-R", 2))
            household_id = created.json()["household_id"]
            events = await allocation_events(
                infra, topic_prefix, lambda es: bool(of_type(es, "PlacementDecided"))
            )
            [request] = of_type(events, "PlacementDecided")

        # Housing answers while allocation is down; the answer waits on the topic.
        await housing.reserve(request)
        async with allocation_service(infra, database, topic_prefix) as api:
            found = await until_status(api, household_id, "reserved")
            assert found["pending"]["reservation_id"] == str(request.reservation_id)
            await housing.check_in(request)
            await until_status(api, household_id, "housed")


async def test_places_appearing_for_a_long_waitlist_are_used_oldest_first_beyond_one_event(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with (
        allocation_service(infra, database, topic_prefix, waitlist_retry_seconds=0.5) as api,
        FakeHousing(infra, topic_prefix) as housing,
    ):
        waiting = []
        for i in range(25):  # one by one: each gets its own place in the queue
            created = await api.post("/assignments", json=an_assignment(f"NI-W-{i:02d}", 1))
            assert created.json()["status"] == "waitlisted"
            waiting.append(created.json()["household_id"])
        assert [w["household_id"] for w in (await api.get("/waitlist")).json()["items"]] == waiting
        assert (await api.get("/alerts")).json()["total"] == 25

        # One event frees 100 places; it places 20 households, the waitlist sweep the rest.
        await housing.open("Deutscher Pavillon", Pillar.NOTUNTERKUNFT, 100)

        async def all_placing() -> list[dict[str, Any]] | None:
            found = (await api.get("/households?status=placing")).json()["items"]
            return found if len(found) == 25 else None

        assert await eventually(all_placing), "every waitlisted household got a decision"
        assert (await api.get("/alerts")).json()["items"] == []
        retried_at = {}
        for household_id in waiting:
            history = (await household(api, household_id))["history"]
            [retry] = [h for h in history if h["reason"].startswith("from the waitlist")]
            retried_at[household_id] = retry["at"]
        first_round = {retried_at[h] for h in waiting[:20]}
        assert len(first_round) == 1, "the event placed the 20 oldest in one transaction"
        assert all(retried_at[h] > max(first_round) for h in waiting[20:])
