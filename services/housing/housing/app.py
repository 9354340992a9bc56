"""Composition root of the housing service: settings, HTTP routes, subscriptions, sweeper.

No I/O at import; run with ``uvicorn --factory housing.app:create_app``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from ankommen_contracts import District, Pillar, SpecialNeed, Suitability
from ankommen_contracts.events.housing import (
    CheckOutReason,
    ClosingReason,
    RejectionReason,
    ReleaseReason,
)
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
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi import status as http
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from . import domain, handlers, store
from .domain import Occupant, Reservation, ReservationStatus, Site, SiteStatus

log = get_logger(__name__)


class HousingSettings(ServiceSettings):
    """The runtime's settings plus housing's own (``ANKOMMEN_RESERVATION_HOLD_SECONDS``, …)."""

    reservation_hold_seconds: float = Field(
        default=domain.DEFAULT_HOLD.total_seconds(),
        gt=0,
        description="How long reserved places wait for check-in unless a request says otherwise",
    )
    expiry_sweep_seconds: float = Field(
        default=5.0, gt=0, description="Pause between rounds of the expiry sweeper"
    )
    expiry_batch_size: int = Field(
        default=500, ge=1, le=10_000, description="Expired reservations released per transaction"
    )


def _settings(request: Request) -> HousingSettings:
    settings: HousingSettings = request.app.state.settings
    return settings


Uow = Annotated[UnitOfWork, Depends(get_uow)]
Pool = Annotated[asyncpg.Pool, Depends(get_pool)]
Settings = Annotated[HousingSettings, Depends(_settings)]

# -- views ---------------------------------------------------------------------------------


class SiteView(BaseModel):
    """A site (Unterkunft) and its places: capacity = free + reserved + occupied + blocked."""

    site_id: uuid.UUID
    name: str
    pillar: Pillar
    district: int
    operator: str | None
    capacity: int
    blocked: int
    reserved: int
    occupied: int
    free: int
    status: SiteStatus
    suitability: list[Suitability]
    planned_opening_on: date | None
    closing_reason: ClosingReason | None
    closes_on: date | None

    @classmethod
    def of(cls, site: Site) -> SiteView:
        return cls(
            site_id=site.site_id,
            name=site.name,
            pillar=site.pillar,
            district=site.district,
            operator=site.operator,
            capacity=site.capacity,
            blocked=site.blocked,
            reserved=site.reserved,
            occupied=site.occupied,
            free=site.free,
            status=site.status,
            suitability=site.suitability,
            planned_opening_on=site.planned_opening_on,
            closing_reason=site.closing_reason,
            closes_on=site.closes_on,
        )


class ReservationView(BaseModel):
    """A reservation request and what became of it."""

    reservation_id: uuid.UUID
    site_id: uuid.UUID
    household_id: uuid.UUID
    places: int
    special_needs: list[SpecialNeed]
    status: ReservationStatus
    requested_at: datetime
    expires_at: datetime | None
    rejection_reason: RejectionReason | None
    free_places: int | None = Field(description="Free places when the request was rejected")
    released_at: datetime | None
    release_reason: ReleaseReason | None
    checked_in_at: datetime | None

    @classmethod
    def of(cls, r: Reservation) -> ReservationView:
        return cls(
            reservation_id=r.reservation_id,
            site_id=r.site_id,
            household_id=r.household_id,
            places=r.places,
            special_needs=sorted(r.special_needs),
            status=r.status,
            requested_at=r.requested_at,
            expires_at=r.expires_at,
            rejection_reason=r.rejection_reason,
            free_places=r.free_places,
            released_at=r.released_at,
            release_reason=r.release_reason,
            checked_in_at=r.checked_in_at,
        )


class RejectionView(BaseModel):
    """Why no places were reserved (the body of a 409, or 404 for an unknown site)."""

    detail: str
    reason: RejectionReason
    free_places: int | None
    reservation: ReservationView


class OccupantView(BaseModel):
    """A household living at a site (Bewohner)."""

    household_id: uuid.UUID
    site_id: uuid.UUID
    persons: int
    reservation_id: uuid.UUID | None
    checked_in_at: datetime

    @classmethod
    def of(cls, o: Occupant) -> OccupantView:
        return cls(
            household_id=o.household_id,
            site_id=o.site_id,
            persons=o.persons,
            reservation_id=o.reservation_id,
            checked_in_at=o.checked_in_at,
        )


class CheckOutView(BaseModel):
    """A household that left a site (Auszug)."""

    household_id: uuid.UUID
    site_id: uuid.UUID
    persons: int
    reason: CheckOutReason


class OccupancyRowView(BaseModel):
    key: str
    label: str
    sites: int
    capacity: int
    blocked: int
    reserved: int
    occupied: int
    free: int

    @classmethod
    def of(cls, row: domain.OccupancyRow) -> OccupancyRowView:
        return cls(
            key=row.key,
            label=row.label,
            sites=row.sites,
            capacity=row.capacity,
            blocked=row.blocked,
            reserved=row.reserved,
            occupied=row.occupied,
            free=row.free,
        )


class OccupancyView(BaseModel):
    """Belegung: places of open and closing sites per pillar, per Stadtbezirk, in total."""

    by_pillar: list[OccupancyRowView]
    by_district: list[OccupancyRowView]
    total: OccupancyRowView


# -- sites ---------------------------------------------------------------------------------

sites = APIRouter(tags=["sites"])


@sites.post("/sites", status_code=http.HTTP_201_CREATED, summary="Open a new site")
async def open_site(command: handlers.OpenSite, uow: Uow) -> SiteView:
    """Open a site (Unterkunft) that takes occupants at once (ShelterOpened)."""
    return SiteView.of(await handlers.open_site(uow, command))


@sites.post("/sites/planned", status_code=http.HTTP_201_CREATED, summary="Plan a site")
async def plan_site(command: handlers.PlanSite, uow: Uow) -> SiteView:
    """A site in planning or under construction (ShelterPlanned); it takes nobody yet."""
    return SiteView.of(await handlers.plan_site(uow, command))


@sites.get("/sites", summary="List sites")
async def list_sites(
    pool: Pool,
    page: PageQuery,
    pillar: Pillar | None = None,
    district: Annotated[District | None, Query()] = None,
    status: SiteStatus | None = None,
) -> Page[SiteView]:
    found = await store.list_sites(pool, pillar=pillar, district=district, status=status)
    return Page.slice_of([SiteView.of(s) for s in found], page)  # a city's sites: read whole


@sites.get("/sites/{site_id}", summary="One site")
async def get_site(site_id: uuid.UUID, pool: Pool) -> SiteView:
    site = await store.get_site(pool, site_id)
    if site is None:
        raise NotFound(f"no site {site_id}")
    return SiteView.of(site)


@sites.post("/sites/{site_id}/open", summary="Open a planned site")
async def open_planned_site(
    site_id: uuid.UUID, uow: Uow, command: handlers.OpenPlannedSite | None = None
) -> SiteView:
    """ShelterOpened; 409 unless the site is planned and has an operator (Betreiber)."""
    command = command or handlers.OpenPlannedSite()
    return SiteView.of(await handlers.open_planned_site(uow, site_id, command))


@sites.post("/sites/{site_id}/capacity", summary="Change a site's capacity")
async def change_capacity(
    site_id: uuid.UUID, command: handlers.ChangeCapacity, uow: Uow
) -> SiteView:
    """ShelterCapacityChanged; 409 below the places occupied, reserved and blocked."""
    return SiteView.of(await handlers.change_capacity(uow, site_id, command))


@sites.post("/sites/{site_id}/block", summary="Block free places")
async def block_places(site_id: uuid.UUID, command: handlers.Places, uow: Uow) -> SiteView:
    """Places out of use (gesperrt: damage, renovation, quarantine); 409 beyond the free ones."""
    return SiteView.of(await handlers.block_places(uow, site_id, command))


@sites.post("/sites/{site_id}/unblock", summary="Release blocked places")
async def release_blocked_places(
    site_id: uuid.UUID, command: handlers.Places, uow: Uow
) -> SiteView:
    """Blocked places usable again (ShelterCapacityChanged, places_released)."""
    return SiteView.of(await handlers.release_blocked_places(uow, site_id, command))


@sites.post("/sites/{site_id}/closing", summary="Start closing a site")
async def start_closing(site_id: uuid.UUID, command: handlers.StartClosing, uow: Uow) -> SiteView:
    """ShelterClosing: no new reservations or occupants; residents are to be relocated."""
    return SiteView.of(await handlers.start_closing(uow, site_id, command))


@sites.post("/sites/{site_id}/close", summary="Close a site")
async def close_site(site_id: uuid.UUID, uow: Uow) -> SiteView:
    """ShelterClosed, for a closing site nobody lives in or holds places at (else 409).

    A planned site that will not be built is closed here too.
    """
    return SiteView.of(await handlers.close_site(uow, site_id))


@sites.post(
    "/sites/{site_id}/check-outs",
    status_code=http.HTTP_201_CREATED,
    summary="Check a household out",
)
async def check_out(site_id: uuid.UUID, command: handlers.CheckOut, uow: Uow) -> CheckOutView:
    """OccupantCheckedOut (Auszug): the household's places are free again."""
    occupant = await handlers.check_out(uow, site_id, command)
    return CheckOutView(
        household_id=occupant.household_id,
        site_id=occupant.site_id,
        persons=occupant.persons,
        reason=command.reason,
    )


@sites.get("/occupancy", summary="Places per pillar, per Stadtbezirk and in total")
async def occupancy(pool: Pool) -> OccupancyView:
    """Belegung of open and closing sites: capacity, blocked, reserved, occupied, free."""
    by_pillar, by_district, total = domain.occupancy(await store.sites_in_use(pool))
    return OccupancyView(
        by_pillar=[OccupancyRowView.of(r) for r in by_pillar],
        by_district=[OccupancyRowView.of(r) for r in by_district],
        total=OccupancyRowView.of(total),
    )


@sites.get("/occupants", summary="Households living at sites")
async def list_occupants(
    pool: Pool,
    page: PageQuery,
    site_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None,
) -> Page[OccupantView]:
    found = await store.list_occupants(pool, site_id=site_id, household_id=household_id)
    return Page.slice_of([OccupantView.of(o) for o in found], page)  # at most the beds


# -- reservations --------------------------------------------------------------------------

reservations = APIRouter(tags=["reservations"])

_REJECTION_STATUS = {RejectionReason.UNKNOWN_SITE: http.HTTP_404_NOT_FOUND}


@reservations.post(
    "/reservations",
    status_code=http.HTTP_201_CREATED,
    response_model=ReservationView,
    summary="Reserve places for a household",
    responses={
        404: {"model": RejectionView, "description": "Unknown site (rejection recorded)"},
        409: {"model": RejectionView, "description": "Rejected, with the reason"},
    },
)
async def reserve(command: handlers.ReserveBeds, uow: Uow, settings: Settings) -> Any:
    """Reserve atomically (BedReserved) or reject (ReservationRejected), as for PlacementDecided.

    Idempotent by ``reservation_id``: a repeat gets the same answer and reserves nothing;
    the same id for a different request is a 409.
    """
    hold = timedelta(seconds=settings.reservation_hold_seconds)
    reservation = await handlers.request_reservation(uow, command, hold)
    view = ReservationView.of(reservation)
    if reservation.rejection_reason is None:
        return JSONResponse(view.model_dump(mode="json"), status_code=http.HTTP_201_CREATED)
    reason = reservation.rejection_reason
    body = RejectionView(
        detail=f"no places reserved at site {reservation.site_id}: {reason.value}",
        reason=reason,
        free_places=reservation.free_places,
        reservation=view,
    )
    # Not raised: the rejection is recorded and published, so the transaction commits.
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=_REJECTION_STATUS.get(reason, http.HTTP_409_CONFLICT),
    )


@reservations.get("/reservations", summary="List reservations")
async def list_reservations(
    pool: Pool,
    page: PageQuery,
    site_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None,
    status: ReservationStatus | None = None,
) -> Page[ReservationView]:
    """Newest first."""
    found, total = await store.list_reservations(
        pool, site_id=site_id, household_id=household_id, status=status, page=page
    )
    return Page.of([ReservationView.of(r) for r in found], total, page)


@reservations.get("/reservations/{reservation_id}", summary="One reservation")
async def get_reservation(reservation_id: uuid.UUID, pool: Pool) -> ReservationView:
    reservation = await store.get_reservation(pool, reservation_id)
    if reservation is None:
        raise NotFound(f"no reservation {reservation_id}")
    return ReservationView.of(reservation)


@reservations.post(
    "/reservations/{reservation_id}/check-in",
    status_code=http.HTTP_201_CREATED,
    summary="Check a household in",
)
async def check_in(reservation_id: uuid.UUID, uow: Uow) -> OccupantView:
    """OccupantCheckedIn (Einzug) on a held reservation; 409 if checked in already, rejected,
    released, expired or the site is closing. A household living at another site is checked
    out there in the same transaction (OccupantCheckedOut, relocated).
    """
    return OccupantView.of(await handlers.check_in(uow, reservation_id))


# -- wiring --------------------------------------------------------------------------------


def expiry_sweeper(settings: HousingSettings) -> Callable[[Runtime], Awaitable[None]]:
    """A background task: release held reservations past ``expires_at`` (ReservationReleased)."""

    async def expiry_sweeper(runtime: Runtime) -> None:
        batch = settings.expiry_batch_size
        while True:
            released = 0
            with request_context():  # one correlation id per round
                try:
                    released = await handlers.release_expired(
                        runtime.uow, now=datetime.now(UTC), limit=batch
                    )
                except Exception as exc:  # database away: try again next round, never stop
                    log.warning("expiry sweep failed; retrying", error=repr(exc))
                if released:
                    log.info("expired reservations released", count=released)
            if released < batch:  # a full batch: more may wait, go on at once
                await asyncio.sleep(settings.expiry_sweep_seconds)

    return expiry_sweeper


def service_spec(settings: HousingSettings) -> ServiceSpec:
    return ServiceSpec(
        name="housing",
        title="Ankommen housing",
        description="Sites (Unterkünfte) of the four pillars, their places, reservations and "
        "occupants. The only authority on places: reservations are atomic, no site is ever "
        "over its capacity.",
        migrations=Path(__file__).parent / "migrations",
        routers=[sites, reservations],
        subscriptions=[
            Subscription(
                "allocation",
                handlers.allocation_handlers(timedelta(seconds=settings.reservation_hold_seconds)),
            )
        ],
        background=[expiry_sweeper(settings)],
    )


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    if settings is None:
        settings = HousingSettings(service="housing")
    elif not isinstance(settings, HousingSettings):
        settings = HousingSettings(**settings.model_dump())
    return create_service_app(service_spec(settings), settings)
