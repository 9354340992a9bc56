""" "The named sites open on their dates": which named sites a run's views show open (and
dissolved) on their recorded days, and which not, with the reason (pure: the views are
given, no service involved)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from ankommen_local.scenario import plan as plan_module
from ankommen_local.scenario.figures import named_sites_due, named_sites_missed

WINDOW = (date(2016, 7, 1), date(2016, 8, 31))  # the halls and the Pavillon are dissolved


@pytest.fixture(scope="module")
def summer_2016() -> plan_module.Plan:
    return plan_module.build(
        plan_module.load("hannover"), scale=0.1, start=WINDOW[0], end=WINDOW[1]
    )


class GivenViews:
    """Reporting's list of Notunterkünfte and housing's sites per pillar, as given."""

    def __init__(self, plan: plan_module.Plan, *, never_closed: str | None = None) -> None:
        end = plan.weeks[-1].monday.toordinal() + 6
        self.rows = [
            {
                "name": s.name,
                "opened_on": s.opens_on.isoformat(),
                "closed_on": (
                    s.closes_on.isoformat()
                    if s.closes_on and s.closes_on.toordinal() <= end and s.name != never_closed
                    else None
                ),
            }
            for s in named_sites_due(plan)
            if s.pillar == "notunterkunft"
        ]
        self.regular = [s for s in named_sites_due(plan) if s.pillar != "notunterkunft"]

    async def reporting(self, key: str, on: str = "") -> Any:
        assert key == "emergency"
        return {"tables": [{"key": "sites", "rows": self.rows}]}

    async def housing(self, on: str) -> Any:
        day = date.fromisoformat(on)
        pillars: dict[str, int] = {}
        for site in self.regular:
            if site.opens_on <= day:
                pillars[site.pillar] = pillars.get(site.pillar, 0) + 1
        return {"by_pillar": [{"key": k, "sites": n} for k, n in pillars.items()]}


async def test_every_named_site_shown_on_its_days_misses_none(
    summer_2016: plan_module.Plan,
) -> None:
    assert await named_sites_missed(summer_2016, GivenViews(summer_2016)) == []  # type: ignore[arg-type]


async def test_a_hall_still_open_after_its_closing_day_is_named_with_the_reason(
    summer_2016: plan_module.Plan,
) -> None:
    """A site the views never show closed (``closed_on`` empty) counts as missed, and
    says why, instead of failing the whole figure (the full run's end crashed on it)."""
    views = GivenViews(summer_2016, never_closed="Sporthalle Voltmerstraße")
    missed = await named_sites_missed(summer_2016, views)  # type: ignore[arg-type]
    assert missed == ["Sporthalle Voltmerstraße: closed on None, not on 2016-07-31"]


async def test_a_named_wohnheim_not_counted_on_its_day_is_missed(
    summer_2016: plan_module.Plan,
) -> None:
    views = GivenViews(summer_2016)
    views.regular = [s for s in views.regular if s.name != "Karlsruher Straße"]
    missed = await named_sites_missed(summer_2016, views)  # type: ignore[arg-type]
    assert missed == ["Karlsruher Straße: not counted open on 2016-07-15"]
