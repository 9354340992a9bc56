"""View 10, the Kostentabelle: place-days × the daily rate in force, plus lump sums.

Day-exact: a site's residents at the end of each day (check-ins minus check-outs up to
it) are that day's occupied place-days; each is paid at the daily rate in force that day
(``ShelterOpened.daily_rate`` from the opening day, ``ShelterRateChanged`` from its
``valid_from``). A monthly lump sum (rent, operator contract) is paid for the days the
site is open, pro rata by the days of the month. Summed by pillar, operator and month;
the per-site, per-month rows are the operators' statement (Betreiberkoordinierung).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ankommen_contracts import PILLAR_LABELS, Pillar
from ankommen_contracts.common import district_label

from .calendar import By, month_of
from .ledger import Ledger, Site
from .tables import Chart, Column, Table, ViewResult

CENT = Decimal("0.01")


@dataclass
class SiteMonth:
    """One site's month: what the operator's statement lists."""

    site: Site
    month: str
    place_days: int = 0
    days_open: int = 0
    variable: Decimal = Decimal(0)
    fixed: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return self.variable + self.fixed


def _money(value: Decimal) -> float:
    return float(value.quantize(CENT, rounding=ROUND_HALF_UP))


def site_months(ledger: Ledger) -> list[SiteMonth]:
    """Every site's months up to the as-of day, day by day."""
    last = ledger.last_day()
    out: list[SiteMonth] = []
    for site in ledger.sites.values():
        starts = [d for d in site.occupancy] + ([site.opened_on] if site.opened_on else [])
        if not starts:
            continue
        first = min(starts)
        end = min(last, site.closed_on - timedelta(days=1)) if site.closed_on else last
        changes = sorted(site.occupancy.items())
        i, residents = 0, 0
        months: dict[str, SiteMonth] = {}
        day = first
        while day <= end:
            while i < len(changes) and changes[i][0] <= day:
                residents += changes[i][1]
                i += 1
            label = month_of(day).label
            month = months.get(label)
            if month is None:
                month = months[label] = SiteMonth(site, label)
            rate = site.rate_on(day)
            occupied = max(residents, 0)
            month.place_days += occupied
            opened = site.opened_on is not None and site.opened_on <= day
            month.days_open += opened
            if rate is not None:
                if rate.daily_rate is not None:
                    month.variable += rate.daily_rate * occupied
                if rate.monthly_fixed_cost is not None and opened:
                    month.fixed += (
                        rate.monthly_fixed_cost / calendar.monthrange(day.year, day.month)[1]
                    )
            day += timedelta(days=1)
        out.extend(months.values())
    return sorted(out, key=lambda m: (m.month, m.site.operator or "", m.site.name))


STATEMENT_COLUMNS = (
    Column("month", "Monat", "Month", "text"),
    Column("operator", "Betreiber", "Operator", "text"),
    Column("site", "Unterkunft", "Site", "text"),
    Column("pillar", "Säule", "Pillar", "text"),
    Column("district", "Stadtbezirk", "District", "text"),
    Column("days_open", "Tage geöffnet", "Days open"),
    Column("place_days", "Belegte Platztage", "Occupied place-days"),
    Column("daily_rate", "Tagessatz (letzter)", "Daily rate (last)", "money"),
    Column("variable", "Platztage × Tagessatz", "Place-days × rate", "money"),
    Column("fixed", "Pauschalen", "Lump sums", "money"),
    Column("total", "Summe", "Total", "money"),
)


def statement(ledger: Ledger, sites: frozenset[Any] | None = None) -> Table:
    """The operators' monthly statement: every site and month (internal, never suppressed).

    ``sites``: only these sites (a site operator sees its own statement).
    """
    rows = []
    for m in site_months(ledger):
        if sites is not None and m.site.site_id not in sites:
            continue
        month_end = month_of(date(int(m.month[:4]), int(m.month[5:]), 1)).last
        rate = m.site.rate_on(min(month_end, ledger.last_day()))
        rows.append(
            {
                "month": m.month,
                "site_id": str(m.site.site_id),
                "operator": m.site.operator or "—",
                "site": m.site.name,
                "pillar": PILLAR_LABELS[m.site.pillar],
                "district": district_label(m.site.district),
                "days_open": m.days_open,
                "place_days": m.place_days,
                "daily_rate": _money(rate.daily_rate) if rate and rate.daily_rate else None,
                "variable": _money(m.variable),
                "fixed": _money(m.fixed),
                "total": _money(m.total),
            }
        )
    return Table(
        "statement",
        "Monatsabrechnung der Betreiber",
        "Operators' monthly statement",
        STATEMENT_COLUMNS,
        tuple(rows),
        total={
            "month": "Σ",
            "place_days": sum(r["place_days"] for r in rows),
            "variable": round(sum(r["variable"] for r in rows), 2),
            "fixed": round(sum(r["fixed"] for r in rows), 2),
            "total": round(sum(r["total"] for r in rows), 2),
        },
    )


def costs(ledger: Ledger, by: By) -> ViewResult:
    months = site_months(ledger)
    by_month: dict[str, dict[Pillar, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    days_by_month: dict[str, int] = defaultdict(int)
    by_operator: dict[str, list[Any]] = defaultdict(lambda: [0, Decimal(0), Decimal(0)])
    for m in months:
        by_month[m.month][m.site.pillar] += m.total
        days_by_month[m.month] += m.place_days
        acc = by_operator[m.site.operator or "—"]
        acc[0] += m.place_days
        acc[1] += m.variable
        acc[2] += m.fixed
    pillar_cols = tuple(Column(p.value, PILLAR_LABELS[p], p.value, "money") for p in Pillar)
    rows = []
    for label in sorted(by_month):
        row: dict[str, Any] = {"period": label, "place_days": days_by_month[label]}
        for pillar in Pillar:
            row[pillar.value] = _money(by_month[label][pillar])
        row["total"] = _money(sum(by_month[label].values(), Decimal(0)))
        rows.append(row)
    grand = sum((m.total for m in months), Decimal(0))
    table = Table(
        "by_month",
        "Kosten nach Monat und Säule (Euro)",
        "Costs by month and pillar (euros)",
        (
            Column("period", "Monat", "Month", "text"),
            Column("place_days", "Belegte Platztage", "Occupied place-days"),
            *pillar_cols,
            Column("total", "Summe", "Total", "money"),
        ),
        tuple(rows),
        total={
            "period": "Σ",
            "place_days": sum(days_by_month.values()),
            **{
                p.value: _money(sum((by_month[k][p] for k in by_month), Decimal(0))) for p in Pillar
            },
            "total": _money(grand),
        },
        chart=Chart("stacked", "period", tuple(p.value for p in Pillar)),
    )
    operators = Table(
        "by_operator",
        "Kosten nach Betreiber (Euro)",
        "Costs by operator (euros)",
        (
            Column("operator", "Betreiber", "Operator", "text"),
            Column("place_days", "Belegte Platztage", "Occupied place-days"),
            Column("variable", "Platztage × Tagessatz", "Place-days × rate", "money"),
            Column("fixed", "Pauschalen", "Lump sums", "money"),
            Column("total", "Summe", "Total", "money"),
        ),
        tuple(
            {
                "operator": name,
                "place_days": acc[0],
                "variable": _money(acc[1]),
                "fixed": _money(acc[2]),
                "total": _money(acc[1] + acc[2]),
            }
            for name, acc in sorted(by_operator.items())
        ),
        total={
            "operator": "Insgesamt",
            "place_days": sum(acc[0] for acc in by_operator.values()),
            "variable": _money(sum((acc[1] for acc in by_operator.values()), Decimal(0))),
            "fixed": _money(sum((acc[2] for acc in by_operator.values()), Decimal(0))),
            "total": _money(grand),
        },
    )
    unrated = sorted(
        s.name for s in ledger.sites.values() if s.opened_on is not None and not s.rates
    )
    return ViewResult(
        "costs",
        10,
        "Kostentabelle: Platztage × Tagessatz, Pauschalen",
        "Costs: place-days × daily rate, lump sums",
        ledger.last_day(),
        "month",
        (table, operators),
        {"total_eur": _money(grand), "sites_without_rate": unrated},
    )
