"""The Koordinierungsstelle's monthly hours sheet in the scenario (pure: which lines the
runner sends with ``POST /hours``)."""

from __future__ import annotations

from datetime import date

from ankommen_local.scenario.runner import month_sheet

TANDEMS = {
    "m-all-october": ("v1", date(2015, 9, 7), 2),
    "m-from-19-october": ("v2", date(2015, 10, 19), 2),
    "m-this-week": ("v3", date(2015, 11, 2), 2),
}


def test_a_month_s_first_step_enters_the_last_month_s_hours_of_every_tandem_that_ran() -> None:
    lines = month_sheet(TANDEMS, date(2015, 11, 2))
    assert [(line["volunteer_id"], line["match_id"], line["hours"]) for line in lines] == [
        ("v1", "m-all-october", 8.75),  # 31 days at 2 h a week: 8.86, in quarter hours
        ("v2", "m-from-19-october", 3.75),  # 13 days: 3.71
    ]
    assert {line["worked_on"] for line in lines} == {"2015-10-31"}
    assert all(line["hours"] * 4 == int(line["hours"] * 4) for line in lines), "quarter hours"


def test_the_other_steps_of_a_month_enter_no_sheet() -> None:
    assert month_sheet(TANDEMS, date(2015, 11, 9)) == []
    assert month_sheet(TANDEMS, date(2015, 12, 7)) != [], "7 December is December's first"
