"""Composition root of the allocation service: settings, HTTP routes, subscriptions, the
placement-timeout task.

No I/O at import; run with ``uvicorn --factory allocation.app:create_app``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import asyncpg
from ankommen_contracts import Pillar, SpecialNeed
from ankommen_contracts.events.allocation import Member, RelocationReason
from ankommen_runtime import NotFound, UnitOfWork, request_context
from ankommen_runtime.consumer import Subscription
from ankommen_runtime.logging import get_logger
from ankommen_runtime.pagination import Page, PageQuery
from ankommen_runtime.service import (
    Runtime,
    ServiceSpec,
    create_service_app,
    get_pool,
    get_uow,
)
from ankommen_runtime.settings import ServiceSettings
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from . import domain, handlers, store
from .domain import (
    GermanLevel,
    Household,
    HouseholdStatus,
    Independence,
    ResidenceProspects,
    SiteStatus,
)

log = get_logger(__name__)


class AllocationSettings(ServiceSettings):
    """The runtime's settings plus allocation's own (``ANKOMMEN_PLACEMENT_TIMEOUT_SECONDS``,
    ``ANKOMMEN_WAITLIST_RETRY_SECONDS``)."""

    service: str = "allocation"
    placement_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A request housing has not answered after this long is sent again, "
        "unchanged (same reservation_id)",
    )
    waitlist_retry_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often the waitlist is retried besides after each housing event "
        "that frees places (which places at most 20 households each)",
    )


# ---------------------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------------------


class HomeView(BaseModel):
    site_id: uuid.UUID
    pillar: Pillar
    district: int
    checked_in_at: datetime


class PendingView(BaseModel):
    """The placement in flight: requested (``reserved_until`` null) or reserved."""

    site_id: uuid.UUID
    reservation_id: uuid.UUID
    pillar: Pillar
    district: int
    attempt: int
    reason: str
    decided_at: datetime | None
    reserved_until: datetime | None


class ReadinessView(BaseModel):
    independence: Independence
    german: GermanLevel
    residence_prospects: ResidenceProspects
    ready_for: Pillar
    assessment: str


class HistoryView(BaseModel):
    at: datetime
    kind: str
    reason: str
    site_id: uuid.UUID | None
    reservation_id: uuid.UUID | None
    attempt: int | None


class HouseholdView(BaseModel):
    household_id: uuid.UUID
    land_reference: str
    quota_period_id: uuid.UUID | None
    status: HouseholdStatus
    persons: int
    special_needs: list[SpecialNeed]
    members: list[Member]
    assigned_at: datetime
    site: HomeView | None = Field(description="Where the household lives now")
    pending: PendingView | None
    relocation_reason: RelocationReason | None
    attempts: int
    waitlisted_since: datetime | None
    readiness: ReadinessView | None
    history: list[HistoryView] | None = Field(
        default=None, description="Decisions with reasons (single household only)"
    )

    @classmethod
    def of(cls, h: Household, history: list[domain.HistoryEntry] | None = None) -> HouseholdView:
        now = datetime.now(UTC)
        readiness = None
        if h.readiness is not None:
            pillar, assessment = domain.ready_for(
                h.readiness, domain.months_since(h.assigned_at, now)
            )
            readiness = ReadinessView(
                independence=h.readiness.independence,
                german=h.readiness.german,
                residence_prospects=h.readiness.residence_prospects,
                ready_for=pillar,
                assessment=assessment,
            )
        p = h.pending
        return cls(
            household_id=h.household_id,
            land_reference=h.land_reference,
            quota_period_id=h.quota_period_id,
            status=h.status,
            persons=h.persons,
            special_needs=h.special_needs,
            members=list(h.members),
            assigned_at=h.assigned_at,
            site=HomeView(**h.home.__dict__) if h.home else None,
            pending=PendingView(
                site_id=p.site_id,
                reservation_id=p.reservation_id,
                pillar=p.pillar,
                district=p.district,
                attempt=p.attempt,
                reason=p.reason,
                decided_at=h.decided_at,
                reserved_until=h.reserved_until,
            )
            if p
            else None,
            relocation_reason=h.relocation_reason,
            attempts=h.attempts,
            waitlisted_since=h.waitlisted_since,
            readiness=readiness,
            history=[HistoryView(**e.__dict__) for e in history] if history is not None else None,
        )


class RegisteredView(BaseModel):
    land_reference: str
    household_id: uuid.UUID
    outcome: str = Field(description="`created`, or `existing` for a repeat")
    status: HouseholdStatus

    @classmethod
    def of(cls, r: handlers.Registered) -> RegisteredView:
        return cls(
            land_reference=r.land_reference,
            household_id=r.household_id,
            outcome="created" if r.created else "existing",
            status=r.status,
        )


class BatchView(BaseModel):
    created: int
    existing: int
    items: list[RegisteredView]


class WeekView(BaseModel):
    week_starting: date
    assigned_persons: int


class QuotaPeriodView(BaseModel):
    quota_period_id: uuid.UUID
    starts_on: date
    ends_on: date
    expected_persons: int
    weekly_quota: int
    assigned_households: int
    assigned_persons: int
    remaining_persons: int = Field(description="expected_persons − assigned_persons, at least 0")
    weeks: list[WeekView] = Field(description="Persons assigned per calendar week vs the quota")

    @classmethod
    def of(cls, q: store.QuotaPeriod, weeks: list[tuple[date, int]]) -> QuotaPeriodView:
        return cls(
            quota_period_id=q.quota_period_id,
            starts_on=q.starts_on,
            ends_on=q.ends_on,
            expected_persons=q.expected_persons,
            weekly_quota=q.weekly_quota,
            assigned_households=q.assigned_households,
            assigned_persons=q.assigned_persons,
            remaining_persons=max(q.expected_persons - q.assigned_persons, 0),
            weeks=[WeekView(week_starting=w, assigned_persons=n) for w, n in weeks],
        )


class WaitingView(BaseModel):
    position: int
    household_id: uuid.UUID
    persons: int
    special_needs: list[str]
    waitlisted_since: datetime
    site_id: uuid.UUID | None = Field(description="The closing site it still lives in, if any")
    reason: str


class AlertView(BaseModel):
    """An open homelessness alert: PlacementFailed for a household still waitlisted."""

    household_id: uuid.UUID
    persons: int
    raised_at: datetime
    reason: str


class YouthWelfareHousehold(BaseModel):
    household_id: uuid.UUID
    persons: int
    assigned_at: datetime
    quota_period_id: uuid.UUID | None


class YouthWelfareView(BaseModel):
    """Unaccompanied minors: Jugendhilfe's responsibility, counted apart from placements."""

    households: int
    persons: int
    items: list[YouthWelfareHousehold]


class Count(BaseModel):
    households: int = 0
    persons: int = 0


class SummaryView(BaseModel):
    by_status: dict[HouseholdStatus, Count]
    living_by_pillar: dict[Pillar, Count] = Field(
        description="Households living at a site now (housed, relocations included)"
    )
    total: Count


class SiteView(BaseModel):
    """A site as allocation sees it: an estimate folded from housing's events."""

    site_id: uuid.UUID
    name: str
    pillar: Pillar
    district: int
    suitability: list[str]
    status: SiteStatus
    capacity: int
    blocked: int
    reserved: int
    occupied: int
    requested: int = Field(description="Places of allocation's requests not yet answered")
    free: int


# ---------------------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------------------

quota = APIRouter(tags=["quota periods"])
assignments = APIRouter(tags=["assignments"])
households = APIRouter(tags=["households"])
views = APIRouter(tags=["placement views"])

Uow = Annotated[UnitOfWork, Depends(get_uow)]
Pool = Annotated[asyncpg.Pool, Depends(get_pool)]


@quota.post(
    "/quota-periods",
    status_code=status.HTTP_201_CREATED,
    summary="The Land announces a quota period",
    responses={200: {"description": "Announced before with the same figures"}},
)
async def announce_quota_period(
    command: handlers.AnnounceQuotaPeriod, uow: Uow, pool: Pool, response: Response
) -> QuotaPeriodView:
    period, created = await handlers.announce_quota_period(uow, command)
    if not created:
        response.status_code = status.HTTP_200_OK
    weeks = await store.weekly_assignments(pool)
    return QuotaPeriodView.of(period, weeks.get(period.quota_period_id, []))


@quota.get("/quota-periods", summary="Quota periods with persons assigned so far")
async def list_quota_periods(pool: Pool, page: PageQuery) -> Page[QuotaPeriodView]:
    weeks = await store.weekly_assignments(pool)
    periods = [  # a few per year: read whole, paged here
        QuotaPeriodView.of(q, weeks.get(q.quota_period_id, []))
        for q in await store.list_quota_periods(pool)
    ]
    return Page.slice_of(periods, page)


@assignments.post(
    "/assignments",
    status_code=status.HTTP_201_CREATED,
    summary="Register one household assigned by the Land; its placement starts at once",
    responses={200: {"description": "Registered before: the existing household"}},
)
async def register_assignment(
    command: handlers.Assignment, uow: Uow, response: Response
) -> RegisteredView:
    [result] = await handlers.register_assignments(uow, [command])
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return RegisteredView.of(result)


@assignments.post(
    "/assignments/batch",
    status_code=status.HTTP_201_CREATED,
    summary="Register the Land's weekly batch; a repeat creates nothing new",
    responses={200: {"description": "Every assignment was registered before"}},
)
async def register_batch(
    command: handlers.AssignmentBatch, uow: Uow, response: Response
) -> BatchView:
    results = await handlers.register_assignments(uow, command.assignments, batch=True)
    created = sum(r.created for r in results)
    if not created:
        response.status_code = status.HTTP_200_OK
    return BatchView(
        created=created,
        existing=len(results) - created,
        items=[RegisteredView.of(r) for r in results],
    )


@households.get("/households", summary="Households, optionally by status")
async def list_households(
    pool: Pool,
    page: PageQuery,
    status_: Annotated[HouseholdStatus | None, Query(alias="status")] = None,
) -> Page[HouseholdView]:
    found, total = await store.list_households(pool, status=status_, page=page)
    return Page.of([HouseholdView.of(h) for h in found], total, page)


@households.get("/households/{household_id}", summary="One household with its decisions")
async def get_household(household_id: uuid.UUID, pool: Pool) -> HouseholdView:
    household = await store.get_household(pool, household_id)
    if household is None:
        raise NotFound(f"no household {household_id}")
    return HouseholdView.of(household, await store.history(pool, household_id))


@households.put(
    "/households/{household_id}/readiness",
    summary="Record readiness for a Wohnprojekt or a Wohnung (used by later placements)",
)
async def record_readiness(
    household_id: uuid.UUID, command: handlers.RecordReadiness, uow: Uow, pool: Pool
) -> HouseholdView:
    await handlers.record_readiness(uow, household_id, command)
    return await get_household(household_id, pool)


@households.post(
    "/households/{household_id}/relocation",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Move a housed household to another site (409 if it cannot move now)",
)
async def request_relocation(
    household_id: uuid.UUID, command: handlers.RequestRelocation, uow: Uow, pool: Pool
) -> HouseholdView:
    await handlers.request_relocation(uow, household_id, command)
    return await get_household(household_id, pool)


@households.post(
    "/households/{household_id}/departure",
    summary="The household left the city's care (409 if it has departed already)",
)
async def record_departure(
    household_id: uuid.UUID, command: handlers.RecordDeparture, uow: Uow, pool: Pool
) -> HouseholdView:
    await handlers.record_departure(uow, household_id, command)
    return await get_household(household_id, pool)


@views.get("/waitlist", summary="Waitlisted households, oldest first")
async def waitlist(pool: Pool, page: PageQuery) -> Page[WaitingView]:
    waiting = [
        WaitingView(position=i, **w.__dict__)
        for i, w in enumerate(await store.waitlist(pool), start=1)
    ]
    return Page.slice_of(waiting, page)


@views.get("/alerts", summary="Open homelessness alerts (PlacementFailed, still waitlisted)")
async def alerts(pool: Pool, page: PageQuery) -> Page[AlertView]:
    everything = [
        AlertView(
            household_id=w.household_id,
            persons=w.persons,
            raised_at=w.waitlisted_since,
            reason=w.reason,
        )
        for w in await store.waitlist(pool)
    ]
    return Page.slice_of(everything, page)


@views.get("/youth-welfare", summary="Unaccompanied minors routed to youth welfare, counted apart")
async def youth_welfare(pool: Pool) -> YouthWelfareView:
    rows = await store.youth_welfare(pool)
    return YouthWelfareView(
        households=len(rows),
        persons=sum(r["persons"] for r in rows),
        items=[YouthWelfareHousehold(**dict(r)) for r in rows],
    )


@views.get("/placements/summary", summary="Households and persons by status and by pillar")
async def summary(pool: Pool) -> SummaryView:
    by_status = {s: Count() for s in HouseholdStatus}
    by_pillar = {p: Count() for p in Pillar}
    total = Count()
    for row in await store.status_counts(pool):
        for count in (by_status[HouseholdStatus(row["status"])], total):
            count.households += row["households"]
            count.persons += row["persons"]
        if row["site_pillar"] is not None:
            by_pillar[Pillar(row["site_pillar"])].households += row["households"]
            by_pillar[Pillar(row["site_pillar"])].persons += row["persons"]
    return SummaryView(by_status=by_status, living_by_pillar=by_pillar, total=total)


@views.get("/sites", summary="Sites as allocation sees them (folded from housing's events)")
async def sites(pool: Pool, page: PageQuery) -> Page[SiteView]:
    known = [SiteView(**s.__dict__, free=max(s.free, 0)) for s in await store.list_sites(pool)]
    return Page.slice_of(known, page)


# ---------------------------------------------------------------------------------------
# Wiring
# ---------------------------------------------------------------------------------------


async def _repeat(what: str, interval: float, work: Callable[[], Awaitable[bool]]) -> None:
    """Run ``work`` forever: at once again while it reports more to do, else after
    ``interval``. A failure (database away) is logged and tried again; it never ends."""
    while True:
        more = False
        try:
            with request_context():  # one correlation id per round
                more = await work()
        except Exception as exc:
            log.warning(f"{what} failed; trying again", error=repr(exc))
        if not more:
            await asyncio.sleep(interval)


def _settings(runtime: Runtime) -> AllocationSettings:
    settings = runtime.settings
    return settings if isinstance(settings, AllocationSettings) else AllocationSettings()


async def placement_timeouts(runtime: Runtime) -> None:
    """Re-send requests housing has not answered in time (same reservation_id)."""
    timeout = _settings(runtime).placement_timeout_seconds
    interval = min(max(timeout / 4, 0.05), 5.0)  # a resend is late by at most this
    await _repeat(
        "placement timeout sweep",
        interval,
        lambda: handlers.resend_overdue(runtime.uow, timedelta(seconds=timeout)),
    )


async def waitlist_retries(runtime: Runtime) -> None:
    """Place waitlisted households (and dissolve Notunterkünfte) beyond one event's bound."""
    await _repeat(
        "waitlist sweep",
        _settings(runtime).waitlist_retry_seconds,
        lambda: handlers.retry_waitlist(runtime.uow),
    )


SPEC = ServiceSpec(
    name="allocation",
    title="Ankommen allocation",
    description="Assignments from the Land, households, placement decisions and the waitlist.",
    migrations=Path(__file__).parent / "migrations",
    routers=[quota, assignments, households, views],
    subscriptions=[Subscription("housing", handlers.HOUSING)],
    background=[placement_timeouts, waitlist_retries],
)


async def _unknown_reference(_: Request, exc: Exception) -> JSONResponse:
    # Shaped like FastAPI's own 422 so clients read one format for every bad field.
    assert isinstance(exc, handlers.UnknownReference)
    return JSONResponse(
        {"detail": [{"loc": list(exc.loc), "msg": str(exc), "type": "value_error"}]},
        status_code=422,
    )


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    if not isinstance(settings, AllocationSettings):
        # Keep what the caller set; allocation's own settings come from the environment.
        given = settings.model_dump(exclude_unset=True) if settings else {}
        settings = AllocationSettings(**given)
    app = create_service_app(SPEC, settings)
    app.add_exception_handler(handlers.UnknownReference, _unknown_reference)
    return app
