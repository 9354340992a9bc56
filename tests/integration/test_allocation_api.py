"""Allocation's HTTP API on real Kafka and PostgreSQL: idempotent assignments, quota periods,
clear errors, youth welfare, and a batch placed without overbooking its own estimate."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

from allocation_support import (
    FakeHousing,
    a_member,
    allocation_events,
    allocation_service,
    an_assignment,
    everything_published,
    household,
    of_type,
    until_sites,
)
from ankommen_contracts import Pillar
from ankommen_local.infra import Endpoints
from ankommen_runtime.topics import event_topic
from support import eventually, read_to_end


async def test_the_same_batch_sent_twice_creates_nothing_new(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with (
        allocation_service(infra, database, topic_prefix) as api,
        FakeHousing(infra, topic_prefix) as housing,
    ):
        await housing.open("Wohnheim", Pillar.WOHNHEIM, 100)
        await until_sites(api, 1)
        minors = {
            "land_reference": "NI-2016-W12-3",
            "members": [
                a_member(age_band="6-17", gender="male", unaccompanied_minor=True),
                a_member(age_band="6-17", gender="male", unaccompanied_minor=True),
            ],
        }
        batch = {
            "assignments": [
                an_assignment("NI-2016-W12-1", 4),
                an_assignment("NI-2016-W12-2", 1),
                minors,
            ]
        }
        first = await api.post("/assignments/batch", json=batch)
        assert first.status_code == 201, first.text
        body = first.json()
        assert (body["created"], body["existing"]) == (3, 0)
        assert [i["outcome"] for i in body["items"]] == ["created"] * 3
        assert [i["status"] for i in body["items"]] == ["placing", "placing", "youth_welfare"]

        again = await api.post("/assignments/batch", json=batch)
        assert again.status_code == 200, again.text
        assert (again.json()["created"], again.json()["existing"]) == (0, 3)
        assert [i["household_id"] for i in again.json()["items"]] == [
            i["household_id"] for i in body["items"]
        ]
        single = await api.post("/assignments", json=an_assignment("NI-2016-W12-1", 4))
        assert single.status_code == 200
        assert single.json()["household_id"] == body["items"][0]["household_id"]
        assert single.json()["outcome"] == "existing"

        # The same reference with other data is not a repeat: refused, nothing happens.
        changed = {
            "assignments": [an_assignment("NI-2016-W12-9", 2), an_assignment("NI-2016-W12-2", 2)]
        }
        conflict = await api.post("/assignments/batch", json=changed)
        assert conflict.status_code == 409
        assert "NI-2016-W12-2" in conflict.json()["detail"]
        assert (await api.get("/households")).json()["total"] == 3
        # a few households by id (the runner's wait for its moves on): only those
        wanted = [body["items"][0]["household_id"], body["items"][2]["household_id"]]
        some = await api.get(
            "/households", params=[("household_id", h) for h in [*wanted, str(uuid.uuid4())]]
        )
        assert sorted(h["household_id"] for h in some.json()["items"]) == sorted(wanted)
        too_many = await api.get(
            "/households", params=[("household_id", str(uuid.uuid4())) for _ in range(101)]
        )
        assert too_many.status_code == 422
        assert too_many.json()["detail"][0]["loc"] == ["query", "household_id"]

        youth = (await api.get("/youth-welfare")).json()
        assert (youth["households"], youth["persons"]) == (1, 2)
        assert youth["items"][0]["household_id"] == body["items"][2]["household_id"]
        summary = (await api.get("/placements/summary")).json()
        assert summary["by_status"]["youth_welfare"] == {"households": 1, "persons": 2}
        assert summary["by_status"]["placing"] == {"households": 2, "persons": 5}
        assert summary["total"] == {"households": 3, "persons": 7}

        events = await allocation_events(infra, topic_prefix, lambda es: len(es) >= 5)
        assert Counter(e.type for e in events) == {
            "RefugeeAssigned": 3,
            "PlacementDecided": 2,
            "MinorReferredToYouthWelfare": 2,
        }


async def test_concurrent_identical_assignments_create_one_household(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with allocation_service(infra, database, topic_prefix, pool_max_size=12) as api:
        body = an_assignment("NI-2016-RACE", 2)
        answers = await asyncio.gather(*(api.post("/assignments", json=body) for _ in range(10)))
        assert Counter(a.status_code for a in answers) == {201: 1, 200: 9}
        assert len({a.json()["household_id"] for a in answers}) == 1
        assert (await api.get("/households")).json()["total"] == 1


async def test_bad_input_gets_422_naming_the_field_and_changes_nothing(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with allocation_service(infra, database, topic_prefix) as api:

        async def fields(path: str, body: object) -> set[tuple[object, ...]]:
            response = await api.post(path, json=body)
            assert response.status_code == 422, response.text
            return {tuple(e["loc"][1:]) for e in response.json()["detail"]}

        assert await fields(
            "/assignments",
            {**an_assignment("NI-1"), "name": "Mustermann"},
        ) == {("name",)}
        bad_member = an_assignment("bad reference!", 1)
        bad_member["members"][0] |= {"age_band": "40", "country_of_origin": "Syria"}
        assert await fields("/assignments", bad_member) == {
            ("land_reference",),
            ("members", 0, "age_band"),
            ("members", 0, "country_of_origin"),
        }
        adult = an_assignment("NI-2", 1)
        adult["members"][0]["unaccompanied_minor"] = True
        response = await api.post("/assignments", json=adult)
        assert response.status_code == 422
        assert "unaccompanied_minor is true" in response.text
        assert await fields("/assignments", {"land_reference": "NI-3", "members": []}) == {
            ("members",)
        }
        twice = {"assignments": [an_assignment("NI-4"), an_assignment("NI-4")]}
        response = await api.post("/assignments/batch", json=twice)
        assert response.status_code == 422
        assert "land_reference NI-4 appears twice" in response.text

        unknown_period = an_assignment(
            "NI-5", quota_period_id="0" * 8 + "-0000-4000-8000-" + "0" * 12
        )
        assert await fields("/assignments", unknown_period) == {("quota_period_id",)}
        batch = {"assignments": [an_assignment("NI-6"), unknown_period]}
        assert await fields("/assignments/batch", batch) == {("assignments", 1, "quota_period_id")}

        assert await fields(
            "/quota-periods",
            {
                "starts_on": "2016-02-01",
                "ends_on": "2016-01-01",
                "expected_persons": 1,
                "weekly_quota": 1,
            },
        ) == {()}
        assert (await api.get("/households")).json()["items"] == []
        missing = "00000000-0000-4000-8000-000000000000"
        assert (await api.get(f"/households/{missing}")).status_code == 404
        gone = await api.put(f"/households/{missing}/readiness", json={"independence": "high"})
        assert gone.status_code == 404, "readiness is integration's: no route here"
        assert await fields(f"/households/{missing}/relocation", {"reason": "because"}) == {
            ("reason",)
        }


async def test_quota_periods_count_the_persons_assigned_against_them(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with allocation_service(infra, database, topic_prefix) as api:
        period = {
            "quota_period_id": "6f1c2a4e-1d2b-4c3d-9e8f-0a1b2c3d4e5f",
            "starts_on": "2015-12-01",
            "ends_on": "2016-07-31",
            "expected_persons": 7273,
            "weekly_quota": 150,
        }
        created = await api.post("/quota-periods", json=period)
        assert created.status_code == 201, created.text
        assert created.json()["assigned_persons"] == 0
        assert (await api.post("/quota-periods", json=period)).status_code == 200
        other = await api.post("/quota-periods", json={**period, "weekly_quota": 100})
        assert other.status_code == 409

        for ref, size in (("NI-Q-1", 4), ("NI-Q-2", 3)):
            body = an_assignment(ref, size, quota_period_id=period["quota_period_id"])
            assert (await api.post("/assignments", json=body)).status_code == 201
        [listed] = (await api.get("/quota-periods")).json()["items"]
        assert (listed["assigned_households"], listed["assigned_persons"]) == (2, 7)
        assert listed["remaining_persons"] == 7273 - 7
        [week] = listed["weeks"]
        assert week["assigned_persons"] == 7

        # Read while the service runs: its relay publishes what the last requests committed.
        events = await allocation_events(
            infra, topic_prefix, lambda es: len(of_type(es, "PlacementFailed")) >= 2
        )
        [announced] = of_type(events, "QuotaPeriodAnnounced")
        assert (announced.expected_persons, announced.weekly_quota) == (7273, 150)
        assert {str(a.quota_period_id) for a in of_type(events, "RefugeeAssigned")} == {
            period["quota_period_id"]
        }
        # Nothing was free: every household is waitlisted with an alert, never silence.
        assert len(of_type(events, "PlacementFailed")) == 2


async def test_a_batch_never_asks_for_more_places_than_allocation_thinks_are_free(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with (
        allocation_service(infra, database, topic_prefix) as api,
        FakeHousing(infra, topic_prefix) as housing,
    ):
        a = await housing.open("Wohnheim A", Pillar.WOHNHEIM, 10)
        b = await housing.open("Wohnheim B", Pillar.WOHNHEIM, 10)
        hall = await housing.open("Turnhalle", Pillar.NOTUNTERKUNFT, 100)
        await until_sites(api, 3)
        batch = {"assignments": [an_assignment(f"NI-B-{i:02d}", 2) for i in range(12)]}
        assert (await api.post("/assignments/batch", json=batch)).status_code == 201

        events = await allocation_events(
            infra, topic_prefix, lambda es: len(of_type(es, "PlacementDecided")) >= 12
        )
        requested: Counter[object] = Counter()
        for request in of_type(events, "PlacementDecided"):
            requested[request.site_id] += request.places
        assert requested == {a: 10, b: 10, hall: 4}, "households fill regular places first"
        sites = {s["site_id"]: s for s in (await api.get("/sites")).json()["items"]}
        assert (sites[str(a)]["requested"], sites[str(a)]["free"]) == (10, 0)

        # A housed household's relocation needs a place: 409 when none fits, nothing changes.
        some = of_type(events, "PlacementDecided")[0]
        refused = await api.post(
            f"/households/{some.household_id}/relocation", json={"reason": "household_request"}
        )
        assert refused.status_code == 409
        assert "only a housed household" in refused.json()["detail"]
        await housing.reserve(some)
        await housing.check_in(some)

        async def housed() -> bool:
            return (await household(api, some.household_id))["status"] == "housed"

        assert await eventually(housed)
        moved = await api.post(
            f"/households/{some.household_id}/relocation", json={"reason": "household_request"}
        )
        assert moved.status_code == 409, "every other regular place is requested already"
        assert "no other site fits" in moved.json()["detail"]
        # The same as a list, beside a household nobody knows: each refused alone, 200.
        unknown = uuid.uuid4()
        listed = await api.post(
            "/relocations",
            json={
                "household_ids": [str(some.household_id), str(unknown)],
                "reason": "household_request",
            },
        )
        assert listed.status_code == 200, listed.text
        answer = listed.json()
        assert (answer["moving"], answer["refused"]) == (0, 2)
        assert [i["household_id"] for i in answer["items"]] == [
            str(some.household_id),
            str(unknown),
        ]
        assert "no other site fits" in answer["items"][0]["reason"]
        assert answer["items"][1]["reason"] == "no such household"
        twice = await api.post(
            "/relocations",
            json={"household_ids": [str(unknown)] * 2, "reason": "household_request"},
        )
        assert twice.status_code == 422
        assert "household_ids" in twice.text


async def test_a_medical_need_stays_in_allocation_and_the_event_carries_the_site_requirement(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    """Issue 15: the Land's assignment states the needs (allocation's intake data, shown to
    its staff); RefugeeAssigned carries the household's site requirements only."""
    async with allocation_service(infra, database, topic_prefix) as api:
        body = an_assignment("NI-2016-0815", size=2)
        body["members"][0]["special_needs"] = ["medical", "wheelchair"]
        created = await api.post("/assignments", json=body)
        assert created.status_code == 201, created.text
        household_id = created.json()["household_id"]
        shown = await household(api, household_id)
        assert shown["members"][0]["special_needs"] == ["medical", "wheelchair"]

        published = await everything_published(infra, topic_prefix, database)
        [envelope] = [e for e in published if e.type == "RefugeeAssigned"]
        assert envelope.schema_version == 3
        assert [r.value for r in envelope.data.requirements] == [
            "accessible",
            "not_mass_shelter",
            "not_single_adults",
        ]
        raw = await read_to_end(infra.kafka_bootstrap, event_topic("allocation", topic_prefix))
        assert raw, "allocation published nothing"
        for record in raw:
            for health in (b"special_needs", b"medical", b"wheelchair"):
                assert health not in record.value, (health, record.value[:200])
