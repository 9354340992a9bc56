"""The interim review's views, folded from event sequences on business time."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from ankommen_contracts import Pillar
from ankommen_contracts.common import Gender
from ankommen_contracts.events import housing as ho
from ankommen_contracts.events.integration import Milestone
from pydantic import ValidationError
from reporting.app import ReportingSettings
from reporting.domain import Ledger, build, publish
from reporting.domain.costs import statement
from reporting.domain.facts import fact_from_row, fact_row
from reporting.domain.outlook import Planning, derive, outlook
from reporting.domain.views import MILESTONE_COLUMN, MILESTONE_NAMES, VIEWS
from scenario import Scenario, row


def city() -> tuple[Scenario, dict[str, object]]:
    """A small city: a Wohnheim with rates, a sports hall, an assignment, a move-out."""
    s = Scenario()
    s.on(date(2015, 1, 5)).quota(date(2015, 1, 5), date(2015, 12, 27), 50)
    heim = s.site(daily_rate="20.00", monthly="3100.00")
    hall = s.site(
        name="Sporthalle Fröbelstraße", pillar=Pillar.NOTUNTERKUNFT, district=10, capacity=80
    )
    s.on(date(2015, 1, 6))
    family = s.assigned(4)
    s.check_in(heim, 4, family)
    s.on(date(2015, 1, 10))
    crowd = s.check_in(hall, 30)
    s.on(date(2015, 2, 1)).rate(heim, "25.00", date(2015, 2, 1))
    case = s.case(family, 9)
    s.on(date(2015, 2, 15))
    s.check_out(heim, family, 4)
    s.moved_out(case, family, heim, 9)
    s.on(date(2015, 3, 2))
    s.closing(hall, date(2015, 3, 20), ho.ClosingReason.BUILDING_NEEDED)
    s.check_out(hall, crowd, 30, ho.CheckOutReason.RELOCATED)
    s.on(date(2015, 3, 20)).closed(hall)
    return s, {"heim": heim, "hall": hall, "family": family}


def test_residents_are_counted_per_pillar_at_the_end_of_each_month() -> None:
    s, _ = city()
    view = build(Ledger.fold(s.facts, as_of=date(2015, 3, 31)), "residents", "month")
    table = view.table("residents")
    assert row(table, period="2015-01")["wohnheim"] == 4
    assert row(table, period="2015-01")["notunterkunft"] == 30
    assert row(table, period="2015-02")["total"] == 30  # the family moved out on 15 Feb
    assert row(table, period="2015-03")["total"] == 0


def test_an_as_of_day_sees_only_what_had_happened_by_then() -> None:
    s, _ = city()
    before = build(Ledger.fold(s.facts, as_of=date(2015, 1, 7)), "capacity", "month")
    assert before.notes["total"]["occupied"] == 4  # the hall's 30 came on 10 Jan
    assert before.notes["total"]["sites"] == 2
    later = build(Ledger.fold(s.facts, as_of=date(2015, 3, 25)), "capacity", "month")
    assert later.notes["total"]["sites"] == 1  # the hall was handed back on 20 Mar
    weekly = build(Ledger.fold(s.facts, as_of=date(2015, 1, 11)), "residents", "week")
    assert [r["period"] for r in weekly.table("residents").rows] == ["2015-W02"]


def test_the_order_events_arrive_in_across_topics_changes_no_view() -> None:
    s, _ = city()
    s.volunteer([9, 10], mso=True)
    expected = {k: build(Ledger.fold(s.facts, as_of=date(2015, 3, 31)), k) for k in VIEWS}
    for seed in range(5):
        shuffled = s.facts[:]
        random.Random(seed).shuffle(shuffled)
        redelivered = shuffled + shuffled[: len(shuffled) // 3]  # some twice
        ledger = Ledger.fold(redelivered, as_of=date(2015, 3, 31))
        assert {k: build(ledger, k) for k in VIEWS} == expected, f"interleaving {seed}"


def test_a_reservation_dated_before_its_site_opened_counts_there_from_the_opening() -> None:
    """Housing takes a request dated in the past (a household already in the city); the
    place it holds counts at its site from when the site exists, and its check-in takes
    back exactly what it held, not the places of a reservation made after the opening."""
    s = Scenario()
    s.on(date(2015, 6, 1))
    site = s.site(capacity=20)
    s.on(date(2015, 6, 2))
    later = s.emit(
        ho.BedReserved(
            site_id=site,
            reservation_id=uuid.uuid4(),
            household_id=uuid.uuid4(),
            places=2,
            expires_at=datetime(2015, 6, 9, tzinfo=UTC),
        )
    )
    s.on(date(2015, 3, 6))  # back-dated: decided in March, before the site opened
    early = uuid.uuid4()
    s.emit(
        ho.BedReserved(
            site_id=site,
            reservation_id=early,
            household_id=uuid.uuid4(),
            places=5,
            expires_at=datetime(2015, 6, 3, tzinfo=UTC),
        )
    )
    gone = uuid.uuid4()
    s.emit(
        ho.BedReserved(
            site_id=site,
            reservation_id=gone,
            household_id=uuid.uuid4(),
            places=3,
            expires_at=datetime(2015, 6, 3, tzinfo=UTC),
        )
    )
    s.on(date(2015, 4, 1)).emit(
        ho.ReservationReleased(
            site_id=site,
            reservation_id=gone,
            household_id=uuid.uuid4(),
            places=3,
            reason=ho.ReleaseReason.CANCELLED,
        )
    )

    def reserved(day: date) -> object:
        return build(Ledger.fold(s.facts, as_of=day), "capacity").notes["total"]["reserved"]

    assert reserved(date(2015, 5, 31)) == 0, "no site yet: its places count nowhere"
    assert reserved(date(2015, 6, 1)) == 5, "held from the opening; the released one not"
    assert reserved(date(2015, 6, 2)) == 7
    s.on(date(2015, 6, 3)).emit(
        ho.OccupantCheckedIn(
            site_id=site, household_id=uuid.uuid4(), reservation_id=early, persons=5
        )
    )
    assert reserved(date(2015, 6, 3)) == 2, f"the later reservation ({later.event_id}) holds on"
    shuffled = s.facts[::-1]
    assert (
        build(Ledger.fold(shuffled, as_of=date(2015, 6, 3)), "capacity").notes["total"]["reserved"]
        == 2
    )


def test_a_fact_survives_its_row_unchanged() -> None:
    s, _ = city()
    for fact in s.facts:
        back = fact_from_row(fact_row(_Envelope(fact)))
        assert back == fact


class _Envelope:
    """What ``fact_row`` reads of an envelope, from a fact."""

    def __init__(self, fact: object) -> None:
        f = fact
        self.event_id, self.source, self.type = f.event_id, f.source, f.type  # type: ignore[attr-defined]
        self.schema_version = f.data.VERSION  # type: ignore[attr-defined]
        self.subject, self.sequence = f.subject, f.sequence  # type: ignore[attr-defined]
        self.occurred_at, self.recorded_at = f.occurred_at, f.recorded_at  # type: ignore[attr-defined]
        self.data = f.data  # type: ignore[attr-defined]


def test_counts_below_five_are_suppressed_in_published_views_only() -> None:
    s, _ = city()
    ledger = Ledger.fold(s.facts, as_of=date(2015, 1, 31))
    internal = build(ledger, "capacity")
    published = publish(internal)
    ricklingen = row(internal.table("by_district"), key="09")
    assert ricklingen["occupied"] == 4
    shown = row(published.table("by_district"), key="09")
    assert shown["occupied"] is None, "4 persons in a district breakdown is suppressed"
    assert shown["free"] is None, "free places would reveal the hidden count"
    assert shown["capacity"] == 100, "places are not persons"
    linden = row(published.table("by_district"), key="10")
    assert linden["occupied"] is None, "with the total shown, 30 would reveal the 4"
    assert row(internal.table("by_district"), key="10")["occupied"] == 30
    assert published.table("by_district").total["occupied"] == 34, "the city total stays"


def test_a_single_hidden_cell_is_protected_by_hiding_the_next_smallest_too() -> None:
    s = Scenario()
    a = s.site(district=1)
    b = s.site(district=2)
    c = s.site(district=3)
    s.check_in(a, 3)
    s.check_in(b, 7)
    s.check_in(c, 20)
    s.check_in(c, 20)
    published = publish(build(Ledger.fold(s.facts), "capacity")).table("by_district")
    assert row(published, key="01")["occupied"] is None
    assert row(published, key="02")["occupied"] is None, "secondary suppression"
    assert row(published, key="03")["occupied"] == 40
    assert published.suppressed == 2


def test_costs_are_place_days_times_the_rate_in_force_each_day_plus_lump_sums() -> None:
    s, ids = city()
    view = build(Ledger.fold(s.facts, as_of=date(2015, 2, 28)), "costs")
    months = view.table("by_month")
    # January: 4 persons from 6 Jan to 31 Jan = 104 place-days at 20 €, plus 3,100 € a
    # month for the 27 days open (5 to 31 Jan) = 2,700 €.
    assert row(months, period="2015-01")["wohnheim"] == 2080.0 + 2700.0
    # February: the rate is 25 € from 1 Feb (no lump sum any more); 4 persons 1-14 Feb.
    assert row(months, period="2015-02")["wohnheim"] == 56 * 25.0
    assert row(months, period="2015-01")["place_days"] == 104 + 30 * 22
    assert view.notes["sites_without_rate"] == ["Sporthalle Fröbelstraße"]
    sheet = statement(Ledger.fold(s.facts, as_of=date(2015, 2, 28)), frozenset({ids["heim"]}))
    assert {r["site"] for r in sheet.rows} == {"Wohnheim Tresckowstraße"}
    assert row(sheet, month="2015-01")["total"] == 4780.0


def test_sports_halls_show_when_taken_and_when_handed_back() -> None:
    s, _ = city()
    view = build(Ledger.fold(s.facts, as_of=date(2015, 3, 31)), "halls")
    hall = row(view.table("halls"), name="Sporthalle Fröbelstraße")
    assert (hall["opened_on"], hall["handed_back_on"]) == (date(2015, 1, 5), date(2015, 3, 20))
    assert hall["days"] == 74
    assert view.notes["handed_back"] == 1


def test_the_outlook_says_in_which_week_places_run_out_and_how_many_are_needed() -> None:
    s = Scenario()
    s.on(date(2016, 1, 4))
    s.site(capacity=100)
    s.planned(50, date(2016, 4, 4))
    for week in range(8):  # 20 persons a week for the 8 weeks before the as-of day
        s.on(date(2016, 1, 4 + 7 * week) if week < 4 else date(2016, 2, 1 + 7 * (week - 4)))
        s.assigned(5)
        s.assigned(5)
        s.assigned(5)
        s.assigned(5)
    ledger = Ledger.fold(s.facts, as_of=date(2016, 2, 28))
    view = outlook(ledger, "week", derive(ledger, reserve_share=0.0))  # run out: below zero
    answers = {r["scenario"]: r for r in view.table("answers").rows}
    assert view.notes["assumptions"]["intake_per_week"] == {
        "falling": 10.0,
        "steady": 20.0,  # 160 persons in the 8 weeks before 28 Feb
        "rising": 30.0,
        "trend": 20.0,  # the same 20 every week: no trend
    }
    assert view.notes["assumptions"]["intake_change_per_week"]["trend"] == 0
    assert view.notes["free_places_now"] == 100
    steady = answers["steady"]
    # 100 free, 20 a week from 29 Feb: 0 left after 5 weeks, 50 more open on 4 Apr, so
    # the week of 18 Apr is the first to end below zero.
    assert steady["runs_out_week"] == "2016-W16"
    assert steady["needed_by"] == date(2016, 4, 18)
    # Over the 52-week horizon: 52 × 20 persons against 100 + 50 places.
    assert steady["places_needed"] == 52 * 20 - 150
    assert answers["falling"]["places_needed"] == 52 * 10 - 150
    assert answers["rising"]["places_needed"] == 52 * 30 - 150
    assert view.notes["assumptions"]["openings"][0]["places"] == 50
    schedule = {r["month"]: r for r in view.table("needed_by").rows}
    assert schedule["2016-03"]["steady"] == 0
    # April's weeks end with 30, 10, -10 and -30 free: 30 more places by 1 April.
    assert schedule["2016-04"]["steady"] == 30
    assert schedule["2016-05"]["steady"] == 30 + 5 * 20, "May has five Mondays"


def _weekly_assignments(s: Scenario, per_week: list[int], first_monday: date) -> None:
    for week, persons in enumerate(per_week):
        s.on(first_monday + timedelta(weeks=week))
        for _ in range(persons // 2):
            s.assigned(2)


def _climbing(capacity: int) -> Ledger:
    """One site, and 10, 12, … 24 persons in the eight weeks up to 26 Feb 2017 (17 on
    average)."""
    s = Scenario()
    s.on(date(2017, 1, 2))
    s.site(capacity=capacity)
    _weekly_assignments(s, [10 + 2 * w for w in range(8)], date(2017, 1, 2))
    return Ledger.fold(s.facts, as_of=date(2017, 2, 26))


def test_the_trend_scenario_carries_a_climbing_intake_forward_and_runs_short_first() -> None:
    ledger = _climbing(capacity=600)
    view = outlook(ledger, "week", derive(ledger, reserve_share=0.0))  # run out: below zero
    assumptions = view.notes["assumptions"]
    assert assumptions["intake_per_week"]["steady"] == 17.0
    # the straight line through the weeks, one week on: 26, and 2 more every week after
    assert assumptions["intake_per_week"]["trend"] == 26.0
    assert assumptions["intake_change_per_week"]["trend"] == 2.0
    answers = {r["scenario"]: r for r in view.table("answers").rows}
    # 600 places: steady 17 a week lasts 35 weeks and runs out in the 36th; the trend
    # (26, 28, 30, …) brings exactly 600 in 15 weeks (15 · 40) and 656 in 16 (16 · 41)
    assert answers["steady"]["runs_out_on"] == date(2017, 2, 27) + timedelta(weeks=35)
    assert answers["trend"]["runs_out_on"] == date(2017, 2, 27) + timedelta(weeks=15)
    assert answers["trend"]["runs_out_on"] < answers["rising"]["runs_out_on"]


def test_places_run_short_when_the_free_places_fall_below_the_operating_reserve() -> None:
    s = Scenario()
    s.on(date(2017, 1, 2))
    heim = s.site(capacity=1000)
    for _ in range(30):  # 900 residents: 100 free, a reserve of 6 % of 900: 54
        s.check_in(heim, 30)
    _weekly_assignments(s, [10] * 8, date(2017, 1, 2))
    ledger = Ledger.fold(s.facts, as_of=date(2017, 2, 26))
    view = build(ledger, "outlook")
    assert view.notes["reserve_now"] == 54
    steady = next(r for r in view.table("answers").rows if r["scenario"] == "steady")
    # 10 a week: after 5 weeks 50 free against a reserve of 0.06 × 950 = 57
    assert steady["runs_out_on"] == date(2017, 2, 27) + timedelta(weeks=4)
    # over 52 weeks: 520 more residents, 100 − 520 free against 0.06 × 1420 = 85.2
    assert steady["places_needed"] == round(520 - 100 + 0.06 * 1420)
    without = outlook(ledger, "week", derive(ledger, reserve_share=0.0))
    plain = next(r for r in without.table("answers").rows if r["scenario"] == "steady")
    assert plain["runs_out_on"] == date(2017, 2, 27) + timedelta(weeks=10), "below zero"
    assert plain["places_needed"] == 520 - 100
    # a city that keeps no reserve says so once, for its deployment: every reading follows
    city = build(ledger, "outlook", planning=Planning(reserve_share=0.0))
    assert city.notes["reserve_now"] == 0
    assert city.table("answers").rows == without.table("answers").rows


def test_a_deployment_refuses_an_operating_reserve_outside_zero_to_a_half() -> None:
    assert ReportingSettings().outlook_reserve_share == 0.06
    for bad in (-0.01, 0.9):
        with pytest.raises(ValidationError, match="outlook_reserve_share"):
            ReportingSettings(outlook_reserve_share=bad)


def test_an_open_site_whose_building_must_be_given_up_counts_as_a_closing() -> None:
    s = Scenario()
    s.on(date(2017, 1, 2))
    s.site(capacity=200)
    hall = s.site(
        name="Ehem. Baumarkt",
        pillar=Pillar.NOTUNTERKUNFT,
        capacity=100,
        closes_on=date(2017, 4, 30),  # agreed when it opened; nobody has started closing it
    )
    s.check_in(hall, 30)  # 270 free: 200 at the Wohnheim, 70 at the hall
    _weekly_assignments(s, [10] * 8, date(2017, 1, 2))
    ledger = Ledger.fold(s.facts, as_of=date(2017, 2, 26))
    a = derive(ledger, reserve_share=0.0)
    assert a.closings == [{"site": "Ehem. Baumarkt", "on": date(2017, 4, 30), "places": 100}]
    view = outlook(ledger, "week", a)
    path = {r["week"]: r["steady"] for r in view.table("free_places").rows}
    # 10 a week from 27 Feb; in the week of 24 Apr the hall's 70 free places go and its
    # 30 residents need places elsewhere: 270 − 9 · 10 − 100 = 80
    assert path["2017-W16"] == 270 - 8 * 10
    assert path["2017-W17"] == 270 - 9 * 10 - 100
    s.on(date(2017, 2, 27)).closing_date(hall, None)  # the lease was extended
    assert derive(Ledger.fold(s.facts), reserve_share=0.0).closings == []


def test_an_intake_and_trend_of_your_own_replace_the_derived_ones() -> None:
    ledger = _climbing(capacity=100)
    mine = derive(ledger, steady=40.0, change=-5.0)
    assert mine.intake_per_week == {"falling": 20, "steady": 40, "rising": 60, "trend": 40}
    assert [mine.intake("trend", w) for w in range(10)] == [40, 35, 30, 25, 20, 15, 10, 5, 0, 0]
    assert derive(ledger, steady=40.0).intake_change_per_week["trend"] == 2.0


def test_demographics_count_every_member_and_hide_small_groups_when_published() -> None:
    s = Scenario()
    s.assigned(6, gender=Gender.MALE)
    s.assigned(2, gender=Gender.FEMALE, origin="AFG")
    view = build(Ledger.fold(s.facts), "demographics")
    assert view.notes["persons"] == 8
    assert row(view.table("origin"), origin="AFG")["persons"] == 2
    published = publish(view)
    assert row(published.table("origin"), origin="AFG")["persons"] is None
    assert row(published.table("origin"), origin="AFG")["share"] is None


def test_every_milestone_has_a_german_and_an_english_name() -> None:
    assert set(MILESTONE_NAMES) == set(Milestone), "a milestone would show as its key"
    german = {de for de, _ in MILESTONE_NAMES.values()}
    assert "language_level" not in german
    assert MILESTONE_COLUMN.name_of("Sprachniveau erreicht", "de") == "Sprachniveau erreicht"
    assert MILESTONE_COLUMN.name_of("Sprachniveau erreicht", "en") == "Language level reached"
    assert MILESTONE_COLUMN.name_of("Alltagskompetenzen", "en") == "Everyday skills"


def test_the_places_series_start_with_the_first_site_and_the_assignments_with_the_first() -> None:
    """A city's stock assigned before its first record (the scenario's, a year before its
    window's sites open): the assignments count in their weeks, but residents, emergency
    sites and move-outs do not show a year of empty rows before the city had a place."""
    s = Scenario()
    s.on(date(2014, 10, 3)).assigned(3)
    s.on(date(2015, 9, 21))
    heim = s.site()
    hall = s.site(name="Halle 27", pillar=Pillar.NOTUNTERKUNFT, capacity=50)
    s.check_in(heim, 3)
    s.check_in(hall, 20)
    ledger = Ledger.fold(s.facts, as_of=date(2015, 11, 30))
    series = ("assignments", "residents", "emergency", "move_outs", "halls")
    first_period = {key: build(ledger, key).tables[0].rows[0]["period"] for key in series}
    assert first_period["assignments"] == "2014-10"
    for key in ("residents", "emergency", "move_outs", "halls"):
        assert first_period[key] == "2015-09", key
    assert row(build(ledger, "residents").table("residents"), period="2015-09")["total"] == 23
