"""The placement policy: regular pillars first, needs respected, households kept together."""

from __future__ import annotations

from allocation.domain import (
    DEFAULT_POLICY,
    NEED_REQUIREMENTS,
    Board,
    Choice,
    Need,
    NoFit,
    PlacementPolicy,
    SiteStatus,
    choose_site,
)
from allocation_builders import site
from ankommen_contracts import Pillar, SiteRequirement, SpecialNeed, Suitability


def need(
    persons: int = 4,
    *needs: SpecialNeed,
    ready_for: Pillar = Pillar.WOHNHEIM,
    allow_emergency: bool = True,
    requirements: frozenset[SiteRequirement] = frozenset(),
    home_district: int | None = None,
    policy: PlacementPolicy = DEFAULT_POLICY,
) -> Need:
    """A household's need; its needs become the site requirements they imply."""
    implied = {NEED_REQUIREMENTS[n] for n in needs if n in NEED_REQUIREMENTS}
    return Need(
        persons=persons,
        special_needs=frozenset(needs),
        ready_for=ready_for,
        assessment="new arrival (0 months in Hannover)",
        allow_emergency=allow_emergency,
        requirements=frozenset(implied | requirements),
        home_district=home_district,
        policy=policy,
    )


def chosen(result: Choice | NoFit) -> Choice:
    assert isinstance(result, Choice), result
    return result


def test_a_new_arrival_goes_to_the_wohnheim_with_the_most_free_places() -> None:
    small = site("Wohnheim Am Bahndamm", Pillar.WOHNHEIM, 10, district=11)
    large = site("Wohnheim Tresckowstraße", Pillar.WOHNHEIM, 80, district=9)
    flat = site("Wohnung Limmerstraße", Pillar.WOHNUNG, 90)
    shelter = site("Halle Kestnerstraße", Pillar.NOTUNTERKUNFT, 200)
    choice = chosen(choose_site(need(), [small, flat, shelter, large]))
    assert choice.site is large
    assert "new arrival" in choice.reason
    assert "Wohnheime first" in choice.reason
    assert "most free places of 2 fitting Wohnheime (80 free)" in choice.reason
    assert "Stadtbezirk 09 Ricklingen" in choice.reason


def test_regular_pillars_come_before_emergency_shelters_for_a_household_ready_to_move_on() -> None:
    full_home = site("Wohnheim voll", Pillar.WOHNHEIM, 2)
    project = site("Wohnprojekt Hermann-Ehlers-Allee", Pillar.WOHNPROJEKT, 6)
    shelter = site("Ex-Oststadtkrankenhaus", Pillar.NOTUNTERKUNFT, 500)
    choice = chosen(choose_site(need(ready_for=Pillar.WOHNUNG), [full_home, shelter, project]))
    assert choice.site is project
    assert "no Wohnung place fits 4 persons" in choice.reason
    assert "next regular pillar Wohnprojekte" in choice.reason
    assert not choice.for_review


def test_an_emergency_shelter_only_when_no_regular_place_fits() -> None:
    shelter_small = site("Turnhalle Fröbelstraße", Pillar.NOTUNTERKUNFT, 40)
    shelter_big = site("Deutscher Pavillon", Pillar.NOTUNTERKUNFT, 400)
    flat = site("Wohnung", Pillar.WOHNUNG, 3)
    choice = chosen(choose_site(need(), [shelter_small, flat, shelter_big]))
    assert choice.site is shelter_big
    assert "a Notunterkunft only because nothing else is free" in choice.reason
    assert "no place of a pillar it is ready for fits 4 persons" in choice.reason


def test_a_household_is_never_split_over_sites() -> None:
    # 3 + 3 free would hold 6 people, but only a site with room for all 4 counts.
    a = site("Wohnheim A", Pillar.WOHNHEIM, 3)
    b = site("Wohnheim B", Pillar.WOHNHEIM, 3)
    result = choose_site(need(4), [a, b])
    assert isinstance(result, NoFit)
    assert result.reason.startswith("No open site fits 4 persons")
    assert "2 sites fewer than 4 free places" in result.reason


def test_nothing_fits_explains_why_each_site_was_left_out() -> None:
    result = choose_site(
        need(2, SpecialNeed.WHEELCHAIR),
        [
            site("Wohnheim treppig", Pillar.WOHNHEIM, 50),
            site("Wohnheim barrierefrei voll", Pillar.WOHNHEIM, 1, Suitability.ACCESSIBLE),
            site("Geplant", Pillar.WOHNHEIM, 50, Suitability.ACCESSIBLE, status=SiteStatus.PLANNED),
        ],
    )
    assert isinstance(result, NoFit)
    assert "requiring accessible" in result.reason
    assert "1 site not accessible" in result.reason
    assert "1 site fewer than 2 free places" in result.reason
    assert "1 site not open" in result.reason
    nothing = choose_site(need(), [])
    assert isinstance(nothing, NoFit)
    assert "no open site is known" in nothing.reason


def test_wheelchair_and_reduced_mobility_need_an_accessible_site() -> None:
    stairs = site("Wohnheim Altbau", Pillar.WOHNHEIM, 100)
    accessible = site("Wohnheim barrierefrei", Pillar.WOHNHEIM, 20, Suitability.ACCESSIBLE)
    for special in (SpecialNeed.WHEELCHAIR, SpecialNeed.REDUCED_MOBILITY):
        choice = chosen(choose_site(need(2, special), [stairs, accessible]))
        assert choice.site is accessible
        assert "requirements met: accessible" in choice.reason


def test_women_only_sites_are_kept_for_households_that_need_one() -> None:
    mixed = site("Wohnheim gemischt", Pillar.WOHNHEIM, 100)
    women = site("Frauenhaus-Wohnprojekt", Pillar.WOHNHEIM, 30, Suitability.WOMEN_ONLY)
    assert chosen(choose_site(need(2, SpecialNeed.WOMEN_ONLY), [mixed, women])).site is women
    # Women without the need go to a mixed site while one fits, else to the women-only one.
    assert chosen(choose_site(need(2), [mixed, women])).site is mixed
    assert chosen(choose_site(need(2), [women])).site is women
    with_a_man = choose_site(
        need(2, requirements=frozenset({SiteRequirement.NOT_WOMEN_ONLY})), [women]
    )
    assert isinstance(with_a_man, NoFit)
    assert "women-only" in with_a_man.reason


def test_sites_for_unaccompanied_minors_take_no_households() -> None:
    youth = site("Jugendhilfe-Einrichtung", Pillar.WOHNHEIM, 40, Suitability.MINORS)
    result = choose_site(need(2), [youth])
    assert isinstance(result, NoFit)
    assert "unaccompanied minors" in result.reason


def test_a_family_prefers_a_site_suited_for_families_within_the_pillar() -> None:
    big = site("Wohnheim groß", Pillar.WOHNHEIM, 100)
    families = site("Wohnheim Familien", Pillar.WOHNHEIM, 10, Suitability.FAMILIES)
    choice = chosen(choose_site(need(4, SpecialNeed.FAMILY), [big, families]))
    assert choice.site is families
    assert "suited for families" in choice.reason


def test_ready_households_go_to_wohnungen_and_wohnprojekte_first() -> None:
    home = site("Wohnheim", Pillar.WOHNHEIM, 100)
    project = site("Wohnprojekt", Pillar.WOHNPROJEKT, 10)
    flat = site("Wohnung", Pillar.WOHNUNG, 5)
    sites = [home, project, flat]
    assert chosen(choose_site(need(3, ready_for=Pillar.WOHNUNG), sites)).site is flat
    assert chosen(choose_site(need(3, ready_for=Pillar.WOHNPROJEKT), sites)).site is project
    assert chosen(choose_site(need(3), sites)).site is home
    # Ready for a flat but none fits: the next most independent regular pillar.
    assert chosen(choose_site(need(6, ready_for=Pillar.WOHNUNG), sites)).site is project


def test_sites_tried_in_this_round_are_skipped_for_the_next_candidate() -> None:
    first = site("Wohnheim A", Pillar.WOHNHEIM, 80)
    second = site("Wohnheim B", Pillar.WOHNHEIM, 40)
    choice = chosen(choose_site(need(), [first, second], exclude={first.site_id}))
    assert choice.site is second
    assert "the only fitting Wohnheim (40 free)" in choice.reason
    result = choose_site(need(), [first, second], exclude={first.site_id, second.site_id})
    assert isinstance(result, NoFit)
    assert "2 sites already tried in this round" in result.reason


def test_closing_sites_are_never_candidates() -> None:
    closing = site("Messehalle 27", Pillar.NOTUNTERKUNFT, 800, status=SiteStatus.CLOSING)
    result = choose_site(need(), [closing])
    assert isinstance(result, NoFit)
    assert "1 site closing" in result.reason


def test_a_relocation_never_moves_anyone_into_a_notunterkunft() -> None:
    shelter = site("Deutscher Pavillon", Pillar.NOTUNTERKUNFT, 400)
    result = choose_site(need(allow_emergency=False), [shelter])
    assert isinstance(result, NoFit)
    assert "relocations go to regular places" in result.reason


def test_every_reason_fits_the_contract() -> None:
    long_name = "W" * 200  # housing allows names up to 200 characters
    accessible = site(long_name, Pillar.NOTUNTERKUNFT, 10, Suitability.ACCESSIBLE, district=6)
    wordy = Need(
        persons=2,
        special_needs=frozenset({SpecialNeed.WHEELCHAIR, SpecialNeed.FAMILY}),
        ready_for=Pillar.WOHNPROJEKT,
        assessment="ready for a Wohnprojekt, not yet for a Wohnung (" + "x" * 150 + ")",
    )
    choice = chosen(choose_site(wordy, [accessible]))
    assert len(choice.reason) == 500
    assert choice.reason.endswith("…")


def test_a_board_answers_alike_households_alike_until_a_place_is_held() -> None:
    bigger = site("Wohnheim Tresckowstraße", Pillar.WOHNHEIM, 6, district=9)
    smaller = site("Wohnheim Am Bahndamm", Pillar.WOHNHEIM, 5, district=11)
    board = Board([smaller, bigger])
    first = chosen(board.choose(need(4)))
    assert first.site.site_id == bigger.site_id
    assert board.choose(need(4)) == first == choose_site(need(4), [smaller, bigger])
    # an exclusion is part of the question
    assert chosen(board.choose(need(4), exclude={bigger.site_id})).site.site_id == smaller.site_id
    board.hold(bigger.site_id, 4)  # the next household of four sees two places there
    assert chosen(board.choose(need(4))).site.site_id == smaller.site_id
    board.hold(smaller.site_id, 4)
    assert isinstance(board.choose(need(4)), NoFit)
