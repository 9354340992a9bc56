"""Integrationsmanagement's rules: cases follow households, milestones, readiness,
move-outs, handovers, retention and caseloads; pure, no servers."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from ankommen_contracts import Pillar, Skill
from ankommen_contracts.events.integration import (
    CaseClosed,
    CaseCloseReason,
    CaseHandedOver,
    CaseOpened,
    CaseTransferReason,
    CaseTransferred,
    DistrictStructure,
    Independence,
    LanguageLevel,
    Milestone,
    MilestoneReached,
    MoveOutCompleted,
    MoveOutPlanned,
    MoveOutTarget,
    ReadinessAssessed,
    ResidenceStatus,
    SupportRequested,
    TimeSlot,
    Weekday,
)
from ankommen_runtime.errors import Conflict
from integration.app import TEAMS_FILE
from integration.domain import (
    Case,
    CaseStatus,
    Invalid,
    Load,
    MilestoneRecord,
    SiteRef,
    SupportRequest,
    Teams,
    caseloads,
)

TEAMS = Teams.parse(json.loads(TEAMS_FILE.read_text()))
ARRIVAL = datetime(2016, 1, 4, 9, 0, tzinfo=UTC)
RICKLINGEN = SiteRef(uuid.uuid4(), 9, Pillar.WOHNHEIM)
LINDEN = SiteRef(uuid.uuid4(), 10, Pillar.NOTUNTERKUNFT)
LINDEN_FLAT = SiteRef(uuid.uuid4(), 10, Pillar.WOHNUNG)


def a_case(persons: int = 4, site: SiteRef = RICKLINGEN) -> Case:
    case = Case.open_for(uuid.uuid4(), persons, site, TEAMS.of(site.district), ARRIVAL)
    case.events.clear()
    return case


def milestone(kind: Milestone, on: date, **details: object) -> MilestoneRecord:
    return MilestoneRecord(uuid.uuid4(), uuid.uuid4(), kind, on, 1, **details)  # type: ignore[arg-type]


def ready_case() -> Case:
    """Seven months here, B1 German, protection granted: ready for a tenancy of its own."""
    case = a_case()
    today = date(2016, 8, 1)
    case.record_milestone(
        milestone(Milestone.LANGUAGE_LEVEL, today, language_level=LanguageLevel.B1), [], today
    )
    status = milestone(
        Milestone.RESIDENCE_STATUS, today, residence_status=ResidenceStatus.PROTECTION_GRANTED
    )
    case.record_milestone(status, [], today)
    case.assess(Independence.HIGH, today)
    case.events.clear()
    return case


def test_the_staffing_adds_up_to_the_44_social_workers_of_march_2016() -> None:
    assert sum(t.social_workers for t in TEAMS) == 44
    assert TEAMS.of(4).social_workers == 9, "the Oststadtkrankenhaus team in Buchholz-Kleefeld"
    assert [t.district for t in TEAMS] == list(range(1, 14))


def test_a_check_in_opens_a_case_with_the_team_of_the_sites_district() -> None:
    case = Case.open_for(uuid.uuid4(), 4, RICKLINGEN, TEAMS.of(9), ARRIVAL)
    assert (case.district, case.team_id, case.status) == (9, "im-09", CaseStatus.OPEN)
    [opened] = case.events
    assert isinstance(opened, CaseOpened)
    assert (opened.district, opened.persons, opened.opened_on) == (9, 4, date(2016, 1, 4))


def test_a_relocation_into_another_district_moves_the_case_to_that_team() -> None:
    case = a_case()
    case.social_worker = "staff-9"
    assert case.moved_in(LINDEN, 4, TEAMS.of(10), ARRIVAL + timedelta(days=30))
    assert (case.district, case.team_id, case.site_id) == (10, "im-10", LINDEN.site_id)
    assert case.social_worker is None, "the new team decides who counsels"
    [moved] = case.events
    assert isinstance(moved, CaseTransferred)
    assert (moved.from_district, moved.to_district) == (9, 10)
    assert moved.reason is CaseTransferReason.RELOCATED


def test_a_city_rented_flat_is_a_relocation_not_a_move_out() -> None:
    case = a_case(site=LINDEN)
    assert case.moved_in(LINDEN_FLAT, 4, TEAMS.of(10), ARRIVAL + timedelta(days=60))
    assert case.in_municipal_housing
    assert case.site_pillar is Pillar.WOHNUNG
    assert case.events == []
    assert case.move_out is None


def test_a_stale_or_repeated_check_in_changes_nothing() -> None:
    case = a_case()
    case.moved_in(LINDEN, 4, TEAMS.of(10), ARRIVAL + timedelta(days=30))
    case.events.clear()
    assert not case.moved_in(RICKLINGEN, 4, TEAMS.of(9), ARRIVAL + timedelta(days=10))
    assert not case.moved_in(LINDEN, 4, TEAMS.of(10), ARRIVAL + timedelta(days=31))
    assert (case.district, case.events) == (10, [])


def test_a_check_out_of_a_former_site_does_not_unhouse_the_household() -> None:
    case = a_case()
    case.moved_in(LINDEN, 4, TEAMS.of(10), ARRIVAL + timedelta(days=30))
    assert not case.left_site(RICKLINGEN.site_id, ARRIVAL + timedelta(days=30))
    assert case.site_id == LINDEN.site_id


def test_a_relocation_whose_check_out_arrives_first_still_moves_the_case() -> None:
    # Housing checks the household out of the old site and in at the new one at the same
    # business time; the two events travel on different partitions.
    case = a_case()
    moved = ARRIVAL + timedelta(days=30)
    assert case.left_site(RICKLINGEN.site_id, moved)
    assert case.moved_in(LINDEN, 4, TEAMS.of(10), moved)
    assert (case.site_id, case.district) == (LINDEN.site_id, 10)
    assert [type(e).__name__ for e in case.events][-1] == "CaseTransferred"


def test_a_departure_closes_the_case_as_moved_away() -> None:
    case = a_case()
    assert case.departed(ARRIVAL + timedelta(days=3))
    assert case.close_reason is CaseCloseReason.MOVED_AWAY
    assert isinstance(case.events[-1], CaseClosed)
    assert not case.departed(ARRIVAL + timedelta(days=4)), "a repeat closes nothing"


def test_a_language_level_milestone_raises_milestone_reached_with_its_date() -> None:
    case = a_case()
    on = date(2016, 5, 2)
    case.record_milestone(
        milestone(Milestone.LANGUAGE_LEVEL, on, language_level=LanguageLevel.A2), [], on
    )
    [reached] = case.events
    assert isinstance(reached, MilestoneReached)
    assert (reached.reached_on, reached.language_level) == (on, LanguageLevel.A2)
    assert case.language_level is LanguageLevel.A2


def test_the_latest_residence_status_counts_and_a_lower_level_never_replaces_a_higher() -> None:
    case = a_case()
    today = date(2016, 9, 1)
    granted = milestone(
        Milestone.RESIDENCE_STATUS,
        date(2016, 8, 1),
        residence_status=ResidenceStatus.PROTECTION_GRANTED,
    )
    case.record_milestone(granted, [], today)
    earlier = milestone(
        Milestone.RESIDENCE_STATUS, date(2016, 3, 1), residence_status=ResidenceStatus.IN_PROCEDURE
    )
    case.record_milestone(earlier, [granted], today)
    assert case.residence_status is ResidenceStatus.PROTECTION_GRANTED
    b1 = milestone(Milestone.LANGUAGE_LEVEL, today, language_level=LanguageLevel.B1)
    a2 = milestone(Milestone.LANGUAGE_LEVEL, today, language_level=LanguageLevel.A2)
    case.record_milestone(b1, [], today)
    case.record_milestone(a2, [b1], today)
    assert case.language_level is LanguageLevel.B1


def test_a_milestone_in_the_future_is_invalid_and_a_repeat_is_a_conflict() -> None:
    case = a_case()
    today = date(2016, 5, 2)
    with pytest.raises(Invalid, match="future"):
        case.record_milestone(milestone(Milestone.KITA, today + timedelta(days=1)), [], today)
    kita = milestone(Milestone.KITA, today)
    case.record_milestone(kita, [], today)
    with pytest.raises(Conflict, match="recorded already"):
        case.record_milestone(milestone(Milestone.KITA, today), [kita], today)


def test_readiness_follows_the_stay_the_german_and_the_residence_status() -> None:
    case = a_case()
    early = case.assess(Independence.HIGH, date(2016, 2, 1))
    assert (early.ready_for, early.ready_for_own_tenancy) == (Pillar.WOHNHEIM, False)
    assert "new arrival" in early.reason
    ready = ready_case().readiness
    assert ready is not None
    assert (ready.ready_for, ready.ready_for_own_tenancy) == (Pillar.WOHNUNG, True)
    assessed = [e for e in case.events if isinstance(e, ReadinessAssessed)]
    assert assessed
    assert assessed[-1].ready_for is Pillar.WOHNHEIM


def test_a_tolerated_household_is_not_ready_for_a_flat() -> None:
    case = a_case()
    today = date(2016, 9, 1)
    tolerated = milestone(
        Milestone.RESIDENCE_STATUS, today, residence_status=ResidenceStatus.TOLERATED
    )
    case.record_milestone(tolerated, [], today)
    case.record_milestone(
        milestone(Milestone.LANGUAGE_LEVEL, today, language_level=LanguageLevel.B1), [], today
    )
    readiness = case.assess(Independence.HIGH, today)
    assert readiness.ready_for is Pillar.WOHNHEIM
    assert "residence prospects poor" in readiness.reason


def test_a_move_out_needs_a_readiness_for_a_tenancy_of_its_own() -> None:
    case = a_case()
    with pytest.raises(Conflict, match="not assessed ready"):
        case.plan_move_out(MoveOutTarget.SOCIAL_HOUSING, 10, None)


def test_a_completed_move_out_frees_the_site_and_the_case_follows_to_the_new_district() -> None:
    case = ready_case()
    case.plan_move_out(MoveOutTarget.SOCIAL_HOUSING, 10, date(2016, 9, 1))
    assert case.ready_to_move_out
    case.complete_move_out(date(2016, 9, 1), date(2016, 9, 2), TEAMS)
    planned, completed, transferred = case.events
    assert isinstance(planned, MoveOutPlanned)
    assert isinstance(completed, MoveOutCompleted)
    assert completed.from_site_id == RICKLINGEN.site_id
    assert completed.moved_on == date(2016, 9, 1)
    assert isinstance(transferred, CaseTransferred)
    assert transferred.reason is CaseTransferReason.MOVED_OUT
    assert (case.site_id, case.district, case.team_id, case.is_open) == (None, 10, "im-10", True)
    assert not case.ready_to_move_out
    with pytest.raises(Conflict, match="no planned move-out"):
        case.complete_move_out(date(2016, 9, 2), date(2016, 9, 2), TEAMS)


def test_moving_to_another_municipality_closes_the_case() -> None:
    case = ready_case()
    case.plan_move_out(MoveOutTarget.OTHER_MUNICIPALITY, None, None)
    case.complete_move_out(date(2016, 9, 1), date(2016, 9, 1), TEAMS)
    assert case.close_reason is CaseCloseReason.MOVED_AWAY


def test_a_handover_names_the_partner_then_closes_the_case() -> None:
    case = a_case()
    case.hand_over(
        DistrictStructure.STADTTEILZENTRUM, "Stadtteilzentrum Ricklingen", 9, date(2017, 2, 1)
    )
    handed, closed = case.events
    assert isinstance(handed, CaseHandedOver)
    assert isinstance(closed, CaseClosed)
    assert handed.receiving_partner == "Stadtteilzentrum Ricklingen"
    assert closed.reason is CaseCloseReason.HANDED_OVER
    with pytest.raises(Conflict, match="closed"):
        case.record_milestone(milestone(Milestone.WORK, date(2017, 2, 2)), [], date(2017, 2, 2))


def test_a_support_request_carries_no_household_data() -> None:
    case = a_case()
    slot = TimeSlot(weekday=Weekday.TUESDAY, starts_at="15:00", ends_at="16:30")
    request = SupportRequest(
        uuid.uuid4(),
        case.case_id,
        Skill.HOMEWORK_HELP,
        9,
        ("ar",),
        True,
        2,
        (slot,),
        ARRIVAL.date(),
    )
    case.request_support(request)
    [asked] = case.events
    assert isinstance(asked, SupportRequested)
    assert "household_id" not in asked.model_dump()
    assert asked.schedule == [slot]


def test_personal_details_of_a_closed_case_are_due_after_the_retention_period() -> None:
    case = a_case()
    case.close(CaseCloseReason.GOALS_REACHED, date(2016, 6, 1))
    retention = timedelta(days=365)
    assert not case.due_for_erasure(date(2017, 5, 31), retention)
    assert case.due_for_erasure(date(2017, 6, 1), retention)
    case.details_erased_on = date(2017, 6, 1)
    assert not case.due_for_erasure(date(2018, 1, 1), retention)


def test_a_caseload_above_the_limit_shows_a_warning() -> None:
    loads = {("im-09", "staff-a"): Load(10, 60), ("im-09", None): Load(2, 8)}
    ricklingen = next(t for t in caseloads(TEAMS, loads, 50) if t.district == 9)
    assert (ricklingen.cases, ricklingen.persons, ricklingen.unassigned_cases) == (12, 68, 2)
    assert ricklingen.persons_per_worker == 34.0
    assert not ricklingen.over_limit
    [worker] = ricklingen.workers
    assert (worker.social_worker, worker.over_limit) == ("staff-a", True)
    assert next(t for t in caseloads(TEAMS, loads, 30) if t.district == 9).over_limit


def test_an_earlier_arrival_counts_for_the_stay_but_not_one_in_the_future() -> None:
    case = a_case()
    today = date(2016, 1, 20)
    case.record_milestone(
        milestone(Milestone.LANGUAGE_LEVEL, today, language_level=LanguageLevel.A2), [], today
    )
    readiness = case.assess(Independence.SOME, today, arrived_on=date(2015, 9, 1))
    assert readiness.ready_for is Pillar.WOHNPROJEKT
    with pytest.raises(Invalid, match="future"):
        case.assess(Independence.SOME, today, arrived_on=date(2016, 2, 1))
