"""Issue 13's placement rules as housing keeps them: flats, exits, building kinds (pure)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from ankommen_contracts import BuildingKind, BuildingOwner, Pillar
from ankommen_contracts.events.housing import (
    BedReserved,
    CheckOutReason,
    ClosingReason,
    OccupantCheckedIn,
    OccupantCheckedOut,
    RejectionReason,
    ReleaseReason,
    ShelterClosing,
    ShelterClosingDateSet,
    ShelterOpened,
)
from ankommen_runtime import Conflict
from housing.domain import (
    FollowUpReason,
    Occupant,
    ReservationRequest,
    ReservationStatus,
    Site,
    SiteStatus,
)

NOW = datetime(2016, 3, 1, 9, 0, tzinfo=UTC)


def city_flats(*places: int) -> Site:
    site = Site.open_new(
        name="Wohnungen Linden-Limmer",
        pillar=Pillar.WOHNUNG,
        district=10,
        operator="Stadt Hannover",
        capacity=sum(places),
        building=BuildingKind.FLATS,
        flats=places,
    )
    site.events.clear()
    return site


def wohnheim(capacity: int = 10) -> Site:
    site = Site.open_new(
        name="Wohnheim Am Bahndamm", pillar=Pillar.WOHNHEIM, district=11, operator="Johanniter",
        capacity=capacity,
    )  # fmt: skip
    site.events.clear()
    return site


def ask(site: Site, places: int) -> ReservationRequest:
    return ReservationRequest(
        reservation_id=uuid.uuid4(),
        site_id=site.site_id,
        household_id=uuid.uuid4(),
        places=places,
    )


def living_at(site: Site, places: int) -> Occupant:
    reservation = site.reserve(ask(site, places), NOW)
    occupant = site.check_in(reservation, NOW)
    site.events.clear()
    return occupant


# -- rule 4: flats are let to one household --------------------------------------------------


def test_rule_4_a_flat_is_let_to_one_household_and_two_never_share_one() -> None:
    site = city_flats(4, 2)
    couple = site.reserve(ask(site, 2), NOW)
    assert couple.status is ReservationStatus.HELD
    small = next(f for f in site.flats if f.places == 2)
    assert couple.unit_id == small.unit_id, "the smallest flat that fits"
    [reserved] = site.events
    assert isinstance(reserved, BedReserved)
    assert reserved.unit_id == small.unit_id
    # Free places are those of free flats: the 4-place flat, nothing of the let one.
    assert (site.free, site.free_units, site.units) == (4, 1, 2)

    single = site.reserve(ask(site, 1), NOW)
    assert single.unit_id != couple.unit_id, "the single gets the big flat, never a share"
    assert (site.free, site.free_units) == (0, 0)
    third = site.reserve(ask(site, 1), NOW)
    assert third.rejection_reason is RejectionReason.NO_FREE_UNIT


def test_rule_4_a_released_or_vacated_flat_is_free_again() -> None:
    site = city_flats(3)
    held = site.reserve(ask(site, 3), NOW)
    site.release(held, ReleaseReason.EXPIRED, NOW)
    assert site.free_units == 1
    occupant = living_at(site, 2)
    assert occupant.unit_id == site.flats[0].unit_id
    site.check_out(occupant, CheckOutReason.MOVED_OUT, NOW)
    assert site.free_units == 1


def test_rule_4_the_flats_hold_exactly_the_sites_places() -> None:
    with pytest.raises(Conflict, match="hold 6 places, not its capacity 7"):
        Site.open_new(
            name="Wohnungen", pillar=Pillar.WOHNUNG, district=1, operator="Stadt",
            capacity=7, flats=(4, 2),
        )  # fmt: skip
    site = city_flats(4, 2)
    with pytest.raises(Conflict, match="places are those of its flats"):
        site.change_capacity(8)


def test_rule_4_the_flats_are_announced_with_the_site_and_the_check_in_names_the_flat() -> None:
    site = Site.open_new(
        name="Wohnungen", pillar=Pillar.WOHNUNG, district=1, operator="Stadt", capacity=5,
        flats=(3, 2),
    )  # fmt: skip
    [opened] = site.events
    assert isinstance(opened, ShelterOpened)
    assert sorted(u.places for u in opened.units) == [2, 3]
    site.events.clear()
    reservation = site.reserve(ask(site, 2), NOW)
    site.check_in(reservation, NOW)
    checked_in = site.events[-1]
    assert isinstance(checked_in, OccupantCheckedIn)
    assert checked_in.unit_id == reservation.unit_id is not None


# -- rule 5: every exit has a next place or an alert -----------------------------------------


@pytest.mark.parametrize(
    ("reason", "follow_up"),
    [
        (CheckOutReason.HOUSE_BAN, FollowUpReason.HOUSE_BAN),
        (CheckOutReason.INSTITUTION, FollowUpReason.INSTITUTION),
        (CheckOutReason.OTHER, FollowUpReason.OTHER),
        (CheckOutReason.MOVED_OUT, None),
        (CheckOutReason.RELOCATED, None),
        (CheckOutReason.DEPARTED, None),
    ],
)
def test_rule_5_an_exit_without_a_next_place_raises_a_follow_up(
    reason: CheckOutReason, follow_up: FollowUpReason | None
) -> None:
    site = wohnheim()
    occupant = living_at(site, 3)
    raised = site.check_out(occupant, reason, NOW)
    [event] = site.events
    assert isinstance(event, OccupantCheckedOut)
    assert event.reason is reason, "the event carries the coarse reason only"
    if follow_up is None:
        assert raised is None
    else:
        assert raised is not None
        assert (raised.reason, raised.household_id, raised.persons) == (
            follow_up,
            occupant.household_id,
            3,
        )
        assert raised.open


def test_rule_5_a_follow_up_is_resolved_once_with_a_note() -> None:
    site = wohnheim()
    follow_up = site.check_out(living_at(site, 1), CheckOutReason.INSTITUTION, NOW)
    assert follow_up is not None
    follow_up.resolve("back on 12 March, placed again at Am Bahndamm", NOW)
    assert not follow_up.open
    with pytest.raises(Conflict, match="resolved already"):
        follow_up.resolve("again", NOW)


# -- rule 6: sites record their building, whose it is and their closing date -----------------


def test_rule_6_a_site_records_its_building_owner_and_closing_date() -> None:
    hall = Site.open_new(
        name="Turnhalle Fröbelstraße", pillar=Pillar.NOTUNTERKUNFT, district=10, operator="DRK",
        capacity=60, building=BuildingKind.SCHOOL_SPORTS_HALL, owner=BuildingOwner.SCHOOL,
        closes_on=date(2016, 6, 30),
    )  # fmt: skip
    [opened] = hall.events
    assert isinstance(opened, ShelterOpened)
    assert (opened.building, opened.owner, opened.closes_on) == (
        BuildingKind.SCHOOL_SPORTS_HALL,
        BuildingOwner.SCHOOL,
        date(2016, 6, 30),
    )
    assert opened.building.is_mass_shelter
    hall.events.clear()
    hall.start_closing(ClosingReason.BUILDING_NEEDED)
    [closing] = hall.events
    assert isinstance(closing, ShelterClosing)
    assert closing.closes_on == date(2016, 6, 30), "the agreed day stands"


def test_rule_6_an_agreed_closing_date_is_announced_once() -> None:
    hall = wohnheim()
    hall.set_closing_date(date(2016, 7, 31))
    hall.set_closing_date(date(2016, 7, 31))
    [announced] = hall.events
    assert isinstance(announced, ShelterClosingDateSet)
    assert announced.closes_on == date(2016, 7, 31)
    hall.status = SiteStatus.CLOSED
    with pytest.raises(Conflict, match="closed"):
        hall.set_closing_date(None)
