"""The printable interim report (laid out like Drucksache 2088/2016), the 13 district
reports, and the status shown on the dashboard (consumer lag, last rebuild).

The report's text is written from the figures: every number in it comes from the
published (suppressed) views as of the report's day.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import structlog
from ankommen_contracts.common import DISTRICT_NAMES, district_label
from ankommen_runtime.settings import ServiceSettings
from ankommen_runtime.store import Db

from . import render, store
from .domain import publish
from .domain.ledger import Ledger
from .domain.outlook import PLANNING, Planning
from .domain.tables import Table, ViewResult
from .domain.views import build

log = structlog.get_logger(__name__)


def _views(ledger: Ledger, planning: Planning, by: str = "month") -> dict[str, ViewResult]:
    keys = (
        "residents",
        "assignments",
        "capacity",
        "emergency",
        "halls",
        "move_outs",
        "integration",
        "volunteers",
        "demographics",
        "outlook",
        "costs",
    )
    return {k: publish(build(ledger, k, by, planning)) for k in keys}  # type: ignore[arg-type]


def interim_report(ledger: Ledger, lang: str = "de", planning: Planning = PLANNING) -> str:
    """Rückblick, Ausblick, ein erstes Fazit, Gender-Aspekte, Kostentabelle."""
    views = _views(ledger, planning)
    return render.page(
        "report.html",
        lang,
        v=views,
        as_of=ledger.last_day(),
        district=None,
        facts=_key_figures(views),
    )


def _district_only(table: Table, label: str, key: str | None = None) -> Table:
    """The district's rows of a city table (by its label, or by its key where it has one)."""
    rows = tuple(
        r for r in table.rows if (r.get("key") == key if key else r.get("district") == label)
    )
    return replace(table, rows=rows, total=None, chart=None)


def district_report(
    ledger: Ledger, district: int, lang: str = "de", planning: Planning = PLANNING
) -> str:
    """The report for one Stadtbezirksrat: the city's figures and the district's own."""
    views = _views(ledger, planning)
    label = district_label(district)
    own: dict[str, Table] = {
        "capacity": _district_only(
            views["capacity"].table("by_district"), label, key=f"{district:02d}"
        ),
        "integration": _district_only(views["integration"].table("by_district"), label),
        "volunteers": _district_only(views["volunteers"].table("by_district"), label),
        "emergency": _district_only(views["emergency"].table("sites"), label),
        "halls": _district_only(views["halls"].table("halls"), label),
        "move_outs": _district_only(views["move_outs"].table("by_target"), label),
    }
    return render.page(
        "district.html",
        lang,
        v=views,
        own=own,
        as_of=ledger.last_day(),
        district=district,
        district_name=DISTRICT_NAMES[district],
        facts=_key_figures(views),
    )


def _key_figures(views: dict[str, ViewResult]) -> dict[str, Any]:
    residents = views["residents"].notes
    outlook = {row["scenario"]: row for row in views["outlook"].table("answers").rows}
    capacity = views["capacity"].notes["total"]
    return {
        "residents": residents["residents"],
        "growth_factor": residents["growth_factor"],
        "base_year": residents["base_year"],
        "peak_weeks": views["assignments"].notes["peak_weeks"],
        "capacity": capacity,
        "emergency": views["emergency"].notes,
        "halls": views["halls"].notes,
        "outlook": outlook,
        "assumptions": views["outlook"].notes["assumptions"],
        "free_now": views["outlook"].notes["free_places_now"],
        "demographics": views["demographics"].notes,
        "costs": views["costs"].notes,
        "volunteers": views["volunteers"].notes,
        "integration": views["integration"].notes,
    }


async def status(settings: ServiceSettings, db: Db) -> dict[str, Any]:
    """Consumer lag per topic (from Kafka) and the last rebuild (from the database)."""
    from .monitor import consumer_lag

    lag: list[dict[str, Any]] | None
    try:
        lag = [
            {
                "topic": t.topic,
                "source": t.source,
                "end": t.end,
                "committed": t.committed,
                "behind": t.behind,
            }
            for t in await consumer_lag(settings)
        ]
    except Exception as exc:  # the page still shows the figures; the lag says "unknown"
        log.warning("consumer lag unavailable", error=repr(exc))
        lag = None
    last = await store.last_rebuild(db)
    facts = await store.count_facts(db)
    return {"lag": lag, "last_rebuild": last, "facts": facts}
