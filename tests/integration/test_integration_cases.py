"""Integrationsmanagement with allocation and housing on real Kafka and PostgreSQL: cases
open from placements and follow relocations, a move-out frees a bed for the waitlist,
redelivery changes nothing, erasure leaves no personal detail anywhere."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from allocation_support import an_assignment, household, until_sites, until_status
from ankommen_contracts import decode, encode, new_envelope
from ankommen_local.infra import Endpoints
from ankommen_runtime.auth import Role
from integration.domain import ReadinessPolicy
from integration_support import (
    City,
    case_of,
    check_in,
    city,
    open_site,
    until,
)
from prometheus_client import REGISTRY
from support import read_to_end, read_topic, until_drained

HOUSING_TYPES_HANDLED = {
    "ShelterPlanned",
    "ShelterOpened",
    "OccupantCheckedIn",
    "OccupantCheckedOut",
}


async def assign(city: City, reference: str, size: int) -> str:
    response = await city.allocation.post("/assignments", json=an_assignment(reference, size))
    assert response.status_code == 201, response.text
    return str(response.json()["household_id"])


async def post(city: City, path: str, district: int, body: Any = None, status: int = 200) -> Any:
    response = await city.integration.post(path, json=body, headers=city.social_worker(district))
    assert response.status_code == status, response.text
    return response.json()


async def integration_events(infra: Endpoints, prefix: str, expected: int) -> list[Any]:
    records = await read_topic(
        infra.kafka_bootstrap,
        f"{prefix}integration.events",
        until=lambda rs: len(rs) >= expected,
    )
    events, seen = [], set()
    for event in (decode(r.value) for r in records):
        if event.event_id not in seen:  # a redelivered copy is the same event
            seen.add(event.event_id)
            events.append(event)
    return events


async def test_a_placement_opens_a_case_and_a_relocation_moves_it_redelivery_changes_nothing(
    infra: Endpoints,
    new_database: Callable[[], Awaitable[str]],
    topic_prefix: str,
    tmp_path: Path,
) -> None:
    async with city(infra, new_database, topic_prefix, tmp_path) as c:
        await open_site(c, "Turnhalle Ricklingen", "notunterkunft", 9, 10)
        await until_sites(c.allocation, 1)
        family = await assign(c, "NI-IM-1", 3)
        await check_in(c, family)

        case = await case_of(c, family, 9)
        assert (case["district"], case["team_id"], case["persons"]) == (9, "im-09", 3)
        assert case["site_pillar"] == "notunterkunft"
        # The social worker of another district does not see it.
        other = await c.integration.get(f"/cases/{case['case_id']}", headers=c.social_worker(10))
        assert other.status_code == 403, other.text
        nowhere = await c.integration.get("/cases", headers=c.as_(Role.SOCIAL_WORKER))
        assert nowhere.status_code == 403, "a social worker without a district sees nothing"
        elsewhere = await c.integration.get(
            "/cases", params={"district": 9}, headers=c.social_worker(10)
        )
        assert elsewhere.status_code == 403
        # The test client sends a token with every request; this one goes without.
        anonymous = c.integration.build_request("GET", "/cases")
        del anonymous.headers["authorization"]
        unauthenticated = await c.integration.send(anonymous)
        assert unauthenticated.status_code == 401
        volunteers = await c.integration.get("/cases", headers=c.as_(Role.VOLUNTEER_COORDINATOR))
        assert volunteers.status_code == 403, "no household data for volunteer coordinators"

        # A Wohnheim opens in Linden-Limmer: allocation moves the family out of the hall.
        home = await open_site(c, "Wohnheim Steigertahlstraße", "wohnheim", 10, 10)
        assert await check_in(c, family) == home
        moved = await case_of(c, family, 9, district=10)
        assert (moved["case_id"], moved["team_id"]) == (case["case_id"], "im-10")
        assert moved["site_id"] == home

        events = await integration_events(infra, topic_prefix, 2)
        assert [e.type for e in events] == ["CaseOpened", "CaseTransferred"]
        assert (events[1].data.from_district, events[1].data.to_district) == (9, 10)

        # Every housing event delivered again: no second case, no second transfer.
        housing_topic = f"{topic_prefix}housing.events"
        records = await read_topic(
            infra.kafka_bootstrap,
            housing_topic,
            until=lambda rs: [decode(r.value).type for r in rs].count("OccupantCheckedIn") == 2,
        )
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for r in records:
                await producer.send_and_wait(
                    r.topic, r.value, key=r.key, headers=list(r.headers), partition=r.partition
                )
        finally:
            await producer.stop()

        async def all_seen_again() -> bool:
            duplicates = REGISTRY.get_sample_value(
                "ankommen_events_consumed_total",
                {"service": "integration", "topic": housing_topic, "outcome": "duplicate"},
            )
            return (duplicates or 0) >= len(handled)

        # Types integration does not handle are ignored before the inbox, not deduplicated.
        handled = [r for r in records if decode(r.value).type in HOUSING_TYPES_HANDLED]
        await until(all_seen_again, f"integration to skip {len(handled)} redelivered events")
        listing = await c.integration.get(
            "/cases", params={"household_id": family}, headers=c.as_(Role.ALLOCATION_STAFF)
        )
        assert [x["case_id"] for x in listing.json()["items"]] == [case["case_id"]]
        # several households at once (a week's move-outs): the cases of any of them
        several = await c.integration.get(
            "/cases",
            params=[("household_id", family), ("household_id", str(uuid.uuid4()))],
            headers=c.as_(Role.ALLOCATION_STAFF),
        )
        assert [x["case_id"] for x in several.json()["items"]] == [case["case_id"]]
        too_many = await c.integration.get(
            "/cases",
            params=[("household_id", str(uuid.uuid4())) for _ in range(101)],
            headers=c.as_(Role.ALLOCATION_STAFF),
        )
        assert too_many.status_code == 422
        assert too_many.json()["detail"][0]["loc"] == ["query", "household_id"]
        moved_again = await case_of(c, family, 10)
        assert (moved_again["district"], moved_again["site_id"]) == (10, home)
        after = await integration_events(infra, topic_prefix, 2)
        assert [e.type for e in after] == ["CaseOpened", "CaseTransferred"]


async def test_integrations_assessment_makes_allocation_relocate_by_ready_for_into_a_wohnung(
    infra: Endpoints,
    new_database: Callable[[], Awaitable[str]],
    topic_prefix: str,
    tmp_path: Path,
) -> None:
    """Readiness is assessed in integration only, by its settings (here the council's
    choice that residence prospects do not affect the standard); allocation consumes
    ReadinessAssessed and relocates by its ``ready_for``, with no rule of its own."""
    indifferent = ReadinessPolicy(prospects_affect_standard=False)
    async with city(infra, new_database, topic_prefix, tmp_path, readiness=indifferent) as c:
        home = await open_site(c, "Wohnheim Tresckowstraße", "wohnheim", 9, 10)
        flat = await open_site(c, "Wohnungen Linden-Süd", "wohnung", 10, 4)
        await until_sites(c.allocation, 2)
        family = await assign(c, "NI-RA-1", 2)
        assert await check_in(c, family) == home, "not assessed: a Wohnheim, never the flat"
        await until_status(c.allocation, family, "housed")
        relocation = f"/households/{family}/relocation"
        move = {"reason": "household_request"}
        refused = await c.allocation.post(relocation, json=move)
        assert refused.status_code == 409, "not assessed: no other place it is ready for"
        case = await case_of(c, family, 9)
        path = f"/cases/{case['case_id']}"

        # Seven months later: B1 German, asylum procedure still running (unclear prospects).
        c.let_months_pass(7)
        for milestone in (
            {"milestone": "language_level", "language_level": "b1", "persons": 2},
            {"milestone": "residence_status", "residence_status": "in_procedure"},
        ):
            await post(c, f"{path}/milestones", 9, milestone, status=201)
        await post(c, f"{path}/readiness", 10, {"independence": "high"}, status=403)
        assessed = (await post(c, f"{path}/readiness", 9, {"independence": "high"}))["readiness"]
        assert (assessed["ready_for"], assessed["ready_for_own_tenancy"]) == ("wohnung", False)
        assert assessed["residence_prospects"] == "unclear", "counted not, by the setting"

        async def allocation_took_it() -> dict[str, Any] | None:
            readiness = (await household(c.allocation, family))["readiness"]
            return readiness if readiness and readiness["ready_for"] == "wohnung" else None

        known = await until(allocation_took_it, "allocation to take integration's assessment")
        assert known == {
            "ready_for": "wohnung",
            "ready_for_own_tenancy": False,
            "assessed_on": c.clock.today().isoformat(),
            "reason": assessed["reason"],
        }
        moved = await c.allocation.post(relocation, json=move)
        assert moved.status_code == 202, moved.text
        pending = moved.json()["pending"]
        assert (pending["site_id"], pending["pillar"], pending["for_review"]) == (
            flat,
            "wohnung",
            False,
        )
        assert "assessed by Integrationsmanagement" in pending["reason"]
        assert "Wohnungen first" in pending["reason"]
        assert await check_in(c, family) == flat

        async def lives_in_the_flat() -> bool:
            now = await household(c.allocation, family)
            return now["status"] == "housed" and now["site"]["site_id"] == flat

        await until(lives_in_the_flat, "allocation to record the household in the flat")
        # A city-rented flat is a relocation within municipal housing: the case follows it.
        moved_case = await case_of(c, family, 9, district=10)
        assert (moved_case["status"], moved_case["site_id"]) == ("open", flat)


async def housed_beside_one_waiting(c: City, reference: str) -> tuple[str, str, str, Any]:
    """A Wohnheim of two places in Ricklingen, a family of two housed there (its case
    open), a second one waitlisted: (site, housed, waiting, the housed one's case)."""
    home = await open_site(c, "Wohnheim Tresckowstraße", "wohnheim", 9, 2)
    await until_sites(c.allocation, 1)
    first = await assign(c, f"{reference}-1", 2)
    await check_in(c, first)
    waiting = await assign(c, f"{reference}-2", 2)
    await until_status(c.allocation, waiting, "waitlisted")
    return home, first, waiting, await case_of(c, first, 9)


async def test_a_completed_move_out_frees_the_bed_for_a_waitlisted_household_then_a_handover(
    infra: Endpoints,
    new_database: Callable[[], Awaitable[str]],
    topic_prefix: str,
    tmp_path: Path,
) -> None:
    async with city(infra, new_database, topic_prefix, tmp_path) as c:
        home, first, waiting, case = await housed_beside_one_waiting(c, "NI-MO")
        path = f"/cases/{case['case_id']}"

        # Bad input: 422 naming the field; a move-out before readiness: 409.
        bad = await c.integration.post(
            f"{path}/milestones",
            json={"milestone": "language_level"},
            headers=c.social_worker(9),
        )
        assert bad.status_code == 422
        assert "language_level" in bad.text
        not_ready = {"target_kind": "social_housing", "target_district": 10}
        await post(c, f"{path}/move-out", 9, not_ready, status=409)

        # Seven months later: B1 German, protection granted, high independence.
        c.let_months_pass(7)
        for milestone in (
            {"milestone": "language_level", "language_level": "b1", "persons": 2},
            {"milestone": "residence_status", "residence_status": "protection_granted"},
            {"milestone": "kita"},
        ):
            await post(c, f"{path}/milestones", 9, milestone, status=201)
        await post(c, f"{path}/milestones", 9, {"milestone": "kita"}, status=409)
        assessed = await post(c, f"{path}/readiness", 9, {"independence": "high"})
        assert assessed["readiness"]["ready_for"] == "wohnung"
        assert assessed["readiness"]["ready_for_own_tenancy"] is True

        async def allocation_knows() -> dict[str, Any] | None:
            readiness = (await household(c.allocation, first))["readiness"]
            return readiness if readiness and readiness["ready_for"] == "wohnung" else None

        known = await until(allocation_knows, "allocation to take integration's assessment")
        assert known["ready_for_own_tenancy"] is True
        assert known["reason"] == assessed["readiness"]["reason"]

        ready = await c.integration.get(
            "/teams/im-09/ready-to-move-out", headers=c.social_worker(9)
        )
        assert [x["case_id"] for x in ready.json()["items"]] == [case["case_id"]]
        loads = await c.integration.get("/caseloads", headers=c.as_(Role.COUNCIL_READER))
        ricklingen = next(t for t in loads.json() if t["district"] == 9)
        assert (ricklingen["cases"], ricklingen["persons"]) == (1, 2)

        await post(c, f"{path}/move-out", 9, not_ready)
        moved = await post(c, f"{path}/move-out/complete", 9, {})
        assert (moved["site_id"], moved["district"], moved["team_id"]) == (None, 10, "im-10")

        # Housing checks the family out; allocation gives the places to the waitlist.
        await until_status(c.allocation, first, "moved_out")
        assert await check_in(c, waiting) == home
        await until_status(c.allocation, waiting, "housed")
        site = (await c.housing.get(f"/sites/{home}")).json()
        assert (site["occupied"], site["free"]) == (2, 0)

        # The move-out delivered again, and once more as a new event: nobody else leaves.
        published = await read_topic(
            infra.kafka_bootstrap,
            f"{topic_prefix}integration.events",
            until=lambda rs: any(decode(r.value).type == "MoveOutCompleted" for r in rs),
        )
        completed = next(decode(r.value) for r in published if b"MoveOutCompleted" in r.value)
        repeat = new_envelope(
            completed.data, sequence=completed.sequence + 100, correlation_id=uuid.uuid4()
        )
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for r in published:
                await producer.send_and_wait(r.topic, r.value, key=r.key, headers=list(r.headers))
            await producer.send_and_wait(
                f"{topic_prefix}integration.events",
                encode(repeat),
                key=repeat.subject.encode(),
                headers=repeat.kafka_headers(),
            )
        finally:
            await producer.stop()

        async def housing_took_the_repeat() -> bool:
            conn = await asyncpg.connect(c.dsns["housing"])
            try:
                return bool(
                    await conn.fetchval(
                        "SELECT count(*) FROM inbox WHERE event_id = $1", repeat.event_id
                    )
                )
            finally:
                await conn.close()

        await until(housing_took_the_repeat, "housing to consume the repeated move-out")
        site = (await c.housing.get(f"/sites/{home}")).json()
        assert (site["occupied"], site["free"]) == (2, 0)
        assert (await household(c.allocation, waiting))["status"] == "housed"

        # Counselling continues in Linden-Limmer, then the case goes to the district.
        handover = {
            "to_structure": "gemeinwesenarbeit",
            "receiving_partner": "Gemeinwesenarbeit Linden-Süd",
        }
        await post(c, f"{path}/handover", 9, handover, status=403)
        closed = await post(c, f"{path}/handover", 10, handover)
        assert (closed["status"], closed["close_reason"]) == ("closed", "handed_over")
        events = await integration_events(infra, topic_prefix, 11)
        types = [
            e.type
            for e in events
            if e.subject == case["case_id"] and e.event_id != repeat.event_id  # the test's
        ]
        assert types[-5:] == [
            "MoveOutPlanned",
            "MoveOutCompleted",
            "CaseTransferred",
            "CaseHandedOver",
            "CaseClosed",
        ]
        checked_out = await read_topic(
            infra.kafka_bootstrap,
            f"{topic_prefix}housing.events",
            until=lambda rs: any(decode(r.value).type == "OccupantCheckedOut" for r in rs),
        )
        reasons = [
            decode(r.value).data.reason.value
            for r in checked_out
            if decode(r.value).type == "OccupantCheckedOut"
        ]
        assert reasons == ["moved_out"]


async def _rows_containing(dsn: str, markers: list[str]) -> list[str]:
    """Every row of every table of a database, as text, that contains a marker."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        hits = []
        for t in tables:
            name = t["table_name"]
            for row in await conn.fetch(f'SELECT t::text AS row FROM "{name}" t'):
                hits += [f"{name}: {m}" for m in markers if m in row["row"]]
        return hits
    finally:
        await conn.close()


async def test_erasure_leaves_no_personal_detail_in_any_table_topic_or_log_and_the_case_counts(
    infra: Endpoints,
    new_database: Callable[[], Awaitable[str]],
    topic_prefix: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    given, family_name = f"Zaynab{uuid.uuid4().hex[:8]}", f"Haddad{uuid.uuid4().hex[:8]}"
    phone, email = "+49 511 7770 4242", f"{given.lower()}@example.org"
    markers = [given, family_name, phone, email, "1987-03-14"]

    async with city(infra, new_database, topic_prefix, tmp_path) as c:
        dsns = list(c.dsns.values())
        await open_site(c, "Wohnheim Am Bahndamm", "wohnheim", 11, 10)
        await until_sites(c.allocation, 1)
        reference = f"NI-ER-{uuid.uuid4().hex[:6]}"
        body = an_assignment(reference, 2)
        body["members"][0]["special_needs"] = ["medical"]  # health data: allocation's only
        created = await c.allocation.post("/assignments", json=body)
        assert created.status_code == 201, created.text
        family = str(created.json()["household_id"])
        assert await _rows_containing(c.dsns["allocation"], ["medical"])
        # Housing's resident list (rule 8): the family as its operator saw it at the door.
        home = await check_in(c, family, [{"family_name": family_name, "given_names": given}])
        listed = await c.housing.get(f"/sites/{home}/residents")
        assert [r["family_name"] for r in listed.json()["items"]] == [family_name]
        case = await case_of(c, family, 11)
        path = f"/cases/{case['case_id']}"
        person = {
            "given_name": given,
            "family_name": family_name,
            "date_of_birth": "1987-03-14",
            "phone": phone,
            "email": email,
        }
        unborn = await c.integration.post(
            f"{path}/people",
            json={**person, "date_of_birth": "4643-03-25"},
            headers=c.social_worker(11),
        )
        assert unborn.status_code == 422, unborn.text  # FastAPI's shape, naming the field
        assert [e["loc"] for e in unborn.json()["detail"]] == [["body", "date_of_birth"]]
        await post(c, f"{path}/people", 11, person, status=201)
        people = await c.integration.get(f"{path}/people", headers=c.social_worker(11))
        assert [p["family_name"] for p in people.json()] == [family_name]
        assert (
            await c.integration.get(f"{path}/people", headers=c.social_worker(1))
        ).status_code == 403
        await post(c, f"{path}/milestones", 11, {"milestone": "kita"}, status=201)
        await post(
            c,
            f"{path}/support-requests",
            11,
            {
                "skill": "homework_help",
                "languages": ["ar"],
                "hours_per_week": 2,
                "involves_children": True,
                "schedule": [{"weekday": "tue", "starts_at": "15:00", "ends_at": "16:30"}],
            },
            status=201,
        )

        erased = await c.integration.post(
            "/erasures", json={"household_id": family}, headers=c.as_(Role.OPERATIONS)
        )
        assert erased.status_code == 202, erased.text
        assert erased.json()["erased_here"] == 1

        async def reference_gone() -> bool:
            return (await household(c.allocation, family))["land_reference"] != reference

        await until(reference_gone, "allocation to erase the Land's reference")

        async def residents_gone() -> bool:
            return await _rows_containing(c.dsns["housing"], [family_name]) == []

        await until(residents_gone, "housing to erase the family from its resident list")

        # The case still counts, its milestones too.
        loads = await c.integration.get("/caseloads", headers=c.as_(Role.COUNCIL_READER))
        assert next(t for t in loads.json() if t["district"] == 11)["cases"] == 1
        kept = await c.integration.get(f"{path}/milestones", headers=c.social_worker(11))
        assert [m["milestone"] for m in kept.json()] == ["kita"]
        asked = await c.integration.get(f"{path}/support-requests", headers=c.social_worker(11))
        assert [r["schedule"][0]["weekday"] for r in asked.json()] == ["tue"]
        assert (await c.integration.get(f"{path}/people", headers=c.social_worker(11))).json() == []

    for dsn in dsns:
        assert await _rows_containing(dsn, markers) == []
        assert await _rows_containing(dsn, ["medical"]) == [], "special needs erased too"
        # The Land's reference travels in RefugeeAssigned (allocation's contract), so the
        # outbox keeps it until its rows are purged; every other table lets it go.
        assert [
            h for h in await _rows_containing(dsn, [reference]) if not h.startswith("outbox")
        ] == []
    for dsn in dsns:
        await until_drained(dsn)  # whatever the services raised is on the topics
    topics = ["allocation.events", "housing.events", "integration.events"]
    for topic in topics:
        records = await read_to_end(infra.kafka_bootstrap, f"{topic_prefix}{topic}")
        assert records, topic
        assert [m for r in records for m in markers if m.encode() in r.value] == []
    logged = capfd.readouterr()
    assert "personal details erased" in logged.out
    assert [m for m in markers if m in logged.out + logged.err] == []


async def test_the_retention_sweep_erases_a_closed_cases_details_everywhere_on_business_time(
    infra: Endpoints,
    new_database: Callable[[], Awaitable[str]],
    topic_prefix: str,
    tmp_path: Path,
) -> None:
    async with city(
        infra,
        new_database,
        topic_prefix,
        tmp_path,
        retention_days=30,
        retention_sweep_seconds=0.2,
    ) as c:
        await open_site(c, "Wohnheim Karlsruher Straße", "wohnheim", 8, 10)
        await until_sites(c.allocation, 1)
        reference = f"NI-RT-{uuid.uuid4().hex[:6]}"
        family = await assign(c, reference, 2)
        await check_in(c, family)
        case = await case_of(c, family, 8)
        path = f"/cases/{case['case_id']}"
        person = {"given_name": "Retention", "family_name": f"Probe{uuid.uuid4().hex[:8]}"}
        await post(c, f"{path}/people", 8, person, status=201)
        closed = await post(c, f"{path}/close", 8, {"reason": "goals_reached"})
        assert closed["status"] == "closed"

        # Within the retention period nothing goes.
        c.let_months_pass(0)
        people = await c.integration.get(f"{path}/people", headers=c.social_worker(8))
        assert len(people.json()) == 1

        # Two months later (business time), the sweep erases here and everywhere.
        c.let_months_pass(2)

        async def erased_here() -> bool:
            listed = await c.integration.get(f"{path}/people", headers=c.social_worker(8))
            return listed.json() == []

        await until(erased_here, "the retention sweep to erase the personal details")

        async def reference_gone() -> bool:
            return (await household(c.allocation, family))["land_reference"] != reference

        await until(reference_gone, "allocation to erase the Land's reference on retention")
        kept = await c.integration.get(path, headers=c.social_worker(8))
        assert kept.json()["details_erased_on"] is not None
        assert kept.json()["close_reason"] == "goals_reached"
        events = await integration_events(infra, topic_prefix, 3)
        erasures = [e.data for e in events if e.type == "ErasureRequested"]
        assert [(e.reason.value, str(e.household_id)) for e in erasures] == [("retention", family)]


async def test_a_teams_casework_list_moves_a_household_out_and_its_bed_goes_to_the_waitlist(
    infra: Endpoints,
    new_database: Callable[[], Awaitable[str]],
    topic_prefix: str,
    tmp_path: Path,
) -> None:
    async with city(infra, new_database, topic_prefix, tmp_path) as c:
        home, first, waiting, case = await housed_beside_one_waiting(c, "NI-CW")
        c.let_months_pass(7)
        of_case = {"case_id": case["case_id"]}
        language = {"kind": "milestone", "milestone": "language_level", "language_level": "b1"}
        way_out = [
            {"kind": "assign", **of_case},
            {**language, **of_case},
            {"kind": "milestone", "milestone": "residence_status",
             "residence_status": "protection_granted", **of_case},
            {**language, **of_case},  # twice: refused alone
            {"kind": "assign", "case_id": str(uuid.uuid4())},  # no such case: refused alone
            {"kind": "readiness", "independence": "high", **of_case},
            {"kind": "move_out", "target_kind": "social_housing", "target_district": 10,
             **of_case},
            {"kind": "move_out_completed", **of_case},
        ]  # fmt: skip

        # Bad input refuses the whole list, naming the entry; so does another district's case.
        bad = await c.integration.post(
            "/casework",
            json={"entries": [way_out[0], {"kind": "milestone", **of_case}]},
            headers=c.social_worker(9),
        )
        assert bad.status_code == 422, bad.text
        assert bad.json()["detail"][0]["loc"][:3] == ["body", "entries", 1]
        await post(c, "/casework", 3, {"entries": way_out}, status=403)
        untouched = await case_of(c, first, 9)
        assert (untouched["social_worker"], untouched["readiness"]) == (None, None)

        answer = await post(c, "/casework", 9, {"entries": way_out})
        assert (answer["recorded"], answer["refused"]) == (6, 2)
        outcomes = [(i["kind"], i["outcome"]) for i in answer["items"]]
        assert outcomes[3] == ("milestone", "refused")
        assert "recorded already" in answer["items"][3]["reason"]
        assert outcomes[4] == ("assign", "refused")
        moved = answer["items"][-1]["case"]
        assert (moved["site_id"], moved["district"], moved["team_id"]) == (None, 10, "im-10")

        # As the single routes' commands would: housing checks the family out, allocation
        # gives the places to the waitlist, and integration's events came in the list's order.
        await until_status(c.allocation, first, "moved_out")
        assert await check_in(c, waiting) == home
        events = await integration_events(infra, topic_prefix, 7)
        assert [e.type for e in events if e.subject == case["case_id"]] == [
            "CaseOpened", "MilestoneReached", "MilestoneReached", "ReadinessAssessed",
            "MoveOutPlanned", "MoveOutCompleted", "CaseTransferred",
        ]  # fmt: skip
