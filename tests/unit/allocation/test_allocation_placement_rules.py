"""Issue 13's placement rules 2-9 as allocation decides them (pure, no I/O).

Each test is named after the rule it proves; rule 1 (holds run to the arrival) belongs to
the business-time work.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from allocation.domain import (
    DEFAULT_POLICY,
    Board,
    Choice,
    EmergencyResident,
    Household,
    HouseholdStatus,
    IntakeMember,
    Need,
    PlacementPolicy,
    SiteOption,
    SiteStatus,
    choose_site,
    dissolution_key,
)
from allocation_builders import NOW, assessed, board, member, site
from ankommen_contracts import (
    AgeBand,
    BuildingKind,
    Gender,
    Pillar,
    SiteRequirement,
    SpecialNeed,
    Suitability,
)
from ankommen_contracts.events.allocation import (
    MinorReferredToYouthWelfare,
    PlacementDecided,
    PlacementFailed,
    RefugeeAssigned,
)
from ankommen_contracts.events.housing import CheckOutReason

LATER = NOW + timedelta(minutes=5)


def assign(members: list[IntakeMember], sites: Board) -> Household:
    return Household.assign(
        land_reference="NI-2016-0042",
        land_reference_pseudonym="0" * 64,
        members=members,
        quota_period_id=uuid.uuid4(),
        board=sites,
        now=NOW,
    )


def request_of(household: Household) -> PlacementDecided:
    assert household.pending is not None, household.history
    return household.pending


def housed(household: Household) -> Household:
    request = request_of(household)
    household.reservation_confirmed(request.site_id, request.reservation_id, LATER, NOW)
    household.checked_in(None, request.reservation_id, NOW, NOW)
    household.events.clear()
    household.history.clear()
    return household


def flats(name: str, *places: int, district: int = 1) -> SiteOption:
    return SiteOption(
        site_id=uuid.uuid4(),
        name=name,
        pillar=Pillar.WOHNUNG,
        district=district,
        suitability=frozenset(),
        status=SiteStatus.OPEN,
        free=sum(places),
        building=BuildingKind.FLATS,
        free_units=tuple(sorted(places)),
    )


def shelter(
    name: str, free: int, building: BuildingKind, *suitability: Suitability, district: int = 1
) -> SiteOption:
    return SiteOption(
        site_id=uuid.uuid4(),
        name=name,
        pillar=Pillar.NOTUNTERKUNFT,
        district=district,
        suitability=frozenset(suitability),
        status=SiteStatus.OPEN,
        free=free,
        building=building,
    )


# -- rule 2: unaccompanied minors are decided per person ------------------------------------


def test_rule_2_an_unaccompanied_minor_goes_to_youth_welfare_even_with_an_adult_sibling() -> None:
    brother = member(AgeBand.AGE_18_26, gender=Gender.MALE)
    minor = member(AgeBand.AGE_6_17, gender=Gender.MALE, unaccompanied=True)
    home = site("Wohnheim Tresckowstraße", Pillar.WOHNHEIM, 50)
    household = assign([brother, minor], board(home))

    assigned, referral, request = household.events
    assert isinstance(assigned, RefugeeAssigned)
    assert assigned.household_size == 2, "the Land's assignment as it came"
    assert isinstance(referral, MinorReferredToYouthWelfare)
    assert referral.person_id == minor.person_id
    assert referral.travels_with_adult is True
    assert referral.quota_period_id == household.quota_period_id
    # Only the brother is placed: one place, and no site for children needed.
    assert isinstance(request, PlacementDecided)
    assert request.places == 1
    assert SiteRequirement.NOT_SINGLE_ADULTS not in request.requirements
    assert household.status is HouseholdStatus.PLACING
    assert "§42a SGB VIII" in household.history[1].reason


def test_rule_2_minors_are_counted_apart_from_the_asylum_quota() -> None:
    adults = [member(), member(gender=Gender.MALE)]
    minors = [member(AgeBand.AGE_6_17, unaccompanied=True) for _ in range(2)]
    household = assign(adults + minors, board(site("Wohnheim", Pillar.WOHNHEIM, 50)))
    assert (household.size, household.persons, household.quota_persons) == (4, 2, 2)
    assert len(household.referred) == 2

    only_minors = assign(minors, board(site("Wohnheim", Pillar.WOHNHEIM, 50)))
    assert only_minors.status is HouseholdStatus.YOUTH_WELFARE
    assert only_minors.quota_persons == 0
    referrals = [e for e in only_minors.events if isinstance(e, MinorReferredToYouthWelfare)]
    assert [r.travels_with_adult for r in referrals] == [False, False]


def test_rule_2_a_minor_with_a_parent_stays_with_the_family() -> None:
    mother = member()
    child = member(AgeBand.AGE_6_17)
    household = assign([mother, child], board(site("Wohnheim", Pillar.WOHNHEIM, 50)))
    assert not any(isinstance(e, MinorReferredToYouthWelfare) for e in household.events)
    assert request_of(household).places == 2


# -- rule 3: protection rules are enforced, not preferences ----------------------------------


def test_rule_3_families_with_children_never_go_to_a_site_for_single_adults() -> None:
    singles = site("Ex-Möbel Boss", Pillar.WOHNHEIM, 200, Suitability.SINGLE_ADULTS)
    family = [member(), member(AgeBand.UNDER_6)]
    household = assign(family, board(singles))
    assert household.status is HouseholdStatus.WAITLISTED
    [failed] = [e for e in household.events if isinstance(e, PlacementFailed)]
    assert "for single adults (children in the household)" in failed.reason

    man = assign([member(gender=Gender.MALE)], board(singles))
    assert request_of(man).site_id == singles.site_id, "a single adult may go there"


def test_rule_3_a_women_only_site_takes_women_and_children_never_an_adult_man() -> None:
    women = site("Frauenhaus", Pillar.WOHNHEIM, 30, Suitability.WOMEN_ONLY)
    mother_and_son = assign(
        [
            member(AgeBand.AGE_27_49, SpecialNeed.WOMEN_ONLY),
            member(AgeBand.AGE_6_17, gender=Gender.MALE),
        ],
        board(women),
    )
    assert request_of(mother_and_son).site_id == women.site_id

    couple = assign([member(), member(gender=Gender.MALE)], board(women))
    assert couple.status is HouseholdStatus.WAITLISTED
    unknown = assign([member(gender=Gender.UNKNOWN)], board(women))
    assert unknown.status is HouseholdStatus.WAITLISTED, "not recorded: not let in on a guess"


def test_rule_3_a_medical_need_excludes_halls_and_tents_and_events_carry_no_diagnosis() -> None:
    hall = shelter("Turnhalle Kestnerstraße", 80, BuildingKind.SCHOOL_SPORTS_HALL)
    tents = shelter("Zeltdorf Expo-Plaza", 400, BuildingKind.TENT_VILLAGE)
    hospital = shelter("Ex-Oststadtkrankenhaus", 10, BuildingKind.FORMER_HOSPITAL)
    household = assign(
        [member(AgeBand.AGE_27_49, SpecialNeed.MEDICAL)], board(hall, tents, hospital)
    )
    request = request_of(household)
    assert request.site_id == hospital.site_id, "the quieter place, not the emptiest"
    assert request.requirements == [SiteRequirement.NOT_MASS_SHELTER]
    payload = request.model_dump_json()
    assert "medical" not in payload
    assert "special_needs" not in payload


def test_rule_3_accessibility_is_required_not_preferred() -> None:
    stairs = site("Wohnheim Altbau", Pillar.WOHNHEIM, 100)
    household = assign([member(AgeBand.AGE_27_49, SpecialNeed.WHEELCHAIR)], board(stairs))
    assert household.status is HouseholdStatus.WAITLISTED


# -- rule 4: flats are let to one household --------------------------------------------------


def test_rule_4_a_flat_is_let_to_one_household_and_never_shared() -> None:
    need = ready_household_need(persons=2)
    district_flats = flats("Wohnungen Linden", 4, 2)
    first = choose_site(need, [district_flats])
    assert isinstance(first, Choice)
    assert first.site is district_flats
    sites = Board([district_flats])
    sites.hold(district_flats.site_id, 2)
    after = sites.get(district_flats.site_id)
    assert after is not None
    assert after.free_units == (4,), "the 2-place flat is let; the 4-place one stays free"
    sites.hold(district_flats.site_id, 1)
    after = sites.get(district_flats.site_id)
    assert after is not None
    assert after.free_units == ()
    # Three free places in total never make room for a household of 3 across two flats.
    split = flats("Wohnungen Nord", 2, 1)
    assert not split.room_for(3)


def ready_household_need(persons: int) -> Need:
    household = assign([member() for _ in range(persons)], board())
    household.readiness_assessed(assessed(Pillar.WOHNUNG), NOW)
    return household.need()


# -- rule 5: every exit has a next place or an alert -----------------------------------------


def test_rule_5_a_house_ban_places_the_household_elsewhere_at_once() -> None:
    first = site("Wohnheim A", Pillar.WOHNHEIM, 10)
    second = site("Wohnheim B", Pillar.WOHNHEIM, 5)
    sites = board(first, second)
    household = housed(assign([member()], sites))
    assert household.home is not None
    assert household.home.site_id == first.site_id
    household.checked_out(first.site_id, CheckOutReason.HOUSE_BAN, sites, LATER)
    assert request_of(household).site_id == second.site_id, "never back where it was banned"
    assert household.status is HouseholdStatus.PLACING

    alone = housed(assign([member()], board(first)))
    alone.checked_out(first.site_id, CheckOutReason.HOUSE_BAN, board(first), LATER)
    assert alone.status is HouseholdStatus.WAITLISTED
    assert any(isinstance(e, PlacementFailed) for e in alone.events), "an alert, not silence"


def test_rule_5_an_institution_stay_is_away_with_a_coarse_reason_only() -> None:
    home = site("Wohnheim A", Pillar.WOHNHEIM, 10)
    household = housed(assign([member()], board(home)))
    household.checked_out(home.site_id, CheckOutReason.INSTITUTION, board(home), LATER)
    assert household.status is HouseholdStatus.AWAY
    assert household.events == []
    assert "follow-up" in household.history[-1].reason
    # Staff house it again directly when it comes back.
    household.checked_in(home, None, LATER, LATER)
    assert household.status is HouseholdStatus.HOUSED


# -- rule 6: emergency shelters are dissolved site by site -----------------------------------


def test_rule_6_the_shelter_due_to_close_first_is_emptied_first_school_halls_before_others() -> (
    None
):
    def resident(
        closes: date | None, building: BuildingKind, vulnerable: bool, days: int
    ) -> EmergencyResident:
        return EmergencyResident(
            household_id=uuid.uuid4(),
            checked_in_at=NOW - timedelta(days=days),
            vulnerable=vulnerable,
            site_closes_on=closes,
            site_building=building,
            persons=1,
            ready_for=Pillar.WOHNHEIM,
        )

    tents_soon = resident(date(2016, 4, 1), BuildingKind.TENT_VILLAGE, False, 10)
    school_hall = resident(None, BuildingKind.SCHOOL_SPORTS_HALL, False, 5)
    club_hall_long = resident(None, BuildingKind.CLUB_SPORTS_HALL, False, 300)
    school_hall_family = resident(None, BuildingKind.SCHOOL_SPORTS_HALL, True, 1)
    hotel_long = resident(None, BuildingKind.HOTEL, True, 400)
    order = sorted(
        [hotel_long, club_hall_long, school_hall, tents_soon, school_hall_family],
        key=lambda r: dissolution_key(r, DEFAULT_POLICY),
    )
    assert order == [tents_soon, school_hall_family, school_hall, club_hall_long, hotel_long]


def test_rule_6_only_a_household_a_free_place_of_its_pillars_has_room_for_is_looked_at() -> None:
    # The cheap test before a resident is locked: never false where choose_site would
    # find a place (then the household would wait while a place it fits stays free).
    def resident(persons: int, ready_for: Pillar) -> EmergencyResident:
        return EmergencyResident(
            uuid.uuid4(), NOW, False, None, BuildingKind.OTHER, persons, ready_for
        )

    home = site("Wohnheim Linden", Pillar.WOHNHEIM, 3)
    flat = flats("Wohnungen Mitte", 6)  # one flat of six: only for those ready for one
    full = site("Wohnprojekt Hermann-Ehlers-Allee", Pillar.WOHNPROJEKT, 0)
    sites = board(home, flat, full, shelter("Messehalle 27", 800, BuildingKind.TRADE_FAIR_HALL))
    assert resident(3, Pillar.WOHNHEIM).may_find_room(sites)
    assert not resident(4, Pillar.WOHNHEIM).may_find_room(sites)  # the hall does not count
    assert not resident(4, Pillar.WOHNPROJEKT).may_find_room(sites)
    assert resident(6, Pillar.WOHNUNG).may_find_room(sites)
    sites.hold(home.site_id, 2)  # a household of two took places: one left
    assert not resident(2, Pillar.WOHNHEIM).may_find_room(sites)
    assert resident(1, Pillar.WOHNHEIM).may_find_room(sites)


def test_rule_6_within_a_pillar_the_households_district_comes_before_the_most_free_places() -> None:
    near = site("Wohnheim Linden", Pillar.WOHNHEIM, 10, district=10)
    far = site("Wohnheim Bothfeld", Pillar.WOHNHEIM, 90, district=3)
    hall = shelter("Turnhalle Linden", 40, BuildingKind.SCHOOL_SPORTS_HALL, district=10)
    household = housed(assign([member()], board(hall)))
    assert household.relocate_from_emergency(board(far, near), LATER) is True
    request = request_of(household)
    assert request.site_id == near.site_id
    assert "in the household's own district" in request.reason


# -- rule 7: pillar order as in Hannover -----------------------------------------------------


def test_rule_7_new_arrivals_go_to_a_wohnheim_then_an_emergency_shelter_not_a_flat() -> None:
    flat = flats("Wohnungen Mitte", 4)
    project = site("Wohnprojekt Hermann-Ehlers-Allee", Pillar.WOHNPROJEKT, 20)
    hall = shelter("Messehalle 27", 800, BuildingKind.TRADE_FAIR_HALL)
    household = assign([member(), member()], board(flat, project, hall))
    request = request_of(household)
    assert request.site_id == hall.site_id
    assert request.for_review is False


def test_rule_7_nobody_homeless_first_a_move_on_place_flagged_for_review() -> None:
    project = site("Wohnprojekt Hermann-Ehlers-Allee", Pillar.WOHNPROJEKT, 20)
    household = assign([member(), member()], board(project))
    request = request_of(household)
    assert request.site_id == project.site_id
    assert request.for_review is True
    assert "for review by staff" in request.reason
    assert not any(isinstance(e, PlacementFailed) for e in household.events)


def test_rule_7_wohnprojekte_and_flats_go_to_households_ready_to_move_on() -> None:
    flat = flats("Wohnungen Linden", 4)
    home = site("Wohnheim", Pillar.WOHNHEIM, 50)
    need = ready_household_need(persons=2)
    choice = choose_site(need, [home, flat])
    assert isinstance(choice, Choice)
    assert choice.site is flat
    assert choice.for_review is False


# -- rule 9: city policy is configuration ----------------------------------------------------


def test_rule_9_the_review_fallback_and_the_district_preference_are_settings() -> None:
    project = site("Wohnprojekt", Pillar.WOHNPROJEKT, 20)
    strict = PlacementPolicy(move_on_places_before_failure=False)
    household = assign([member()], Board([project], strict))
    assert household.status is HouseholdStatus.WAITLISTED

    near = site("Wohnheim Linden", Pillar.WOHNHEIM, 10, district=10)
    far = site("Wohnheim Bothfeld", Pillar.WOHNHEIM, 90, district=3)
    hall = shelter("Turnhalle Linden", 40, BuildingKind.SCHOOL_SPORTS_HALL, district=10)
    indifferent = PlacementPolicy(prefer_home_district=False)
    resident = housed(assign([member()], Board([hall], indifferent)))
    assert resident.relocate_from_emergency(Board([far, near], indifferent), LATER)
    assert request_of(resident).site_id == far.site_id


def test_rule_9_the_dissolution_order_of_building_kinds_is_a_setting() -> None:
    hotel_first = PlacementPolicy(
        dissolution_order=(BuildingKind.HOTEL, BuildingKind.SCHOOL_SPORTS_HALL)
    )
    assert hotel_first.dissolution_rank(BuildingKind.HOTEL) == 0
    assert hotel_first.dissolution_rank(BuildingKind.MODULES) == 2, "unlisted kinds last"
    assert DEFAULT_POLICY.dissolution_rank(BuildingKind.SCHOOL_SPORTS_HALL) == 0
