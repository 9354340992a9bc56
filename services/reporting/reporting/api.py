"""Reporting's HTTP API: the interim review's views as JSON and CSV, the dashboard, the reports.

Published (public, no token): every view with counts below 5 in any breakdown suppressed
(``/published/{key}``, ``.csv``; view 3 in brief at ``/views/capacity``), the HTML
dashboard and the printable reports. Internal (token): the same views unsuppressed for
the council's readers and the city's staff
(``/internal/views/{key}``), and the operators' monthly statement. Every view is on
business time, ``as_of`` any past day (default: the business clock's today), ``by`` week
or month; ``known_at`` restricts to what had been recorded by then.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import asyncpg
from ankommen_contracts.common import DISTRICT_NAMES
from ankommen_runtime.auth import Actor, Role, allow
from ankommen_runtime.clock import Clock, IsoDate, IsoInstant
from ankommen_runtime.errors import Unprocessable
from ankommen_runtime.logging import get_logger
from ankommen_runtime.service import get_clock, get_pool
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from . import render, reports, store
from .domain import capacity_view, publish
from .domain.calendar import By
from .domain.costs import statement
from .domain.ledger import Ledger
from .domain.outlook import RESERVE_SHARE_MAX, Planning, outlook
from .domain.outlook import derive as derive_outlook
from .domain.tables import ViewResult
from .domain.views import VIEWS, build, site_capacities
from .readmodel import ReadModel

log = get_logger(__name__)


class View(BaseModel):
    """Base of every view: built from attributes (``View.model_validate(obj)``)."""

    model_config = ConfigDict(from_attributes=True)


class CapacityRowView(View):
    key: str
    label: str
    sites: int
    capacity: int
    occupied: int | None = Field(description="Persons; null where suppressed (<5)")
    reserved: int
    blocked: int
    free: int | None = Field(description="Null where it would reveal a suppressed count")
    occupancy_rate: float | None


class CapacityView(View):
    """View 3 in brief: places by pillar and Stadtbezirk (published: small counts hidden)."""

    by_pillar: list[CapacityRowView]
    by_district: list[CapacityRowView]
    total: CapacityRowView


class ColumnView(View):
    key: str
    de: str
    en: str
    kind: str


class TableView(View):
    key: str
    de: str
    en: str
    columns: list[ColumnView]
    rows: list[dict[str, Any]]
    total: dict[str, Any] | None
    suppressed: int = Field(description="Cells hidden because they counted fewer than 5")


class ViewView(View):
    """One view of the interim review, as of a business day."""

    key: str
    number: int
    de: str
    en: str
    as_of: date
    period: str
    published: bool = Field(description="True: counts below 5 in breakdowns are suppressed")
    tables: list[TableView]
    notes: dict[str, Any]


class ViewIndexEntry(BaseModel):
    key: str
    number: int
    published: str
    internal: str
    csv: str


Pool = Annotated[asyncpg.Pool, Depends(get_pool)]
BusinessClock = Annotated[Clock, Depends(get_clock)]
ViewKey = Literal[
    "residents",
    "assignments",
    "capacity",
    "emergency",
    "move_outs",
    "integration",
    "volunteers",
    "demographics",
    "outlook",
    "costs",
    "halls",
]
AsOf = Annotated[IsoDate | None, Query(description="Business day the view is as of (Hannover)")]
KnownAt = Annotated[
    IsoInstant | None, Query(description="Only what had been recorded by this instant")
]
Period = Annotated[Literal["week", "month"], Query(description="Time series by week or month")]
Lang = Annotated[Literal["de", "en"], Query(description="Language of labels and pages")]
InternalReader = Annotated[
    Actor,
    Depends(allow(Role.COUNCIL_READER, Role.HOUSING_STAFF, Role.ALLOCATION_STAFF, Role.OPERATIONS)),
]
StatementReader = Annotated[
    Actor, Depends(allow(Role.HOUSING_STAFF, Role.OPERATIONS, Role.SITE_OPERATOR))
]


def _read_model(request: Request) -> ReadModel:
    model: ReadModel | None = getattr(request.app.state, "reporting_read_model", None)
    if model is None:
        model = request.app.state.reporting_read_model = ReadModel()
    return model


@dataclass(frozen=True)
class Reading:
    """What one request reads the views from: the ledger as of its day, and the city's
    planning settings (``ReportingSettings``) that view 9 applies."""

    ledger: Ledger
    planning: Planning

    def view(self, key: str, by: By) -> ViewResult:
        """View ``key`` unsuppressed (internal)."""
        return build(self.ledger, key, by, self.planning)

    def published(self, key: str, by: By) -> ViewResult:
        """View ``key`` with counts below 5 suppressed."""
        return publish(self.view(key, by))


async def _reading(
    request: Request,
    pool: asyncpg.Pool,
    clock: Clock,
    as_of: date | None,
    known_at: datetime | None,
) -> Reading:
    day = as_of or clock.today()
    if day > clock.today():
        raise Unprocessable(("query", "as_of"), f"as_of: {day} is after today ({clock.today()})")
    ledger = await _read_model(request).ledger(pool, day, known_at)
    settings = request.app.state.settings
    return Reading(ledger, Planning(reserve_share=settings.outlook_reserve_share))


async def _as_of(request: Request, pool: Pool, clock: BusinessClock, as_of: AsOf = None) -> Reading:
    return await _reading(request, pool, clock, as_of, None)


async def _as_known(
    request: Request,
    pool: Pool,
    clock: BusinessClock,
    as_of: AsOf = None,
    known_at: KnownAt = None,
) -> Reading:
    return await _reading(request, pool, clock, as_of, known_at)


AsOfReading = Annotated[Reading, Depends(_as_of)]
"""The views as of ``as_of`` (default: the business clock's today)."""
KnownReading = Annotated[Reading, Depends(_as_known)]
"""The same, restricted to what had been recorded by ``known_at`` (internal readers)."""


def _csv(text: str, name: str) -> Response:
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


views = APIRouter(tags=["published views"])
internal = APIRouter(prefix="/internal", tags=["internal views"])
pages = APIRouter(tags=["pages"])


@views.get("/views", summary="The views of the interim review")
async def index() -> list[ViewIndexEntry]:
    return [
        ViewIndexEntry(
            key=s.key,
            number=s.number,
            published=f"/published/{s.key}",
            internal=f"/internal/views/{s.key}",
            csv=f"/published/{s.key}.csv",
        )
        for s in VIEWS.values()
    ]


@views.get("/views/capacity", summary="Places by pillar and by Stadtbezirk (published, in brief)")
async def capacity_summary(reading: AsOfReading) -> CapacityView:
    return _capacity_summary(reading.ledger)


def _capacity_summary(ledger: Ledger) -> CapacityView:
    by_pillar, by_district, total = capacity_view(site_capacities(ledger))

    def row(r: Any) -> dict[str, Any]:
        hidden = 0 < r.occupied < 5
        return {
            "key": r.key,
            "label": r.label,
            "sites": r.sites,
            "capacity": r.capacity,
            "occupied": None if hidden else r.occupied,
            "reserved": r.reserved,
            "blocked": r.blocked,
            "free": None if hidden else r.free,
            "occupancy_rate": None if hidden else r.occupancy_rate,
        }

    return CapacityView.model_validate(
        {
            "by_pillar": [row(r) for r in by_pillar],
            "by_district": [row(r) for r in by_district],
            "total": {**row(total), **_unhidden(total)},
        }
    )


def _unhidden(total: Any) -> dict[str, Any]:
    # The city's total is not a breakdown: shown as it is.
    return {"occupied": total.occupied, "free": total.free, "occupancy_rate": total.occupancy_rate}


@views.get("/published/{key}.csv", summary="A published view as CSV", response_class=Response)
async def published_csv(
    key: ViewKey, reading: AsOfReading, by: Period = "month", lang: Lang = "de"
) -> Response:
    view = reading.published(key, by)
    return _csv(render.view_csv(view, lang), f"{key}-{view.as_of}")


@views.get("/published/{key}", summary="A published view (counts below 5 suppressed)")
async def published_view(key: ViewKey, reading: AsOfReading, by: Period = "month") -> ViewView:
    return ViewView.model_validate(reading.published(key, by))


@views.get("/outlook", summary="View 9 under assumptions of your own (intake, trend, reserve)")
async def outlook_under(
    reading: AsOfReading,
    intake_per_week: Annotated[
        float | None,
        Query(ge=0, le=10_000, description="Steady intake (persons/week); default: recent"),
    ] = None,
    intake_change_per_week: Annotated[
        float | None,
        Query(
            ge=-1_000,
            le=1_000,
            description="The trend scenario's change in intake from week to week "
            "(persons/week); default: the recent weeks' trend",
        ),
    ] = None,
    reserve_share: Annotated[
        float | None,
        Query(
            ge=0,
            le=RESERVE_SHARE_MAX,
            description="Operating reserve, a share of the residents; default: the "
            "city's (ANKOMMEN_OUTLOOK_RESERVE_SHARE)",
        ),
    ] = None,
    horizon_weeks: Annotated[int, Query(ge=4, le=156, description="Weeks ahead")] = 52,
) -> ViewView:
    ledger = reading.ledger
    assumptions = derive_outlook(
        ledger,
        steady=intake_per_week,
        horizon=horizon_weeks,
        change=intake_change_per_week,
        reserve_share=reading.planning.reserve_share if reserve_share is None else reserve_share,
    )
    return ViewView.model_validate(publish(outlook(ledger, "week", assumptions)))


@internal.get("/views/{key}.csv", summary="A view unsuppressed, as CSV", response_class=Response)
async def internal_csv(
    key: ViewKey,
    actor: InternalReader,
    reading: KnownReading,
    by: Period = "month",
    lang: Lang = "de",
) -> Response:
    view = reading.view(key, by)
    return _csv(render.view_csv(view, lang), f"{key}-{view.as_of}-internal")


@internal.get("/views/{key}", summary="A view unsuppressed (council readers, city staff)")
async def internal_view(
    key: ViewKey,
    actor: InternalReader,
    reading: KnownReading,
    by: Period = "month",
) -> ViewView:
    return ViewView.model_validate(reading.view(key, by))


@internal.get(
    "/statement.csv",
    summary="The operators' monthly statement (Betreiberkoordinierung), unsuppressed",
    response_class=Response,
)
async def statement_csv(
    actor: StatementReader, reading: AsOfReading, lang: Lang = "de"
) -> Response:
    ledger = reading.ledger
    # A site operator sees its own sites only; the city's staff see every operator.
    own = None if actor.has(Role.HOUSING_STAFF, Role.OPERATIONS) else actor.sites
    table = statement(ledger, frozenset(own) if own is not None else None)
    return _csv(render.table_csv(table, lang), f"betreiberabrechnung-{ledger.last_day()}")


# -- pages --------------------------------------------------------------------------------


@pages.get("/", response_class=HTMLResponse, summary="The public dashboard (HTML)")
@pages.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def dashboard(
    request: Request,
    pool: Pool,
    reading: AsOfReading,
    by: Period = "month",
    lang: Lang = "de",
) -> HTMLResponse:
    status = await reports.status(request.app.state.settings, pool)
    html = render.page(
        "dashboard.html",
        lang,
        views=[reading.published(key, by) for key in VIEWS],
        as_of=reading.ledger.last_day(),
        by=by,
        status=status,
        districts=DISTRICT_NAMES,
    )
    return HTMLResponse(html)


@pages.get("/report", response_class=HTMLResponse, summary="The interim report (printable HTML)")
async def report(reading: AsOfReading, lang: Lang = "de") -> HTMLResponse:
    return HTMLResponse(reports.interim_report(reading.ledger, lang, reading.planning))


async def _pdf(html: str, name: str) -> Response:
    """The page, rendered here, printed by headless Chromium from a file.

    The pages are self-contained (inline styles and SVG), so Chromium reads a local file:
    it never fetches a URL a request could choose (the Host header), and the service need
    not reach itself over the network. 503 when Chromium is missing or cannot print.
    """
    from .printing import ChromiumMissing, print_pdf

    with tempfile.TemporaryDirectory(prefix="ankommen-report-") as folder:
        page = Path(folder) / f"{name}.html"
        await asyncio.to_thread(page.write_text, html, "utf-8")
        target = Path(folder) / f"{name}.pdf"
        try:
            await asyncio.to_thread(print_pdf, page.as_uri(), target)
        except (ChromiumMissing, RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            log.warning("report not printed", error=str(exc)[:500])
            raise HTTPException(503, f"the report could not be printed: {str(exc)[:300]}") from exc
        body = await asyncio.to_thread(target.read_bytes)
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}.pdf"'},
    )


@pages.get("/report.pdf", summary="The interim report as PDF", response_class=Response)
async def report_pdf(reading: AsOfReading, lang: Lang = "de") -> Response:
    html = reports.interim_report(reading.ledger, lang, reading.planning)
    # named after the report's day, so a downloaded copy still says which day it shows
    return await _pdf(html, f"zwischenbilanz-{reading.ledger.last_day()}-{lang}")


async def _district(district: int) -> int:
    if district not in DISTRICT_NAMES:
        raise HTTPException(404, f"district {district}: Hannover has Stadtbezirke 1 to 13")
    return district


District = Annotated[int, Depends(_district)]
"""A Stadtbezirk's number, checked before the views are read (404 otherwise)."""


@pages.get(
    "/report/district/{district}.pdf",
    summary="The report for one Stadtbezirksrat as PDF",
    response_class=Response,
)
async def district_pdf(district: District, reading: AsOfReading, lang: Lang = "de") -> Response:
    html = reports.district_report(reading.ledger, district, lang, reading.planning)
    return await _pdf(html, f"stadtbezirk-{district:02d}-{lang}")


@pages.get(
    "/report/district/{district}",
    response_class=HTMLResponse,
    summary="The report for one Stadtbezirksrat (printable HTML)",
)
async def district_report(
    district: District, reading: AsOfReading, lang: Lang = "de"
) -> HTMLResponse:
    return HTMLResponse(reports.district_report(reading.ledger, district, lang, reading.planning))


@pages.get("/status", summary="Consumer lag per topic and the last rebuild")
async def status(request: Request, pool: Pool) -> dict[str, Any]:
    return await reports.status(request.app.state.settings, pool)


ROUTERS = (views, internal, pages)

__all__ = ["ROUTERS", "CapacityView", "ViewView", "store", "uuid"]
