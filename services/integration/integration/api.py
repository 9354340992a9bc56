"""Integration's HTTP API: routes, their view models and the roles allowed per route.

District social workers (``social-worker``, with a ``district`` claim) see and change the
cases of their own Stadtbezirk only; allocation staff read cases (who is ready for a flat)
and caseloads; council readers see caseloads (counts, no household); operations may erase
personal details on a request to the data protection officer. Personal details are shown
to social workers only. Lists are paged as every service's (``Page``: ``limit`` ≤ 1000,
``offset``, ``total``).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

import asyncpg
from ankommen_contracts import District, Pillar, Skill
from ankommen_contracts.events.integration import (
    CaseCloseReason,
    DistrictStructure,
    GermanLevel,
    Independence,
    LanguageLevel,
    Milestone,
    MoveOutTarget,
    ResidenceProspects,
    ResidenceStatus,
    TimeSlot,
)
from ankommen_runtime import UnitOfWork
from ankommen_runtime.auth import Actor, Role, allow
from ankommen_runtime.clock import Clock
from ankommen_runtime.pagination import HouseholdIdsQuery, Page, PageQuery
from ankommen_runtime.service import get_clock, get_pool, get_uow
from ankommen_runtime.store import found
from fastapi import APIRouter, Depends, Query, Request
from fastapi import status as http
from pydantic import BaseModel, ConfigDict, Field

from . import domain, handlers
from .domain import CaseStatus, ReadinessPolicy, Teams
from .store import PgIntegrationStore


class View(BaseModel):
    """Base of every view: built from attributes (``View.model_validate(obj)``)."""

    model_config = ConfigDict(from_attributes=True)


async def _teams(request: Request) -> Teams:
    # async, as every dependency here: FastAPI runs a plain function in its thread pool
    return request.app.state.settings.load_teams()  # type: ignore[no-any-return]


async def _caseload_limit(request: Request) -> int:
    return request.app.state.settings.caseload_limit_persons


async def _reads(pool: Annotated[asyncpg.Pool, Depends(get_pool)]) -> PgIntegrationStore:
    """Integration's store over the pool, for the read-only routes."""
    return PgIntegrationStore(pool)


async def _readiness_policy(request: Request) -> ReadinessPolicy:
    return request.app.state.settings.readiness  # type: ignore[no-any-return]


Uow = Annotated[UnitOfWork, Depends(get_uow)]
Reads = Annotated[PgIntegrationStore, Depends(_reads)]
BusinessClock = Annotated[Clock, Depends(get_clock)]
TeamData = Annotated[Teams, Depends(_teams)]
CaseloadLimit = Annotated[int, Depends(_caseload_limit)]
ReadinessRules = Annotated[ReadinessPolicy, Depends(_readiness_policy)]

SocialWorker = Annotated[Actor, Depends(allow(Role.SOCIAL_WORKER))]
CaseReader = Annotated[Actor, Depends(allow(Role.SOCIAL_WORKER, Role.ALLOCATION_STAFF))]
LoadReader = Annotated[
    Actor, Depends(allow(Role.SOCIAL_WORKER, Role.ALLOCATION_STAFF, Role.COUNCIL_READER))
]
Eraser = Annotated[Actor, Depends(allow(Role.SOCIAL_WORKER, Role.OPERATIONS))]

# -- views ---------------------------------------------------------------------------------


class ReadinessView(View):
    ready_for: Pillar
    ready_for_own_tenancy: bool
    independence: Independence
    german: GermanLevel
    residence_prospects: ResidenceProspects
    assessed_on: date
    reason: str


class MoveOutView(View):
    target_kind: MoveOutTarget
    target_district: int | None
    from_site_id: uuid.UUID
    planned_on: date | None
    completed_on: date | None


class HandoverView(View):
    structure: DistrictStructure
    receiving_partner: str
    district: int
    handed_over_on: date


class CaseView(View):
    """An Integrationsmanagement case (Fall): pseudonymous, no personal details."""

    case_id: uuid.UUID
    household_id: uuid.UUID
    persons: int
    district: int
    team_id: str
    opened_on: date
    status: CaseStatus
    site_id: uuid.UUID | None = Field(description="Municipal site lived in; null after moving out")
    site_pillar: Pillar | None
    social_worker: str | None
    language_level: LanguageLevel | None
    residence_status: ResidenceStatus | None
    readiness: ReadinessView | None
    move_out: MoveOutView | None
    handover: HandoverView | None
    ready_to_move_out: bool
    closed_on: date | None
    close_reason: CaseCloseReason | None
    details_erased_on: date | None


class MilestoneView(View):
    milestone_id: uuid.UUID
    case_id: uuid.UUID
    milestone: Milestone
    reached_on: date
    persons: int
    language_level: LanguageLevel | None
    residence_status: ResidenceStatus | None


class SupportRequestView(View):
    request_id: uuid.UUID
    case_id: uuid.UUID
    skill: Skill
    district: int
    languages: list[str]
    involves_children: bool
    hours_per_week: int
    schedule: list[TimeSlot]
    requested_on: date


class PersonView(View):
    """Personal details, for the counselling social worker only."""

    person_id: uuid.UUID
    case_id: uuid.UUID
    given_name: str
    family_name: str
    date_of_birth: date | None
    phone: str | None
    email: str | None


class TeamView(View):
    team_id: str
    district: int
    label: str
    social_workers: int


class WorkerLoadView(View):
    social_worker: str
    cases: int
    persons: int
    over_limit: bool


class TeamLoadView(View):
    """Fallzahlen: open cases and persons of a team, per social worker, with warnings."""

    team_id: str
    district: int
    label: str
    social_workers: int
    cases: int
    persons: int
    unassigned_cases: int
    persons_per_worker: float | None
    limit: int = Field(description="Persons per social worker above which a warning shows")
    over_limit: bool
    workers: list[WorkerLoadView]


class ErasureView(View):
    erasure_id: uuid.UUID
    household_id: uuid.UUID
    erased_here: int = Field(description="People whose details this service deleted")


# -- cases ---------------------------------------------------------------------------------

cases = APIRouter(tags=["cases"])


def _own_district(actor: Actor, district: int | None) -> int | None:
    """A social worker's lists are of their own district; asking for another is refused."""
    if actor.roles - {Role.SOCIAL_WORKER}:
        return district
    if actor.district is None:
        raise handlers.NotYourDistrict("a social worker's token names no Stadtbezirk")
    if district is not None and district != actor.district:
        raise handlers.NotYourDistrict(f"you counsel in Stadtbezirk {actor.district} only")
    return actor.district


async def _readable_case(
    reads: PgIntegrationStore, actor: Actor, case_id: uuid.UUID
) -> domain.Case:
    case = found(await reads.get_case(case_id), f"case {case_id}")
    handlers.guard(actor, case)
    return case


@cases.get("/cases", summary="List cases")
async def list_cases(
    reads: Reads,
    actor: CaseReader,
    page: PageQuery,
    district: Annotated[District | None, Query()] = None,
    status: CaseStatus | None = None,
    household_id: HouseholdIdsQuery = None,
    social_worker: str | None = None,
    ready_to_move_out: bool = False,
) -> Page[CaseView]:
    """Oldest first. A social worker sees the cases of their own Stadtbezirk only."""
    found_cases, total = await reads.list_cases(
        district=_own_district(actor, district),
        status=status,
        household_ids=household_id,
        social_worker=social_worker,
        ready_to_move_out=ready_to_move_out,
        page=page,
    )
    return Page[CaseView].of([CaseView.model_validate(c) for c in found_cases], total, page)


@cases.get("/cases/{case_id}", summary="One case")
async def get_case(case_id: uuid.UUID, reads: Reads, actor: CaseReader) -> CaseView:
    return CaseView.model_validate(await _readable_case(reads, actor, case_id))


@cases.post("/cases/{case_id}/assign", summary="Assign the case to a social worker")
async def assign(
    case_id: uuid.UUID, uow: Uow, actor: SocialWorker, command: handlers.AssignCase | None = None
) -> CaseView:
    """Default: the caller takes the case (by their pseudonymous id)."""
    command = command or handlers.AssignCase()
    return CaseView.model_validate(await handlers.assign(uow, actor, case_id, command))


@cases.post(
    "/cases/{case_id}/milestones",
    status_code=http.HTTP_201_CREATED,
    summary="Record a milestone (MilestoneReached)",
)
async def record_milestone(
    case_id: uuid.UUID,
    command: handlers.RecordMilestone,
    uow: Uow,
    clock: BusinessClock,
    actor: SocialWorker,
) -> MilestoneView:
    """Integration course, language level (A1–C1), school, Kita, training, work, residence
    status changes, everyday skills; with the day it happened. 409 if recorded already."""
    record = await handlers.record_milestone(uow, actor, case_id, command, clock.today())
    return MilestoneView.model_validate(record)


@cases.get("/cases/{case_id}/milestones", summary="A case's milestones")
async def list_milestones(
    case_id: uuid.UUID, reads: Reads, actor: CaseReader
) -> list[MilestoneView]:
    """Bounded by the case: one household's milestones."""
    await _readable_case(reads, actor, case_id)
    return [MilestoneView.model_validate(m) for m in await reads.list_milestones(case_id)]


@cases.post("/cases/{case_id}/readiness", summary="Assess readiness for a flat")
async def assess_readiness(
    case_id: uuid.UUID,
    command: handlers.AssessReadiness,
    uow: Uow,
    clock: BusinessClock,
    actor: SocialWorker,
    policy: ReadinessRules,
) -> CaseView:
    """ReadinessAssessed: which pillar the household is ready for, and whether for a
    tenancy of its own, by the city's readiness settings (``ANKOMMEN_READINESS``).
    Allocation places by it; nobody else computes it."""
    return CaseView.model_validate(
        await handlers.assess_readiness(uow, actor, case_id, command, clock.today(), policy)
    )


@cases.post("/cases/{case_id}/move-out", summary="Plan a move-out (MoveOutPlanned)")
async def plan_move_out(
    case_id: uuid.UUID, command: handlers.PlanMoveOut, uow: Uow, actor: SocialWorker
) -> CaseView:
    """Into a flat from the city's programme (social_housing) or the free market
    (own_flat), or another tenancy. 409 unless the household lives in municipal
    accommodation and is assessed ready for a tenancy of its own. Moving into a
    city-rented Wohnung is a relocation (allocation), not a move-out."""
    return CaseView.model_validate(await handlers.plan_move_out(uow, actor, case_id, command))


@cases.post("/cases/{case_id}/move-out/complete", summary="Complete the move-out")
async def complete_move_out(
    case_id: uuid.UUID,
    uow: Uow,
    clock: BusinessClock,
    teams: TeamData,
    actor: SocialWorker,
    command: handlers.CompleteMoveOut | None = None,
) -> CaseView:
    """MoveOutCompleted: housing checks the household out and its places go back to the
    waitlist; the case follows it to the target district's team."""
    command = command or handlers.CompleteMoveOut()
    return CaseView.model_validate(
        await handlers.complete_move_out(uow, actor, case_id, command, clock.today(), teams)
    )


@cases.post("/cases/{case_id}/handover", summary="Hand over to a district structure")
async def hand_over(
    case_id: uuid.UUID,
    command: handlers.HandOver,
    uow: Uow,
    clock: BusinessClock,
    actor: SocialWorker,
) -> CaseView:
    """CaseHandedOver naming the receiving partner, then CaseClosed (handed_over)."""
    return CaseView.model_validate(
        await handlers.hand_over(uow, actor, case_id, command, clock.today())
    )


class CaseworkOutcomeView(View):
    case_id: uuid.UUID
    kind: str = Field(description="The entry's kind, as sent")
    outcome: str = Field(description="`recorded` (`case` after it), or `refused` (`reason`)")
    case: CaseView | None
    milestone: MilestoneView | None = Field(description="The milestone a `milestone` recorded")
    reason: str | None = Field(description="The 404, 409 or 422 its single route would give")

    @classmethod
    def of(cls, o: handlers.CaseworkOutcome) -> CaseworkOutcomeView:
        return cls(
            case_id=o.entry.case_id,
            kind=o.entry.kind,
            outcome="refused" if o.refused else "recorded",
            case=CaseView.model_validate(o.case) if o.case else None,
            milestone=MilestoneView.model_validate(o.milestone) if o.milestone else None,
            reason=str(o.refused) if o.refused else None,
        )


class CaseworkView(View):
    recorded: int
    refused: int
    items: list[CaseworkOutcomeView] = Field(description="One per entry, in the list's order")


@cases.post("/casework", summary="Record a list of casework, in its order")
async def casework(
    command: handlers.Casework,
    uow: Uow,
    clock: BusinessClock,
    teams: TeamData,
    actor: SocialWorker,
    policy: ReadinessRules,
) -> CaseworkView:
    """A team's casework at once (its Fallbuch of the week), up to 1,000 entries: each
    recorded as the route of its ``kind`` records it (assign, milestone, readiness,
    move_out, move_out_completed, handover), in one transaction and the list's order; one
    that route would refuse (404, 409, 422) is refused alone with its reason, the others go
    on. 403 for the whole list, nothing written, if a case is of another Stadtbezirk than
    the social worker's own."""
    outcomes = await handlers.casework(uow, actor, command, clock.today(), policy, teams)
    refused = sum(o.refused is not None for o in outcomes)
    return CaseworkView(
        recorded=len(outcomes) - refused,
        refused=refused,
        items=[CaseworkOutcomeView.of(o) for o in outcomes],
    )


@cases.post("/cases/{case_id}/close", summary="Close a case")
async def close_case(
    case_id: uuid.UUID,
    command: handlers.CloseCase,
    uow: Uow,
    clock: BusinessClock,
    actor: SocialWorker,
) -> CaseView:
    """CaseClosed (goals reached, declined, other); 409 if closed already."""
    return CaseView.model_validate(
        await handlers.close_case(uow, actor, case_id, command, clock.today())
    )


@cases.post(
    "/cases/{case_id}/support-requests",
    status_code=http.HTTP_201_CREATED,
    summary="Ask volunteers for support (SupportRequested)",
)
async def request_support(
    case_id: uuid.UUID,
    command: handlers.RequestSupport,
    uow: Uow,
    clock: BusinessClock,
    actor: SocialWorker,
) -> SupportRequestView:
    """Language tandem, accompaniment to offices, homework help, sports, translation: the
    volunteers service learns district, language, kind, schedule and whether children
    take part; nothing about the household."""
    request = await handlers.request_support(uow, actor, case_id, command, clock.today())
    return SupportRequestView.model_validate(request)


@cases.get("/cases/{case_id}/support-requests", summary="A case's support requests")
async def list_support_requests(
    case_id: uuid.UUID, reads: Reads, actor: SocialWorker
) -> list[SupportRequestView]:
    await _readable_case(reads, actor, case_id)
    found_requests = await reads.list_support_requests(case_id)
    return [SupportRequestView.model_validate(r) for r in found_requests]


# -- personal details ----------------------------------------------------------------------

people = APIRouter(tags=["personal details"])


@people.post(
    "/cases/{case_id}/people",
    status_code=http.HTTP_201_CREATED,
    summary="Record a household member's personal details",
)
async def add_person(
    case_id: uuid.UUID,
    command: handlers.AddPerson,
    uow: Uow,
    clock: BusinessClock,
    actor: SocialWorker,
) -> PersonView:
    """Names, date of birth, contact: kept in this service's database only."""
    person = await handlers.add_person(uow, actor, case_id, command, clock.today())
    return PersonView.model_validate(person)


@people.get("/cases/{case_id}/people", summary="A case's personal details")
async def list_people(case_id: uuid.UUID, reads: Reads, actor: SocialWorker) -> list[PersonView]:
    await _readable_case(reads, actor, case_id)
    return [PersonView.model_validate(p) for p in await reads.list_people(case_id)]


@people.post(
    "/erasures",
    status_code=http.HTTP_202_ACCEPTED,
    summary="Erase personal details in every service (right to erasure)",
)
async def request_erasure(
    command: handlers.RequestErasure, uow: Uow, clock: BusinessClock, actor: Eraser
) -> ErasureView:
    """Deleted here at once; ErasureRequested makes allocation (the Land's file reference)
    and housing (its resident list) erase theirs. The case and every count stay."""
    receipt = await handlers.request_erasure(uow, actor, command, clock.today())
    return ErasureView.model_validate(receipt)


# -- teams and caseloads -------------------------------------------------------------------

teams_router = APIRouter(tags=["teams"])


@teams_router.get("/teams", summary="Integrationsmanagement teams and their staffing")
async def list_teams(teams: TeamData, actor: LoadReader) -> list[TeamView]:
    return [TeamView.model_validate(t) for t in teams]


@teams_router.get("/caseloads", summary="Caseloads per team and social worker")
async def caseloads(
    reads: Reads,
    teams: TeamData,
    limit: CaseloadLimit,
    actor: LoadReader,
    district: Annotated[District | None, Query()] = None,
) -> list[TeamLoadView]:
    """Open cases and persons per team and per social worker; ``over_limit`` warns above
    the configured persons per social worker. A social worker sees their own team."""
    own = _own_district(actor, district)
    loads = domain.caseloads(teams, await reads.open_loads(), limit)
    return [TeamLoadView.model_validate(t) for t in loads if own is None or t.district == own]


@teams_router.get(
    "/teams/{team_id}/ready-to-move-out", summary="Households of a team ready to move out"
)
async def ready_to_move_out(
    team_id: str,
    reads: Reads,
    teams: TeamData,
    actor: CaseReader,
    page: PageQuery,
) -> Page[CaseView]:
    """Open cases in municipal accommodation assessed ready for a tenancy of their own,
    with no completed move-out: the team's Auszugsmanagement list."""
    team = found(teams.by_id(team_id), f"team {team_id}")
    district = _own_district(actor, team.district)
    found_cases, total = await reads.list_cases(
        district=district,
        status=CaseStatus.OPEN,
        household_ids=None,
        social_worker=None,
        ready_to_move_out=True,
        page=page,
    )
    return Page[CaseView].of([CaseView.model_validate(c) for c in found_cases], total, page)


ROUTERS = (cases, people, teams_router)
