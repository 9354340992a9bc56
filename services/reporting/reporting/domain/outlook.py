"""View 9, the Ausblick: when do places run out, and how many must open by when.

From the as-of day the free places of open sites are carried forward week by week:
minus the week's intake, plus the week's share of move-outs, plus sites planned to open
that week, minus what sites closing that week take away: their residents, who need places
elsewhere, and an open site's free places. A closing counts once it has a day: a site
already closing, or an open one whose building must be given up on a day agreed when it
opened or since. Four intake scenarios: falling, steady and rising hold a multiple of the
recent average; *trend* carries the recent weeks' straight-line trend forward, so a
climbing intake is seen climbing, not averaged.

Places *run short* in the first week whose free places fall below the operating reserve
(Betriebsreserve): a share of the residents kept free, since a city cannot fill its last
places (a family needs rooms together, men and women are housed apart, sites close). The
places needed are the deepest shortfall against that reserve. Every assumption is stated
in the view's notes, and can be given instead of derived.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta

from .calendar import By, month_of, week_of
from .ledger import Ledger
from .tables import Chart, Column, Table, ViewResult

SCENARIOS = {"falling": 0.5, "steady": 1.0, "rising": 1.5}
"""Weekly intake under each held scenario, as a factor of the recent average."""
TREND = "trend"
"""The scenario that carries the recent weeks' trend forward (Trendfortschreibung)."""
SCENARIO_LABELS = {
    "falling": ("sinkend", "falling"),
    "steady": ("gleichbleibend", "steady"),
    "rising": ("steigend", "rising"),
    TREND: ("Trend", "trend"),
}
"""Each intake scenario's name for readers (German, English); the keys stay in the data."""
SCENARIO_COLUMN = Column(
    "scenario",
    "Szenario",
    "Scenario",
    "text",
    names=tuple((k, de, en) for k, (de, en) in SCENARIO_LABELS.items()),
)
"""The scenario of a row; ``SCENARIO_COLUMN.name_of(key, lang)`` names one for readers."""


RECENT_WEEKS = 8
RECENT_MONTHS = 3
HORIZON_WEEKS = 52
RESERVE_SHARE = 0.06
"""Operating reserve, as a share of the residents (assumed: the same 6 % the scenario's
planning rule keeps, docs/scenario.md). A city sets its own per deployment
(``Planning``), a reader per request (``reserve_share``)."""
RESERVE_SHARE_MAX = 0.5
"""The largest reserve a deployment or a reader may ask for (half the residents)."""


@dataclass(frozen=True)
class Planning:
    """The city's planning settings the views apply: a deployment's choice (reporting's
    ``ANKOMMEN_OUTLOOK_RESERVE_SHARE``), not a fact of the data."""

    reserve_share: float = RESERVE_SHARE


PLANNING = Planning()


@dataclass(frozen=True)
class Assumptions:
    intake_per_week: dict[str, float]
    """Each scenario's intake in the first week ahead (persons)."""
    intake_change_per_week: dict[str, float]
    """How much each scenario's weekly intake changes from one week to the next."""
    move_outs_per_month: float
    recent_weeks: int
    horizon_weeks: int
    reserve_share: float
    openings: list[dict[str, object]]
    closings: list[dict[str, object]]

    def intake(self, scenario: str, week: int) -> float:
        """The scenario's intake in week ``week`` ahead (0: the first), never below 0."""
        start = self.intake_per_week[scenario]
        return max(start + self.intake_change_per_week.get(scenario, 0.0) * week, 0.0)


def weekly_intake(ledger: Ledger, day: date, weeks: int = RECENT_WEEKS) -> list[int]:
    """Persons assigned in each of the ``weeks`` seven-day spans up to ``day``, oldest first."""
    counts = [0] * weeks
    first = day - timedelta(weeks=weeks)
    for h in ledger.households.values():
        if first < h.assigned_on <= day:
            counts[((h.assigned_on - first).days - 1) // 7] += h.persons
    return counts


def trend(counts: list[int]) -> tuple[float, float]:
    """The least-squares straight line through the weekly counts: its value one week
    after the last count, and its slope (persons per week, per week)."""
    n = len(counts)
    mean_x, mean_y = (n - 1) / 2, sum(counts) / n
    spread = sum((x - mean_x) ** 2 for x in range(n))
    slope = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(counts)) / spread
    return mean_y + slope * (n - mean_x), slope


def derive(
    ledger: Ledger,
    steady: float | None = None,
    horizon: int = HORIZON_WEEKS,
    *,
    change: float | None = None,
    reserve_share: float = RESERVE_SHARE,
) -> Assumptions:
    """The assumptions the data suggest. Given instead: ``steady`` persons per week,
    ``change`` (the trend's weekly change in intake) and the ``reserve_share``."""
    day = ledger.last_day()
    counts = weekly_intake(ledger, day)
    next_week, slope = trend(counts)
    if steady is None:
        steady = sum(counts) / RECENT_WEEKS
    else:
        next_week = steady  # your intake, with the recent (or your) change from there on
    if change is not None:
        slope = change
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
    # Sites closing on an agreed day: those already emptying, and open ones whose
    # building must be given up on a day agreed when they opened or since.
    closings = [
        {"site": s.name, "on": s.closing_on, "places": s.capacity}
        for s in ledger.sites.values()
        if s.is_open and s.closing_on and s.closing_on > day
    ]
    return Assumptions(
        {
            **{k: round(steady * f, 1) for k, f in SCENARIOS.items()},
            TREND: round(max(next_week, 0.0), 1),
        },
        {**dict.fromkeys(SCENARIOS, 0.0), TREND: round(slope, 2)},
        round(left / RECENT_MONTHS, 1),
        RECENT_WEEKS,
        horizon,
        reserve_share,
        sorted(openings, key=lambda o: str(o["on"])),
        sorted(closings, key=lambda o: str(o["on"])),
    )


def outlook(
    ledger: Ledger,
    by: By,
    assumptions: Assumptions | None = None,
    planning: Planning = PLANNING,
) -> ViewResult:
    """View 9 under ``assumptions`` (default: those the data suggest, with the
    deployment's reserve from ``planning``)."""
    day = ledger.last_day()
    a = assumptions or derive(ledger, reserve_share=planning.reserve_share)
    free_now = sum(s.free for s in ledger.sites.values() if s.status == "open")
    residents_now = sum(s.occupied for s in ledger.sites.values() if s.is_open)
    # what a closing takes away: its residents need places elsewhere, and an open site's
    # free places (counted in ``free_now``) go with it
    lost_at_closing = {
        s.name: s.occupied + (s.free if s.status == "open" else 0) for s in ledger.sites.values()
    }
    weekly_out = a.move_outs_per_month * 12 / 52
    start = week_of(day + timedelta(days=7 - day.weekday()) if day.weekday() else day)
    weeks = [start.first + timedelta(weeks=i) for i in range(a.horizon_weeks)]
    trajectory: dict[str, list[float]] = {}
    above_reserve: dict[str, list[float]] = {}
    answers = []
    for name in a.intake_per_week:
        free, residents = float(free_now), float(residents_now)
        path, margins = [], []
        runs_out: date | None = None
        worst = 0.0  # the deepest shortfall against the reserve (negative)
        for i, monday in enumerate(weeks):
            sunday = monday + timedelta(days=6)
            intake = a.intake(name, i)
            free += weekly_out - intake
            residents += intake - weekly_out
            free += sum(int(o["places"]) for o in a.openings if monday <= o["on"] <= sunday)  # type: ignore[operator]
            for c in a.closings:
                if monday <= c["on"] <= sunday:  # type: ignore[operator]
                    free -= lost_at_closing.get(str(c["site"]), 0)
            path.append(round(free))
            margin = free - a.reserve_share * max(residents, 0.0)
            margins.append(margin)
            if margin < 0 and runs_out is None:
                runs_out = monday
            worst = min(worst, margin)
        trajectory[name] = path
        above_reserve[name] = margins
        answers.append(
            {
                "scenario": name,
                "intake_per_week": a.intake_per_week[name],
                "intake_change_per_week": a.intake_change_per_week.get(name, 0.0),
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
            SCENARIO_COLUMN,
            Column("intake_per_week", "Zugang je Woche", "Intake per week"),
            Column(
                "intake_change_per_week",
                "Veränderung des Zugangs je Woche",
                "Change in intake per week",
            ),
            Column(
                "runs_out_week",
                "Plätze (mit Reserve) reichen bis KW",
                "Places (with reserve) run short in week",
                "text",
            ),
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
            *(Column(k, *SCENARIO_LABELS.get(k, (k, k))) for k in a.intake_per_week),
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
            *(Column(k, *SCENARIO_LABELS.get(k, (k, k))) for k in a.intake_per_week),
        ),
        tuple(_schedule(weeks, above_reserve)),
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
        {
            "free_places_now": free_now,
            "residents_now": residents_now,
            "reserve_now": round(a.reserve_share * residents_now),
            "assumptions": asdict(a),
        },
    )


def _schedule(weeks: list[date], shortfalls: dict[str, list[float]]) -> list[dict[str, object]]:
    """Per month of the horizon: the places that must be open in addition by its first
    day, so that no week up to the month's end runs short of the reserve (the deepest
    shortfall so far)."""
    rows: list[dict[str, object]] = []
    shortfall = dict.fromkeys(shortfalls, 0)
    for i, monday in enumerate(weeks):
        label = month_of(monday).label
        for name, path in shortfalls.items():
            shortfall[name] = max(shortfall[name], -round(path[i]))
        if rows and rows[-1]["month"] == label:
            rows[-1].update(shortfall)
        else:
            rows.append({"month": label, **shortfall})
    return rows
