"""A site's life over HTTP on real Kafka and PostgreSQL: planned → open → closing → closed,
capacity and blocked places, the occupancy view, and the errors staff see."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
from ankommen_contracts import Envelope
from ankommen_local.infra import Endpoints
from housing_support import housing, housing_events, open_site, reservation, site


async def command(api: httpx.AsyncClient, path: str, body: Any = None, expect: int = 200) -> Any:
    response = await api.post(path, json=body)
    assert response.status_code == expect, response.text
    return response.json()


async def test_a_planned_site_opens_grows_blocks_and_closes_when_empty(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with housing(database, infra, topic_prefix) as api:
        plan = {
            "name": "Modulare Unterkunft Kronsberg",
            "pillar": "wohnheim",
            "district": 6,
            "capacity": 96,
            "planned_opening_on": "2016-11-01",
            "suitability": ["families", "accessible"],
        }
        planned = await command(api, "/sites/planned", plan, expect=201)
        site_id = planned["site_id"]
        assert (planned["status"], planned["operator"], planned["free"]) == ("planned", None, 96)
        refused = await command(api, "/reservations", reservation(site_id), expect=409)
        assert refused["reason"] == "site_not_open"
        no_operator = await command(api, f"/sites/{site_id}/open", expect=409)
        assert "operator" in no_operator["detail"]
        opened = await command(api, f"/sites/{site_id}/open", {"operator": "Johanniter"})
        assert (opened["status"], opened["operator"], opened["capacity"]) == (
            "open",
            "Johanniter",
            96,
        )

        grown = await command(api, f"/sites/{site_id}/capacity", {"capacity": 120})
        assert grown["free"] == 120
        await command(api, "/reservations", reservation(site_id, places=20), expect=201)
        blocked = await command(api, f"/sites/{site_id}/block", {"places": 90})
        assert (blocked["blocked"], blocked["reserved"], blocked["free"]) == (90, 20, 10)
        too_many = await command(api, f"/sites/{site_id}/block", {"places": 11}, expect=409)
        assert "10 free places" in too_many["detail"]
        too_small = await command(api, f"/sites/{site_id}/capacity", {"capacity": 100}, 409)
        assert "20 reserved and 90 blocked" in too_small["detail"]
        unblocked = await command(api, f"/sites/{site_id}/unblock", {"places": 90})
        assert unblocked["blocked"] == 0
        over = await command(api, f"/sites/{site_id}/unblock", {"places": 1}, expect=409)
        assert "0 blocked places" in over["detail"]

        events = await housing_events(
            infra, topic_prefix, lambda es: sum(e.subject == site_id for e in es) >= 7
        )
        mine: list[Envelope[Any]] = [e for e in events if e.subject == site_id]
        assert [e.type for e in mine] == [
            "ShelterPlanned",
            "ReservationRejected",
            "ShelterOpened",
            "ShelterCapacityChanged",
            "BedReserved",
            "ShelterCapacityChanged",
            "ShelterCapacityChanged",
        ]
        changes = [e.data for e in mine if e.type == "ShelterCapacityChanged"]
        assert [(c.capacity, c.blocked_places, c.reason.value) for c in changes] == [
            (120, 0, "expanded"),
            (120, 90, "places_blocked"),
            (120, 0, "places_released"),
        ]


async def test_an_occupied_site_cannot_close_until_everyone_has_left(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with housing(database, infra, topic_prefix) as api:
        site_id = await open_site(api, capacity=10, pillar="notunterkunft", district=13)
        booking = reservation(site_id, places=3)
        await command(api, "/reservations", booking, expect=201)
        await command(api, f"/reservations/{booking['reservation_id']}/check-in", expect=201)

        refused = await command(api, f"/sites/{site_id}/close", expect=409)
        assert "3 persons live here" in refused["detail"]
        closing = await command(
            api, f"/sites/{site_id}/closing", {"reason": "emergency_dissolution"}
        )
        assert closing["status"] == "closing"
        late = await command(api, "/reservations", reservation(site_id), expect=409)
        assert (late["reason"], late["free_places"]) == ("site_closing", 7)
        still = await command(api, f"/sites/{site_id}/close", expect=409)
        assert "relocate them first" in still["detail"]

        stranger = {"household_id": str(uuid.uuid4()), "reason": "moved_out"}
        await command(api, f"/sites/{site_id}/check-outs", stranger, expect=404)
        leaving = {"household_id": booking["household_id"], "reason": "moved_out"}
        left = await command(api, f"/sites/{site_id}/check-outs", leaving, expect=201)
        assert (left["persons"], left["reason"]) == (3, "moved_out")
        await command(api, f"/sites/{site_id}/check-outs", leaving, expect=404)
        closed = await command(api, f"/sites/{site_id}/close")
        assert (closed["status"], closed["occupied"]) == ("closed", 0)
        await command(api, f"/sites/{site_id}/close", expect=409)
        gone = await command(api, "/reservations", reservation(site_id), expect=409)
        assert gone["reason"] == "site_not_open"

        events = await housing_events(
            infra, topic_prefix, lambda es: sum(e.subject == site_id for e in es) >= 8
        )
        assert [e.type for e in events if e.subject == site_id] == [
            "ShelterOpened",
            "BedReserved",
            "OccupantCheckedIn",
            "ShelterClosing",
            "ReservationRejected",
            "OccupantCheckedOut",
            "ShelterClosed",
            "ReservationRejected",
        ]


async def test_queries_filter_and_the_occupancy_view_adds_up(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with housing(database, infra, topic_prefix) as api:
        heim = await open_site(api, capacity=100, pillar="wohnheim", district=2)
        halle = await open_site(api, capacity=200, pillar="notunterkunft", district=2)
        flat = await open_site(api, capacity=4, pillar="wohnung", district=10)
        await command(
            api,
            "/sites/planned",
            {"name": "Plan", "pillar": "wohnheim", "district": 2, "capacity": 50},
            expect=201,
        )
        for site_id, places in ((heim, 30), (halle, 25), (flat, 4)):
            booking = reservation(site_id, places=places)
            await command(api, "/reservations", booking, expect=201)
            if site_id != halle:
                await command(
                    api, f"/reservations/{booking['reservation_id']}/check-in", expect=201
                )
        await command(api, f"/sites/{halle}/block", {"places": 20})

        by_district = (await api.get("/sites", params={"district": 2})).json()["items"]
        assert len(by_district) == 3
        open_two = await api.get("/sites", params={"district": 2, "status": "open"})
        assert {s["site_id"] for s in open_two.json()["items"]} == {heim, halle}
        flats = (await api.get("/sites", params={"pillar": "wohnung"})).json()["items"]
        assert [s["site_id"] for s in flats] == [flat]
        assert (await site(api, flat))["free"] == 0

        view = (await api.get("/occupancy")).json()
        pillars = {r["key"]: r for r in view["by_pillar"]}
        assert pillars["wohnheim"] | {"label": None} == {
            "key": "wohnheim",
            "label": None,
            "sites": 1,  # the planned site holds no places yet
            "capacity": 100,
            "blocked": 0,
            "reserved": 0,
            "occupied": 30,
            "free": 70,
        }
        assert (pillars["notunterkunft"]["reserved"], pillars["notunterkunft"]["blocked"]) == (
            25,
            20,
        )
        districts = {r["key"]: r for r in view["by_district"]}
        assert (districts["02"]["label"], districts["02"]["capacity"]) == ("Vahrenwald-List", 300)
        assert districts["10"]["free"] == 0
        total = view["total"]
        assert (total["capacity"], total["occupied"], total["reserved"], total["free"]) == (
            304,
            34,
            25,
            225,
        )
        occupants = (await api.get("/occupants", params={"site_id": heim})).json()["items"]
        assert [o["persons"] for o in occupants] == [30]
        assert (await api.get("/reservations", params={"status": "checked_in"})).json()[
            "total"
        ] == 2


async def test_bad_input_names_the_field_and_unknown_sites_are_404(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with housing(database, infra, topic_prefix) as api:
        site_id = await open_site(api, capacity=10)

        def fields(response: httpx.Response) -> set[str]:
            assert response.status_code == 422, response.text
            return {str(e["loc"][-1]) for e in response.json()["detail"]}

        assert fields(await api.post(f"/sites/{site_id}/block", json={"places": 0})) == {"places"}
        assert fields(await api.post(f"/sites/{site_id}/block", json={"plätze": 1})) == {
            "places",
            "plätze",
        }
        blocked_reason = {"capacity": 5, "reason": "places_blocked"}
        assert fields(await api.post(f"/sites/{site_id}/capacity", json=blocked_reason)) == {
            "reason"
        }
        assert fields(await api.post(f"/sites/{site_id}/closing", json={"reason": "bored"})) == {
            "reason"
        }
        # Rule 1: the hold length is the city's setting, never the caller's.
        too_big = reservation(site_id, places=31, hold_seconds=3600)
        assert fields(await api.post("/reservations", json=too_big)) == {"places", "hold_seconds"}
        checkout = {"household_id": "nobody", "reason": "moved_out"}
        assert fields(await api.post(f"/sites/{site_id}/check-outs", json=checkout)) == {
            "household_id"
        }

        nowhere = uuid.uuid4()
        for path, body in (
            (f"/sites/{nowhere}/open", None),
            (f"/sites/{nowhere}/capacity", {"capacity": 5}),
            (f"/sites/{nowhere}/block", {"places": 1}),
            (f"/sites/{nowhere}/closing", {"reason": "other"}),
            (f"/sites/{nowhere}/close", None),
            (f"/reservations/{nowhere}/check-in", None),
        ):
            response = await api.post(path, json=body)
            assert response.status_code == 404, (path, response.text)
            assert str(nowhere) in response.json()["detail"]
        assert (await api.get(f"/reservations/{nowhere}")).status_code == 404


async def test_what_a_site_costs_is_recorded_at_its_opening_and_from_a_day_on(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    """The Kostentabelle's inputs: the daily rate per occupied place and the monthly lump
    sum, stated when a site opens and changed from a day on; reporting folds the events."""
    async with housing(database, infra, topic_prefix) as api:
        body = {
            "name": "Ehem. Maritim Hotel",
            "pillar": "notunterkunft",
            "district": 1,
            "operator": "DRK",
            "capacity": 550,
            "daily_rate": "26.40",
            "monthly_fixed_cost": "229166.67",
        }
        opened = await command(api, "/sites", body, expect=201)
        site_id = opened["site_id"]
        assert (opened["daily_rate"], opened["monthly_fixed_cost"]) == ("26.40", "229166.67")
        change = {"daily_rate": "24.00", "valid_from": "2017-01-01"}
        changed = await command(api, f"/sites/{site_id}/rates", change)
        assert (changed["daily_rate"], changed["monthly_fixed_cost"]) == ("24.00", None)
        assert (await site(api, site_id))["daily_rate"] == "24.00"

        def fields(response: httpx.Response) -> set[str]:
            assert response.status_code == 422, response.text
            return {str(e["loc"][-1]) for e in response.json()["detail"]}

        negative = {"daily_rate": "-1", "valid_from": "2017-02-01"}
        assert fields(await api.post(f"/sites/{site_id}/rates", json=negative)) == {"daily_rate"}
        cents = {"monthly_fixed_cost": "10.001", "valid_from": "2017-02-01"}
        assert fields(await api.post(f"/sites/{site_id}/rates", json=cents)) == {
            "monthly_fixed_cost"
        }
        assert fields(await api.post(f"/sites/{site_id}/rates", json={"daily_rate": "1"})) == {
            "valid_from"
        }
        nowhere = await api.post(f"/sites/{uuid.uuid4()}/rates", json=change)
        assert nowhere.status_code == 404, nowhere.text

        events = await housing_events(
            infra, topic_prefix, lambda es: any(e.type == "ShelterRateChanged" for e in es)
        )
        mine = [e.data for e in events if e.subject == site_id]
        assert [(type(d).__name__, d.daily_rate, d.monthly_fixed_cost) for d in mine] == [
            ("ShelterOpened", Decimal("26.40"), Decimal("229166.67")),
            ("ShelterRateChanged", Decimal("24.00"), None),
        ]
        assert mine[1].valid_from == date(2017, 1, 1)

        closed = await command(api, f"/sites/{site_id}/closing", {"reason": "other"})
        assert closed["status"] == "closing"
        await command(api, f"/sites/{site_id}/close")
        refused = await command(api, f"/sites/{site_id}/rates", change, expect=409)
        assert "only a site in use is paid for" in refused["detail"]
