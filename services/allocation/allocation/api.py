"""Allocation's HTTP API: routes and their view models.

Views are built from the domain's and the store's objects with ``model_validate``
(``from_attributes``), never copied field by field.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

import asyncpg
from ankommen_contracts import BuildingKind, Pillar, SiteRequirement, SpecialNeed
from ankommen_contracts.events.allocation import RelocationReason
from ankommen_runtime import UnitOfWork, audit
from ankommen_runtime.auth import Actor, Role, allow
from ankommen_runtime.clock import Clock
from ankommen_runtime.pagination import HouseholdIdsQuery, Page, PageQuery
from ankommen_runtime.service import get_clock, get_pool, get_uow
from ankommen_runtime.store import found
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from . import handlers
from .domain import (
    HistoryEntry,
    Household,
    HouseholdStatus,
    IntakeMember,
    Placement,
    PlacementPolicy,
    SiteStatus,
)
from .store import PgAllocationStore, QuotaPeriod


class View(BaseModel):
    """Base of every view: built from attributes (``View.model_validate(obj)``)."""

    model_config = ConfigDict(from_attributes=True)


# ---------------------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------------------


class HomeView(View):
    site_id: uuid.UUID
    pillar: Pillar
    district: int
    checked_in_at: datetime


class PendingView(View):
    """The placement in flight: requested (``reserved_until`` null) or reserved."""

    site_id: uuid.UUID
    reservation_id: uuid.UUID
    pillar: Pillar
    district: int
    attempt: int
    reason: str
    requirements: list[SiteRequirement] = Field(
        description="What the site must be (protection rules), never a need"
    )
    for_review: bool = Field(
        description="A move-on place for a household not ready for it: staff review"
    )
    decided_at: datetime | None
    reserved_until: datetime | None

    @model_validator(mode="before")
    @classmethod
    def _of_placement(cls, data: Any) -> Any:
        if isinstance(data, Placement):  # the request as sent, and housing's hold
            return data.request.model_dump() | {
                "decided_at": data.decided_at,
                "reserved_until": data.reserved_until,
            }
        return data


class ReadinessView(View):
    """Integrationsmanagement's latest assessment (ReadinessAssessed), as placed by."""

    ready_for: Pillar = Field(description="The most independent pillar it is ready for")
    ready_for_own_tenancy: bool
    assessed_on: date
    reason: str = Field(description="Integration's words for staff")


class HistoryView(View):
    at: datetime
    kind: str
    reason: str
    site_id: uuid.UUID | None
    reservation_id: uuid.UUID | None
    attempt: int | None


class HouseholdView(View):
    household_id: uuid.UUID
    land_reference: str
    quota_period_id: uuid.UUID | None
    status: HouseholdStatus
    persons: int
    special_needs: list[SpecialNeed]
    members: list[IntakeMember] = Field(description="With their special needs (intake data)")
    assigned_at: datetime = Field(description="The Land's decision (business time)")
    expected_arrival_at: datetime = Field(
        validation_alias="arrival", description="When the household is (or was) expected"
    )
    site: HomeView | None = Field(
        validation_alias="home", description="Where the household lives now"
    )
    pending: PendingView | None = Field(validation_alias="placement")
    relocation_reason: RelocationReason | None
    attempts: int
    waitlisted_since: datetime | None
    readiness: ReadinessView | None = Field(
        description="Integrationsmanagement's assessment; null: not assessed (a Wohnheim first)"
    )
    history: list[HistoryView] | None = Field(
        default=None,
        # Not read from the aggregate (its ``history`` holds unsaved notes only): the
        # detail route passes the stored decisions.
        validation_alias="decisions",
        description="Decisions with reasons (single household only)",
    )

    @classmethod
    def of(cls, h: Household, history: list[HistoryEntry] | None = None) -> HouseholdView:
        """The household as staff see it, with its stored decisions if given."""
        view = cls.model_validate(h)
        if history is not None:
            view.history = [HistoryView.model_validate(e) for e in history]
        return view


class RegisteredView(View):
    land_reference: str
    household_id: uuid.UUID
    outcome: str = Field(description="`created`, or `existing` for a repeat")
    status: HouseholdStatus

    @classmethod
    def of(cls, r: handlers.Registered) -> RegisteredView:
        return cls.model_validate(r.__dict__ | {"outcome": "created" if r.created else "existing"})


class BatchView(View):
    created: int
    existing: int
    items: list[RegisteredView]


class RelocationOutcomeView(View):
    household_id: uuid.UUID
    outcome: str = Field(description="`moving` (to `site_id`), or `refused` (`reason` says why)")
    site_id: uuid.UUID | None
    reason: str | None

    @classmethod
    def of(cls, o: handlers.RelocationOutcome) -> RelocationOutcomeView:
        return cls(
            household_id=o.household_id,
            outcome="refused" if o.refused else "moving",
            site_id=o.site_id,
            reason=o.refused,
        )


class RelocationsView(View):
    moving: int
    refused: int
    items: list[RelocationOutcomeView] = Field(description="One per household, in the list's order")


class WeekView(View):
    week_starting: date
    assigned_persons: int


class QuotaPeriodView(View):
    quota_period_id: uuid.UUID
    starts_on: date
    ends_on: date
    expected_persons: int
    weekly_quota: int
    assigned_households: int
    assigned_persons: int = Field(description="Against the quota; unaccompanied minors apart")
    unaccompanied_minors: int = Field(
        description="Referred to youth welfare; counted apart from the asylum quota"
    )
    remaining_persons: int = Field(description="expected_persons − assigned_persons, at least 0")
    weeks: list[WeekView] = Field(description="Persons assigned per calendar week vs the quota")

    @classmethod
    def of(cls, q: QuotaPeriod, weeks: dict[uuid.UUID, list[tuple[date, int]]]) -> QuotaPeriodView:
        return cls.model_validate(
            q.__dict__
            | {
                "remaining_persons": max(q.expected_persons - q.assigned_persons, 0),
                "weeks": [
                    {"week_starting": w, "assigned_persons": n}
                    for w, n in weeks.get(q.quota_period_id, [])
                ],
            }
        )


class WaitingView(View):
    position: int = 0
    household_id: uuid.UUID
    persons: int
    special_needs: list[str]
    waitlisted_since: datetime
    site_id: uuid.UUID | None = Field(description="The closing site it still lives in, if any")
    reason: str


class AlertView(View):
    """An open homelessness alert: PlacementFailed for a household still waitlisted."""

    household_id: uuid.UUID
    persons: int
    raised_at: datetime = Field(validation_alias=AliasChoices("raised_at", "waitlisted_since"))
    reason: str


class YouthWelfareHousehold(View):
    """An assignment with minors referred to youth welfare (§42a SGB VIII)."""

    household_id: uuid.UUID
    persons: int = Field(description="Minors referred to youth welfare")
    placed_persons: int = Field(description="Others of the assignment, placed by the city")
    assigned_at: datetime
    quota_period_id: uuid.UUID | None


class YouthWelfareView(View):
    """Unaccompanied minors: Jugendhilfe's responsibility, counted apart from placements."""

    households: int
    persons: int
    items: list[YouthWelfareHousehold]


class Count(View):
    households: int = 0
    persons: int = 0


class SummaryView(View):
    by_status: dict[HouseholdStatus, Count]
    living_by_pillar: dict[Pillar, Count] = Field(
        description="Households living at a site now (housed, relocations included)"
    )
    total: Count


class SiteView(View):
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
    building: BuildingKind
    closes_on: date | None
    free_units: list[int] | None = Field(
        description="Flats: places of each flat nobody rents (one household each); null for "
        "a site of shared rooms"
    )

    @field_validator("free")
    @classmethod
    def _never_negative(cls, free: int) -> int:
        return max(free, 0)  # an estimate may run below zero until housing answers


# ---------------------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------------------

quota = APIRouter(tags=["quota periods"])
assignments = APIRouter(tags=["assignments"])
households = APIRouter(tags=["households"])
views = APIRouter(tags=["placement views"])


async def _policy(request: Request) -> PlacementPolicy:
    """The city's placement policy (``AllocationSettings.placement``)."""
    return request.app.state.settings.placement  # type: ignore[no-any-return]


Uow = Annotated[UnitOfWork, Depends(get_uow)]
Policy = Annotated[PlacementPolicy, Depends(_policy)]
Pool = Annotated[asyncpg.Pool, Depends(get_pool)]
BusinessClock = Annotated[Clock, Depends(get_clock)]

# Who may do what (docs/roles.md is generated from these). The Land's intake feed only
# announces periods and registers assignments; social workers see households
# of their own Stadtbezirk; youth welfare sees the unaccompanied minors in its care.
Intake = Annotated[Actor, Depends(allow(Role.LAND_INTAKE, Role.ALLOCATION_STAFF))]
QuotaReader = Annotated[
    Actor, Depends(allow(Role.LAND_INTAKE, Role.ALLOCATION_STAFF, Role.COUNCIL_READER))
]
Staff = Annotated[Actor, Depends(allow(Role.ALLOCATION_STAFF))]
CaseReader = Annotated[
    Actor, Depends(allow(Role.ALLOCATION_STAFF, Role.SOCIAL_WORKER, Role.YOUTH_WELFARE))
]
AlertReader = Annotated[Actor, Depends(allow(Role.ALLOCATION_STAFF, Role.HOUSING_STAFF))]
YouthWelfare = Annotated[Actor, Depends(allow(Role.YOUTH_WELFARE, Role.ALLOCATION_STAFF))]
CountReader = Annotated[Actor, Depends(allow(Role.ALLOCATION_STAFF, Role.COUNCIL_READER))]
SiteReader = Annotated[Actor, Depends(allow(Role.ALLOCATION_STAFF, Role.HOUSING_STAFF))]


def may_see(actor: Actor, household: Household) -> bool:
    """Allocation staff see every household; a social worker those living in their
    Stadtbezirk; youth welfare the unaccompanied minors routed to it."""
    if actor.has(Role.ALLOCATION_STAFF):
        return True
    if actor.has(Role.YOUTH_WELFARE) and household.status is HouseholdStatus.YOUTH_WELFARE:
        return True
    return (
        actor.has(Role.SOCIAL_WORKER)
        and household.home is not None
        and actor.covers_district(household.home.district)
    )


async def _visible(pool: asyncpg.Pool, household_id: uuid.UUID, actor: Actor) -> Household:
    household = found(
        await PgAllocationStore(pool).get_household(household_id), f"household {household_id}"
    )
    if not may_see(actor, household):
        raise HTTPException(403, f"household {household_id} is not in your care")
    return household


async def _detail(household_id: uuid.UUID, pool: asyncpg.Pool) -> HouseholdView:
    reads = PgAllocationStore(pool)
    household = found(await reads.get_household(household_id), f"household {household_id}")
    return HouseholdView.of(household, await reads.history(household_id))


@quota.post(
    "/quota-periods",
    status_code=status.HTTP_201_CREATED,
    summary="The Land announces a quota period",
    responses={200: {"description": "Announced before with the same figures"}},
)
async def announce_quota_period(
    command: handlers.AnnounceQuotaPeriod, actor: Intake, uow: Uow, pool: Pool, response: Response
) -> QuotaPeriodView:
    period, created = await handlers.announce_quota_period(uow, command)
    if not created:
        response.status_code = status.HTTP_200_OK
    weeks = await PgAllocationStore(pool).weekly_assignments()
    return QuotaPeriodView.of(period, weeks)


@quota.get("/quota-periods", summary="Quota periods with persons assigned so far")
async def list_quota_periods(
    actor: QuotaReader, pool: Pool, page: PageQuery
) -> Page[QuotaPeriodView]:
    weeks = await PgAllocationStore(pool).weekly_assignments()
    periods = [
        QuotaPeriodView.of(q, weeks) for q in await PgAllocationStore(pool).list_quota_periods()
    ]
    return Page.slice_of(periods, page)  # a few per year: read whole, paged here


@assignments.post(
    "/assignments",
    status_code=status.HTTP_201_CREATED,
    summary="Register one household assigned by the Land; its placement starts at once",
    responses={200: {"description": "Registered before: the existing household"}},
)
async def register_assignment(
    command: handlers.Assignment, actor: Intake, uow: Uow, response: Response, policy: Policy
) -> RegisteredView:
    [result] = await handlers.register_assignments(uow, [command], policy=policy)
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
    command: handlers.AssignmentBatch,
    actor: Intake,
    uow: Uow,
    response: Response,
    policy: Policy,
) -> BatchView:
    results = await handlers.register_assignments(
        uow, command.assignments, batch=True, policy=policy
    )
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
    actor: Staff,
    pool: Pool,
    clock: BusinessClock,
    page: PageQuery,
    status_: Annotated[HouseholdStatus | None, Query(alias="status")] = None,
    household_id: HouseholdIdsQuery = None,
) -> Page[HouseholdView]:
    found, total = await PgAllocationStore(pool).list_households(
        status=status_, household_ids=household_id, page=page
    )
    now = clock.now()
    # Members, special needs, the Land's reference: a read of persons' details, recorded.
    await audit.record_read(pool, now, [h.household_id for h in found])
    return Page.of([HouseholdView.of(h) for h in found], total, page)


@households.get("/households/{household_id}", summary="One household with its decisions")
async def get_household(
    household_id: uuid.UUID,
    actor: CaseReader,
    pool: Pool,
    clock: BusinessClock,
) -> HouseholdView:
    """Allocation staff: any household; social workers: those living in their Stadtbezirk;
    youth welfare: unaccompanied minors in its care (else 403)."""
    household = await _visible(pool, household_id, actor)
    now = clock.now()
    await audit.record_read(pool, now, [household_id])  # who read whose details
    return HouseholdView.of(household, await PgAllocationStore(pool).history(household_id))


@households.post(
    "/households/{household_id}/relocation",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Move a housed household to another site (409 if it cannot move now)",
)
async def request_relocation(
    household_id: uuid.UUID,
    command: handlers.RequestRelocation,
    actor: Staff,
    uow: Uow,
    policy: Policy,
    pool: Pool,
) -> HouseholdView:
    await handlers.request_relocation(uow, household_id, command, policy)
    return await _detail(household_id, pool)


@households.post(
    "/relocations",
    summary="Move a list of housed households on, in its order; each one moving or refused",
)
async def request_relocations(
    command: handlers.RequestRelocations,
    actor: Staff,
    uow: Uow,
    policy: Policy,
) -> RelocationsView:
    outcomes = await handlers.request_relocations(uow, command, policy)
    refused = sum(o.refused is not None for o in outcomes)
    return RelocationsView(
        moving=len(outcomes) - refused,
        refused=refused,
        items=[RelocationOutcomeView.of(o) for o in outcomes],
    )


@households.post(
    "/households/{household_id}/departure",
    summary="The household left the city's care (409 if it has departed already)",
)
async def record_departure(
    household_id: uuid.UUID,
    command: handlers.RecordDeparture,
    actor: Staff,
    uow: Uow,
    pool: Pool,
) -> HouseholdView:
    await handlers.record_departure(uow, household_id, command)
    return await _detail(household_id, pool)


@households.post(
    "/households/{household_id}/arrival",
    summary="Close an overdue arrival's task: expected then, placed again (409 unless overdue)",
)
async def confirm_arrival(
    household_id: uuid.UUID,
    command: handlers.ConfirmArrival,
    actor: Staff,
    uow: Uow,
    pool: Pool,
    policy: Policy,
) -> HouseholdView:
    await handlers.confirm_arrival(uow, household_id, command, policy)
    return await _detail(household_id, pool)


@views.get("/waitlist", summary="Waitlisted households, oldest first")
async def waitlist(actor: Staff, pool: Pool, page: PageQuery) -> Page[WaitingView]:
    waiting = [
        WaitingView.model_validate(w).model_copy(update={"position": i})
        for i, w in enumerate(await PgAllocationStore(pool).waitlist(), start=1)
    ]
    return Page.slice_of(waiting, page)


@views.get("/alerts", summary="Open homelessness alerts (PlacementFailed, still waitlisted)")
async def alerts(actor: AlertReader, pool: Pool, page: PageQuery) -> Page[AlertView]:
    everything = [AlertView.model_validate(w) for w in await PgAllocationStore(pool).waitlist()]
    return Page.slice_of(everything, page)


@views.get("/youth-welfare", summary="Unaccompanied minors routed to youth welfare, counted apart")
async def youth_welfare(actor: YouthWelfare, pool: Pool) -> YouthWelfareView:
    rows = await PgAllocationStore(pool).youth_welfare()
    return YouthWelfareView(
        households=len(rows),
        persons=sum(r["persons"] for r in rows),
        items=[YouthWelfareHousehold.model_validate(dict(r)) for r in rows],
    )


@views.get("/placements/summary", summary="Households and persons by status and by pillar")
async def summary(actor: CountReader, pool: Pool) -> SummaryView:
    by_status = {s: Count() for s in HouseholdStatus}
    by_pillar = {p: Count() for p in Pillar}
    total = Count()
    for row in await PgAllocationStore(pool).status_counts():
        for count in (by_status[HouseholdStatus(row["status"])], total):
            count.households += row["households"]
            count.persons += row["persons"]
        if row["site_pillar"] is not None:
            by_pillar[Pillar(row["site_pillar"])].households += row["households"]
            by_pillar[Pillar(row["site_pillar"])].persons += row["persons"]
    return SummaryView(by_status=by_status, living_by_pillar=by_pillar, total=total)


@views.get("/sites", summary="Sites as allocation sees them (folded from housing's events)")
async def sites(actor: SiteReader, pool: Pool, page: PageQuery) -> Page[SiteView]:
    known = [SiteView.model_validate(s) for s in await PgAllocationStore(pool).list_sites()]
    return Page.slice_of(known, page)


ROUTERS = (quota, assignments, households, views)
