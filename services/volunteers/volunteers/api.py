"""HTTP routes, request and view models, and the roles of each route.

Every route admits the volunteer coordinators (Koordinierungsstelle Flüchtlingshilfe) and
nobody else; health and metrics are the runtime's. Nothing here shows case or household
data: a request carries what matching needs, and a pseudonymous case id at most.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Generic, TypeVar

import asyncpg
from ankommen_contracts import DISTRICT_NAMES, District, Skill
from ankommen_contracts.events.volunteers import MatchEndReason
from ankommen_runtime import NotFound, UnitOfWork
from ankommen_runtime.auth import Actor, Role, allow
from ankommen_runtime.clock import Clock
from ankommen_runtime.service import get_clock, get_pool, get_uow
from fastapi import APIRouter, Depends, Query, Request
from fastapi import status as http
from pydantic import BaseModel, Field

from . import domain, handlers
from .domain import (
    Assessment,
    Exclusion,
    HoursEntry,
    Initiative,
    InitiativeKind,
    Match,
    MatchStatus,
    Neighbourhood,
    RequestSource,
    RequestStatus,
    SupportRequest,
    Volunteer,
    VolunteerStatus,
    Weekday,
)
from .store import PgVolunteersStore


async def _reads(pool: Annotated[asyncpg.Pool, Depends(get_pool)]) -> PgVolunteersStore:
    """The volunteers store over the pool, for the read-only routes."""
    return PgVolunteersStore(pool)


Coordinator = Annotated[Actor, Depends(allow(Role.VOLUNTEER_COORDINATOR))]
Uow = Annotated[UnitOfWork, Depends(get_uow)]
Reads = Annotated[PgVolunteersStore, Depends(_reads)]
BusinessClock = Annotated[Clock, Depends(get_clock)]

MAX_PAGE = 200
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Page size, at most {MAX_PAGE}")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Rows to skip")]


async def _rules(request: Request) -> handlers.Rules:
    rules: handlers.Rules = request.app.state.rules
    return rules


async def _neighbourhood(request: Request) -> Neighbourhood:
    neighbourhood: Neighbourhood = request.app.state.neighbourhood
    return neighbourhood


async def _warning_days(request: Request) -> int:
    days: int = request.app.state.certificate_warning_days
    return days


Rules = Annotated[handlers.Rules, Depends(_rules)]
Neighbours = Annotated[Neighbourhood, Depends(_neighbourhood)]
WarningDays = Annotated[int, Depends(_warning_days)]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list; ``next_offset`` is null on the last page."""

    items: list[T]
    limit: int
    offset: int
    next_offset: int | None

    @classmethod
    def of(cls, items: list[T], limit: int, offset: int) -> Page[T]:
        return cls(
            items=items,
            limit=limit,
            offset=offset,
            next_offset=offset + limit if len(items) == limit else None,
        )


# -- views ----------------------------------------------------------------------------------


class VolunteerView(BaseModel):
    """A volunteer with contact details: for the coordinators only, never in an event."""

    volunteer_id: uuid.UUID
    name: str
    email: str | None
    phone: str | None
    skills: list[Skill]
    languages: list[str]
    districts: list[int]
    weekdays: list[Weekday]
    hours_per_week: int
    committed_hours: int = Field(description="Weekly hours promised to running matches")
    free_hours: int
    mso: bool
    initiative_id: uuid.UUID | None
    registered_on: date
    status: VolunteerStatus
    paused_until: date | None
    withdrawn_on: date | None
    certificate_issued_on: date | None
    certificate_valid_until: date | None
    certified_today: bool = Field(description="May work with children today")

    @classmethod
    def of(cls, v: Volunteer, today: date) -> VolunteerView:
        return cls(
            volunteer_id=v.volunteer_id,
            name=v.contact.name,
            email=v.contact.email,
            phone=v.contact.phone,
            skills=sorted(v.skills),
            languages=list(v.languages),
            districts=sorted(v.districts),
            weekdays=[d for d in Weekday if d in v.weekdays],
            hours_per_week=v.hours_per_week,
            committed_hours=v.committed_hours,
            free_hours=v.free_hours,
            mso=v.mso,
            initiative_id=v.initiative_id,
            registered_on=v.registered_on,
            status=v.status,
            paused_until=v.paused_until,
            withdrawn_on=v.withdrawn_on,
            certificate_issued_on=v.certificate_issued_on,
            certificate_valid_until=v.certificate_valid_until,
            certified_today=v.certified_on(today),
        )


class ExpiringView(BaseModel):
    """A certificate running out soon (or already out): ask for a new one in time."""

    volunteer_id: uuid.UUID
    name: str
    email: str | None
    phone: str | None
    certificate_valid_until: date
    days_left: int = Field(description="Negative: expired that many days ago")

    @classmethod
    def of(cls, v: Volunteer, today: date) -> ExpiringView:
        assert v.certificate_valid_until is not None
        return cls(
            volunteer_id=v.volunteer_id,
            name=v.contact.name,
            email=v.contact.email,
            phone=v.contact.phone,
            certificate_valid_until=v.certificate_valid_until,
            days_left=(v.certificate_valid_until - today).days,
        )


class RequestView(BaseModel):
    """A support request: what, where, when; a pseudonymous case id at most."""

    request_id: uuid.UUID
    kind: Skill
    district: int
    district_name: str
    languages: list[str]
    weekdays: list[Weekday]
    hours_per_week: int
    involves_children: bool
    requested_on: date
    source: RequestSource
    case_id: uuid.UUID | None
    status: RequestStatus
    open_days: int
    overdue: bool = Field(description="Flagged by the periodic check: open too long")
    flagged_overdue_on: date | None

    @classmethod
    def of(cls, r: SupportRequest, today: date) -> RequestView:
        return cls(
            request_id=r.request_id,
            kind=r.kind,
            district=r.district,
            district_name=DISTRICT_NAMES[r.district],
            languages=list(r.languages),
            weekdays=[d for d in Weekday if d in r.weekdays],
            hours_per_week=r.hours_per_week,
            involves_children=r.involves_children,
            requested_on=r.requested_on,
            source=r.source,
            case_id=r.case_id,
            status=r.status,
            open_days=r.open_days(today),
            overdue=r.status is RequestStatus.OPEN and r.flagged_overdue_on is not None,
            flagged_overdue_on=r.flagged_overdue_on,
        )


class ComponentView(BaseModel):
    name: str
    points: float
    detail: str


class ProposalView(BaseModel):
    """A proposed volunteer, the score and every component that made it."""

    volunteer_id: uuid.UUID
    score: float
    components: list[ComponentView]
    explanation: str

    @classmethod
    def of(cls, a: Assessment) -> ProposalView:
        return cls(
            volunteer_id=a.volunteer_id,
            score=a.score,
            components=[
                ComponentView(name=c.name, points=c.points, detail=c.detail) for c in a.components
            ],
            explanation=a.explanation,
        )


class ProposalsView(BaseModel):
    request: RequestView
    proposals: list[ProposalView]
    qualified: int = Field(description="Volunteers who pass every rule (all, not only shown)")
    considered: int = Field(description="Best-scoring volunteers the domain weighed again")
    excluded: dict[Exclusion, int] = Field(
        description="Of those, excluded on the re-check (a change since the database read)"
    )


class MatchView(BaseModel):
    match_id: uuid.UUID
    request_id: uuid.UUID
    volunteer_id: uuid.UUID
    district: int
    skill: Skill
    involves_children: bool
    hours_per_week: int
    matched_on: date
    score: float
    status: MatchStatus
    ended_on: date | None
    end_reason: MatchEndReason | None

    @classmethod
    def of(cls, m: Match) -> MatchView:
        return cls(
            match_id=m.match_id,
            request_id=m.request_id,
            volunteer_id=m.volunteer_id,
            district=m.district,
            skill=m.skill,
            involves_children=m.involves_children,
            hours_per_week=m.hours_per_week,
            matched_on=m.matched_on,
            score=m.score,
            status=m.status,
            ended_on=m.ended_on,
            end_reason=m.end_reason,
        )


class HoursView(BaseModel):
    entry_id: uuid.UUID
    volunteer_id: uuid.UUID
    match_id: uuid.UUID | None
    district: int
    worked_on: date
    hours: float

    @classmethod
    def of(cls, e: HoursEntry) -> HoursView:
        return cls(
            entry_id=e.entry_id,
            volunteer_id=e.volunteer_id,
            match_id=e.match_id,
            district=e.district,
            worked_on=e.worked_on,
            hours=e.hours,
        )


class InitiativeView(BaseModel):
    initiative_id: uuid.UUID
    name: str
    kind: InitiativeKind
    mso: bool
    districts: list[int]
    site_ids: list[uuid.UUID]

    @classmethod
    def of(cls, i: Initiative) -> InitiativeView:
        return cls(
            initiative_id=i.initiative_id,
            name=i.name,
            kind=i.kind,
            mso=i.mso,
            districts=sorted(i.districts),
            site_ids=sorted(i.site_ids),
        )


class CoverageRowView(BaseModel):
    """One Stadtbezirk: who helps there, what waits there, and the gaps."""

    district: int
    name: str
    active_volunteers: int
    certified_volunteers: int = Field(description="Active and vetted for work with children")
    mso_volunteers: int
    active_matches: int
    open_requests: int
    overdue_requests: int
    initiatives: list[str]
    sites_with_initiatives: int
    nobody_helps: bool = Field(description="No active volunteer and no initiative")
    gaps: list[str]


class CoverageView(BaseModel):
    as_of: date
    districts: list[CoverageRowView]
    uncovered: list[int] = Field(description="Stadtbezirke where nobody helps")


# -- volunteers -----------------------------------------------------------------------------

volunteers = APIRouter(tags=["volunteers"])


@volunteers.post("/volunteers", status_code=http.HTTP_201_CREATED, summary="Register a volunteer")
async def register(
    command: handlers.RegisterVolunteer, uow: Uow, clock: BusinessClock, actor: Coordinator
) -> VolunteerView:
    """A new offer (VolunteerRegistered, pseudonymous: no name or contact in the event)."""
    today = clock.today()
    return VolunteerView.of(await handlers.register_volunteer(uow, command, today), today)


@volunteers.get("/volunteers", summary="List volunteers")
async def list_volunteers(
    reads: Reads,
    clock: BusinessClock,
    actor: Coordinator,
    limit: Limit = 50,
    offset: Offset = 0,
    status: VolunteerStatus | None = None,
    district: Annotated[District | None, Query()] = None,
    skill: Skill | None = None,
    language: Annotated[str | None, Query(pattern=r"^[a-z]{2}$")] = None,
    mso: bool | None = None,
) -> Page[VolunteerView]:
    """Newest registration first."""
    found = await reads.list_volunteers(
        status=status,
        district=district,
        skill=skill,
        language=language,
        mso=mso,
        limit=limit,
        offset=offset,
    )
    today = clock.today()
    return Page.of([VolunteerView.of(v, today) for v in found], limit, offset)


@volunteers.get("/volunteers/{volunteer_id}", summary="One volunteer")
async def get_volunteer(
    volunteer_id: uuid.UUID, reads: Reads, clock: BusinessClock, actor: Coordinator
) -> VolunteerView:
    volunteer = await reads.get_volunteer(volunteer_id)
    if volunteer is None:
        raise NotFound(f"no volunteer {volunteer_id}")
    return VolunteerView.of(volunteer, clock.today())


@volunteers.post("/volunteers/{volunteer_id}/pause", summary="Pause a volunteer")
async def pause(
    volunteer_id: uuid.UUID,
    uow: Uow,
    clock: BusinessClock,
    actor: Coordinator,
    command: handlers.Pause | None = None,
) -> VolunteerView:
    """Not proposed for new requests until resumed; running matches go on. 409 if withdrawn."""
    volunteer = await handlers.pause(uow, volunteer_id, command or handlers.Pause())
    return VolunteerView.of(volunteer, clock.today())


@volunteers.post("/volunteers/{volunteer_id}/resume", summary="Resume after a pause")
async def resume(
    volunteer_id: uuid.UUID, uow: Uow, clock: BusinessClock, actor: Coordinator
) -> VolunteerView:
    return VolunteerView.of(await handlers.resume(uow, volunteer_id), clock.today())


@volunteers.post("/volunteers/{volunteer_id}/withdraw", summary="Withdraw a volunteer")
async def withdraw(
    volunteer_id: uuid.UUID,
    uow: Uow,
    clock: BusinessClock,
    actor: Coordinator,
    command: handlers.Withdraw | None = None,
) -> VolunteerView:
    """The offer is taken back: running matches end (MatchEnded volunteer_withdrew) and
    their requests open again. 409 if withdrawn already."""
    today = clock.today()
    volunteer = await handlers.withdraw(uow, volunteer_id, command or handlers.Withdraw(), today)
    return VolunteerView.of(volunteer, today)


@volunteers.post("/volunteers/{volunteer_id}/vetting", summary="Record a police certificate")
async def vet(
    volunteer_id: uuid.UUID,
    command: handlers.Vet,
    uow: Uow,
    clock: BusinessClock,
    rules: Rules,
    actor: Coordinator,
) -> VolunteerView:
    """An extended police certificate (erweitertes Führungszeugnis) was shown
    (VolunteerVetted); it counts for the configured validity from its issue date. 409 if it
    was older than the configured maximum when shown, or older than the one on record."""
    today = clock.today()
    volunteer = await handlers.vet(uow, volunteer_id, command, today, rules)
    return VolunteerView.of(volunteer, today)


@volunteers.post(
    "/volunteers/{volunteer_id}/hours", status_code=http.HTTP_201_CREATED, summary="Log hours"
)
async def log_hours(
    volunteer_id: uuid.UUID,
    command: handlers.LogHours,
    uow: Uow,
    clock: BusinessClock,
    actor: Coordinator,
) -> HoursView:
    """Time spent helping (VolunteerHoursLogged), on a match (within its dates) or general."""
    return HoursView.of(await handlers.log_hours(uow, volunteer_id, command, clock.today()))


class SheetOutcomeView(BaseModel):
    volunteer_id: uuid.UUID
    outcome: str = Field(description="`logged`, or `refused` with the reason")
    reason: str | None = Field(default=None, description="Why the line was refused")
    entry: HoursView | None = None

    @classmethod
    def of(cls, o: handlers.SheetOutcome) -> SheetOutcomeView:
        return cls(
            volunteer_id=o.volunteer_id,
            outcome="refused" if o.refused else "logged",
            entry=HoursView.of(o.entry) if o.entry else None,
            reason=str(o.refused) if o.refused else None,
        )


class SheetView(BaseModel):
    logged: int
    refused: int
    items: list[SheetOutcomeView] = Field(description="One per line, in the sheet's order")


@volunteers.post("/hours", summary="Log a sheet of hours, many volunteers' at once")
async def log_hours_sheet(
    sheet: handlers.HoursSheet, uow: Uow, clock: BusinessClock, actor: Coordinator
) -> SheetView:
    """The tandems' hours as the office collects them (Stundenzettel): each line logged as
    ``POST /volunteers/{id}/hours`` logs one, in one transaction; a line that would be
    refused there (unknown volunteer or match: 404's reason; a day in the future, before
    the registration or outside the match: 409's) is refused alone with its reason, the
    others are logged. A malformed line is a 422 for the whole sheet, naming the line."""
    outcomes = await handlers.log_hours_sheet(uow, sheet, clock.today())
    refused = sum(o.refused is not None for o in outcomes)
    return SheetView(
        logged=len(outcomes) - refused,
        refused=refused,
        items=[SheetOutcomeView.of(o) for o in outcomes],
    )


@volunteers.get("/vetting/expiring", summary="Certificates running out")
async def expiring(
    reads: Reads,
    clock: BusinessClock,
    warning_days: WarningDays,
    actor: Coordinator,
    within_days: Annotated[
        int | None, Query(ge=0, le=730, description="Default: the service's warning period")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ExpiringView]:
    """Volunteers (not withdrawn) whose certificate expires within the warning period or
    has expired, soonest first: ask them for a new one ahead of time."""
    today = clock.today()
    until = today + timedelta(days=warning_days if within_days is None else within_days)
    found = await reads.expiring_certificates(until=until, limit=limit, offset=offset)
    return Page.of([ExpiringView.of(v, today) for v in found], limit, offset)


# -- requests and matches -------------------------------------------------------------------

requests = APIRouter(tags=["support requests and matches"])


@requests.post("/requests", status_code=http.HTTP_201_CREATED, summary="Enter a support request")
async def enter_request(
    command: handlers.EnterRequest, uow: Uow, clock: BusinessClock, actor: Coordinator
) -> RequestView:
    """A need the coordinators learned of directly (not through Integrationsmanagement)."""
    today = clock.today()
    return RequestView.of(await handlers.enter_request(uow, command, today), today)


@requests.get("/requests", summary="List support requests")
async def list_requests(
    reads: Reads,
    clock: BusinessClock,
    actor: Coordinator,
    limit: Limit = 50,
    offset: Offset = 0,
    status: RequestStatus | None = None,
    district: Annotated[District | None, Query()] = None,
    overdue: Annotated[bool | None, Query(description="Only (not) flagged open requests")] = None,
) -> Page[RequestView]:
    """Newest first."""
    found = await reads.list_requests(
        status=status, district=district, overdue=overdue, limit=limit, offset=offset
    )
    today = clock.today()
    return Page.of([RequestView.of(r, today) for r in found], limit, offset)


@requests.get("/requests/{request_id}", summary="One support request")
async def get_request(
    request_id: uuid.UUID, reads: Reads, clock: BusinessClock, actor: Coordinator
) -> RequestView:
    request = await reads.get_request(request_id)
    if request is None:
        raise NotFound(f"no request {request_id}")
    return RequestView.of(request, clock.today())


@requests.get("/requests/{request_id}/proposals", summary="Ranked, explained proposals")
async def proposals(
    request_id: uuid.UUID,
    reads: Reads,
    clock: BusinessClock,
    neighbourhood: Neighbours,
    actor: Coordinator,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> ProposalsView:
    """Volunteers for a request, best first, each score with its components (district,
    language, skill, schedule, load, vetting, MSO). Nobody without a valid certificate is
    proposed for work with children; nobody over their weekly hours."""
    today = clock.today()
    request, ranking, qualified = await handlers.propose(
        reads, request_id, neighbourhood, today, limit
    )
    return ProposalsView(
        request=RequestView.of(request, today),
        proposals=[ProposalView.of(a) for a in ranking.proposals],
        qualified=qualified,
        considered=ranking.considered,
        excluded=dict(ranking.excluded),
    )


@requests.post(
    "/requests/{request_id}/matches",
    status_code=http.HTTP_201_CREATED,
    summary="Match a volunteer to a request",
)
async def make_match(
    request_id: uuid.UUID,
    uow: Uow,
    clock: BusinessClock,
    neighbourhood: Neighbours,
    actor: Coordinator,
    command: handlers.MakeMatch | None = None,
) -> MatchView:
    """VolunteerMatched, with the chosen volunteer or the best proposal. 409 with the rule
    if the volunteer does not qualify (e.g. work with children without a valid
    certificate, or over their weekly hours) or the request is not open."""
    match = await handlers.make_match(
        uow, request_id, command or handlers.MakeMatch(), neighbourhood, clock.today()
    )
    return MatchView.of(match)


@requests.post("/requests/{request_id}/withdraw", summary="Withdraw a support request")
async def withdraw_request(
    request_id: uuid.UUID, uow: Uow, clock: BusinessClock, actor: Coordinator
) -> RequestView:
    """No longer needed: closed; a running match ends (MatchEnded request_withdrawn)."""
    today = clock.today()
    return RequestView.of(await handlers.withdraw_request(uow, request_id, today), today)


@requests.get("/matches", summary="List matches")
async def list_matches(
    reads: Reads,
    actor: Coordinator,
    limit: Limit = 50,
    offset: Offset = 0,
    volunteer_id: uuid.UUID | None = None,
    request_id: uuid.UUID | None = None,
    status: MatchStatus | None = None,
) -> Page[MatchView]:
    found = await reads.list_matches(
        volunteer_id=volunteer_id,
        request_id=request_id,
        status=status,
        limit=limit,
        offset=offset,
    )
    return Page.of([MatchView.of(m) for m in found], limit, offset)


@requests.post("/matches/{match_id}/end", summary="End a match")
async def end_match(
    match_id: uuid.UUID,
    command: handlers.EndMatch,
    uow: Uow,
    clock: BusinessClock,
    actor: Coordinator,
) -> MatchView:
    """MatchEnded with the reason; `completed` and `request_withdrawn` close the request,
    any other reason opens it again. 409 if it ended already."""
    return MatchView.of(await handlers.end_match(uow, match_id, command, clock.today()))


# -- initiatives and coverage ---------------------------------------------------------------

initiatives = APIRouter(tags=["initiatives and coverage"])


@initiatives.post(
    "/initiatives", status_code=http.HTTP_201_CREATED, summary="Register an initiative"
)
async def add_initiative(
    command: handlers.AddInitiative, uow: Uow, actor: Coordinator
) -> InitiativeView:
    """A support circle (Unterstützerkreis), MSO or other group, with its districts and sites."""
    return InitiativeView.of(await handlers.add_initiative(uow, command))


@initiatives.get("/initiatives", summary="List initiatives")
async def list_initiatives(
    reads: Reads,
    actor: Coordinator,
    limit: Limit = 50,
    offset: Offset = 0,
    district: Annotated[District | None, Query()] = None,
    kind: InitiativeKind | None = None,
) -> Page[InitiativeView]:
    found = await reads.list_initiatives(district=district, kind=kind, limit=limit, offset=offset)
    return Page.of([InitiativeView.of(i) for i in found], limit, offset)


@initiatives.put("/initiatives/{initiative_id}/links", summary="Link districts and sites")
async def link_initiative(
    initiative_id: uuid.UUID, command: handlers.Links, uow: Uow, actor: Coordinator
) -> InitiativeView:
    """Replace the districts and sites an initiative helps in."""
    return InitiativeView.of(await handlers.link_initiative(uow, initiative_id, command))


@initiatives.get("/coverage", summary="Who helps where, and where nobody does")
async def coverage(reads: Reads, clock: BusinessClock, actor: Coordinator) -> CoverageView:
    """Per Stadtbezirk: active and vetted volunteers, MSO volunteers, running matches, open
    and overdue requests, initiatives and their sites, and the gaps."""
    today = clock.today()
    rows = domain.coverage(await reads.district_figures(today))
    return CoverageView(
        as_of=today,
        districts=[
            CoverageRowView(
                district=r.figures.district,
                name=r.name,
                active_volunteers=r.figures.active_volunteers,
                certified_volunteers=r.figures.certified_volunteers,
                mso_volunteers=r.figures.mso_volunteers,
                active_matches=r.figures.active_matches,
                open_requests=r.figures.open_requests,
                overdue_requests=r.figures.overdue_requests,
                initiatives=list(r.figures.initiatives),
                sites_with_initiatives=r.figures.sites,
                nobody_helps=r.nobody_helps,
                gaps=list(r.gaps),
            )
            for r in rows
        ],
        uncovered=[r.figures.district for r in rows if r.nobody_helps],
    )


ROUTERS = (volunteers, requests, initiatives)
