"""View 9, the Ausblick: when do places run out, and how many must open by when.

From the as-of day the free places of open sites are carried forward week by week:
minus the week's intake, plus the week's share of move-outs, plus sites planned to open
that week, minus the residents of sites that close that week (they need places
elsewhere). Three intake scenarios (falling, steady, rising) around the recent average.
Every assumption is stated in the view's notes, and can be given instead of derived.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta

from .calendar import By, month_of, week_of
from .ledger import Ledger
from .tables import Chart, Column, Table, ViewResult

SCENARIOS = {"falling": 0.5, "steady": 1.0, "rising": 1.5}
"""Weekly intake under each scenario, as a factor of the recent average."""
RECENT_WEEKS = 8
RECENT_MONTHS = 3
HORIZON_WEEKS = 52


@dataclass(frozen=True)
class Assumptions:
    intake_per_week: dict[str, float]
    move_outs_per_month: float
    recent_weeks: int
    horizon_weeks: int
    openings: list[dict[str, object]]
    closings: list[dict[str, object]]


def derive(
    ledger: Ledger, steady: float | None = None, horizon: int = HORIZON_WEEKS
) -> Assumptions:
    """The assumptions the data suggest (or ``steady`` persons per week, if given)."""
    day = ledger.last_day()
    since = day - timedelta(weeks=RECENT_WEEKS)
    if steady is None:
        recent = sum(h.persons for h in ledger.households.values() if since < h.assigned_on <= day)
        steady = recent / RECENT_WEEKS
    months_ago = day - timedelta(days=30 * RECENT_MONTHS)
    left = sum(
        s.persons
        for stays in ledger.stays.values()
        for s in stays
        if s.checked_out
        and months_ago < s.checked_out <= day
        and s.reason in ("moved_out", "departed")
    )
    openings = [
        {"site": s.name, "on": s.planned_opening_on, "places": s.planned_capacity}
        for s in ledger.sites.values()
        if s.status == "planned" and s.planned_opening_on and s.planned_opening_on > day
    ]
    closings = [
        {"site": s.name, "on": s.closing_on, "places": s.capacity}
        for s in ledger.sites.values()
        if s.status == "closing" and s.closing_on and s.closing_on > day
    ]
    return Assumptions(
        {k: round(steady * f, 1) for k, f in SCENARIOS.items()},
        round(left / RECENT_MONTHS, 1),
        RECENT_WEEKS,
        horizon,
        sorted(openings, key=lambda o: str(o["on"])),
        sorted(closings, key=lambda o: str(o["on"])),
    )


def outlook(ledger: Ledger, by: By, assumptions: Assumptions | None = None) -> ViewResult:
    day = ledger.last_day()
    a = assumptions or derive(ledger)
    free_now = sum(s.free for s in ledger.sites.values() if s.status == "open")
    residents_of = {s.name: s.occupied for s in ledger.sites.values()}
    weekly_out = a.move_outs_per_month * 12 / 52
    start = week_of(day + timedelta(days=7 - day.weekday()) if day.weekday() else day)
    weeks = [start.first + timedelta(weeks=i) for i in range(a.horizon_weeks)]
    trajectory: dict[str, list[float]] = {}
    answers = []
    for name, intake in a.intake_per_week.items():
        free = float(free_now)
        path = []
        runs_out: date | None = None
        worst = 0.0
        for monday in weeks:
            sunday = monday + timedelta(days=6)
            free += weekly_out - intake
            free += sum(int(o["places"]) for o in a.openings if monday <= o["on"] <= sunday)  # type: ignore[operator]
            for c in a.closings:
                if monday <= c["on"] <= sunday:  # type: ignore[operator]
                    free -= residents_of.get(str(c["site"]), 0)
            path.append(round(free))
            if free < 0 and runs_out is None:
                runs_out = monday
            worst = min(worst, free)
        trajectory[name] = path
        answers.append(
            {
                "scenario": name,
                "intake_per_week": intake,
                "runs_out_week": week_of(runs_out).label if runs_out else None,
                "runs_out_on": runs_out,
                "places_needed": round(-worst),
                "needed_by": runs_out,
            }
        )
    answer_table = Table(
        "answers",
        "Wann reichen die Plätze nicht mehr?",
        "When do places run out?",
        (
            Column("scenario", "Szenario", "Scenario", "text"),
            Column("intake_per_week", "Zugang je Woche", "Intake per week"),
            Column("runs_out_week", "Plätze reichen bis KW", "Places run out in week", "text"),
            Column("places_needed", "Zusätzlich benötigte Plätze", "Additional places needed"),
            Column("needed_by", "Benötigt bis", "Needed by", "date"),
        ),
        tuple(answers),
    )
    path_table = Table(
        "free_places",
        "Freie Plätze je Woche nach Szenario",
        "Free places per week by scenario",
        (
            Column("week", "Woche", "Week", "text"),
            *(Column(k, k, k) for k in a.intake_per_week),
        ),
        tuple(
            {"week": week_of(monday).label, **{k: trajectory[k][i] for k in trajectory}}
            for i, monday in enumerate(weeks)
        ),
        chart=Chart("line", "week", tuple(a.intake_per_week)),
    )
    schedule = Table(
        "needed_by",
        "Zusätzlich zu eröffnende Plätze, spätestens zum Monatsbeginn",
        "Additional places to open, at the latest by the start of the month",
        (
            Column("month", "Monat", "Month", "text"),
            *(Column(k, k, k) for k in a.intake_per_week),
        ),
        tuple(_schedule(weeks, trajectory)),
        chart=Chart("line", "month", tuple(a.intake_per_week)),
    )
    return ViewResult(
        "outlook",
        9,
        "Ausblick: Wochen bis die Plätze nicht mehr reichen",
        "Outlook: weeks until places run out",
        day,
        "week",
        (answer_table, schedule, path_table),
        {"free_places_now": free_now, "assumptions": asdict(a)},
    )


def _schedule(weeks: list[date], trajectory: dict[str, list[float]]) -> list[dict[str, object]]:
    """Per month of the horizon: the places that must be open in addition by its first
    day, so that no week up to the month's end runs short (the deepest shortfall so far)."""
    rows: list[dict[str, object]] = []
    shortfall = dict.fromkeys(trajectory, 0)
    for i, monday in enumerate(weeks):
        label = month_of(monday).label
        for name, path in trajectory.items():
            shortfall[name] = max(shortfall[name], -round(path[i]))
        if rows and rows[-1]["month"] == label:
            rows[-1].update(shortfall)
        else:
            rows.append({"month": label, **shortfall})
    return rows
