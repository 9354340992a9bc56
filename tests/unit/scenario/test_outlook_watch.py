""" "Does the outlook see it coming?": when the runner reads reporting's outlook during a
"rising again" run, and how it judges the readings (pure: no service involved)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from ankommen_local.scenario import plan as plan_module
from ankommen_local.scenario.cli import outlook_summary
from ankommen_local.scenario.outputs import district_file
from ankommen_local.scenario.runner import OutlookWatch

WINDOW = (date(2017, 6, 1), date(2017, 12, 31))


@pytest.fixture(scope="module")
def rising() -> plan_module.Plan:
    data = plan_module.load("rising_again")
    return plan_module.build(data, scale=0.1, start=WINDOW[0], end=WINDOW[1])


def _reading(day: date, steady: str | None) -> dict[str, object]:
    return {"read_on": day.isoformat(), "runs_out_on": {"steady": steady, "rising": steady}}


def test_hannover_alone_has_no_outlook_check() -> None:
    plan = plan_module.build(plan_module.load("hannover"), start=date(2015, 9, 1))
    assert OutlookWatch.of(plan) is None


def test_readings_start_nine_weeks_into_the_window_and_stop_at_the_first_emergency_site(
    rising: plan_module.Plan,
) -> None:
    watch = OutlookWatch.of(rising)
    assert watch is not None
    assert watch.reads_from == rising.weeks[0].monday + timedelta(weeks=9)
    assert watch.shortage_on is not None
    opened = [
        s
        for w in rising.weeks
        if w.monday == watch.shortage_on
        for s in w.opens
        if s.generated and s.pillar == "notunterkunft"
    ]
    assert opened, "no emergency site opens in the shortage's week"
    due = [w.monday for w in rising.weeks if watch.due(w.monday)]
    assert due[0] == watch.reads_from
    assert due[-1] == watch.shortage_on
    assert all((b - a).days in (7, 14) for a, b in itertools.pairwise(due))
    assert not any(
        w.generated and w.pillar == "notunterkunft"
        for week in rising.weeks
        if watch.reads_from <= week.monday < watch.shortage_on
        for w in week.opens
    )


def test_the_first_reading_that_sees_a_run_out_is_the_warning(
    rising: plan_module.Plan,
) -> None:
    watch = OutlookWatch.of(rising)
    assert watch is not None
    assert watch.shortage_on is not None
    early = watch.shortage_on - timedelta(weeks=4)
    watch.readings += [
        _reading(early - timedelta(weeks=2), None),
        _reading(early, (watch.shortage_on + timedelta(weeks=3)).isoformat()),
    ]
    verdict = watch.verdict()
    assert verdict["first_warning_read_on"] == early.isoformat()
    assert verdict["warned_before_shortage"] is True
    assert verdict["lead_weeks"] == 4
    assert verdict["predicted_weeks_after_shortage"] == 3


def test_an_outlook_that_never_sees_a_run_out_did_not_warn(rising: plan_module.Plan) -> None:
    watch = OutlookWatch.of(rising)
    assert watch is not None
    assert watch.shortage_on is not None
    watch.readings.append(_reading(watch.reads_from, None))
    verdict = watch.verdict()
    assert verdict["first_warning_read_on"] is None
    assert verdict["warned_before_shortage"] is False
    assert verdict["lead_weeks"] is None


def test_each_scenario_is_judged_by_its_own_first_warning(rising: plan_module.Plan) -> None:
    watch = OutlookWatch.of(rising)
    assert watch is not None
    assert watch.shortage_on is not None
    shortage = watch.shortage_on
    watch.readings += [
        {
            "read_on": (shortage - timedelta(weeks=6)).isoformat(),
            "runs_out_on": {"steady": None, "trend": (shortage + timedelta(weeks=1)).isoformat()},
        },
        {
            "read_on": (shortage - timedelta(weeks=4)).isoformat(),
            "runs_out_on": {
                "steady": (shortage + timedelta(weeks=9)).isoformat(),
                "trend": (shortage - timedelta(weeks=1)).isoformat(),
            },
        },
    ]
    verdict = watch.verdict()
    trend, steady = verdict["by_scenario"]["trend"], verdict["by_scenario"]["steady"]
    assert (trend["lead_weeks"], trend["predicted_weeks_after_shortage"]) == (6, 1)
    assert (steady["lead_weeks"], steady["predicted_weeks_after_shortage"]) == (4, 9)
    assert verdict["lead_weeks"] == 4, "the headline is the steady scenario's"
    assert verdict["predicted_weeks_after_shortage"] == 9


def test_the_summary_names_the_steady_and_the_trend_warning(rising: plan_module.Plan) -> None:
    watch = OutlookWatch.of(rising)
    assert watch is not None
    assert watch.shortage_on is not None
    read_on = watch.shortage_on - timedelta(weeks=4)
    watch.readings.append(
        {
            "read_on": read_on.isoformat(),
            "runs_out_on": {
                "steady": (watch.shortage_on + timedelta(weeks=2)).isoformat(),
                "trend": watch.shortage_on.isoformat(),
            },
        }
    )
    summary = outlook_summary(watch.verdict())
    assert f"when read on {read_on.isoformat()} (steady intake" in summary
    assert "2 weeks after the actual shortage" in summary
    assert f"Under the recent trend it first saw them run short when read on {read_on}" in summary
    assert "0 weeks after the actual shortage" in summary


def test_district_report_files_are_named_without_umlauts() -> None:
    assert district_file(6) == "stadtbezirk-06-kirchrode-bemerode-wuelferode"
    assert district_file(8) == "stadtbezirk-08-doehren-wuelfel"
