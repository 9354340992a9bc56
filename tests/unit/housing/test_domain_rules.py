"""Housing's rules on sites, places, reservations and occupants (pure, no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from ankommen_contracts import BuildingKind, Pillar, SiteRequirement, Suitability
from ankommen_contracts.events.housing import (
    BedReserved,
    CapacityChangeReason,
    CheckOutReason,
    ClosingReason,
    OccupantCheckedIn,
    OccupantCheckedOut,
    RejectionReason,
    ReleaseReason,
    ReservationRejected,
    ReservationReleased,
    ShelterCapacityChanged,
    ShelterClosed,
    ShelterClosing,
    ShelterOpened,
    ShelterPlanned,
    ShelterRateChanged,
)
from ankommen_runtime import Conflict
from housing.domain import (
    Occupant,
    Reservation,
    ReservationRequest,
    ReservationStatus,
    Site,
    SiteStatus,
    occupancy,
    suits,
)

NOW = datetime(2016, 3, 1, 9, 0, tzinfo=UTC)


def open_site(capacity: int = 10, **kwargs: object) -> Site:
    site = Site.open_new(
        name="Wohnheim Tresckowstraße",
        pillar=Pillar.WOHNHEIM,
        district=9,
        operator="DRK",
        capacity=capacity,
        **kwargs,  # type: ignore[arg-type]
    )
    site.events.clear()
    return site


def request(
    site: Site,
    places: int = 1,
    requirements: frozenset[SiteRequirement] = frozenset(),
    **kwargs: object,
) -> ReservationRequest:
    return ReservationRequest(
        reservation_id=uuid.uuid4(),
        site_id=site.site_id,
        household_id=uuid.uuid4(),
        places=places,
        requirements=requirements,
        **kwargs,  # type: ignore[arg-type]
    )


def held(site: Site, places: int = 1, grace: timedelta = timedelta(hours=48)) -> Reservation:
    reservation = site.reserve(request(site, places, grace=grace), NOW)
    assert reservation.status is ReservationStatus.HELD
    site.events.clear()
    return reservation


def housed(site: Site, places: int = 1) -> Occupant:
    occupant = site.check_in(held(site, places), NOW)
    site.events.clear()
    return occupant


# -- reserving -----------------------------------------------------------------------------


def test_rule_1_a_hold_runs_to_the_expected_arrival_plus_the_grace() -> None:
    site = open_site(capacity=3)
    arrival = NOW + timedelta(days=5)
    wanted = request(site, places=2, expected_arrival_at=arrival, grace=timedelta(hours=2))
    reservation = site.reserve(wanted, NOW)
    assert reservation.status is ReservationStatus.HELD
    assert reservation.expires_at == arrival + timedelta(hours=2)
    assert (site.reserved, site.free) == (2, 1)
    [event] = site.events
    assert isinstance(event, BedReserved)
    assert (event.reservation_id, event.places, event.expires_at) == (
        wanted.reservation_id,
        2,
        arrival + timedelta(hours=2),
    )


def test_rule_1_an_arrival_already_past_is_held_from_the_reservation_for_the_grace() -> None:
    site = open_site(capacity=3)
    wanted = request(site, expected_arrival_at=NOW - timedelta(days=3), grace=timedelta(hours=2))
    assert site.reserve(wanted, NOW).expires_at == NOW + timedelta(hours=2)


def test_a_check_in_dated_before_its_reservation_is_a_conflict() -> None:
    site = open_site(capacity=3)
    reservation = held(site)
    with pytest.raises(Conflict, match="before reservation"):
        site.check_in(reservation, NOW - timedelta(hours=1))


def test_a_check_out_dated_before_the_check_in_is_a_conflict() -> None:
    site = open_site(capacity=3)
    occupant = housed(site)
    with pytest.raises(Conflict, match="before household"):
        site.check_out(occupant, CheckOutReason.MOVED_OUT, NOW - timedelta(minutes=1))


def test_reserving_more_than_is_free_is_rejected_with_the_free_places() -> None:
    site = open_site(capacity=3)
    held(site, places=2)
    site.blocked = 1  # as if blocked: nothing left
    reservation = site.reserve(request(site, places=1), NOW)
    assert reservation.status is ReservationStatus.REJECTED
    assert reservation.rejection_reason is RejectionReason.NO_FREE_PLACES
    assert site.reserved == 2, "a rejection takes nothing"
    [event] = site.events
    assert isinstance(event, ReservationRejected)
    assert (event.reason, event.free_places) == (RejectionReason.NO_FREE_PLACES, 0)


def test_a_household_is_never_split_over_the_last_places() -> None:
    site = open_site(capacity=5)
    held(site, places=3)
    reservation = site.reserve(request(site, places=3), NOW)
    assert reservation.rejection_reason is RejectionReason.NO_FREE_PLACES
    assert reservation.free_places == 2


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (SiteStatus.PLANNED, RejectionReason.SITE_NOT_OPEN),
        (SiteStatus.CLOSING, RejectionReason.SITE_CLOSING),
        (SiteStatus.CLOSED, RejectionReason.SITE_NOT_OPEN),
    ],
)
def test_only_an_open_site_reserves(status: SiteStatus, reason: RejectionReason) -> None:
    site = open_site()
    site.status = status
    reservation = site.reserve(request(site), NOW)
    assert reservation.rejection_reason is reason
    assert site.reserved == 0


def test_a_closing_site_refuses_new_reservations() -> None:
    site = open_site()
    site.start_closing(ClosingReason.EMERGENCY_DISSOLUTION)
    assert site.refusal(1) is RejectionReason.SITE_CLOSING


R = SiteRequirement


@pytest.mark.parametrize(
    ("suitability", "building", "requirements", "fits"),
    [
        ([], BuildingKind.OTHER, [], True),
        ([], BuildingKind.OTHER, [R.ACCESSIBLE], False),
        ([Suitability.ACCESSIBLE], BuildingKind.OTHER, [R.ACCESSIBLE], True),
        ([Suitability.FAMILIES], BuildingKind.OTHER, [R.WOMEN_ONLY], False),
        ([Suitability.WOMEN_ONLY], BuildingKind.OTHER, [R.WOMEN_ONLY], True),
        # A women-only site takes women and their children, never an adult man.
        ([Suitability.WOMEN_ONLY], BuildingKind.OTHER, [R.NOT_SINGLE_ADULTS], True),
        ([Suitability.WOMEN_ONLY], BuildingKind.OTHER, [R.NOT_WOMEN_ONLY], False),
        # Families with children never in a site for single adults.
        ([Suitability.SINGLE_ADULTS], BuildingKind.OTHER, [R.NOT_SINGLE_ADULTS], False),
        ([Suitability.SINGLE_ADULTS], BuildingKind.OTHER, [R.NOT_WOMEN_ONLY], True),
        # Who needs a quieter place: no hall or tent, even an accessible one.
        ([Suitability.ACCESSIBLE], BuildingKind.SCHOOL_SPORTS_HALL, [R.NOT_MASS_SHELTER], False),
        ([], BuildingKind.TENT_VILLAGE, [R.NOT_MASS_SHELTER], False),
        ([], BuildingKind.FORMER_HOSPITAL, [R.NOT_MASS_SHELTER], True),
    ],
)
def test_rule_3_protection_rules_are_enforced_by_housing_too(
    suitability: list[Suitability],
    building: BuildingKind,
    requirements: list[SiteRequirement],
    fits: bool,
) -> None:
    assert suits(suitability, requirements, building) is fits
    site = open_site(suitability=suitability, building=building)
    reservation = site.reserve(request(site, 2, frozenset(requirements)), NOW)
    rejected = reservation.rejection_reason is RejectionReason.UNSUITABLE
    assert rejected is not fits, "however many places are free"


def test_an_unsuitable_site_rejects() -> None:
    site = open_site()
    reservation = site.reserve(
        request(site, requirements=frozenset({SiteRequirement.ACCESSIBLE})), NOW
    )
    assert reservation.rejection_reason is RejectionReason.UNSUITABLE


def test_the_recorded_answer_is_repeated_with_the_same_figures() -> None:
    site = open_site()
    wanted = request(site, places=2)
    reservation = site.reserve(wanted, NOW)
    assert reservation.outcome() == site.events[0]
    assert reservation.answers(wanted)
    other = ReservationRequest(
        reservation_id=wanted.reservation_id,
        site_id=site.site_id,
        household_id=wanted.household_id,
        places=3,
    )
    assert not reservation.answers(other)


def test_an_unknown_site_is_rejected_without_free_places() -> None:
    wanted = ReservationRequest(
        reservation_id=uuid.uuid4(), site_id=uuid.uuid4(), household_id=uuid.uuid4(), places=4
    )
    event = Reservation.for_unknown_site(wanted, NOW).outcome()
    assert isinstance(event, ReservationRejected)
    assert (event.reason, event.free_places, event.site_id) == (
        RejectionReason.UNKNOWN_SITE,
        None,
        wanted.site_id,
    )


def test_releasing_gives_places_back_once() -> None:
    site = open_site(capacity=4)
    reservation = held(site, places=3)
    assert site.release(reservation, ReleaseReason.CANCELLED, NOW)
    assert (site.reserved, site.free, reservation.status) == (0, 4, ReservationStatus.RELEASED)
    [event] = site.events
    assert isinstance(event, ReservationReleased)
    assert (event.reason, event.places) == (ReleaseReason.CANCELLED, 3)
    assert not site.release(reservation, ReleaseReason.EXPIRED, NOW), "a repeat does nothing"
    assert len(site.events) == 1


# -- check-in and check-out ----------------------------------------------------------------


def test_check_in_turns_reserved_into_occupied_places() -> None:
    site = open_site(capacity=5)
    reservation = held(site, places=4)
    occupant = site.check_in(reservation, NOW + timedelta(hours=1))
    assert (site.reserved, site.occupied, site.free) == (0, 4, 1)
    assert reservation.status is ReservationStatus.CHECKED_IN
    assert (occupant.persons, occupant.reservation_id) == (4, reservation.reservation_id)
    [event] = site.events
    assert isinstance(event, OccupantCheckedIn)
    assert (event.persons, event.reservation_id) == (4, reservation.reservation_id)


def test_checking_in_twice_is_a_conflict() -> None:
    site = open_site()
    reservation = held(site)
    site.check_in(reservation, NOW)
    with pytest.raises(Conflict, match="checked in already"):
        site.check_in(reservation, NOW)
    assert site.occupied == 1


def test_an_expired_or_released_reservation_cannot_check_in() -> None:
    site = open_site()
    reservation = held(site, grace=timedelta(hours=1))
    with pytest.raises(Conflict, match="expired"):
        site.check_in(reservation, NOW + timedelta(hours=1))
    site.release(reservation, ReleaseReason.EXPIRED, NOW + timedelta(hours=1))
    with pytest.raises(Conflict, match="released"):
        site.check_in(reservation, NOW)


def test_a_closing_site_takes_no_new_occupants() -> None:
    site = open_site()
    reservation = held(site)
    site.start_closing(ClosingReason.LEASE_ENDED)
    with pytest.raises(Conflict, match="closing"):
        site.check_in(reservation, NOW)


def test_check_in_elsewhere_checks_the_household_out_of_its_old_site() -> None:
    old, new = open_site(capacity=10), open_site(capacity=10)
    home = housed(old, places=3)
    reservation = new.reserve(
        ReservationRequest(
            reservation_id=uuid.uuid4(),
            site_id=new.site_id,
            household_id=home.household_id,
            places=3,
        ),
        NOW,
    )
    new.events.clear()
    occupant = new.check_in(reservation, NOW, home=home, home_site=old)
    assert (old.occupied, new.occupied, occupant.site_id) == (0, 3, new.site_id)
    [out] = old.events
    assert isinstance(out, OccupantCheckedOut)
    assert (out.reason, out.persons) == (CheckOutReason.RELOCATED, 3)
    assert isinstance(new.events[0], OccupantCheckedIn)


def test_check_in_where_the_household_lives_already_is_a_conflict() -> None:
    site = open_site()
    home = housed(site)
    again = site.reserve(
        ReservationRequest(
            reservation_id=uuid.uuid4(),
            site_id=site.site_id,
            household_id=home.household_id,
            places=1,
        ),
        NOW,
    )
    with pytest.raises(Conflict, match="already"):
        site.check_in(again, NOW, home=home, home_site=site)
    assert site.occupied == 1


def test_check_out_frees_the_places() -> None:
    site = open_site(capacity=6)
    occupant = housed(site, places=5)
    site.check_out(occupant, CheckOutReason.MOVED_OUT, NOW)
    assert (site.occupied, site.free) == (0, 6)
    [event] = site.events
    assert isinstance(event, OccupantCheckedOut)
    assert (event.reason, event.persons) == (CheckOutReason.MOVED_OUT, 5)


# -- lifecycle -----------------------------------------------------------------------------


def test_a_planned_site_opens_once_it_has_an_operator() -> None:
    site = Site.plan(name="Modulbau Bemerode", pillar=Pillar.WOHNHEIM, district=6, capacity=96)
    assert site.status is SiteStatus.PLANNED
    assert isinstance(site.events[0], ShelterPlanned)
    with pytest.raises(Conflict, match="operator"):
        site.open()
    site.open(operator="Johanniter", capacity=100)
    assert (site.status, site.capacity) == (SiteStatus.OPEN, 100)
    opened = site.events[-1]
    assert isinstance(opened, ShelterOpened)
    assert (opened.operator, opened.capacity) == ("Johanniter", 100)
    with pytest.raises(Conflict, match="only a planned site"):
        site.open()


def test_closing_an_occupied_site_is_refused() -> None:
    site = open_site()
    occupant = housed(site)
    site.start_closing(ClosingReason.BUILDING_NEEDED)
    assert isinstance(site.events[-1], ShelterClosing)
    with pytest.raises(Conflict, match="1 persons live here"):
        site.close()
    site.check_out(occupant, CheckOutReason.RELOCATED, NOW)
    site.close()
    assert site.status is SiteStatus.CLOSED
    assert isinstance(site.events[-1], ShelterClosed)
    with pytest.raises(Conflict, match="closed already"):
        site.close()


def test_closing_a_site_holding_reservations_is_refused() -> None:
    site = open_site()
    held(site, places=2)
    site.start_closing(ClosingReason.REPLACED)
    with pytest.raises(Conflict, match="2 places are reserved"):
        site.close()


def test_an_open_site_starts_closing_before_it_closes() -> None:
    site = open_site()
    with pytest.raises(Conflict, match="start closing first"):
        site.close()
    with pytest.raises(Conflict, match="only an open site"):
        Site.plan(name="X", pillar=Pillar.WOHNUNG, district=1, capacity=2).start_closing(
            ClosingReason.OTHER
        )


def test_a_dropped_plan_closes() -> None:
    site = Site.plan(name="Halle", pillar=Pillar.NOTUNTERKUNFT, district=5, capacity=200)
    site.close()
    assert site.status is SiteStatus.CLOSED


# -- capacity and blocked places -----------------------------------------------------------


def test_capacity_never_shrinks_below_occupied_reserved_and_blocked() -> None:
    site = open_site(capacity=10)
    housed(site, places=3)
    held(site, places=2)
    site.block(1)
    site.events.clear()
    with pytest.raises(Conflict, match="cannot shrink to 5"):
        site.change_capacity(5)
    site.change_capacity(6)
    [event] = site.events
    assert isinstance(event, ShelterCapacityChanged)
    assert (event.capacity, event.blocked_places, event.reason) == (
        6,
        1,
        CapacityChangeReason.REDUCED,
    )
    site.change_capacity(20)
    assert site.events[-1].reason is CapacityChangeReason.EXPANDED  # type: ignore[attr-defined]


def test_capacity_change_reason_must_fit_the_direction() -> None:
    site = open_site(capacity=10)
    with pytest.raises(Conflict, match="expanded"):
        site.change_capacity(8, CapacityChangeReason.EXPANDED)
    with pytest.raises(Conflict, match="dissolving"):
        site.change_capacity(12, CapacityChangeReason.DISSOLVING)
    site.change_capacity(12, CapacityChangeReason.CORRECTION)
    assert site.capacity == 12


def test_an_unchanged_capacity_raises_nothing() -> None:
    site = open_site(capacity=10)
    site.change_capacity(10)
    assert site.events == []


def test_a_closed_site_changes_no_more() -> None:
    site = open_site()
    site.start_closing(ClosingReason.OTHER)
    site.close()
    with pytest.raises(Conflict, match="closed"):
        site.change_capacity(20)
    with pytest.raises(Conflict, match="closed"):
        site.block(1)


def test_only_free_places_can_be_blocked_and_only_blocked_ones_released() -> None:
    site = open_site(capacity=10)
    housed(site, places=6)
    held(site, places=2)
    with pytest.raises(Conflict, match="2 free places; cannot block 3"):
        site.block(3)
    site.block(2)
    assert (site.blocked, site.free) == (2, 0)
    with pytest.raises(Conflict, match="2 blocked places; cannot release 3"):
        site.release_blocked(3)
    site.release_blocked(2)
    reasons = [e.reason for e in site.events if isinstance(e, ShelterCapacityChanged)]
    assert reasons == [CapacityChangeReason.PLACES_BLOCKED, CapacityChangeReason.PLACES_RELEASED]
    assert [e.blocked_places for e in site.events] == [2, 0]  # type: ignore[attr-defined]


def test_a_planned_site_has_no_places_to_block() -> None:
    site = Site.plan(name="X", pillar=Pillar.WOHNUNG, district=1, capacity=2)
    with pytest.raises(Conflict, match="planned"):
        site.block(1)


# -- occupancy -----------------------------------------------------------------------------


def test_occupancy_counts_sites_in_use_per_pillar_district_and_total() -> None:
    a = open_site(capacity=100)
    for _ in range(3):
        housed(a, places=20)
    held(a, places=10)
    a.block(5)
    b = Site.open_new(
        name="Sporthalle", pillar=Pillar.NOTUNTERKUNFT, district=9, operator="ASB", capacity=50
    )
    for _ in range(2):
        housed(b, places=25)
    b.start_closing(ClosingReason.EMERGENCY_DISSOLUTION)
    planned = Site.plan(name="Plan", pillar=Pillar.WOHNHEIM, district=9, capacity=500)
    by_pillar, by_district, total = occupancy([a, b, planned])
    assert [r.key for r in by_pillar] == ["wohnheim", "wohnprojekt", "wohnung", "notunterkunft"]
    heim = by_pillar[0]
    assert (heim.sites, heim.capacity, heim.blocked, heim.reserved, heim.occupied, heim.free) == (
        1,
        100,
        5,
        10,
        60,
        25,
    )
    assert len(by_district) == 13
    ricklingen = by_district[8]
    assert (ricklingen.key, ricklingen.label, ricklingen.sites) == ("09", "Ricklingen", 2)
    assert (total.capacity, total.occupied, total.free) == (150, 110, 25)


def test_what_a_site_costs_travels_with_its_opening_and_each_new_agreement() -> None:
    site = Site.open_new(
        name="Ehem. Maritim Hotel",
        pillar=Pillar.NOTUNTERKUNFT,
        district=1,
        operator="DRK",
        capacity=550,
        daily_rate=Decimal("26.40"),
        monthly_fixed_cost=Decimal("229166.67"),
    )
    [opened] = site.events
    assert isinstance(opened, ShelterOpened)
    assert opened.daily_rate == Decimal("26.40")
    assert opened.monthly_fixed_cost == Decimal("229166.67")
    site.events.clear()
    site.change_rates(Decimal("24.00"), None, date(2017, 1, 1))
    assert (site.daily_rate, site.monthly_fixed_cost) == (Decimal("24.00"), None)
    assert site.events == [
        ShelterRateChanged(
            site_id=site.site_id,
            daily_rate=Decimal("24.00"),
            monthly_fixed_cost=None,
            valid_from=date(2017, 1, 1),
        )
    ]


def test_a_planned_site_states_its_rates_when_it_opens() -> None:
    site = Site.plan(name="Modulbau Bemerode", pillar=Pillar.WOHNHEIM, district=6, capacity=96)
    site.open(operator="Johanniter", daily_rate=Decimal("19.00"))
    opened = site.events[-1]
    assert isinstance(opened, ShelterOpened)
    assert (opened.daily_rate, opened.monthly_fixed_cost) == (Decimal("19.00"), None)


def test_only_a_site_in_use_gets_new_rates() -> None:
    planned = Site.plan(name="Modulbau Bemerode", pillar=Pillar.WOHNHEIM, district=6, capacity=96)
    with pytest.raises(Conflict, match="only a site in use is paid for"):
        planned.change_rates(Decimal("19.00"), None, date(2016, 3, 1))
    assert planned.events[-1].__class__ is ShelterPlanned, "nothing raised"
    closing = open_site()
    closing.start_closing(ClosingReason.LEASE_ENDED)
    closing.change_rates(None, Decimal("1000.00"), date(2016, 3, 1))  # paid until it is empty
    assert closing.monthly_fixed_cost == Decimal("1000.00")
