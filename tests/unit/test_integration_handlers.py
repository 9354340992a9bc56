"""Integration's handlers on the in-memory unit of work: what each command and each
consumed event publishes, the state it leaves, what it refuses; no server, milliseconds."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from ankommen_contracts import Envelope, EventData, Pillar, Skill, new_envelope
from ankommen_contracts.events.allocation import DepartureReason, RefugeeDeparted
from ankommen_contracts.events.housing import (
    OccupantCheckedIn,
    OccupantCheckedOut,
    ShelterOpened,
)
from ankommen_contracts.events.integration import (
    CaseCloseReason,
    DistrictStructure,
    ErasureReason,
    GermanLevel,
    Independence,
    Milestone,
    MoveOutTarget,
    ResidenceProspects,
    Weekday,
)
from ankommen_contracts.examples import example_envelope
from ankommen_runtime import audit
from ankommen_runtime.auth import Actor, Role
from ankommen_runtime.clock import CITY_TZ
from ankommen_runtime.context import message_context
from ankommen_runtime.errors import Conflict, NotFound
from ankommen_runtime.memory import InMemoryUnitOfWork
from fakes.integration import InMemoryIntegrationStore
from integration import handlers
from integration.app import TEAMS_FILE
from integration.domain import (
    DEFAULT_READINESS_POLICY,
    Case,
    CaseStatus,
    Invalid,
    Person,
    Readiness,
    SiteRef,
    Teams,
)

NOW = datetime(2016, 3, 14, 9, 30, tzinfo=UTC)
TODAY = date(2016, 3, 14)
TEAMS = Teams.parse(json.loads(TEAMS_FILE.read_text("utf-8")))
RICKLINGEN = SiteRef(uuid.uuid4(), 9, Pillar.WOHNHEIM)
LINDEN = SiteRef(uuid.uuid4(), 10, Pillar.WOHNPROJEKT)
WORKER = Actor("staff-7f3a", frozenset({Role.SOCIAL_WORKER}), district=9)
ELSEWHERE = Actor("staff-9c1d", frozenset({Role.SOCIAL_WORKER}), district=3)
READY = Readiness(Pillar.WOHNUNG, True, Independence.HIGH, GermanLevel.B1,
                  ResidenceProspects.GOOD, date(2016, 3, 1), "ready")  # fmt: skip


class FixedClock:
    def now(self) -> datetime:
        return NOW

    def today(self) -> date:
        return NOW.astimezone(CITY_TZ).date()


Uow = InMemoryUnitOfWork[InMemoryIntegrationStore]


@pytest.fixture
def uow() -> Uow:
    store = InMemoryIntegrationStore()
    store.sites = {s.site_id: s for s in (RICKLINGEN, LINDEN)}
    return InMemoryUnitOfWork(FixedClock(), store=store)


def store_of(uow: Uow) -> InMemoryIntegrationStore:
    assert uow.store is not None
    return uow.store


def published(uow: Uow) -> list[tuple[str, datetime]]:
    return [(e.type, e.occurred_at) for e in uow.committed]


def seed(uow: Uow, **fields: Any) -> Case:
    """A case the household has in Ricklingen, opened in January, kept committed."""
    case = Case(
        case_id=uuid.uuid4(),
        household_id=uuid.uuid4(),
        persons=4,
        district=9,
        team_id=TEAMS.of(9).team_id,
        opened_on=date(2016, 1, 4),
        site_id=RICKLINGEN.site_id,
        site_pillar=RICKLINGEN.pillar,
        site_since=datetime(2016, 1, 4, 9, 0, tzinfo=UTC),
    )
    case = replace(case, **fields)
    store_of(uow).cases[case.case_id] = case
    return case


def kept(uow: Uow, case: Case) -> Case:
    return store_of(uow).cases[case.case_id]


def envelope(data: EventData, at: datetime) -> Envelope[Any]:
    return new_envelope(data, sequence=1, correlation_id=uuid.uuid4(), occurred_at=at)


async def deliver(uow: Uow, handler: Any, data: EventData, at: datetime) -> None:
    """Handle one consumed event as the consumer does: in its own transaction, dated by it."""
    event = envelope(data, at)
    with message_context(event.event_id, event.correlation_id, event.occurred_at):
        async with uow() as tx:
            await handler(tx, event)


def checked_in(household: uuid.UUID, site: SiteRef, persons: int = 4) -> OccupantCheckedIn:
    data: OccupantCheckedIn = example_envelope("OccupantCheckedIn").data
    return data.model_copy(
        update={"household_id": household, "site_id": site.site_id, "persons": persons}
    )


def checked_out(household: uuid.UUID, site: SiteRef) -> OccupantCheckedOut:
    data: OccupantCheckedOut = example_envelope("OccupantCheckedOut").data
    return data.model_copy(update={"household_id": household, "site_id": site.site_id})


def departed(household: uuid.UUID) -> RefugeeDeparted:
    data: RefugeeDeparted = example_envelope("RefugeeDeparted").data
    return data.model_copy(update={"household_id": household, "reason": DepartureReason.OTHER})


ON_CHECKED_IN = handlers.on_checked_in(TEAMS)
ARRIVED = datetime(2016, 3, 10, 23, 30, tzinfo=UTC)  # already the 11th in Hannover


# -- consumed events -----------------------------------------------------------------------


async def test_a_site_event_is_remembered_with_its_district_and_pillar(uow: Uow) -> None:
    data: ShelterOpened = example_envelope("ShelterOpened").data
    await deliver(uow, handlers.on_site, data, ARRIVED)
    assert store_of(uow).sites[data.site_id] == SiteRef(data.site_id, data.district, data.pillar)
    assert uow.committed == []


async def test_a_first_check_in_opens_a_case_dated_by_the_check_in(uow: Uow) -> None:
    household = uuid.uuid4()
    await deliver(uow, ON_CHECKED_IN, checked_in(household, RICKLINGEN, 3), ARRIVED)
    [case] = store_of(uow).cases.values()
    assert (case.household_id, case.persons, case.district, case.team_id) == (
        household, 3, 9, TEAMS.of(9).team_id
    )  # fmt: skip
    assert (case.opened_on, case.site_id, case.status) == (
        date(2016, 3, 11), RICKLINGEN.site_id, CaseStatus.OPEN
    )  # fmt: skip
    assert published(uow) == [("CaseOpened", ARRIVED)]
    assert uow.committed[0].data.case_id == case.case_id


async def test_a_check_in_at_a_site_integration_never_heard_of_is_refused(uow: Uow) -> None:
    unknown = SiteRef(uuid.uuid4(), 4, Pillar.WOHNHEIM)
    with pytest.raises(LookupError, match="unknown to integration"):
        await deliver(uow, ON_CHECKED_IN, checked_in(uuid.uuid4(), unknown), ARRIVED)
    assert (store_of(uow).cases, uow.committed) == ({}, [])


async def test_a_redelivered_check_in_changes_nothing(uow: Uow) -> None:
    data = checked_in(uuid.uuid4(), RICKLINGEN)
    await deliver(uow, ON_CHECKED_IN, data, ARRIVED)
    before = dict(store_of(uow).cases)
    await deliver(uow, ON_CHECKED_IN, data, ARRIVED)
    assert store_of(uow).cases == before
    assert [t for t, _ in published(uow)] == ["CaseOpened"]


async def test_a_relocation_to_another_district_takes_the_case_to_that_districts_team(
    uow: Uow,
) -> None:
    case = seed(uow, social_worker="staff-7f3a")
    await deliver(uow, ON_CHECKED_IN, checked_in(case.household_id, LINDEN, 5), ARRIVED)
    moved = kept(uow, case)
    assert (moved.site_id, moved.persons, moved.district, moved.team_id) == (
        LINDEN.site_id, 5, 10, TEAMS.of(10).team_id
    )  # fmt: skip
    assert moved.social_worker is None, "the new team decides who counsels"
    assert published(uow) == [("CaseTransferred", ARRIVED)]


async def test_a_check_out_leaves_the_case_without_a_site_and_a_repeat_changes_nothing(
    uow: Uow,
) -> None:
    case = seed(uow)
    left = checked_out(case.household_id, RICKLINGEN)
    await deliver(uow, handlers.on_checked_out, left, ARRIVED)
    assert (kept(uow, case).site_id, kept(uow, case).site_since) == (None, ARRIVED)
    await deliver(uow, handlers.on_checked_out, left, ARRIVED + timedelta(hours=1))
    assert kept(uow, case).site_since == ARRIVED
    assert uow.committed == []


async def test_a_departure_closes_the_case_once_even_if_redelivered(uow: Uow) -> None:
    case = seed(uow)
    for _ in range(2):
        await deliver(uow, handlers.on_departed, departed(case.household_id), ARRIVED)
    closed = kept(uow, case)
    assert (closed.status, closed.close_reason, closed.closed_on, closed.site_id) == (
        CaseStatus.CLOSED, CaseCloseReason.MOVED_AWAY, date(2016, 3, 11), None
    )  # fmt: skip
    assert published(uow) == [("CaseClosed", ARRIVED)]


# -- commands ------------------------------------------------------------------------------


async def test_assigning_without_a_name_gives_the_case_to_the_caller(uow: Uow) -> None:
    case = seed(uow)
    answer = await handlers.assign(uow, WORKER, case.case_id, handlers.AssignCase())
    assert answer.social_worker == kept(uow, case).social_worker == "staff-7f3a"
    assert uow.committed == []


async def test_a_social_worker_of_another_district_changes_nothing(uow: Uow) -> None:
    case = seed(uow)
    with pytest.raises(handlers.NotYourDistrict, match="Stadtbezirk 9"):
        await handlers.assign(uow, ELSEWHERE, case.case_id, handlers.AssignCase())
    assert kept(uow, case).social_worker is None


async def test_a_command_on_an_unknown_case_is_not_found(uow: Uow) -> None:
    with pytest.raises(NotFound, match="no case"):
        await handlers.assign(uow, WORKER, uuid.uuid4(), handlers.AssignCase())


async def test_a_milestone_is_kept_and_published_at_business_time(uow: Uow) -> None:
    case = seed(uow)
    command = handlers.RecordMilestone(milestone=Milestone.KITA, reached_on=date(2016, 3, 1))
    record = await handlers.record_milestone(uow, WORKER, case.case_id, command, TODAY)
    assert store_of(uow).milestones == [record]
    assert (record.reached_on, record.persons) == (date(2016, 3, 1), 1)
    assert published(uow) == [("MilestoneReached", NOW)]
    assert uow.committed[0].data.reached_on == date(2016, 3, 1)


async def test_the_same_milestone_twice_is_a_conflict_that_leaves_nothing(uow: Uow) -> None:
    case = seed(uow)
    command = handlers.RecordMilestone(milestone=Milestone.SCHOOL)
    await handlers.record_milestone(uow, WORKER, case.case_id, command, TODAY)
    with pytest.raises(Conflict, match="recorded already"):
        await handlers.record_milestone(uow, WORKER, case.case_id, command, TODAY)
    assert len(store_of(uow).milestones) == len(uow.committed) == 1


async def test_an_assessment_is_kept_on_the_case_and_published(uow: Uow) -> None:
    case = seed(uow)
    command = handlers.AssessReadiness(independence=Independence.SOME)
    answer = await handlers.assess_readiness(
        uow, WORKER, case.case_id, command, TODAY, DEFAULT_READINESS_POLICY
    )
    readiness = kept(uow, case).readiness
    assert readiness is not None
    assert readiness == answer.readiness
    assert (readiness.independence, readiness.assessed_on) == (Independence.SOME, TODAY)
    assert published(uow) == [("ReadinessAssessed", NOW)]


async def test_a_move_out_of_a_household_not_assessed_ready_is_refused(uow: Uow) -> None:
    case = seed(uow)
    command = handlers.PlanMoveOut(target_kind=MoveOutTarget.OWN_FLAT, target_district=9)
    with pytest.raises(Conflict, match="not assessed ready"):
        await handlers.plan_move_out(uow, WORKER, case.case_id, command)
    assert (kept(uow, case).move_out, uow.committed) == (None, [])


async def test_a_planned_and_completed_move_out_follows_the_household_to_its_district(
    uow: Uow,
) -> None:
    case = seed(uow, readiness=READY)
    plan = handlers.PlanMoveOut(target_kind=MoveOutTarget.SOCIAL_HOUSING, target_district=3)
    await handlers.plan_move_out(uow, WORKER, case.case_id, plan)
    assert kept(uow, case).move_out is not None
    done = handlers.CompleteMoveOut(moved_on=date(2016, 3, 12))
    await handlers.complete_move_out(uow, WORKER, case.case_id, done, TODAY, TEAMS)
    moved = kept(uow, case)
    assert (moved.site_id, moved.district, moved.team_id) == (None, 3, TEAMS.of(3).team_id)
    assert moved.move_out is not None
    assert moved.move_out.completed_on == date(2016, 3, 12)
    assert [t for t, _ in published(uow)] == ["MoveOutPlanned", "MoveOutCompleted",
                                              "CaseTransferred"]  # fmt: skip


async def test_completing_a_move_out_never_planned_is_a_conflict(uow: Uow) -> None:
    case = seed(uow, readiness=READY)
    with pytest.raises(Conflict, match="no planned move-out"):
        await handlers.complete_move_out(
            uow, WORKER, case.case_id, handlers.CompleteMoveOut(), TODAY, TEAMS
        )
    assert (kept(uow, case).site_id, uow.committed) == (RICKLINGEN.site_id, [])


async def test_a_handover_names_the_partner_and_closes_the_case(uow: Uow) -> None:
    case = seed(uow)
    command = handlers.HandOver(
        to_structure=DistrictStructure.STADTTEILZENTRUM,
        receiving_partner="Stadtteilzentrum Ricklingen",
    )
    await handlers.hand_over(uow, WORKER, case.case_id, command, TODAY)
    done = kept(uow, case)
    assert (done.status, done.close_reason, done.closed_on) == (
        CaseStatus.CLOSED, CaseCloseReason.HANDED_OVER, TODAY
    )  # fmt: skip
    assert done.handover is not None
    assert (done.handover.receiving_partner, done.handover.district) == (
        "Stadtteilzentrum Ricklingen", 9
    )  # fmt: skip
    assert published(uow) == [("CaseHandedOver", NOW), ("CaseClosed", NOW)]


async def test_a_closed_case_cannot_be_closed_again(uow: Uow) -> None:
    case = seed(uow)
    command = handlers.CloseCase(reason=CaseCloseReason.GOALS_REACHED)
    await handlers.close_case(uow, WORKER, case.case_id, command, TODAY)
    assert (kept(uow, case).status, kept(uow, case).closed_on) == (CaseStatus.CLOSED, TODAY)
    with pytest.raises(Conflict, match="is closed"):
        await handlers.close_case(uow, WORKER, case.case_id, command, TODAY)
    assert published(uow) == [("CaseClosed", NOW)]


async def test_a_support_request_is_kept_and_tells_volunteers_nothing_of_the_household(
    uow: Uow,
) -> None:
    case = seed(uow)
    command = handlers.RequestSupport(
        skill=Skill.LANGUAGE_TUTORING,
        languages=["ar"],
        schedule=[handlers.Slot(weekday=Weekday.TUESDAY, starts_at="15:00", ends_at="16:30")],
        hours_per_week=2,
        involves_children=False,
    )
    request = await handlers.request_support(uow, WORKER, case.case_id, command, TODAY)
    assert store_of(uow).support_requests == [request]
    assert (request.district, request.requested_on) == (9, TODAY)
    [event] = uow.committed
    assert (event.type, event.data.request_id, event.data.district) == (
        "SupportRequested", request.request_id, 9
    )  # fmt: skip
    assert "household_id" not in event.data.model_dump()


def a_person(**fields: Any) -> handlers.AddPerson:
    return handlers.AddPerson(given_name="Amal", family_name="Haddad", **fields)


async def test_personal_details_are_kept_here_and_published_nowhere(uow: Uow) -> None:
    case = seed(uow)
    person = await handlers.add_person(uow, WORKER, case.case_id, a_person(), TODAY)
    assert store_of(uow).people == {person.person_id: person}
    assert person.household_id == case.household_id
    assert uow.committed == []


async def test_the_same_person_twice_is_a_conflict_and_the_first_stays(uow: Uow) -> None:
    case = seed(uow)
    first = await handlers.add_person(uow, WORKER, case.case_id, a_person(), TODAY)
    again = a_person(person_id=first.person_id)
    with pytest.raises(Conflict, match="recorded already"):
        await handlers.add_person(uow, WORKER, case.case_id, again, TODAY)
    assert store_of(uow).people == {first.person_id: first}


async def test_no_details_are_added_to_a_closed_case_or_born_in_the_future(uow: Uow) -> None:
    closed = seed(uow, status=CaseStatus.CLOSED, closed_on=date(2016, 3, 1),
                  close_reason=CaseCloseReason.DECLINED)  # fmt: skip
    with pytest.raises(Conflict, match="is closed"):
        await handlers.add_person(uow, WORKER, closed.case_id, a_person(), TODAY)
    with pytest.raises(Invalid, match="in the future"):
        await handlers.add_person(
            uow, WORKER, seed(uow).case_id, a_person(date_of_birth=date(2016, 3, 15)), TODAY
        )
    assert store_of(uow).people == {}


async def test_an_erasure_deletes_the_details_records_who_asked_and_tells_the_others(
    uow: Uow,
) -> None:
    old = seed(uow, status=CaseStatus.CLOSED, closed_on=date(2016, 2, 1),
               close_reason=CaseCloseReason.DECLINED)  # fmt: skip
    current = seed(uow, household_id=old.household_id)
    store = store_of(uow)
    for case in (old, current):
        person = Person(uuid.uuid4(), case.case_id, case.household_id, "A", "B")
        store.people[person.person_id] = person
    command = handlers.RequestErasure(household_id=old.household_id)
    with audit.acting(WORKER, "POST /erasures"):
        receipt = await handlers.request_erasure(uow, WORKER, command, TODAY)
    assert (receipt.household_id, receipt.erased_here) == (old.household_id, 2)
    assert store_of(uow).people == {}
    assert kept(uow, old).details_erased_on == TODAY
    assert kept(uow, current).details_erased_on is None, "an open case is not erased"
    [event] = uow.committed
    assert (event.type, event.data.reason, event.data.person_ids, event.actor) == (
        "ErasureRequested", ErasureReason.REQUESTED, [], "staff-7f3a"
    )  # fmt: skip
    [record] = store_of(uow).erasures
    assert (record.erasure_id, record.erased, record.by) == (receipt.erasure_id, 2, "staff-7f3a")
    assert [r.action for r in uow.audit_rows] == ["POST /erasures"]


async def test_a_social_worker_cannot_erase_a_household_without_a_case_of_theirs(
    uow: Uow,
) -> None:
    case = seed(uow)
    person = Person(uuid.uuid4(), case.case_id, case.household_id, "A", "B")
    store_of(uow).people[person.person_id] = person
    for household in (case.household_id, uuid.uuid4()):
        with pytest.raises(handlers.NotYourDistrict):
            await handlers.request_erasure(
                uow, ELSEWHERE, handlers.RequestErasure(household_id=household), TODAY
            )
    assert (list(store_of(uow).people), store_of(uow).erasures, uow.committed) == (
        [person.person_id], [], []
    )  # fmt: skip


async def test_retention_erases_closed_cases_and_lets_go_of_households_no_longer_counselled(
    uow: Uow,
) -> None:
    gone = seed(uow, status=CaseStatus.CLOSED, closed_on=date(2013, 1, 10),
                close_reason=CaseCloseReason.DECLINED)  # fmt: skip
    returned = seed(uow, status=CaseStatus.CLOSED, closed_on=date(2013, 2, 1),
                    close_reason=CaseCloseReason.DECLINED)  # fmt: skip
    seed(uow, household_id=returned.household_id)  # counselled again: an open case
    recent = seed(uow, status=CaseStatus.CLOSED, closed_on=date(2016, 1, 1),
                  close_reason=CaseCloseReason.DECLINED)  # fmt: skip
    for case in (gone, returned, recent):
        person = Person(uuid.uuid4(), case.case_id, case.household_id, "A", "B")
        store_of(uow).people[person.person_id] = person
    erased = await handlers.erase_after_retention(
        uow, today=TODAY, retention=timedelta(days=3 * 365), limit=10
    )
    assert erased == 2
    assert [kept(uow, c).details_erased_on for c in (gone, returned, recent)] == [
        TODAY, TODAY, None
    ]  # fmt: skip
    assert [p.case_id for p in store_of(uow).people.values()] == [recent.case_id]
    [event] = uow.committed
    assert (event.type, event.data.household_id, event.data.reason) == (
        "ErasureRequested", gone.household_id, ErasureReason.RETENTION
    )  # fmt: skip
    again = await handlers.erase_after_retention(
        uow, today=TODAY, retention=timedelta(days=3 * 365), limit=10
    )
    assert (again, len(uow.committed)) == (0, 1)


# -- a team's casework as one list ---------------------------------------------------------


def a_move_out(case: Case, district: int = 9) -> list[dict[str, Any]]:
    """The entries of a household's whole way out, as a team hands them in."""
    entries: list[dict[str, Any]] = [
        {"kind": "assign"},
        {"kind": "milestone", "milestone": "language_level", "language_level": "b1"},
        {"kind": "milestone", "milestone": "residence_status",
         "residence_status": "protection_granted"},
        {"kind": "readiness", "independence": "high", "german": "b1",
         "residence_prospects": "good", "arrived_on": "2015-01-05"},
        {"kind": "move_out", "target_kind": "own_flat", "target_district": district},
        {"kind": "move_out_completed", "moved_on": "2016-03-14"},
    ]  # fmt: skip
    return [{**e, "case_id": str(case.case_id)} for e in entries]


async def casework(uow: Uow, entries: list[dict[str, Any]], actor: Actor = WORKER) -> Any:
    command = handlers.Casework.model_validate({"entries": entries})
    return await handlers.casework(uow, actor, command, TODAY, DEFAULT_READINESS_POLICY, TEAMS)


async def test_a_households_whole_move_out_is_one_list_recorded_in_its_order(uow: Uow) -> None:
    case = seed(uow)
    outcomes = await casework(uow, a_move_out(case))
    assert [o.refused for o in outcomes] == [None] * 6
    moved = kept(uow, case)
    assert moved.social_worker == WORKER.subject
    assert moved.move_out is not None
    assert moved.move_out.completed_on == date(2016, 3, 14)
    assert [o.milestone is not None for o in outcomes] == [False, True, True, False, False, False]
    assert len(store_of(uow).milestones) == 2
    assert [t for t, _ in published(uow)] == [  # an assignment is integration's own
        "MilestoneReached", "MilestoneReached", "ReadinessAssessed", "MoveOutPlanned",
        "MoveOutCompleted",
    ]  # fmt: skip
    assert outcomes[-1].case == moved, "each outcome carries the case after its entry"


async def test_an_entry_its_route_would_refuse_is_refused_alone_and_writes_nothing(
    uow: Uow,
) -> None:
    case, other = seed(uow), seed(uow)
    school = {"kind": "milestone", "milestone": "school", "case_id": str(case.case_id)}
    unknown = {"kind": "assign", "case_id": str(uuid.uuid4())}
    not_ready = {"kind": "move_out", "target_kind": "own_flat", "target_district": 9,
                 "case_id": str(other.case_id)}  # fmt: skip
    outcomes = await casework(uow, [school, school, unknown, not_ready, *a_move_out(other)])
    refused = [(i, type(o.refused).__name__) for i, o in enumerate(outcomes) if o.refused]
    assert refused == [(1, "Conflict"), (2, "NotFound"), (3, "Conflict")]
    assert "recorded already" in str(outcomes[1].refused)
    assert "not assessed ready" in str(outcomes[3].refused)
    assert len([m for m in store_of(uow).milestones if m.case_id == case.case_id]) == 1
    assert kept(uow, other).move_out is not None, "the entries after the refused ones went on"
    assert [t for t, _ in published(uow)].count("MoveOutPlanned") == 1


async def test_a_case_of_another_district_refuses_the_whole_list(uow: Uow) -> None:
    ours, theirs = seed(uow), seed(uow, district=3, team_id=TEAMS.of(3).team_id)
    with pytest.raises(handlers.NotYourDistrict):
        await casework(uow, [*a_move_out(ours), {"kind": "assign", "case_id": str(theirs.case_id)}])
    assert kept(uow, ours).social_worker is None
    assert (store_of(uow).milestones, uow.committed) == ([], [])


@pytest.mark.parametrize(
    ("entries", "says"),
    [
        ([], "at least 1"),
        ([{"kind": "promote", "case_id": str(uuid.uuid4())}], "kind must be one of"),
        ([{"case_id": str(uuid.uuid4())}], "kind must be one of"),
        ([{"kind": "milestone", "milestone": "language_level", "case_id": str(uuid.uuid4())}],
         "language_level is required"),
        ([{"kind": "assign"}], "case_id"),
        ([{"kind": "assign", "case_id": str(uuid.uuid4())}] * 1001, "at most 1000"),
    ],
)  # fmt: skip
def test_a_list_that_is_no_casework_is_refused_naming_what_is_wrong(
    entries: list[dict[str, Any]], says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        handlers.Casework.model_validate({"entries": entries})
