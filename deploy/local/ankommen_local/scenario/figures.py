"""The run's figures, read back from the services' own views, beside the public ones.

Residents and sites on a date: housing's occupancy ``as_of`` that date (the Belegung as
recorded with business dates). Weekly arrivals: allocation's quota periods (persons per
calendar week). Unaccompanied minors: allocation's youth-welfare view. Places now:
reporting's capacity view, cross-checked against housing's. The targets and their
tolerance come from the data file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
from ankommen_runtime.auth import Role

from .plan import Plan
from .runner import Tally, Tokens


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


async def collect(
    plan: Plan, urls: dict[str, str], tally: Tally, tokens: Tokens | None = None
) -> dict[str, Any]:
    """Every view the headline figures need, and the figures checked against the targets."""
    tokens = tokens or Tokens()
    clients = {n: httpx.AsyncClient(base_url=u, timeout=120) for n, u in urls.items()}
    try:
        housing, allocation = clients["housing"], clients["allocation"]
        occupancy_on: dict[str, Any] = {}

        async def occupancy(day: str) -> Any:
            if day not in occupancy_on:
                occupancy_on[day] = await _get(
                    housing, tokens, Role.HOUSING_STAFF, "housing", "/occupancy", as_of=day
                )
            return occupancy_on[day]

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
        first, last = plan.weeks[0].monday, plan.weeks[-1].monday
        figures: list[Figure] = []
        for target in plan.targets:
            on = target.get("on")
            if on is not None and not (first <= _d(on) <= last):
                continue  # outside this run's window
            measured = await _measure(target, plan, occupancy, weeks, youth, tally, alerts)
            if measured is None:
                continue
            figures.append(_judge(target, measured, plan.tolerance))
        mismatch = {
            k: (capacity["total"][k], occupancy_now["total"][k])
            for k in ("capacity", "occupied", "reserved")
            if capacity["total"][k] != occupancy_now["total"][k]
        }
        return {
            "figures": figures,
            "weeks": weeks,
            "youth_welfare": {"households": youth["households"], "persons": youth["persons"]},
            "placements": summary,
            "alerts": alerts,
            "capacity": capacity,
            "occupancy": occupancy_now,
            "occupancy_on": occupancy_on,
            "integration": story,
            "reporting_matches_housing": not mismatch,
            "reporting_mismatch": mismatch,
        }
    finally:
        for client in clients.values():
            await client.aclose()


def _d(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def _measure(
    target: dict[str, Any],
    plan: Plan,
    occupancy: Any,
    weeks: list[tuple[str, int]],
    youth: Any,
    tally: Tally,
    alerts: Any,
) -> float | None:
    figure: str = target["figure"]
    on = str(target.get("on", ""))
    scale = plan.scale
    if figure == "residents":
        return (await occupancy(on))["total"]["occupied"] / scale
    if figure == "sites":
        return float((await occupancy(on))["total"]["sites"])
    if figure.startswith("share:") or figure.startswith("pillar:"):
        kind, pillar = figure.split(":")
        view = await occupancy(on)
        row = next((r for r in view["by_pillar"] if r["key"] == pillar), None)
        occupied = row["occupied"] if row else 0
        if kind == "share":
            total = view["total"]["occupied"]
            return occupied / total if total else 0.0
        return occupied / scale
    if figure == "unaccompanied_minors":
        return sum(i["persons"] for i in youth["items"] if i["assigned_at"][:10] <= on) / scale
    if figure.startswith("ratio:residents/"):
        base = figure.split("/", 1)[1]
        if _d(base) < plan.weeks[0].monday:
            return None
        then = (await occupancy(base))["total"]["occupied"]
        now = (await occupancy(on))["total"]["occupied"]
        return now / then if then else 0.0
    if figure == "peak_week_arrivals":
        # the window's first week brings the stock of its start, not one week's arrivals
        stock_week = plan.weeks[0].monday - timedelta(days=7)
        return max((n for w, n in weeks if _d(w) > stock_week), default=0) / scale
    if figure == "homeless_days":
        # steps that ended with someone assigned but without a bed, times the 7 days each
        # stands for (nothing happens between two steps), plus alerts open at the end
        items = alerts["items"] if isinstance(alerts, dict) else alerts
        return float(7 * len(tally.homeless_weeks) + len(items))
    raise ValueError(f"unknown figure {figure!r} in the data file")


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
