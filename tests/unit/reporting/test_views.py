"""The interim review's views, folded from event sequences on business time."""

from __future__ import annotations

import random
from datetime import date

from ankommen_contracts import Pillar
from ankommen_contracts.common import Gender
from ankommen_contracts.events import housing as ho
from reporting.domain import Ledger, build, publish
from reporting.domain.costs import statement
from reporting.domain.facts import fact_from_row, fact_row
from reporting.domain.views import VIEWS
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
    view = build(Ledger.fold(s.facts, as_of=date(2016, 2, 28)), "outlook")
    answers = {r["scenario"]: r for r in view.table("answers").rows}
    assert view.notes["assumptions"]["intake_per_week"] == {
        "falling": 10.0,
        "steady": 20.0,  # 160 persons in the 8 weeks before 28 Feb
        "rising": 30.0,
    }
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
