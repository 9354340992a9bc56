"""The run's figures, read back from the services' own views, beside the public ones.

Every figure the interim review reports comes from reporting's views, as of the target's
business day (the end of that day in Hannover):

- residents, sites, the pillars' shares and the Notunterkünfte: view 3 (capacity)
  ``/internal/views/capacity?as_of=…`` (unsuppressed: a pillar under 5 persons counts);
- unaccompanied minors: view 8 (demographics), ``unaccompanied_minors`` as of the day;
- "more than six times the 2012 figure": view 3 on both days;
- the peak week: view 2 (assignments) by week (persons per calendar week of the Land's
  decision), the window's weeks only (its stock was assigned before it);
- the named sites open on their dates: view 4 (Notunterkünfte with their opening and
  dissolution days) and, for the named Wohnheime/Wohnprojekte, which no reporting view
  lists, housing's occupancy the day before and on the day (its site count per pillar);
- nobody homeless: allocation's alerts and placements after every step (the runner's
  check, ``Tally.homeless_weeks``) and the alerts open at the end.

Reporting is cross-checked against housing at the same business moment: reporting as of
day *d* (its end) against housing's occupancy as of *d + 1* 00:00, per pillar and per
Stadtbezirk, on every target day, and reporting today against housing's live counters.
The targets and their tolerance come from the data file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
from ankommen_runtime.auth import Role

from .plan import Plan
from .runner import Tally, Tokens

COMPARED = ("sites", "capacity", "occupied")  # dated in both services (reserved is not)


@dataclass(frozen=True)
class Figure:
    id: str
    on: str
    public: float
    measured: float
    ok: bool
    rule: str

    def as_row(self) -> dict[str, Any]:
        return self.__dict__.copy()


async def _get(
    client: httpx.AsyncClient, tokens: Tokens, role: Role, service: str, path: str, **params: Any
) -> Any:
    response = await client.get(path, params=params, headers=tokens.header(role, service))
    response.raise_for_status()
    return response.json()


class Views:
    """The views a run's figures are read from, each fetched once per day asked."""

    def __init__(self, clients: dict[str, httpx.AsyncClient], tokens: Tokens) -> None:
        self.clients, self.tokens = clients, tokens
        self.cache: dict[tuple[str, str, str], Any] = {}  # (view, as of, by)

    async def reporting(self, key: str, on: str = "", by: str = "") -> Any:
        """Reporting's view ``key`` (internal: unsuppressed) as of ``on`` (default today),
        by ``by`` (week or month; default reporting's)."""
        if (key, on, by) not in self.cache:
            params = ({"as_of": on} if on else {}) | ({"by": by} if by else {})
            self.cache[(key, on, by)] = await _get(
                self.clients["reporting"],
                self.tokens,
                Role.COUNCIL_READER,
                "reporting",
                f"/internal/views/{key}",
                **params,
            )
        return self.cache[(key, on, by)]

    async def housing(self, on: str) -> Any:
        """Housing's occupancy as of ``on`` 00:00 in Hannover."""
        if ("occupancy", on, "") not in self.cache:
            self.cache[("occupancy", on, "")] = await _get(
                self.clients["housing"],
                self.tokens,
                Role.HOUSING_STAFF,
                "housing",
                "/occupancy",
                as_of=on,
            )
        return self.cache[("occupancy", on, "")]

    async def capacity(self, on: str) -> dict[str, Any]:
        """Reporting's places as of the end of ``on``: ``total`` and ``pillar:<key>``
        and ``district:<key>`` rows, each with sites, capacity and occupied."""
        view = await self.reporting("capacity", on)
        rows: dict[str, Any] = {}
        for table in view["tables"]:
            kind = "pillar" if table["key"] == "by_pillar" else "district"
            for row in table["rows"]:
                rows[f"{kind}:{row['key']}"] = row
            rows["total"] = table["total"]
        return rows


async def collect(
    plan: Plan, urls: dict[str, str], tally: Tally, tokens: Tokens | None = None
) -> dict[str, Any]:
    """Every view the headline figures need, and the figures checked against the targets."""
    tokens = tokens or Tokens()
    clients = {n: httpx.AsyncClient(base_url=u, timeout=300) for n, u in urls.items()}
    try:
        views = Views(clients, tokens)
        housing, allocation = clients["housing"], clients["allocation"]
        quota = await _get(
            allocation, tokens, Role.ALLOCATION_STAFF, "allocation", "/quota-periods", limit=100
        )
        weeks = sorted(
            (
                (w["week_starting"], w["assigned_persons"])
                for q in quota["items"]
                for w in q["weeks"]
            ),
        )
        youth = await _get(
            allocation, tokens, Role.ALLOCATION_STAFF, "allocation", "/youth-welfare"
        )
        summary = await _get(
            allocation, tokens, Role.ALLOCATION_STAFF, "allocation", "/placements/summary"
        )
        alerts = await _get(allocation, tokens, Role.ALLOCATION_STAFF, "allocation", "/alerts")
        capacity = await _get(
            clients["reporting"], tokens, Role.COUNCIL_READER, "reporting", "/views/capacity"
        )
        occupancy_now = await _get(housing, tokens, Role.HOUSING_STAFF, "housing", "/occupancy")
        story = await _integration_story(clients["integration"], tokens)
        first, last = plan.weeks[0].monday, plan.weeks[-1].monday + timedelta(days=6)
        figures: list[Figure] = []
        for target in plan.targets:
            on = target.get("on")
            if on is not None and not (first <= _d(on) <= last):
                continue  # outside this run's window
            measured = await _measure(target, plan, views, tally, alerts)
            if measured is None:
                continue
            figures.append(_judge(target, measured, plan.tolerance))
        mismatch = {
            k: (capacity["total"][k], occupancy_now["total"][k])
            for k in ("capacity", "occupied", "reserved")
            if capacity["total"][k] != occupancy_now["total"][k]
        }
        dated = await _compare_on_target_days(plan, views, first, last)
        named = any(t["figure"] == "named_sites_open" for t in plan.targets)
        return {
            "figures": figures,
            "named_sites_missed": await named_sites_missed(plan, views) if named else [],
            "weeks": weeks,
            "youth_welfare": {"households": youth["households"], "persons": youth["persons"]},
            "placements": summary,
            "alerts": alerts,
            "capacity": capacity,
            "occupancy": occupancy_now,
            "occupancy_on": {
                on: view for (key, on, _), view in views.cache.items() if key == "occupancy"
            },
            "capacity_on": {
                on: view
                for (key, on, by), view in views.cache.items()
                if key == "capacity" and on and not by
            },
            "integration": story,
            "reporting_matches_housing": not mismatch and not dated,
            "reporting_mismatch": {**({"now": mismatch} if mismatch else {}), **dated},
        }
    finally:
        for client in clients.values():
            await client.aclose()


async def _compare_on_target_days(
    plan: Plan, views: Views, first: date, last: date
) -> dict[str, Any]:
    """Reporting as of the end of each target day against housing at the next midnight:
    the same business moment, per pillar, per Stadtbezirk and in total."""
    found: dict[str, Any] = {}
    days = sorted({str(t["on"]) for t in plan.targets if "on" in t})
    for on in days:
        day = _d(on)
        if not (first <= day <= last):
            continue
        reporting = await views.capacity(on)
        housing = await views.housing((day + timedelta(days=1)).isoformat())
        rows = {"total": housing["total"]}
        rows |= {f"pillar:{r['key']}": r for r in housing["by_pillar"]}
        rows |= {f"district:{r['key']}": r for r in housing["by_district"]}
        for key in sorted(set(rows) | set(reporting)):
            ours, theirs = reporting.get(key, {}), rows.get(key, {})
            for column in COMPARED:
                if ours.get(column, 0) != theirs.get(column, 0):
                    found[f"{on} {key} {column}"] = (ours.get(column), theirs.get(column))
    return found


def _d(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def _measure(
    target: dict[str, Any], plan: Plan, views: Views, tally: Tally, alerts: Any
) -> float | None:
    figure: str = target["figure"]
    on = str(target.get("on", ""))
    scale = plan.scale
    if figure == "residents":
        return (await views.capacity(on))["total"]["occupied"] / scale
    if figure == "sites":
        return float((await views.capacity(on))["total"]["sites"])
    if figure.startswith("share:") or figure.startswith("pillar:"):
        kind, pillar = figure.split(":")
        rows = await views.capacity(on)
        occupied = rows.get(f"pillar:{pillar}", {}).get("occupied") or 0
        if kind == "share":
            total = rows["total"]["occupied"]
            return occupied / total if total else 0.0
        return occupied / scale
    if figure == "unaccompanied_minors":
        view = await views.reporting("demographics", on)
        return float(view["notes"]["unaccompanied_minors"]) / scale
    if figure.startswith("ratio:residents/"):
        base = figure.split("/", 1)[1]
        if _d(base) < plan.weeks[0].monday:
            return None  # the base day is before this run's window
        then = (await views.capacity(base))["total"]["occupied"]
        now = (await views.capacity(on))["total"]["occupied"]
        return now / then if then else 0.0
    if figure == "peak_week_arrivals":
        # the window's weeks only: the stock at its start was assigned in the year before
        iso = plan.weeks[0].decided_on.isocalendar()
        first_week = f"{iso[0]}-W{iso[1]:02d}"  # "YYYY-Www" sorts as the weeks do
        view = await views.reporting("assignments", by="week")
        weeks = next(t for t in view["tables"] if t["key"] == "assignments")["rows"]
        return max((w["persons"] for w in weeks if w["period"] >= first_week), default=0) / scale
    if figure == "named_sites_open":
        # the share of the run's named sites shown open (and dissolved) on their days
        due = named_sites_due(plan)
        return 1 - len(await named_sites_missed(plan, views)) / len(due) if due else None
    if figure == "homeless_days":
        # steps that ended with someone assigned but without a bed, times the 7 days each
        # stands for (nothing happens between two steps), plus alerts open at the end
        items = alerts["items"] if isinstance(alerts, dict) else alerts
        return float(7 * len(tally.homeless_weeks) + len(items))
    raise ValueError(f"unknown figure {figure!r} in the data file")


def named_sites_due(plan: Plan) -> list[Any]:
    """The named sites this run opens (those closed before its window are not)."""
    return [s for w in plan.weeks for s in w.opens if not s.generated]


async def named_sites_missed(plan: Plan, views: Views) -> list[str]:
    """The named sites the views do not show open on their recorded day (or, where the
    record closes them inside the run, dissolved on that day), each with its day."""
    window = plan.weeks[0].monday
    end = plan.weeks[-1].monday + timedelta(days=6)
    tables = (await views.reporting("emergency"))["tables"]
    listing = {row["name"]: row for row in next(t for t in tables if t["key"] == "sites")["rows"]}
    opened_by_day: dict[tuple[str, date], int] = {}
    for week in plan.weeks:
        for site in week.opens:
            key = (site.pillar, site.opens_on)
            opened_by_day[key] = opened_by_day.get(key, 0) + 1
    closing_by_day: dict[tuple[str, date], int] = {}
    for week in plan.weeks:
        for site in week.closes:
            if site.closes_on is not None and site.closes_on <= end:
                key = (site.pillar, site.closes_on)
                closing_by_day[key] = closing_by_day.get(key, 0) + 1
    missed: list[str] = []
    for site in named_sites_due(plan):
        closes = site.closes_on if site.closes_on and site.closes_on <= end else None
        if site.pillar == "notunterkunft":
            row = listing.get(site.name)
            if row is None or _d(row["opened_on"]) != site.opens_on:
                missed.append(f"{site.name}: not open on {site.opens_on}")
                continue
            if closes is not None and (row["closed_on"] is None or _d(row["closed_on"]) != closes):
                # a site is closed once its last residents have moved (the runner's close)
                missed.append(f"{site.name}: closed on {row['closed_on']}, not on {closes}")
            continue
        # housing's site count of the pillar grows on the day by the sites dated then
        before = site.opens_on - timedelta(days=1)
        ok = site.opens_on == window or (
            await _sites_of(views, site.pillar, site.opens_on)
            - await _sites_of(views, site.pillar, before)
            >= opened_by_day[(site.pillar, site.opens_on)]
            - closing_by_day.get((site.pillar, site.opens_on), 0)
        )
        if not ok or await _sites_of(views, site.pillar, site.opens_on) == 0:
            missed.append(f"{site.name}: not counted open on {site.opens_on}")
    return missed


async def _sites_of(views: Views, pillar: str, day: date) -> int:
    view = await views.housing(day.isoformat())
    row = next((r for r in view["by_pillar"] if r["key"] == pillar), None)
    return int(row["sites"]) if row else 0


def _judge(target: dict[str, Any], measured: float, tolerance: float) -> Figure:
    kind = target.get("kind", "within")
    public = float(target["public"])
    if kind == "at_least":
        ok, rule = measured >= public, f"≥ {public:g}"
    elif kind == "between":
        low = float(target["low"])
        ok, rule = low <= round(measured) <= public, f"{low:g}–{public:g}"
    elif kind == "exactly":
        ok, rule = measured == public, f"= {public:g}"
    else:
        ok, rule = abs(measured - public) <= tolerance * public, f"±{tolerance:.0%}"
    return Figure(target["id"], str(target.get("on", "")), public, measured, ok, rule)


async def _integration_story(client: httpx.AsyncClient, tokens: Tokens) -> dict[str, Any]:
    """Integrationsmanagement's side: cases open and closed, and one household's way out
    (a case moved out and handed over), read from integration's own case list."""

    async def cases(**params: Any) -> Any:
        return await _get(client, tokens, Role.ALLOCATION_STAFF, "integration", "/cases", **params)

    async def count(status: str) -> tuple[int, list[Any]]:
        # integration's pages are the runtime's: ``total`` counts every page
        page = await cases(status=status, limit=500)
        return int(page["total"]), page["items"]

    open_total, _ = await count("open")
    closed_total, closed = await count("closed")
    handed = [c for c in closed if c.get("handover")]
    moved = [c for c in closed if c.get("move_out")]
    return {
        "open_cases": open_total,
        "closed_cases": closed_total,
        "example_moved_out_and_handed_over": (handed or moved or [None])[0],
    }
