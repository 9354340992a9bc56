"""The Hannover scenario's plan (pure, seeded): what it sends before any service sees it."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from ankommen_contracts.events.housing import MAX_MONTHLY_FIXED_COST
from ankommen_local.scenario import plan as plan_module
from ankommen_local.scenario.runner import ScenarioRunner


@pytest.fixture(scope="module")
def hannover() -> plan_module.Plan:
    return plan_module.build(plan_module.load("hannover"))


def test_the_same_seed_plans_the_same_households_and_another_seed_does_not() -> None:
    data = plan_module.load("hannover")
    window = {"start": date(2015, 9, 1), "end": date(2015, 10, 31)}
    first = plan_module.build(data, **window)
    again = plan_module.build(data, **window)
    other = plan_module.build(data, seed=7, **window)
    assert [w.households for w in first.weeks] == [w.households for w in again.weeks]
    assert [w.households for w in first.weeks] != [w.households for w in other.weeks]


def test_the_peak_week_is_within_the_reported_130_to_150(hannover: plan_module.Plan) -> None:
    arrivals = [w.persons for w in hannover.weeks[1:]]  # the first week brings the stock
    assert 130 <= max(arrivals) <= 150
    peak = hannover.weeks[1 + arrivals.index(max(arrivals))].monday
    assert date(2015, 10, 1) <= peak <= date(2015, 11, 30)


def test_the_stock_at_the_start_was_assigned_over_the_year_before_the_window(
    hannover: plan_module.Plan,
) -> None:
    first = hannover.weeks[0]
    stock = first.households
    assert sum(h.size for h in stock if not h.unaccompanied_minor) == first.persons == 700
    decisions = [h.assigned_on for h in stock]
    assert None not in decisions
    window = first.decided_on
    assert all(window - timedelta(weeks=52) <= d < window for d in decisions if d), decisions
    assert {d.weekday() for d in decisions if d} == {4}, "Fridays, as the Land decides"
    assert len(set(decisions)) >= 40, "spread over the year, not one week"
    families = [h.assigned_on for h in stock if not h.unaccompanied_minor]
    assert families == sorted(families), "oldest first: exits take the longest stay first"
    later = [h for w in hannover.weeks[1:] for h in w.households]
    assert all(h.assigned_on is None for h in later), "the window's own weeks: their Friday"


def test_a_stock_household_is_sent_with_its_own_decision_and_bus() -> None:
    data = plan_module.load("hannover")
    window = plan_module.build(data, scale=0.1, start=date(2015, 9, 1), end=date(2015, 9, 30))
    stock, later = window.weeks[0].households[0], window.weeks[1].households[0]
    assert stock.assigned_on is not None
    sent = ScenarioRunner._assignment(stock, "quota-2015")
    assert sent["occurred_at"].startswith(stock.assigned_on.isoformat())
    assert sent["expected_arrival_at"].startswith(
        (stock.assigned_on + timedelta(days=3)).isoformat()
    )
    assert sent["quota_period_id"] is None, "assigned before the run's quota periods"
    assert ScenarioRunner._assignment(later, "quota-2015") == {
        "land_reference": later.land_reference,
        "quota_period_id": "quota-2015",
        "members": [m.as_member() for m in later.members],
    }, "the week's own: the batch's Friday and Monday"


def test_nobody_arrives_in_spring_2016(hannover: plan_module.Plan) -> None:
    spring = [w for w in hannover.weeks if date(2016, 3, 1) <= w.monday <= date(2016, 5, 29)]
    assert spring
    assert sum(w.persons for w in spring) == 0


@pytest.mark.parametrize("target_id", ["residents_2015_03_24", "residents_2016_03_01"])
def test_the_planned_stock_follows_the_public_figures(
    hannover: plan_module.Plan, target_id: str
) -> None:
    target = next(t for t in hannover.targets if t["id"] == target_id)
    on = date.fromisoformat(str(target["on"]))
    week = next(w for w in hannover.weeks if w.monday <= on < w.monday + timedelta(days=7))
    assert abs(week.planned_residents - target["public"]) <= 0.05 * target["public"]


def test_named_sites_open_in_the_step_after_their_recorded_day(
    hannover: plan_module.Plan,
) -> None:
    opened = {s.name: w.monday for w in hannover.weeks for s in w.opens}
    for name, day in (
        ("Ehem. Oststadtkrankenhaus", date(2014, 12, 13)),
        ("Deutscher Pavillon", date(2015, 11, 9)),
        ("Ehem. Maritim Hotel", date(2016, 3, 29)),
    ):
        assert day <= opened[name] < day + timedelta(days=7), name


def test_rising_again_needs_places_opened_from_2018(hannover: plan_module.Plan) -> None:
    rising = plan_module.build(plan_module.load("rising_again"))
    assert rising.weeks[-1].monday.year == 2018
    late = [s for w in rising.weeks if w.monday.year >= 2017 for s in w.opens if s.generated]
    assert late, "the climb back to the peak opened no site"
    assert min(s.opens_on for s in late).year == 2018


def test_a_site_starts_closing_in_the_step_before_its_closing_day(
    hannover: plan_module.Plan,
) -> None:
    """So its residents have moved out by the day, and it closes on it: the Deutscher
    Pavillon closes on a Monday (15 Aug 2016) and starts closing the week before (started
    that Monday, housing refused a close dated before the moves of that morning)."""
    starts = {s.name: w.monday for w in hannover.weeks for s in w.closes}
    assert starts["Deutscher Pavillon"] == date(2016, 8, 8)
    assert starts["Sporthalle Goetheschule"] == date(2016, 7, 25)  # closes on Sunday 31 Jul
    for week in hannover.weeks:
        for site in week.closes:
            assert site.closes_on is not None
            assert week.monday < site.closes_on <= week.monday + timedelta(days=7), site.name


def test_the_e2e_window_plans_the_whole_runs_sites_on_15_october_2015(
    hannover: plan_module.Plan,
) -> None:
    """The short run's site count is judged against the same target as the whole run's:
    its window must plan the same sites for the day."""
    from e2e.test_hannover_scenario import SCALE, WINDOW

    day = date(2015, 10, 15)

    def sites(plan: plan_module.Plan) -> int:
        return sum(
            1
            for w in plan.weeks
            for s in w.opens
            if s.opens_on <= day and (s.closes_on is None or s.closes_on > day)
        )

    window = plan_module.build(
        plan_module.load("hannover"), scale=SCALE, start=WINDOW[0], end=WINDOW[1]
    )
    assert sites(window) == sites(hannover)


def test_every_site_opens_with_what_the_city_pays_for_it(hannover: plan_module.Plan) -> None:
    opened = [site for week in hannover.weeks for site in week.opens]
    commands = {site.name: site.open_command() for site in opened}
    assert all(("daily_rate" in c) != ("monthly_fixed_cost" in c) for c in commands.values())
    maritim = commands["Ehem. Maritim Hotel"]
    assert maritim["monthly_fixed_cost"] == "441666.67", "the record's 10.6 M€ over 24 months"
    generated = [s for s in opened if s.generated and s.pillar == "notunterkunft"]
    assert generated
    assert {commands[s.name]["daily_rate"] for s in generated} == {"26.40"}


def test_a_site_opened_in_parts_shares_its_lump_sum_by_places() -> None:
    plan = plan_module.build(
        plan_module.load("hannover"), scale=10, start=date(2016, 4, 4), end=date(2016, 4, 10)
    )
    [maritim] = [s for w in plan.weeks for s in w.opens if s.name == "Ehem. Maritim Hotel"]
    parts = ScenarioRunner(plan, {})._parts(maritim)
    assert [p["capacity"] for p in parts] == [2750, 2750], "5,500 places, at most 5,000 a site"
    sums = [Decimal(p["monthly_fixed_cost"]) for p in parts]
    assert abs(sum(sums) - Decimal(maritim.monthly_fixed_cost or 0)) <= Decimal("0.11")
    assert max(sums) <= MAX_MONTHLY_FIXED_COST, "each part within housing's bound"
