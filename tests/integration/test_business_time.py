"""Business time on real Kafka and PostgreSQL (issue 13): dated commands land in their
quota weeks, holds run to the arrival on the simulated clock, a simulated month is
deterministic, and occupancy "as of" a past date is answerable."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from allocation_support import allocation_service, an_assignment, household
from ankommen_local.infra import Endpoints
from ankommen_runtime.auth import Role
from ankommen_runtime.clock import start_of_day
from ankommen_runtime.local_issuer import LocalIssuer, audience_of
from ankommen_runtime.simulation import ModeMismatch
from ankommen_runtime.simulation_driver import settled
from housing.app import HousingSettings, create_app
from housing_support import housing, housing_events
from simulation_support import Simulated, simulated, simulation_settings
from support import running

MONDAY = datetime(2015, 10, 5, 6, 0, tzinfo=UTC)  # 08:00 in Hannover, ISO week 41


async def open_site(api: Any, name: str, capacity: int, at: datetime, **extra: Any) -> str:
    body = {
        "name": name,
        "pillar": "wohnheim",
        "district": 9,
        "operator": "DRK",
        "capacity": capacity,
        "occurred_at": at.isoformat(),
        **extra,
    }
    response = await api.post("/sites", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["site_id"])


def fingerprint(events: list[Any]) -> list[tuple[Any, ...]]:
    """Everything of an event but the moment it was recorded."""
    return [
        (
            e.event_id,
            e.type,
            e.subject,
            e.sequence,
            e.occurred_at,
            e.correlation_id,
            e.causation_id,
            e.data.model_dump_json(),
        )
        for e in events
    ]


# -- quota weeks ---------------------------------------------------------------------------


async def test_weekly_batches_dated_in_the_past_land_in_their_quota_weeks(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with allocation_service(infra, database, topic_prefix) as api:
        period = {
            "starts_on": "2015-10-01",
            "ends_on": "2015-12-31",
            "expected_persons": 3000,
            "weekly_quota": 250,
        }
        created = await api.post("/quota-periods", json=period)
        assert created.status_code == 201, created.text
        quota = created.json()["quota_period_id"]
        # Entered today (2026), decided in October 2015. The second batch was decided on a
        # Sunday night in Hannover (22:30 UTC is already Monday there): week 42, not 41.
        week_41 = {
            "occurred_at": "2015-10-07",
            "expected_arrival_at": "2015-10-12T08:00:00+02:00",
            "assignments": [
                an_assignment("NI-2015-41-1", size=3, quota_period_id=quota),
                an_assignment("NI-2015-41-2", size=2, quota_period_id=quota),
            ],
        }
        week_42 = {
            "occurred_at": "2015-10-11T22:30:00+00:00",
            "assignments": [an_assignment("NI-2015-42-1", size=4, quota_period_id=quota)],
        }
        for batch in (week_41, week_42):
            response = await api.post("/assignments/batch", json=batch)
            assert response.status_code == 201, response.text

        [view] = (await api.get("/quota-periods")).json()["items"]
        weeks = {w["week_starting"]: w["assigned_persons"] for w in view["weeks"]}
        assert weeks == {"2015-10-05": 5, "2015-10-12": 4}

        first = (await api.post("/assignments/batch", json=week_41)).json()["items"][0]
        detail = await household(api, first["household_id"])
        assert datetime.fromisoformat(detail["assigned_at"]) == start_of_day(
            datetime(2015, 10, 7).date()
        )
        assert detail["expected_arrival_at"].startswith("2015-10-12T06:00:00")

        future = an_assignment("NI-2031-1", occurred_at="2031-01-01")
        refused = await api.post("/assignments", json=future)
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == ["body", "occurred_at"]
        too_far = an_assignment(
            "NI-2015-99", occurred_at="2015-10-07", expected_arrival_at="2016-10-07"
        )
        refused = await api.post("/assignments", json=too_far)
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == ["body", "expected_arrival_at"]


# -- rule 1 on the simulated clock ---------------------------------------------------------


async def test_a_hold_for_an_arrival_next_week_lasts_to_it_and_expires_after_the_grace(
    infra: Endpoints, new_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> None:
    async with simulated(infra, new_database, topic_prefix, start=MONDAY) as sim:
        await open_site(sim.housing, "Wohnheim Tresckowstraße", 20, MONDAY)
        await sim.driver.settle()
        arrival = MONDAY + timedelta(days=7)
        response = await sim.allocation.post(
            "/assignments",
            json=an_assignment("NI-2015-41-7", expected_arrival_at=arrival.isoformat()),
        )
        assert response.status_code == 201, response.text
        household_id = response.json()["household_id"]
        await sim.driver.settle()
        reserved = await household(sim.allocation, household_id)
        assert reserved["status"] == "reserved"
        grace = timedelta(hours=48)
        until = datetime.fromisoformat(reserved["pending"]["reserved_until"])
        assert until == arrival + grace, "held to the arrival plus the grace, not 48 h from now"

        await sim.driver.advance(arrival + timedelta(hours=1))  # next week, on the bus day
        assert (await household(sim.allocation, household_id))["status"] == "reserved"

        await sim.driver.advance(arrival + grace + timedelta(hours=1))
        overdue = await household(sim.allocation, household_id)
        assert overdue["status"] == "arrival_overdue", "a task, never placed elsewhere"
        assert overdue["pending"] is None
        assert overdue["history"][-1]["kind"] == "task"
        assert (await sim.allocation.get("/placements/summary")).json()["by_status"][
            "arrival_overdue"
        ]["households"] == 1

        events = await sim.events(
            "housing", lambda es: any(e.type == "ReservationReleased" for e in es)
        )
        [released] = [e for e in events if e.type == "ReservationReleased"]
        assert released.data.reason.value == "expired"
        assert released.occurred_at == arrival + grace, "released when the hold ran out"
        assert released.recorded_at.year == datetime.now(UTC).year, "recorded on the wall clock"
        decided = await sim.events(
            "allocation", lambda es: sum(e.type == "PlacementDecided" for e in es) >= 1
        )
        assert sum(e.type == "PlacementDecided" for e in decided) == 1, "no second placement"

        # Staff close the task: the household is expected on Friday; placed again.
        friday = arrival + timedelta(days=4)
        confirmed = await sim.allocation.post(
            f"/households/{household_id}/arrival",
            json={"expected_arrival_at": friday.isoformat()},
        )
        assert confirmed.status_code == 200, confirmed.text
        await sim.driver.settle()
        again = await household(sim.allocation, household_id)
        assert again["status"] == "reserved"
        assert datetime.fromisoformat(again["pending"]["reserved_until"]) == friday + grace


async def clocks_to(sim: Simulated, to: datetime) -> dict[str, dict[str, Any]]:
    """Every clock to ``to`` in the driver's order; each service's answer."""
    answers = {}
    for name, api in (("allocation", sim.allocation), ("housing", sim.housing)):
        response = await api.post(
            "/_simulation/clock", json={"to": to.isoformat()}, headers=sim.driver.headers[name]
        )
        assert response.status_code == 200, response.text
        answers[name] = response.json()
    return answers


async def test_the_clocks_answers_say_whether_their_sweeps_left_anything_on_its_way(
    infra: Endpoints, new_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> None:
    """A step whose sweeps did nothing needs no barrier (``SimulationDriver.move_clocks``);
    one whose sweep released a hold must not be taken as settled."""
    async with simulated(infra, new_database, topic_prefix, start=MONDAY) as sim:
        await open_site(sim.housing, "Wohnheim Am Lindener Berg", 20, MONDAY)
        await sim.driver.settle()
        response = await sim.allocation.post(
            "/assignments",
            json=an_assignment("NI-2015-41-8", expected_arrival_at=MONDAY.isoformat()),
        )
        assert response.status_code == 201, response.text
        await sim.driver.settle()
        before = await sim.driver.backlog()

        # Nothing falls due in the next hour: the answers settle the step by themselves.
        # (A relay's idle look at its outbox, every 50 ms here, is work too: an answer
        # taken while one ran is not quiet, and the step then goes to the barrier.)
        hour = MONDAY
        for _ in range(5):
            hour += timedelta(minutes=10)
            answers = await clocks_to(sim, hour)
            parts = {name: a["backlog"] for name, a in answers.items()}
            assert all(p["outbox"] == 0 for p in parts.values())
            assert settled({n: {**p, "quiet": True} for n, p in parts.items()})
            if settled(parts):
                break
        else:
            raise AssertionError(f"five quiet advances, none answered settled: {parts}")
        assert parts["housing"]["ends"] == before["housing"]["ends"], "nothing was published"

        # Past the grace, housing's sweep releases the hold: its event is in the outbox
        # or already out, and allocation (answering first) has not handled it.
        answers = await clocks_to(sim, MONDAY + timedelta(days=3))
        parts = {name: a["backlog"] for name, a in answers.items()}
        published = sum(parts["housing"]["ends"].values()) - sum(before["housing"]["ends"].values())
        assert parts["housing"]["outbox"] + published >= 1, "the release is on its way"
        assert not settled(parts)
        assert await sim.driver.settle() >= 1
        events = await sim.events(
            "housing", lambda es: any(e.type == "ReservationReleased" for e in es)
        )
        assert [e.data.reason.value for e in events if e.type == "ReservationReleased"] == [
            "expired"
        ]


async def test_the_simulated_clock_never_goes_back_and_needs_the_operations_role(
    infra: Endpoints, new_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> None:
    async with simulated(infra, new_database, topic_prefix, start=MONDAY) as sim:
        headers = sim.driver.headers["housing"]
        later = (MONDAY + timedelta(days=1)).isoformat()
        assert (
            await sim.housing.post("/_simulation/clock", json={"to": later}, headers=headers)
        ).status_code == 200
        back = await sim.housing.post(
            "/_simulation/clock", json={"to": MONDAY.isoformat()}, headers=headers
        )
        assert back.status_code == 409
        assert "never goes back" in back.json()["detail"]
        # The test client sends a token with every role; this request goes without one.
        request = sim.housing.build_request("POST", "/_simulation/clock", json={"to": later})
        del request.headers["authorization"]
        anonymous = await sim.housing.send(request)
        assert anonymous.status_code == 401
        staff = LocalIssuer().bearer([Role.HOUSING_STAFF], audience=audience_of("housing"))
        not_operations = await sim.housing.post(
            "/_simulation/clock", json={"to": later}, headers=staff
        )
        assert not_operations.status_code == 403


async def test_the_simulation_route_does_not_exist_outside_a_simulation(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with housing(database, infra, topic_prefix) as api:
        response = await api.post("/_simulation/clock", json={"to": "2015-10-05"})
        assert response.status_code == 404


# -- a simulated month, twice --------------------------------------------------------------


async def a_month(sim: Simulated) -> tuple[list[Any], float]:
    """Two sites, weekly arrivals, check-ins and a no-show, daily steps for 31 days."""
    started = time.perf_counter()
    home = await open_site(sim.housing, "Wohnheim Am Ihmeufer", 12, MONDAY)
    await open_site(sim.housing, "Wohnheim Hildesheimer Straße", 8, MONDAY)
    await sim.driver.settle()
    day = MONDAY
    for n in range(31):
        day = MONDAY + timedelta(days=n)
        if n > 0:
            await sim.driver.advance(day)
        if n % 7 == 0:  # Mondays: the Land's batch, arriving on Thursday
            batch = {
                "occurred_at": day.isoformat(),
                "expected_arrival_at": (day + timedelta(days=3)).isoformat(),
                "assignments": [an_assignment(f"NI-2015-{n:02d}-{i}", size=2) for i in range(3)],
            }
            response = await sim.allocation.post("/assignments/batch", json=batch)
            assert response.status_code == 201, response.text
            await sim.driver.settle()
        if n % 7 == 3:  # Thursdays: two of three households arrive; one does not show up
            households = (await sim.allocation.get("/households?status=reserved")).json()["items"]
            for h in sorted(households, key=lambda h: h["land_reference"])[:2]:
                check_in = await sim.housing.post(
                    f"/reservations/{h['pending']['reservation_id']}/check-in",
                    json={"occurred_at": day.isoformat()},
                )
                assert check_in.status_code == 201, check_in.text
            await sim.driver.settle()
    elapsed = time.perf_counter() - started
    occupancy = await sim.housing.get("/occupancy", params={"as_of": "2015-10-09"})
    assert occupancy.status_code == 200
    assert home
    events = await sim.all_events("housing") + await sim.all_events("allocation")
    return events, elapsed


async def test_a_simulated_month_runs_in_seconds_and_twice_gives_the_same_events(
    infra: Endpoints, new_database: Callable[[], Awaitable[str]]
) -> None:
    runs = []
    for prefix in ("t" + time.strftime("%H%M%S") + "a.", "t" + time.strftime("%H%M%S") + "b."):
        async with simulated(infra, new_database, prefix, start=MONDAY, seed=41) as sim:
            runs.append(await a_month(sim))
    (first, first_seconds), (second, second_seconds) = runs
    types = {e.type for e in first}
    assert {"ShelterOpened", "RefugeeAssigned", "BedReserved", "OccupantCheckedIn"} <= types
    assert "ReservationReleased" in types, "the no-shows' holds ran out within the month"
    assert fingerprint(first) == fingerprint(second), "same seed, same events"
    assert [e.recorded_at for e in first] != [e.recorded_at for e in second]
    assert all(e.occurred_at.year == 2015 for e in first)
    print(f"simulated month: {first_seconds:.1f} s and {second_seconds:.1f} s")


# -- occupancy as of a past date -----------------------------------------------------------


async def test_occupancy_as_of_a_past_date_comes_from_recorded_check_in_and_out_dates(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    # The wall-clock sweeper would release the 2015 hold at once: it sleeps here.
    async with housing(database, infra, topic_prefix, expiry_sweep_seconds=3600) as api:
        opened = datetime(2015, 10, 1, 8, 0, tzinfo=UTC)
        site_id = await open_site(api, "Notunterkunft Messehalle 27", 100, opened)
        rid = "8d1c7b6e-0000-4000-8000-000000000001"
        household_id = "8d1c7b6e-0000-4000-8000-0000000000aa"
        # Recorded today, happened in 2015: reserved on 10 Oct for an arrival on 12 Oct.
        reserve = {
            "reservation_id": rid,
            "site_id": site_id,
            "household_id": household_id,
            "places": 4,
            "occurred_at": "2015-10-10",
            "expected_arrival_at": "2015-10-12",
        }
        made = await api.post("/reservations", json=reserve)
        assert made.status_code == 201, made.text
        early = await api.post(f"/reservations/{rid}/check-in", json={"occurred_at": "2015-10-09"})
        assert early.status_code == 409, "a check-in before its reservation is refused"
        assert "before reservation" in early.json()["detail"]
        before_check_in_was_recorded = datetime.now(UTC)
        checked_in = await api.post(
            f"/reservations/{rid}/check-in", json={"occurred_at": "2015-10-12"}
        )
        assert checked_in.status_code == 201, checked_in.text
        backwards = await api.post(
            f"/sites/{site_id}/check-outs",
            json={"household_id": household_id, "reason": "moved_out", "occurred_at": "2015-10-11"},
        )
        assert backwards.status_code == 409, "a check-out before the check-in is refused"
        out = await api.post(
            f"/sites/{site_id}/check-outs",
            json={"household_id": household_id, "reason": "moved_out", "occurred_at": "2015-10-20"},
        )
        assert out.status_code == 201, out.text

        async def as_of(day: str, **extra: str) -> dict[str, int]:
            response = await api.get("/occupancy", params={"as_of": day, **extra})
            assert response.status_code == 200, response.text
            total: dict[str, int] = response.json()["total"]
            return total

        assert (await as_of("2015-09-30"))["capacity"] == 0, "not open yet"
        assert (await as_of("2015-10-11"))["reserved"] == 4
        assert (await as_of("2015-10-11"))["occupied"] == 0
        assert (await as_of("2015-10-15"))["occupied"] == 4
        assert (await as_of("2015-10-15"))["reserved"] == 0
        assert (await as_of("2015-10-25"))["occupied"] == 0
        # What did we know then? Before the check-in was recorded, nobody lived there.
        known_then = await as_of("2015-10-15", known_at=before_check_in_was_recorded.isoformat())
        assert known_then["occupied"] == 0

        # A change dated before the latest recorded one is refused; views keep their past.
        grown = await api.post(
            f"/sites/{site_id}/capacity", json={"capacity": 150, "occurred_at": "2015-11-02"}
        )
        assert grown.status_code == 200, grown.text
        backdated = await api.post(
            f"/sites/{site_id}/capacity", json={"capacity": 120, "occurred_at": "2015-11-01"}
        )
        assert backdated.status_code == 409, "dated before the latest recorded change"
        assert (await as_of("2015-10-15"))["capacity"] == 100
        assert (await as_of("2015-11-03"))["capacity"] == 150
        events = await housing_events(
            infra, topic_prefix, lambda es: sum(e.type == "OccupantCheckedOut" for e in es) == 1
        )
        dates = {e.type: e.occurred_at.date().isoformat() for e in events}
        assert dates["ShelterOpened"] == "2015-10-01"
        assert dates["OccupantCheckedIn"] == "2015-10-11"  # 00:00 Hannover = 22:00 UTC
        assert dates["OccupantCheckedOut"] == "2015-10-19"


# -- the guard -----------------------------------------------------------------------------


async def test_a_simulation_refuses_a_live_database_and_a_live_service_a_simulated_one(
    infra: Endpoints, new_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> None:
    live = await new_database()
    async with housing(live, infra, topic_prefix) as api:
        await open_site(api, "Wohnheim", 10, MONDAY)  # live data
    settings = HousingSettings(
        **simulation_settings("housing", infra, live, topic_prefix, MONDAY, 1)
    )
    with pytest.raises(ModeMismatch, match="live data"):
        async with running(create_app(settings)):
            pass

    simulated_db = await new_database()
    settings = HousingSettings(
        **simulation_settings("housing", infra, simulated_db, topic_prefix, MONDAY, 1)
    )
    async with running(create_app(settings)):
        pass
    with pytest.raises(ModeMismatch, match="belongs to a simulation run"):
        async with housing(simulated_db, infra, topic_prefix):
            pass
