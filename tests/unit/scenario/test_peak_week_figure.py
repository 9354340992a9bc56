""" "A peak week of 130–150 arrivals": the most persons assigned in one of the run's weeks,
read from reporting's assignments view by week (pure: the view is given)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from ankommen_local.scenario import plan as plan_module
from ankommen_local.scenario.figures import _measure

PEAK = {"id": "peak_week", "figure": "peak_week_arrivals", "public": 140}


class GivenAssignments:
    """Reporting's assignments by week, as given."""

    def __init__(self, weeks: dict[str, int]) -> None:
        self.weeks = weeks
        self.asked: list[tuple[str, str, str]] = []

    async def reporting(self, key: str, on: str = "", by: str = "") -> Any:
        self.asked.append((key, on, by))
        rows = [{"period": w, "persons": n} for w, n in self.weeks.items()]
        return {"tables": [{"key": "assignments", "rows": rows}]}


async def test_the_peak_is_the_busiest_week_of_the_run_not_of_the_stock_before_it() -> None:
    plan = plan_module.build(
        plan_module.load("hannover"), start=date(2015, 10, 1), end=date(2015, 10, 31)
    )
    first = plan.weeks[0].decided_on.isocalendar()
    assert (first.year, first.week) == (2015, 39)
    views = GivenAssignments(
        {
            "2015-W12": 400,  # the stock at the window's start, assigned before it
            "2015-W38": 300,
            "2015-W39": 0,  # the window's first: its stock's step, no week's intake
            "2015-W40": 120,
            "2015-W42": 145,
            "2015-W43": 138,
        }
    )
    measured = await _measure(PEAK, plan, views, None, None)  # type: ignore[arg-type]
    assert measured == 145
    assert views.asked == [("assignments", "", "week")]


async def test_a_scaled_run_reports_its_peak_at_hannover_s_size() -> None:
    plan = plan_module.build(
        plan_module.load("hannover"), scale=0.2, start=date(2015, 10, 1), end=date(2015, 10, 31)
    )
    views = GivenAssignments({"2015-W40": 24, "2015-W42": 29})
    measured = await _measure(PEAK, plan, views, None, None)  # type: ignore[arg-type]
    assert measured == pytest.approx(145)
