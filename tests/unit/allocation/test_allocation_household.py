"""The Household aggregate: the placement saga's transitions and the events they raise."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from allocation.domain import Board, Household, HouseholdStatus, IntakeMember
from allocation_builders import NOW, board, family, member, site
from ankommen_contracts import AgeBand, Pillar, SiteRequirement, SpecialNeed, Suitability
from ankommen_contracts.events.allocation import (
    DepartureReason,
    PlacementCancelled,
    PlacementDecided,
    PlacementFailed,
    RefugeeAssigned,
    RefugeeDeparted,
    RefugeeRelocated,
    RelocationReason,
    RelocationRequested,
)
from ankommen_contracts.events.housing import CheckOutReason, RejectionReason, ReleaseReason
from ankommen_runtime import Conflict

LATER = NOW + timedelta(minutes=5)


def assign(members: list[IntakeMember], sites: Board) -> Household:
    return Household.assign(
        land_reference="NI-2016-0001",
        land_reference_pseudonym="0" * 64,
        members=members,
        quota_period_id=None,
        board=sites,
        now=NOW,
    )


def types(household: Household) -> list[str]:
    """The events raised since the last call, by type; clears them like a saved household."""
    raised = [e.TYPE for e in household.events]
    household.events.clear()
    return raised


def decided(household: Household) -> PlacementDecided:
    assert household.pending is not None
    return household.pending


def housed_at(sites: Board) -> Household:
    """A household of 3 checked in at the first site of the board."""
    household = assign(family(3), sites)
    request = decided(household)
    household.reservation_confirmed(request.site_id, request.reservation_id, LATER, NOW)
    household.checked_in(None, request.reservation_id, NOW, NOW)
    household.events.clear()
    return household


def test_an_assignment_raises_refugee_assigned_and_a_placement_decision() -> None:
    home = site("Wohnheim Tresckowstraße", Pillar.WOHNHEIM, 100)
    sites = board(home)
    household = assign(family(4, SpecialNeed.FAMILY), sites)
    assigned, request = household.events
    assert isinstance(assigned, RefugeeAssigned)
    assert assigned.household_size == 4
    assert isinstance(request, PlacementDecided)
    assert (request.site_id, request.places, request.attempt) == (home.site_id, 4, 1)
    # Events carry what the site must be, never the needs: children → no single-adults site,
    # the father → no women-only site.
    assert request.requirements == [
        SiteRequirement.NOT_SINGLE_ADULTS,
        SiteRequirement.NOT_WOMEN_ONLY,
    ]
    assert request.pillar is Pillar.WOHNHEIM
    assert "new arrival" in request.reason
    assert household.status is HouseholdStatus.PLACING
    # The board holds the places, so the next decision in the transaction sees them taken.
    assert sites.get(home.site_id).free == 96  # type: ignore[union-attr]
    assert [e.kind for e in household.history] == ["assigned", "decided"]


def test_unaccompanied_minors_go_to_youth_welfare_not_to_a_site() -> None:
    minors = [member(AgeBand.AGE_6_17, unaccompanied=True) for _ in range(2)]
    household = assign(minors, board(site("Wohnheim", Pillar.WOHNHEIM, 100)))
    assert household.status is HouseholdStatus.YOUTH_WELFARE
    assert types(household) == [
        "RefugeeAssigned",
        "MinorReferredToYouthWelfare",
        "MinorReferredToYouthWelfare",
    ]
    assert household.pending is None
    assert "Jugendhilfe" in household.history[-1].reason


def test_bed_reserved_for_the_awaited_reservation_marks_the_household_reserved() -> None:
    household = assign(family(2), board(site("Wohnheim", Pillar.WOHNHEIM, 10)))
    request = decided(household)
    types(household)
    household.reservation_confirmed(request.site_id, request.reservation_id, LATER, NOW)
    assert household.status is HouseholdStatus.RESERVED
    assert household.reserved_until == LATER
    assert types(household) == []
    # The same answer again (housing answering a re-sent request) changes nothing.
    household.reservation_confirmed(request.site_id, request.reservation_id, LATER, NOW)
    assert household.status is HouseholdStatus.RESERVED
    assert types(household) == []


def test_a_rejection_moves_on_to_the_next_candidate_then_to_the_waitlist() -> None:
    first = site("Wohnheim A", Pillar.WOHNHEIM, 80)
    second = site("Wohnheim B", Pillar.WOHNHEIM, 40)
    sites = board(first, second)
    household = assign(family(3), sites)
    one = decided(household)
    assert one.site_id == first.site_id
    types(household)

    household.reservation_rejected(
        first.site_id, one.reservation_id, RejectionReason.NO_FREE_PLACES, 0, sites, NOW
    )
    two = decided(household)
    assert two.site_id == second.site_id
    assert two.attempt == 2
    assert two.reservation_id != one.reservation_id
    assert types(household) == ["PlacementDecided"]

    # A late answer to the first request is not what the household waits for.
    household.reservation_rejected(
        first.site_id, one.reservation_id, RejectionReason.NO_FREE_PLACES, 0, sites, NOW
    )
    assert decided(household) is two

    household.reservation_rejected(
        second.site_id, two.reservation_id, RejectionReason.NO_FREE_PLACES, 1, sites, NOW
    )
    [failed] = household.events
    assert isinstance(failed, PlacementFailed)
    assert failed.waitlisted is True
    assert failed.persons == 3
    assert "2 sites already tried in this round" in failed.reason
    assert household.status is HouseholdStatus.WAITLISTED
    assert household.waitlisted_since == NOW
    assert household.pending is None


def test_nothing_free_at_all_waitlists_at_once_with_an_alert() -> None:
    household = assign(family(5), board(site("Wohnung", Pillar.WOHNUNG, 2)))
    assert types(household) == ["RefugeeAssigned", "PlacementFailed"]
    assert household.status is HouseholdStatus.WAITLISTED


def test_the_waitlist_retry_keeps_the_queue_position_and_raises_no_second_alert() -> None:
    household = assign(family(2), board())
    types(household)
    assert household.retry_from_waitlist(board(), LATER) is False
    assert household.history[-1].kind == "failed"  # the retry that found nothing left no trace

    home = site("Wohnheim neu", Pillar.WOHNHEIM, 50)
    sites = board(home)
    assert household.retry_from_waitlist(sites, LATER) is True
    request = decided(household)
    assert request.reason.startswith("from the waitlist: ")
    assert household.status is HouseholdStatus.PLACING
    assert types(household) == ["PlacementDecided"]

    household.reservation_rejected(
        home.site_id, request.reservation_id, RejectionReason.NO_FREE_PLACES, 0, sites, LATER
    )
    assert household.status is HouseholdStatus.WAITLISTED
    assert household.waitlisted_since == NOW, "back to its old place in the queue"
    assert types(household) == [], "the open alert stands; no second one"


def test_check_in_houses_the_household_at_the_decided_site() -> None:
    home = site("Wohnheim", Pillar.WOHNHEIM, 10, district=9)
    household = assign(family(2), board(home))
    request = decided(household)
    household.reservation_confirmed(home.site_id, request.reservation_id, LATER, NOW)
    types(household)
    household.checked_in(None, request.reservation_id, LATER, LATER)
    assert household.status is HouseholdStatus.HOUSED
    assert household.home is not None
    assert (household.home.site_id, household.home.pillar, household.home.district) == (
        home.site_id,
        Pillar.WOHNHEIM,
        9,
    )
    assert household.home.checked_in_at == LATER
    assert household.pending is None
    assert types(household) == [], "a first check-in is no relocation"


def test_rule_1_an_expired_hold_gives_staff_a_task_and_never_places_elsewhere() -> None:
    home = site("Wohnheim", Pillar.WOHNHEIM, 10)
    sites = board(home, site("Other", Pillar.WOHNHEIM, 10))
    household = assign(family(2), sites)
    first = decided(household)
    household.reservation_confirmed(home.site_id, first.reservation_id, LATER, NOW)
    types(household)
    household.reservation_released(first.reservation_id, ReleaseReason.CANCELLED, sites, LATER)
    assert types(household) == [], "a cancellation we asked for changes nothing"

    household.reservation_released(first.reservation_id, ReleaseReason.EXPIRED, sites, LATER)

    assert types(household) == [], "no new PlacementDecided: never silently placed elsewhere"
    assert household.status is HouseholdStatus.ARRIVAL_OVERDUE
    assert household.pending is None
    assert household.history[-1].kind == "task"
    assert "confirm the arrival" in household.history[-1].reason


def test_rule_1_a_confirmed_arrival_is_placed_again_with_a_hold_to_the_new_date() -> None:
    home = site("Wohnheim", Pillar.WOHNHEIM, 10)
    sites = board(home)
    household = assign(family(2), sites)
    first = decided(household)
    household.reservation_confirmed(home.site_id, first.reservation_id, LATER, NOW)
    household.reservation_released(first.reservation_id, ReleaseReason.EXPIRED, sites, LATER)
    types(household)
    arrival = NOW + timedelta(days=3)

    household.confirm_arrival(arrival, sites, LATER)

    again = decided(household)
    assert again.reservation_id != first.reservation_id
    assert again.expected_arrival_at == arrival, "the hold runs to the confirmed arrival"
    assert household.assigned_at == NOW, "keeps its place in the queue (assignment date)"
    assert household.status is HouseholdStatus.PLACING


def test_rule_1_only_an_overdue_arrival_is_confirmed() -> None:
    household = assign(family(2), board(site("Wohnheim", Pillar.WOHNHEIM, 10)))
    with pytest.raises(Conflict, match="only an overdue arrival"):
        household.confirm_arrival(NOW, Board(), LATER)


def test_the_hold_runs_to_the_expected_arrival_announced_by_the_land() -> None:
    arrival = NOW + timedelta(days=4)
    household = Household.assign(
        land_reference="NI-2015-0001",
        land_reference_pseudonym="1" * 64,
        members=family(2),
        quota_period_id=None,
        board=board(site("Wohnheim", Pillar.WOHNHEIM, 10)),
        now=NOW,
        expected_arrival_at=arrival,
    )
    assigned, request = household.events
    assert isinstance(assigned, RefugeeAssigned)
    assert assigned.expected_arrival_at == arrival
    assert isinstance(request, PlacementDecided)
    assert request.expected_arrival_at == arrival


def test_a_departure_dated_before_the_assignment_is_a_conflict() -> None:
    household = assign(family(2), board(site("Wohnheim", Pillar.WOHNHEIM, 10)))
    with pytest.raises(Conflict, match="before what is recorded"):
        household.depart(DepartureReason.MOVED_AWAY, NOW - timedelta(days=1))


def test_a_departure_dated_before_the_check_in_is_a_conflict() -> None:
    household = housed_at(board(site("Wohnheim", Pillar.WOHNHEIM, 10)))
    assert household.home is not None
    household.home = household.home.__class__(
        household.home.site_id, household.home.pillar, household.home.district, LATER
    )
    with pytest.raises(Conflict, match="before what is recorded"):
        household.depart(DepartureReason.MOVED_AWAY, NOW)


def test_departure_while_reserving_cancels_the_reservation() -> None:
    home = site("Wohnheim", Pillar.WOHNHEIM, 10)
    household = assign(family(2), board(home))
    request = decided(household)
    types(household)
    household.depart(DepartureReason.MOVED_AWAY, NOW)
    cancelled, departed = household.events
    assert isinstance(cancelled, PlacementCancelled)
    assert (cancelled.site_id, cancelled.reservation_id) == (home.site_id, request.reservation_id)
    assert isinstance(departed, RefugeeDeparted)
    assert departed.site_id is None
    assert departed.persons == 2
    assert household.status is HouseholdStatus.DEPARTED
    types(household)

    # Housing's late BedReserved for the cancelled request: compensated already.
    household.reservation_confirmed(home.site_id, request.reservation_id, LATER, LATER)
    assert types(household) == []
    with pytest.raises(Conflict, match="departed already"):
        household.depart(DepartureReason.OTHER, LATER)


def test_a_reservation_no_longer_wanted_is_compensated() -> None:
    home = site("Wohnheim", Pillar.WOHNHEIM, 10)
    household = assign(family(2), board(home))
    types(household)
    stray = uuid.uuid4()  # e.g. an old request whose answer comes after the household moved on
    household.reservation_confirmed(home.site_id, stray, LATER, NOW)
    [cancelled] = household.events
    assert isinstance(cancelled, PlacementCancelled)
    assert cancelled.reservation_id == stray
    assert "no longer wanted" in cancelled.reason
    assert household.status is HouseholdStatus.PLACING, "still waits for its own request"


def test_a_timeout_resends_the_same_request_only_while_unanswered() -> None:
    home = site("Wohnheim", Pillar.WOHNHEIM, 10)
    household = assign(family(2), board(home))
    request = decided(household)
    household.events.clear()
    assert household.resend(LATER) is True
    [again] = household.events
    assert again == request, "same reservation_id, same attempt: re-sent, never doubled"
    assert household.decided_at == NOW, "a technical resend keeps the business time"
    household.events.clear()
    household.reservation_confirmed(home.site_id, request.reservation_id, LATER, LATER)
    assert household.resend(LATER) is False


def test_a_closing_site_relocates_its_residents() -> None:
    shelter = site("Messehalle 27", Pillar.NOTUNTERKUNFT, 100)
    household = housed_at(board(shelter))
    home = site("Wohnheim", Pillar.WOHNHEIM, 10)
    household.site_closing(shelter.site_id, board(home), NOW)
    requested, request = household.events
    assert isinstance(requested, RelocationRequested)
    assert requested.reason is RelocationReason.SITE_CLOSING
    assert requested.from_site_id == shelter.site_id
    assert isinstance(request, PlacementDecided)
    assert request.site_id == home.site_id
    assert household.status is HouseholdStatus.HOUSED, "it keeps its bed until it moved"
    types(household)

    household.reservation_confirmed(home.site_id, request.reservation_id, LATER, LATER)
    household.checked_in(None, request.reservation_id, LATER, LATER)
    [relocated] = household.events
    assert isinstance(relocated, RefugeeRelocated)
    assert (relocated.from_site_id, relocated.to_site_id) == (shelter.site_id, home.site_id)
    assert relocated.to_pillar is Pillar.WOHNHEIM
    assert household.home is not None
    assert household.home.site_id == home.site_id


def test_rule_5_residents_of_a_closing_site_with_a_bed_are_relocation_pending_not_an_alert() -> (
    None
):
    shelter = site("Turnhalle", Pillar.NOTUNTERKUNFT, 100)
    household = housed_at(board(shelter))
    household.site_closing(shelter.site_id, board(), NOW)
    assert types(household) == ["RelocationRequested"], "no PlacementFailed: it has a bed"
    assert household.status is HouseholdStatus.RELOCATION_PENDING
    assert household.home is not None, "it still lives there until a place is found"
    assert household.history[-1].kind == "relocation_pending"
    # Places appear: the pending relocation goes on (still a must-move).
    home = site("Wohnheim", Pillar.WOHNHEIM, 10)
    assert household.retry_from_waitlist(board(home), LATER) is True
    assert types(household) == ["PlacementDecided"]
    assert decided(household).site_id == home.site_id
    assert household.must_move


def test_a_reservation_at_a_closing_site_is_handed_back_and_placed_elsewhere() -> None:
    closing = site("Ex-Maritim", Pillar.WOHNHEIM, 100)
    sites = board(closing, site("Wohnheim B", Pillar.WOHNHEIM, 10))
    household = assign(family(2), sites)
    request = decided(household)
    household.reservation_confirmed(closing.site_id, request.reservation_id, LATER, NOW)
    types(household)
    household.site_closing(closing.site_id, sites, NOW)
    # RelocationRequested only for households living at the site: this one only held places.
    assert types(household) == ["PlacementCancelled", "PlacementDecided"]
    assert decided(household).site_id != closing.site_id


def test_emergency_residents_move_to_regular_places_only() -> None:
    shelter = site("Deutscher Pavillon", Pillar.NOTUNTERKUNFT, 400)
    household = housed_at(board(shelter))
    other_shelter = site("Halle", Pillar.NOTUNTERKUNFT, 400)
    assert household.relocate_from_emergency(board(other_shelter), NOW) is False
    assert types(household) == []
    assert household.relocation_reason is None

    # A new arrival is not moved into a flat it is not ready for (no review fallback for a
    # move by choice: it has a bed), but into a Wohnheim.
    flat = site("Wohnung", Pillar.WOHNUNG, 4)
    assert household.relocate_from_emergency(board(other_shelter, flat), NOW) is False
    wohnheim = site("Wohnheim", Pillar.WOHNHEIM, 4)
    assert household.relocate_from_emergency(board(other_shelter, flat, wohnheim), NOW) is True
    requested, request = household.events
    assert isinstance(requested, RelocationRequested)
    assert requested.reason is RelocationReason.EMERGENCY_DISSOLUTION
    assert isinstance(request, PlacementDecided)
    assert request.site_id == wohnheim.site_id


def test_a_voluntary_relocation_that_finds_nothing_leaves_the_household_housed() -> None:
    shelter = site("Halle", Pillar.NOTUNTERKUNFT, 100)
    household = housed_at(board(shelter))
    with pytest.raises(Conflict, match="no other site fits"):
        household.request_relocation(RelocationReason.HOUSEHOLD_REQUEST, board(shelter), NOW)
    assert types(household) == []

    home = site("Wohnheim", Pillar.WOHNHEIM, 10)
    sites = board(home)
    household.request_relocation(RelocationReason.HOUSEHOLD_REQUEST, sites, NOW)
    request = decided(household)
    types(household)
    with pytest.raises(Conflict, match="being relocated already"):
        household.request_relocation(RelocationReason.HOUSEHOLD_REQUEST, sites, NOW)
    household.reservation_rejected(
        home.site_id, request.reservation_id, RejectionReason.NO_FREE_PLACES, 0, sites, NOW
    )
    assert types(household) == [], "no homelessness alert: it still has its bed"
    assert household.status is HouseholdStatus.HOUSED
    assert household.home is not None
    assert household.home.site_id == shelter.site_id
    assert household.pending is None


def test_moving_out_ends_the_stay_and_cancels_a_move_in_flight() -> None:
    shelter = site("Halle", Pillar.NOTUNTERKUNFT, 100)
    household = housed_at(board(shelter))
    household.relocate_from_emergency(board(site("Wohnheim", Pillar.WOHNHEIM, 9)), NOW)
    types(household)
    household.checked_out(shelter.site_id, CheckOutReason.RELOCATED, board(), NOW)
    assert household.status is HouseholdStatus.HOUSED, "relocated: recorded at the check-in"
    household.checked_out(shelter.site_id, CheckOutReason.MOVED_OUT, board(), NOW)
    assert types(household) == ["PlacementCancelled"]
    assert household.status is HouseholdStatus.MOVED_OUT
    assert household.home is None


def test_special_needs_of_any_member_apply_to_the_whole_household() -> None:
    stairs = site("Wohnheim Altbau", Pillar.WOHNHEIM, 100)
    accessible = site("Wohnheim barrierefrei", Pillar.WOHNHEIM, 10, Suitability.ACCESSIBLE)
    members = [member(), member(AgeBand.AGE_65_PLUS, SpecialNeed.WHEELCHAIR), member()]
    household = assign(members, board(stairs, accessible))
    assert household.special_needs == [SpecialNeed.WHEELCHAIR]
    assert decided(household).site_id == accessible.site_id
    assert decided(household).places == 3
