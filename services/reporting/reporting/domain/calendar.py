"""Weeks and months of Hannover's business calendar, for the views' time series."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

By = Literal["week", "month"]


@dataclass(frozen=True)
class Period:
    label: str  # 2016-W05 or 2016-03
    first: date
    last: date


def week_of(day: date) -> Period:
    monday = day - timedelta(days=day.weekday())
    year, week, _ = day.isocalendar()
    return Period(f"{year}-W{week:02d}", monday, monday + timedelta(days=6))


def month_of(day: date) -> Period:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period(f"{day.year}-{day.month:02d}", first, following - timedelta(days=1))


def period_of(day: date, by: By) -> Period:
    return week_of(day) if by == "week" else month_of(day)


def periods(first: date, last: date, by: By) -> list[Period]:
    """Every week or month from the one holding ``first`` to the one holding ``last``."""
    out: list[Period] = []
    current = period_of(first, by)
    while current.first <= last:
        out.append(current)
        current = period_of(current.last + timedelta(days=1), by)
    return out


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
