"""Allocation places by integration's assessment (ReadinessAssessed) and computes none itself.

Readiness is assessed in one place, Integrationsmanagement; allocation keeps the latest
assessment and starts every placement and relocation from its ``ready_for``.
"""

from __future__ import annotations

from datetime import timedelta

from allocation.domain import (
    NOT_ASSESSED,
    Board,
    Household,
    HouseholdStatus,
    IntakeMember,
    placement_pillar,
)
from allocation_builders import NOW, TODAY, assessed, board, family, member, site
from ankommen_contracts import AgeBand, Pillar, SiteRequirement, SpecialNeed
from ankommen_contracts.events.allocation import (
    DepartureReason,
    PlacementDecided,
    RefugeeAssigned,
    RelocationReason,
)

LATER = NOW + timedelta(days=1)


def assign(members: list[IntakeMember], sites: Board) -> Household:
    return Household.assign(
        land_reference="NI-2016-0016",
        land_reference_pseudonym="0" * 64,
        members=members,
        quota_period_id=None,
        board=sites,
        now=NOW,
    )


def decided(household: Household) -> PlacementDecided:
    request = household.pending
    assert request is not None, f"no request in flight ({household.status.value})"
    return request


def housed_at(household: Household, at: Board) -> Household:
    """Check the household in where its request went."""
    request = decided(household)
    household.checked_in(at.get(request.site_id), request.reservation_id, NOW, NOW)
    household.events.clear()
    household.history.clear()
    return household


def test_a_household_nobody_assessed_starts_in_a_wohnheim_however_long_it_waited() -> None:
    flat = site("Wohnungen Linden", Pillar.WOHNUNG, 4)
    home = site("Wohnheim Tresckowstraße", Pillar.WOHNHEIM, 40)
    household = assign(family(2), board())  # nothing open: waitlisted
    a_year_later = NOW + timedelta(days=365)
    assert household.retry_from_waitlist(board(flat, home), a_year_later)
    assert decided(household).site_id == home.site_id
    assert NOT_ASSESSED in decided(household).reason
    assert placement_pillar(None) == (Pillar.WOHNHEIM, NOT_ASSESSED)


def test_the_assessments_ready_for_decides_the_pillar_whatever_the_stay() -> None:
    """No rule of allocation's second-guesses integration: assessed on the day of the
    assignment ready for a Wohnung, the household goes to a Wohnung."""
    flat = site("Wohnungen Linden", Pillar.WOHNUNG, 4)
    home = site("Wohnheim Tresckowstraße", Pillar.WOHNHEIM, 40)
    household = assign(family(2), board())
    assert household.readiness_assessed(assessed(Pillar.WOHNUNG, own_tenancy=True), NOW)
    assert "assessed by Integrationsmanagement" in household.history[-1].reason
    assert household.retry_from_waitlist(board(flat, home), NOW)
    request = decided(household)
    assert request.site_id == flat.site_id
    assert request.for_review is False
    assert "ready for a Wohnung and for a tenancy of its own" in request.reason
    assert "Wohnungen first" in request.reason


def test_ready_for_a_wohnprojekt_goes_to_one_before_a_wohnheim_and_never_to_a_flat() -> None:
    flat = site("Wohnungen Linden", Pillar.WOHNUNG, 4)
    project = site("Wohnprojekt Ahlem", Pillar.WOHNPROJEKT, 8)
    home = site("Wohnheim Tresckowstraße", Pillar.WOHNHEIM, 40)
    household = assign(family(2), board())
    household.readiness_assessed(assessed(Pillar.WOHNPROJEKT), NOW)
    assert household.retry_from_waitlist(board(flat, project, home), NOW)
    assert decided(household).site_id == project.site_id

    other = assign(family(2), board())
    other.readiness_assessed(assessed(Pillar.WOHNPROJEKT), NOW)
    assert other.retry_from_waitlist(board(flat, home), NOW)
    assert decided(other).site_id == home.site_id, "a Wohnheim suits better than a flat"


def test_a_relocation_moves_a_household_assessed_ready_for_a_wohnung_into_a_flat() -> None:
    home = site("Wohnheim Tresckowstraße", Pillar.WOHNHEIM, 40)
    other_home = site("Wohnheim Alter Flughafen", Pillar.WOHNHEIM, 90)
    flat = site("Wohnungen Linden", Pillar.WOHNUNG, 4)
    household = housed_at(assign(family(2), board(home)), board(home))

    # Not assessed: a move by request goes to another Wohnheim, never to a flat.
    unassessed = housed_at(assign(family(2), board(home)), board(home))
    unassessed.request_relocation(
        RelocationReason.HOUSEHOLD_REQUEST, board(home, other_home, flat), LATER
    )
    assert decided(unassessed).site_id == other_home.site_id

    household.readiness_assessed(assessed(Pillar.WOHNUNG, TODAY + timedelta(days=200)), LATER)
    household.request_relocation(
        RelocationReason.HOUSEHOLD_REQUEST, board(home, other_home, flat), LATER
    )
    request = decided(household)
    assert (request.site_id, request.pillar) == (flat.site_id, Pillar.WOHNUNG)
    assert household.status is HouseholdStatus.HOUSED, "keeps its bed until the check-in"


def test_a_later_assessment_replaces_the_earlier_and_a_late_older_one_changes_nothing() -> None:
    household = assign(family(2), board())
    june, july = TODAY + timedelta(days=90), TODAY + timedelta(days=120)
    assert household.readiness_assessed(assessed(Pillar.WOHNUNG, june), NOW)
    # A setback: assessed again in July, now a Wohnprojekt only.
    assert household.readiness_assessed(assessed(Pillar.WOHNPROJEKT, july), NOW)
    household.history.clear()
    # June's assessment delivered late (another case's partition): stale, ignored.
    assert not household.readiness_assessed(assessed(Pillar.WOHNUNG, june), NOW)
    assert household.readiness is not None
    assert household.readiness.ready_for is Pillar.WOHNPROJEKT
    assert household.history == [], "nothing noted, so nothing saved"
    # Two assessments of one day: the later one (in the case's order) counts.
    assert household.readiness_assessed(assessed(Pillar.WOHNHEIM, july), NOW)
    assert household.need().ready_for is Pillar.WOHNHEIM


def test_an_assessment_of_a_departed_household_is_ignored_not_refused() -> None:
    household = assign(family(2), board())
    household.depart(DepartureReason.MOVED_AWAY, NOW)
    assert not household.readiness_assessed(assessed(Pillar.WOHNUNG), LATER)
    assert household.readiness is None


def test_an_assessment_dated_before_the_check_in_is_still_taken() -> None:
    """A fact from another service is never refused (a 409 would dead-letter it)."""
    home = site("Wohnheim Tresckowstraße", Pillar.WOHNHEIM, 40)
    household = housed_at(assign(family(2), board(home)), board(home))
    assert household.readiness_assessed(assessed(Pillar.WOHNUNG), NOW - timedelta(days=3))
    assert household.need().ready_for is Pillar.WOHNUNG


def test_the_event_of_an_assignment_carries_no_need_only_site_requirements() -> None:
    """Issue 15: RefugeeAssigned (v3) carries the household's site requirements, derived by
    the contract's one rule, never a member's special needs (health data stays home)."""
    household = assign([member(), member(AgeBand.AGE_50_64, SpecialNeed.MEDICAL)], board())
    [assigned] = [e for e in household.events if isinstance(e, RefugeeAssigned)]
    payload = assigned.model_dump(mode="json")
    assert all("special_needs" not in m for m in payload["members"])
    assert "medical" not in str(payload)
    assert assigned.requirements == [SiteRequirement.NOT_MASS_SHELTER]
    assert household.special_needs == [SpecialNeed.MEDICAL], "kept in allocation's own data"
