"""Housing's HTTP API: routes and their view models.

Views are built from the domain's objects with ``model_validate`` (``from_attributes``),
never copied field by field.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
from ankommen_contracts import (
    BuildingKind,
    BuildingOwner,
    District,
    Pillar,
    SiteRequirement,
    Suitability,
)
from ankommen_contracts.events.housing import (
    CheckOutReason,
    ClosingReason,
    RejectionReason,
    ReleaseReason,
)
from ankommen_runtime import UnitOfWork
from ankommen_runtime.auth import Actor, Role, allow
from ankommen_runtime.clock import BusinessTime, Clock, IsoInstant
from ankommen_runtime.pagination import Page, PageQuery
from ankommen_runtime.service import get_clock, get_pool, get_uow
from ankommen_runtime.store import found
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import status as http
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from . import domain, handlers
from .domain import FollowUpReason, ReservationStatus, SiteStatus
from .store import PgHousingStore


class View(BaseModel):
    """Base of every view: built from attributes (``View.model_validate(obj)``)."""

    model_config = ConfigDict(from_attributes=True)


async def _grace(request: Request) -> timedelta:
    """How long places wait after the expected arrival (``reservation_grace_seconds``)."""
    return timedelta(seconds=request.app.state.settings.reservation_grace_seconds)


Uow = Annotated[UnitOfWork, Depends(get_uow)]


async def _store(pool: Annotated[asyncpg.Pool, Depends(get_pool)]) -> PgHousingStore:
    """Housing's store over the pool, for the read-only queries of the routes."""
    return PgHousingStore(pool)


Store = Annotated[PgHousingStore, Depends(_store)]
Grace = Annotated[timedelta, Depends(_grace)]
BusinessClock = Annotated[Clock, Depends(get_clock)]
# The resident list holds names: housing staff, and a site's own operator for its sites.
ResidentListActor = Annotated[Actor, Depends(allow(Role.HOUSING_STAFF, Role.SITE_OPERATOR))]
HousingStaff = Annotated[Actor, Depends(allow(Role.HOUSING_STAFF))]

# Who may do what (docs/roles.md is generated from these). Site operators (Betreiber) act
# on their own sites only, named in their token's ``sites`` claim.
Planner = Annotated[Actor, Depends(allow(Role.HOUSING_STAFF))]
SiteReader = Annotated[
    Actor, Depends(allow(Role.HOUSING_STAFF, Role.ALLOCATION_STAFF, Role.SITE_OPERATOR))
]
SiteCrew = Annotated[Actor, Depends(allow(Role.HOUSING_STAFF, Role.SITE_OPERATOR))]
OccupancyReader = Annotated[
    Actor, Depends(allow(Role.HOUSING_STAFF, Role.ALLOCATION_STAFF, Role.COUNCIL_READER))
]
Reserver = Annotated[Actor, Depends(allow(Role.HOUSING_STAFF, Role.ALLOCATION_STAFF))]


def _operates(actor: Actor, site_id: uuid.UUID | None) -> None:
    """403 unless the caller may act on ``site_id``; a caller who is only a site operator
    must name one of its own sites (lists are not open to it across sites)."""
    only_operator = not (actor.roles - {Role.SITE_OPERATOR})
    if site_id is None and only_operator:
        raise HTTPException(403, "a site operator must name one of its sites (site_id)")
    if site_id is not None and not actor.operates(site_id):
        raise HTTPException(403, f"site {site_id} is not one of your sites")


# -- views ---------------------------------------------------------------------------------


class SiteView(View):
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
    building: BuildingKind
    owner: BuildingOwner
    units: int = Field(description="Flats (Wohnungen) of the site; 0 for shared rooms")
    free_units: int = Field(description="Flats nobody holds or lives in")
    daily_rate: Decimal | None = Field(
        description="Euros per occupied place and day in force (Tagessatz); null: none"
    )
    monthly_fixed_cost: Decimal | None = Field(
        description="Euros per month as a lump sum in force (rent, operator contract); null: none"
    )


class ReservationView(View):
    """A reservation request and what became of it."""

    reservation_id: uuid.UUID
    site_id: uuid.UUID
    household_id: uuid.UUID
    places: int
    requirements: list[SiteRequirement]
    status: ReservationStatus
    requested_at: datetime
    expires_at: datetime | None
    rejection_reason: RejectionReason | None
    free_places: int | None = Field(description="Free places when the request was rejected")
    released_at: datetime | None
    release_reason: ReleaseReason | None
    checked_in_at: datetime | None
    unit_id: uuid.UUID | None = Field(description="The flat let to the household, if any")

    @field_validator("requirements", mode="before")
    @classmethod
    def _in_order(cls, wanted: Any) -> Any:
        if isinstance(wanted, (set, frozenset)):
            return [r for r in SiteRequirement if r in wanted]
        return wanted


class RejectionView(View):
    """Why no places were reserved (the body of a 409, or 404 for an unknown site)."""

    detail: str
    reason: RejectionReason
    free_places: int | None
    reservation: ReservationView


class OccupantView(View):
    """A household living at a site (Bewohner)."""

    household_id: uuid.UUID
    site_id: uuid.UUID
    persons: int
    reservation_id: uuid.UUID | None
    checked_in_at: datetime
    unit_id: uuid.UUID | None


class CheckOutView(View):
    """A household that left a site (Auszug); with the follow-up if no next place is known."""

    household_id: uuid.UUID
    site_id: uuid.UUID
    persons: int
    reason: CheckOutReason
    follow_up_id: uuid.UUID | None = Field(
        description="Raised for a house ban, a stay in an institution or another exit "
        "without a next place: staff follow it up (GET /follow-ups)"
    )


class FollowUpView(View):
    """An exit without a next place, for staff to follow up."""

    follow_up_id: uuid.UUID
    site_id: uuid.UUID
    household_id: uuid.UUID
    persons: int
    reason: FollowUpReason
    raised_at: datetime
    open: bool
    resolved_at: datetime | None
    note: str | None


class ResidentView(View):
    """A person living at the site, as the operator saw them at the door."""

    resident_id: uuid.UUID
    household_id: uuid.UUID
    family_name: str
    given_names: str
    recorded_at: datetime


class OccupancyRowView(View):
    key: str
    label: str
    sites: int
    capacity: int
    blocked: int
    reserved: int
    occupied: int
    free: int


class OccupancyView(View):
    """Belegung: places of open and closing sites per pillar, per Stadtbezirk, in total."""

    by_pillar: list[OccupancyRowView]
    by_district: list[OccupancyRowView]
    total: OccupancyRowView


# -- sites ---------------------------------------------------------------------------------

sites = APIRouter(tags=["sites"])


@sites.post("/sites", status_code=http.HTTP_201_CREATED, summary="Open a new site")
async def open_site(command: handlers.OpenSite, actor: Planner, uow: Uow) -> SiteView:
    """Open a site (Unterkunft) that takes occupants at once (ShelterOpened)."""
    return SiteView.model_validate(await handlers.open_site(uow, command))


@sites.post("/sites/planned", status_code=http.HTTP_201_CREATED, summary="Plan a site")
async def plan_site(command: handlers.PlanSite, actor: Planner, uow: Uow) -> SiteView:
    """A site in planning or under construction (ShelterPlanned); it takes nobody yet."""
    return SiteView.model_validate(await handlers.plan_site(uow, command))


@sites.get("/sites", summary="List sites")
async def list_sites(
    actor: SiteReader,
    store: Store,
    page: PageQuery,
    pillar: Pillar | None = None,
    district: Annotated[District | None, Query()] = None,
    status: SiteStatus | None = None,
) -> Page[SiteView]:
    """A site operator sees its own sites only."""
    found = await store.list_sites(pillar=pillar, district=district, status=status)
    mine = [SiteView.model_validate(s) for s in found if actor.operates(s.site_id)]
    return Page.slice_of(mine, page)  # a city's sites: read whole


@sites.get("/sites/{site_id}", summary="One site")
async def get_site(site_id: uuid.UUID, actor: SiteReader, store: Store) -> SiteView:
    _operates(actor, site_id)
    return SiteView.model_validate(found(await store.get_site(site_id), f"site {site_id}"))


@sites.post("/sites/{site_id}/open", summary="Open a planned site")
async def open_planned_site(
    site_id: uuid.UUID,
    actor: Planner,
    uow: Uow,
    command: handlers.OpenPlannedSite | None = None,
) -> SiteView:
    """ShelterOpened; 409 unless the site is planned and has an operator (Betreiber)."""
    command = command or handlers.OpenPlannedSite()
    return SiteView.model_validate(await handlers.open_planned_site(uow, site_id, command))


@sites.post("/sites/{site_id}/capacity", summary="Change a site's capacity")
async def change_capacity(
    site_id: uuid.UUID, command: handlers.ChangeCapacity, actor: Planner, uow: Uow
) -> SiteView:
    """ShelterCapacityChanged; 409 below the places occupied, reserved and blocked."""
    return SiteView.model_validate(await handlers.change_capacity(uow, site_id, command))


@sites.post("/sites/{site_id}/rates", summary="Change what the city pays for a site")
async def change_rates(
    site_id: uuid.UUID, command: handlers.ChangeRates, actor: Planner, uow: Uow
) -> SiteView:
    """ShelterRateChanged: the daily rate per occupied place and the monthly lump sum in
    force from ``valid_from`` (a new agreement); 409 unless the site is open or closing."""
    return SiteView.model_validate(await handlers.change_rates(uow, site_id, command))


@sites.post("/sites/{site_id}/block", summary="Block free places")
async def block_places(
    site_id: uuid.UUID, command: handlers.Places, actor: SiteCrew, uow: Uow
) -> SiteView:
    """Places out of use (gesperrt: damage, renovation, quarantine); 409 beyond the free ones."""
    _operates(actor, site_id)
    return SiteView.model_validate(await handlers.block_places(uow, site_id, command))


@sites.post("/sites/{site_id}/unblock", summary="Release blocked places")
async def release_blocked_places(
    site_id: uuid.UUID, command: handlers.Places, actor: SiteCrew, uow: Uow
) -> SiteView:
    """Blocked places usable again (ShelterCapacityChanged, places_released)."""
    _operates(actor, site_id)
    return SiteView.model_validate(await handlers.release_blocked_places(uow, site_id, command))


@sites.post("/sites/{site_id}/closing", summary="Start closing a site")
async def start_closing(
    site_id: uuid.UUID, command: handlers.StartClosing, actor: Planner, uow: Uow
) -> SiteView:
    """ShelterClosing: no new reservations or occupants; residents are to be relocated."""
    return SiteView.model_validate(await handlers.start_closing(uow, site_id, command))


@sites.put("/sites/{site_id}/closing-date", summary="Set the day the building is given up")
async def set_closing_date(
    site_id: uuid.UUID, command: handlers.ClosingDate, actor: Planner, uow: Uow
) -> SiteView:
    """ShelterClosingDateSet (e.g. the school wants its sports hall back by then); the
    emergency shelters due first are emptied first. 409 for a closed site."""
    return SiteView.model_validate(await handlers.set_closing_date(uow, site_id, command))


@sites.post("/sites/{site_id}/close", summary="Close a site")
async def close_site(
    site_id: uuid.UUID, actor: Planner, uow: Uow, command: handlers.CloseSite | None = None
) -> SiteView:
    """ShelterClosed, for a closing site nobody lives in or holds places at (else 409).

    A planned site that will not be built is closed here too.
    """
    return SiteView.model_validate(await handlers.close_site(uow, site_id, command))


@sites.post(
    "/sites/{site_id}/check-outs",
    status_code=http.HTTP_201_CREATED,
    summary="Check a household out",
)
async def check_out(
    site_id: uuid.UUID, command: handlers.CheckOut, actor: SiteCrew, uow: Uow
) -> CheckOutView:
    """OccupantCheckedOut (Auszug): the household's places are free again."""
    _operates(actor, site_id)
    occupant, follow_up = await handlers.check_out(uow, site_id, command)
    return CheckOutView.model_validate(
        occupant.__dict__
        | {"reason": command.reason, "follow_up_id": follow_up.follow_up_id if follow_up else None}
    )


@sites.get("/follow-ups", summary="Exits without a next place, for staff to follow up")
async def list_follow_ups(
    store: Store,
    actor: HousingStaff,
    page: PageQuery,
    open_only: bool = True,
    site_id: uuid.UUID | None = None,
) -> Page[FollowUpView]:
    """Every exit has a next place or an alert: house bans, stays in an institution and
    other exits with no next place, oldest first (open ones unless ``open_only=false``)."""
    found_ = await store.list_follow_ups(open_only=open_only, site_id=site_id)
    return Page.slice_of([FollowUpView.model_validate(f) for f in found_], page)


@sites.post("/follow-ups/{follow_up_id}/resolve", summary="Record what became of the household")
async def resolve_follow_up(
    follow_up_id: uuid.UUID, command: handlers.ResolveFollowUp, uow: Uow, actor: HousingStaff
) -> FollowUpView:
    """409 if resolved already."""
    return FollowUpView.model_validate(await handlers.resolve_follow_up(uow, follow_up_id, command))


def _own_site(actor: Actor, site_id: uuid.UUID) -> None:
    if not actor.operates(site_id):
        raise HTTPException(403, f"site {site_id} is not one of the caller's sites")


@sites.get("/sites/{site_id}/residents", summary="Who lives at the site (names)")
async def list_residents(
    site_id: uuid.UUID, store: Store, actor: ResidentListActor, page: PageQuery
) -> Page[ResidentView]:
    """The resident list as the operator recorded it at the door: housing staff, and the
    site's own operator only (403 for another operator's site). Names never leave
    housing's database."""
    _own_site(actor, site_id)
    found(await store.get_site(site_id), f"site {site_id}")
    residents = [ResidentView.model_validate(r) for r in await store.list_residents(site_id)]
    return Page.slice_of(residents, page)  # at most the site's beds


@sites.delete(
    "/residents/{resident_id}",
    status_code=http.HTTP_204_NO_CONTENT,
    summary="Erase one person from the resident list",
)
async def erase_resident(
    resident_id: uuid.UUID, uow: Uow, store: Store, actor: ResidentListActor
) -> None:
    """The person's names are deleted for good (404 if unknown); the household's places
    and events are untouched. Housing staff, or the operator of the person's site."""
    resident = found(await store.get_resident(resident_id), f"resident {resident_id}")
    _own_site(actor, resident.site_id)
    await handlers.erase_resident(uow, resident_id)


@sites.get("/occupancy", summary="Places per pillar, per Stadtbezirk and in total")
async def occupancy(
    actor: OccupancyReader,
    store: Store,
    clock: BusinessClock,
    as_of: Annotated[BusinessTime | None, Query()] = None,
    known_at: Annotated[IsoInstant | None, Query()] = None,
) -> OccupancyView:
    """Belegung of open and closing sites: capacity, blocked, reserved, occupied, free.

    ``as_of``: the Belegung at that business time (a date means 00:00 in Hannover), from
    the recorded opening, capacity, check-in and check-out dates: what is known now about
    that date. ``known_at`` (recording time, default now): only what housing had recorded
    by then, so "what did we know on that day" stays answerable.
    """
    if as_of is None and known_at is None:
        in_use = await store.sites_in_use()
    else:
        in_use = await store.occupancy_as_of(as_of or clock.now(), known_at or datetime.now(UTC))
    by_pillar, by_district, total = domain.occupancy(in_use)
    return OccupancyView(
        by_pillar=[OccupancyRowView.model_validate(r) for r in by_pillar],
        by_district=[OccupancyRowView.model_validate(r) for r in by_district],
        total=OccupancyRowView.model_validate(total),
    )


@sites.get("/occupants", summary="Households living at sites")
async def list_occupants(
    actor: SiteReader,
    store: Store,
    page: PageQuery,
    site_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None,
) -> Page[OccupantView]:
    """A site operator names one of its sites."""
    _operates(actor, site_id)
    found = await store.list_occupants(site_id=site_id, household_id=household_id)
    return Page.slice_of([OccupantView.model_validate(o) for o in found], page)  # at most the beds


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
async def reserve(command: handlers.ReserveBeds, actor: Reserver, uow: Uow, grace: Grace) -> Any:
    """Reserve atomically (BedReserved) or reject (ReservationRejected), as for PlacementDecided.

    Idempotent by ``reservation_id``: a repeat gets the same answer and reserves nothing;
    the same id for a different request is a 409.
    """
    reservation = await handlers.request_reservation(uow, command, grace)
    view = ReservationView.model_validate(reservation)
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
    actor: SiteReader,
    store: Store,
    page: PageQuery,
    site_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None,
    status: ReservationStatus | None = None,
) -> Page[ReservationView]:
    """Newest first. A site operator names one of its sites."""
    _operates(actor, site_id)
    found, total = await store.list_reservations(
        site_id=site_id, household_id=household_id, status=status, page=page
    )
    return Page.of([ReservationView.model_validate(r) for r in found], total, page)


@reservations.get("/reservations/{reservation_id}", summary="One reservation")
async def get_reservation(
    reservation_id: uuid.UUID, actor: SiteReader, store: Store
) -> ReservationView:
    reservation = await store.get_reservation(reservation_id)
    reservation = found(reservation, f"reservation {reservation_id}")
    _operates(actor, reservation.site_id)
    return ReservationView.model_validate(reservation)


@reservations.post(
    "/reservations/{reservation_id}/check-in",
    status_code=http.HTTP_201_CREATED,
    summary="Check a household in",
)
async def check_in(
    reservation_id: uuid.UUID,
    actor: SiteCrew,
    uow: Uow,
    store: Store,
    command: handlers.CheckIn | None = None,
) -> OccupantView:
    """OccupantCheckedIn (Einzug) on a held reservation; 409 if checked in already, rejected,
    released, expired or the site is closing. A household living at another site is checked
    out there in the same transaction (OccupantCheckedOut, relocated). ``residents``: the
    persons as the operator saw them at the door, for the site's resident list only. A site
    operator checks in at its own sites only.
    """
    reservation = await store.get_reservation(reservation_id)
    _operates(actor, found(reservation, f"reservation {reservation_id}").site_id)
    return OccupantView.model_validate(await handlers.check_in(uow, reservation_id, command))


class CheckInOutcomeView(View):
    reservation_id: uuid.UUID
    outcome: str = Field(description="`checked_in` (`occupant`), or `refused` (`reason` says why)")
    occupant: OccupantView | None
    reason: str | None = Field(description="The 404 or 409 the single check-in would give")

    @classmethod
    def of(cls, o: handlers.CheckInOutcome) -> CheckInOutcomeView:
        return cls(
            reservation_id=o.reservation_id,
            outcome="refused" if o.refused else "checked_in",
            occupant=OccupantView.model_validate(o.occupant) if o.occupant else None,
            reason=str(o.refused) if o.refused else None,
        )


class CheckInsView(View):
    checked_in: int
    refused: int
    items: list[CheckInOutcomeView] = Field(description="One per check-in, in the list's order")


@reservations.post("/check-ins", summary="Check in a list of households, in its order")
async def check_in_list(
    command: handlers.CheckInList, actor: SiteCrew, uow: Uow, store: Store
) -> CheckInsView:
    """The households at the door (Einzugsliste, e.g. Monday's bus): each checked in as
    ``POST /reservations/{id}/check-in`` checks in one, in one transaction; one that would
    be refused there (expired, released, checked in already, unknown…) is refused alone
    with its reason, the others go on. 409 for the whole list, nothing written, only if a
    concurrent transaction got there first (a household checked in elsewhere, a site that
    stopped taking occupants). A site operator checks in at its own sites only (403 naming
    the first other site)."""
    if not actor.roles - {Role.SITE_OPERATOR}:  # staff may check in anywhere
        for door in command.check_ins:
            reservation = await store.get_reservation(door.reservation_id)
            if reservation is not None:
                _operates(actor, reservation.site_id)
    outcomes = await handlers.check_in_list(uow, command)
    refused = sum(o.refused is not None for o in outcomes)
    return CheckInsView(
        checked_in=len(outcomes) - refused,
        refused=refused,
        items=[CheckInOutcomeView.of(o) for o in outcomes],
    )


ROUTERS = (sites, reservations)
