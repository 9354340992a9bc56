"""Integration's handlers: thin, one per command and per consumed event; rules in ``domain``.

Cases open and move from housing's events (where a household lives is housing's word) and
close on allocation's RefugeeDeparted. Event handlers run in the consumer's transaction,
beside the inbox row that makes a redelivery change nothing; the business date of what
they record is the event's ``occurred_at`` (the check-in happened then), never the wall
clock. Commands take the day from the runtime's clock (``today``).

Log lines name cases and households by their pseudonymous ids only: never a name, a
birth date or contact details (these reach the ``people`` table and nothing else).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any, Literal, Self

from ankommen_contracts import MAX_HOUSEHOLD, District, Envelope, Skill, UniqueList
from ankommen_contracts.common import LanguageCode
from ankommen_contracts.events.allocation import RefugeeDeparted
from ankommen_contracts.events.housing import (
    OccupantCheckedIn,
    OccupantCheckedOut,
    ShelterOpened,
    ShelterPlanned,
)
from ankommen_contracts.events.integration import (
    CaseCloseReason,
    DistrictStructure,
    ErasureReason,
    GermanLevel,
    Independence,
    LanguageLevel,
    Milestone,
    MoveOutTarget,
    ResidenceProspects,
    ResidenceStatus,
    TimeSlot,
    Weekday,
    milestone_details_fit,
)
from ankommen_runtime import Conflict, Tx, Uow, commands
from ankommen_runtime.auth import Actor, Role
from ankommen_runtime.consumer import EventHandler, Subscription
from ankommen_runtime.errors import DomainError, NotFound, Unprocessable
from ankommen_runtime.logging import get_logger
from ankommen_runtime.store import found
from ankommen_runtime.uow import WithStore
from pydantic import Discriminator, Field, Tag, model_validator

from .domain import (
    Case,
    ErasureReceipt,
    Invalid,
    MilestoneRecord,
    Person,
    ReadinessPolicy,
    SiteRef,
    SupportRequest,
    Teams,
    erasure,
)
from .store import CaseRecords, CasesInHand, IntegrationStore

log = get_logger(__name__)


class NotYourDistrict(DomainError):
    """A district social worker acts only on the cases of their own Stadtbezirk."""

    status_code = 403


def guard(actor: Actor, case: Case) -> None:
    if not actor.covers_district(case.district):
        raise NotYourDistrict(
            f"case {case.case_id} is counselled in Stadtbezirk {case.district}, "
            f"not in yours ({actor.district})"
        )


class Command(commands.Command):
    """Unknown fields are refused and JSON types checked (422 naming the field)."""


# -- events from housing and allocation ----------------------------------------------------


async def on_site(tx: Tx[IntegrationStore], event: Envelope[Any]) -> None:
    """ShelterPlanned / ShelterOpened: remember where the site is and which pillar."""
    data: ShelterPlanned | ShelterOpened = event.data
    await tx.store.save_site(SiteRef(data.site_id, data.district, data.pillar))


def on_checked_in(teams: Teams) -> EventHandler:
    async def checked_in(tx: Tx[IntegrationStore], event: Envelope[Any]) -> None:
        """OccupantCheckedIn: a placed household gets a case; a relocated one takes it along."""
        data: OccupantCheckedIn = event.data
        site = await tx.store.get_site(data.site_id)
        if site is None:
            # Housing publishes a site before anyone checks in there (same subject, same
            # partition): a missing site is an error worth a dead letter, not a guess.
            raise LookupError(f"site {data.site_id} is unknown to integration")
        case = await tx.store.get_open_case_of(data.household_id, for_update=True)
        team = teams.of(site.district)
        if case is None:
            case = Case.open_for(data.household_id, data.persons, site, team, event.occurred_at)
            await tx.store.add_case(case)
            log.info("case opened", case_id=str(case.case_id), district=case.district)
        elif case.moved_in(site, data.persons, team, event.occurred_at):
            await tx.store.save_case(case)
        tx.publish(*case.events)

    return checked_in


async def on_checked_out(tx: Tx[IntegrationStore], event: Envelope[Any]) -> None:
    """OccupantCheckedOut: the household no longer lives there (if it still did)."""
    data: OccupantCheckedOut = event.data
    case = await tx.store.get_open_case_of(data.household_id, for_update=True)
    if case is not None and case.left_site(data.site_id, event.occurred_at):
        await tx.store.save_case(case)


async def on_departed(tx: Tx[IntegrationStore], event: Envelope[Any]) -> None:
    """RefugeeDeparted: the household left the city's care; its case closes (moved away)."""
    data: RefugeeDeparted = event.data
    case = await tx.store.get_open_case_of(data.household_id, for_update=True)
    if case is not None and case.departed(event.occurred_at):
        await tx.store.save_case(case)
        tx.publish(*case.events)


# The events whose handler starts from ``get_open_case_of(data.household_id, for_update=True)``.
ABOUT_A_CASE = frozenset({"OccupantCheckedIn", "OccupantCheckedOut", "RefugeeDeparted"})


async def read_cases_and_sites_of(
    tx: Tx[IntegrationStore], events: Sequence[Envelope[Any]]
) -> None:
    """A consumed batch's prefetch: the open cases of the households its check-ins,
    check-outs and departures are about (locked) and the sites they check in at, in one
    round trip each instead of one per event."""
    about = [e.data for e in events if e.type in ABOUT_A_CASE]
    if about:
        await tx.store.prefetch_cases_and_sites(
            [d.household_id for d in about],
            [d.site_id for d in about if isinstance(d, OccupantCheckedIn)],
        )


def subscriptions(settings: Any) -> list[Subscription]:
    """What integration consumes (the handler-map convention)."""
    checked_in = on_checked_in(settings.load_teams())
    return [
        Subscription(
            "housing",
            {
                "ShelterPlanned": on_site,
                "ShelterOpened": on_site,
                "OccupantCheckedIn": checked_in,
                "OccupantCheckedOut": on_checked_out,
            },
            read_cases_and_sites_of,
        ),
        Subscription("allocation", {"RefugeeDeparted": on_departed}, read_cases_and_sites_of),
    ]


# -- commands ------------------------------------------------------------------------------


Rule = Callable[[Tx[CaseRecords], Case], Awaitable[Any]]
"""What a command does to its case, inside the transaction that locked it."""


async def _change(
    uow: Uow[IntegrationStore], actor: Actor, case_id: uuid.UUID, change: Rule
) -> tuple[Case, Any]:
    """Lock the case, check the caller's district, apply a rule, save and publish."""
    async with uow() as tx:
        return await _change_in(tx, actor, case_id, change)


async def _change_in(
    tx: Tx[CaseRecords], actor: Actor, case_id: uuid.UUID, change: Rule
) -> tuple[Case, Any]:
    """``_change`` within a transaction already open (one entry of a casework list)."""
    case = found(await tx.store.get_case(case_id, for_update=True), f"case {case_id}")
    guard(actor, case)
    result = await change(tx, case)
    await tx.store.save_case(case)
    tx.publish(*case.events)
    return case, result


class AssignCase(Command):
    """Who of the team counsels the household (Fallzuständigkeit)."""

    social_worker: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="The staff member's pseudonymous id (token subject); default: the caller",
    )


async def assign(
    uow: Uow[IntegrationStore], actor: Actor, case_id: uuid.UUID, command: AssignCase
) -> Case:
    return (await _change(uow, actor, case_id, _assigning(command, actor)))[0]


def _assigning(command: AssignCase, actor: Actor) -> Rule:
    async def change(tx: Tx[CaseRecords], case: Case) -> None:
        case.assign(command.social_worker or actor.subject)

    return change


class RecordMilestone(Command):
    """A milestone with its business date (the day it happened, default today)."""

    milestone: Milestone
    reached_on: date | None = Field(default=None, description="Default: today (Hannover)")
    persons: int | None = Field(
        default=None, ge=1, le=MAX_HOUSEHOLD, description="Members concerned; default: 1"
    )
    language_level: LanguageLevel | None = Field(
        default=None, description="Required for language_level: A1–C1"
    )
    residence_status: ResidenceStatus | None = Field(
        default=None, description="Required for residence_status: the new status"
    )

    @model_validator(mode="after")
    def _details_fit(self) -> Self:
        milestone_details_fit(self.milestone, self.language_level, self.residence_status)
        return self


async def record_milestone(
    uow: Uow[IntegrationStore],
    actor: Actor,
    case_id: uuid.UUID,
    command: RecordMilestone,
    today: date,
) -> MilestoneRecord:
    record = _milestone(case_id, command, today)
    await _change(uow, actor, case_id, _recording(record, today))
    return record


def _milestone(case_id: uuid.UUID, command: RecordMilestone, today: date) -> MilestoneRecord:
    return MilestoneRecord(
        milestone_id=uuid.uuid4(),
        case_id=case_id,
        milestone=command.milestone,
        reached_on=command.reached_on or today,
        persons=command.persons or 1,
        language_level=command.language_level,
        residence_status=command.residence_status,
    )


def _recording(record: MilestoneRecord, today: date) -> Rule:
    async def change(tx: Tx[CaseRecords], case: Case) -> None:
        case.record_milestone(record, await tx.store.list_milestones(record.case_id), today)
        await tx.store.add_milestone(record)

    return change


class AssessReadiness(Command):
    """The social worker's assessment; German and prospects follow the milestones unless
    given here."""

    independence: Independence
    german: GermanLevel | None = Field(default=None, description="Default: from milestones")
    residence_prospects: ResidenceProspects | None = Field(
        default=None, description="Default: from the recorded residence status"
    )
    arrived_on: date | None = Field(
        default=None,
        description="Arrival in Hannover, if before the case opened; the stay counts from it",
    )


async def assess_readiness(
    uow: Uow[IntegrationStore],
    actor: Actor,
    case_id: uuid.UUID,
    command: AssessReadiness,
    today: date,
    policy: ReadinessPolicy,
) -> Case:
    """Readiness is assessed here and nowhere else; allocation places by ReadinessAssessed."""
    return (await _change(uow, actor, case_id, _assessing(command, today, policy)))[0]


def _assessing(command: AssessReadiness, today: date, policy: ReadinessPolicy) -> Rule:
    async def change(tx: Tx[CaseRecords], case: Case) -> None:
        case.assess(
            command.independence,
            today,
            command.german,
            command.residence_prospects,
            command.arrived_on,
            policy,
        )

    return change


class PlanMoveOut(Command):
    """A move into a tenancy of the household's own: a flat from the city's programme
    (social_housing) or the free market (own_flat), or another tenancy."""

    target_kind: MoveOutTarget
    target_district: District | None = Field(
        default=None, description="Stadtbezirk moved to; null exactly for other_municipality"
    )
    planned_on: date | None = Field(default=None, description="Planned moving day, if known")

    @model_validator(mode="after")
    def _district_fits_target(self) -> Self:
        leaves = self.target_kind is MoveOutTarget.OTHER_MUNICIPALITY
        if leaves != (self.target_district is None):
            raise ValueError("target_district is required unless target_kind is other_municipality")
        return self


async def plan_move_out(
    uow: Uow[IntegrationStore], actor: Actor, case_id: uuid.UUID, command: PlanMoveOut
) -> Case:
    return (await _change(uow, actor, case_id, _planning(command)))[0]


def _planning(command: PlanMoveOut) -> Rule:
    async def change(tx: Tx[CaseRecords], case: Case) -> None:
        case.plan_move_out(command.target_kind, command.target_district, command.planned_on)

    return change


class CompleteMoveOut(Command):
    moved_on: date | None = Field(default=None, description="Moving day; default today")


async def complete_move_out(
    uow: Uow[IntegrationStore],
    actor: Actor,
    case_id: uuid.UUID,
    command: CompleteMoveOut,
    today: date,
    teams: Teams,
) -> Case:
    return (await _change(uow, actor, case_id, _completing(command, today, teams)))[0]


def _completing(command: CompleteMoveOut, today: date, teams: Teams) -> Rule:
    async def change(tx: Tx[CaseRecords], case: Case) -> None:
        case.complete_move_out(command.moved_on or today, today, teams)

    return change


class HandOver(Command):
    """Handover to a district structure, naming the receiving partner (an organisation)."""

    to_structure: DistrictStructure
    receiving_partner: str = Field(
        min_length=1, max_length=200, description="e.g. 'Stadtteilzentrum Ricklingen'"
    )
    district: District | None = Field(default=None, description="Default: the case's district")
    handed_over_on: date | None = Field(default=None, description="Default: today")


async def hand_over(
    uow: Uow[IntegrationStore], actor: Actor, case_id: uuid.UUID, command: HandOver, today: date
) -> Case:
    return (await _change(uow, actor, case_id, _handing_over(command, today)))[0]


def _handing_over(command: HandOver, today: date) -> Rule:
    async def change(tx: Tx[CaseRecords], case: Case) -> None:
        case.hand_over(
            command.to_structure,
            command.receiving_partner,
            command.district or case.district,
            command.handed_over_on or today,
        )

    return change


class CloseCase(Command):
    reason: CaseCloseReason = Field(description="goals_reached, declined or other")
    closed_on: date | None = Field(default=None, description="Default: today")


async def close_case(
    uow: Uow[IntegrationStore], actor: Actor, case_id: uuid.UUID, command: CloseCase, today: date
) -> Case:
    async def change(tx: Tx[CaseRecords], case: Case) -> None:
        case.close(command.reason, command.closed_on or today)

    return (await _change(uow, actor, case_id, change))[0]


# -- a team's casework as one list ----------------------------------------------------------

MAX_CASEWORK_ENTRIES = 1000


class AssignEntry(AssignCase):
    kind: Literal["assign"]
    case_id: uuid.UUID


class MilestoneEntry(RecordMilestone):
    kind: Literal["milestone"]
    case_id: uuid.UUID


class ReadinessEntry(AssessReadiness):
    kind: Literal["readiness"]
    case_id: uuid.UUID


class MoveOutEntry(PlanMoveOut):
    kind: Literal["move_out"]
    case_id: uuid.UUID


class MoveOutCompletedEntry(CompleteMoveOut):
    kind: Literal["move_out_completed"]
    case_id: uuid.UUID


class HandoverEntry(HandOver):
    kind: Literal["handover"]
    case_id: uuid.UUID


def _kind(entry: Any) -> Any:
    """An entry's ``kind``: which command it is (a callable discriminator, since every
    command's fields, ``kind`` too, have their JSON types checked first)."""
    return entry.get("kind") if isinstance(entry, dict) else getattr(entry, "kind", None)


CaseworkEntry = Annotated[
    Annotated[AssignEntry, Tag("assign")]
    | Annotated[MilestoneEntry, Tag("milestone")]
    | Annotated[ReadinessEntry, Tag("readiness")]
    | Annotated[MoveOutEntry, Tag("move_out")]
    | Annotated[MoveOutCompletedEntry, Tag("move_out_completed")]
    | Annotated[HandoverEntry, Tag("handover")],
    Discriminator(
        _kind,
        custom_error_type="invalid_kind",
        custom_error_message="kind must be one of: assign, milestone, readiness, move_out, "
        "move_out_completed, handover",
    ),
]


class Casework(Command):
    """A district team's casework handed in at once (its Fallbuch of the week, or what its
    case software exports): each entry is the command of the single route of its ``kind``
    (``/cases/{case_id}/assign``, ``/milestones``, ``/readiness``, ``/move-out``,
    ``/move-out/complete``, ``/handover``) for its ``case_id``, recorded in the list's
    order; several entries may be about one case (assessed, then its move-out planned)."""

    entries: list[CaseworkEntry] = Field(min_length=1, max_length=MAX_CASEWORK_ENTRIES)


@dataclass(frozen=True)
class CaseworkOutcome:
    """What became of one entry: the ``case`` after it (and the ``milestone`` recorded), or
    ``refused`` with the error its single route gives (404, 409 or 422)."""

    entry: CaseworkEntry
    case: Case | None = None
    milestone: MilestoneRecord | None = None
    refused: DomainError | None = None


async def casework(
    uow: Uow[IntegrationStore],
    actor: Actor,
    command: Casework,
    today: date,
    policy: ReadinessPolicy,
    teams: Teams,
) -> list[CaseworkOutcome]:
    """Record a list of casework in one transaction, each entry as its single route
    records it, in the list's order: an entry refused there (an unknown case, a milestone
    recorded already, a move-out of a household not assessed ready…) is refused alone and
    writes nothing, the others go on. A case of another Stadtbezirk than a social worker's
    own refuses the whole list (403, nothing written), as the single routes refuse it."""
    outcomes: list[CaseworkOutcome] = []
    async with uow() as tx:
        # the list's cases locked and read at once, each kept once at the end
        in_hand = CasesInHand(tx.store)
        await in_hand.take(
            (e.case_id for e in command.entries),
            with_milestones=(e.case_id for e in command.entries if isinstance(e, MilestoneEntry)),
        )
        listed = WithStore(tx, in_hand)
        for entry in command.entries:
            milestone = None
            match entry:
                case AssignEntry():
                    rule = _assigning(entry, actor)
                case MilestoneEntry():
                    milestone = _milestone(entry.case_id, entry, today)
                    rule = _recording(milestone, today)
                case ReadinessEntry():
                    rule = _assessing(entry, today, policy)
                case MoveOutEntry():
                    rule = _planning(entry)
                case MoveOutCompletedEntry():
                    rule = _completing(entry, today, teams)
                case HandoverEntry():
                    rule = _handing_over(entry, today)
            try:
                case, _ = await _change_in(listed, actor, entry.case_id, rule)
            except NotYourDistrict:
                raise
            except (NotFound, Conflict, Unprocessable) as refused:
                outcomes.append(CaseworkOutcome(entry, refused=refused))
                continue
            outcomes.append(CaseworkOutcome(entry, case=case, milestone=milestone))
        await in_hand.write()
    return outcomes


class Slot(Command):
    """A weekly time (Wochentag, von–bis, local time), as staff enter it."""

    weekday: Weekday
    starts_at: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["15:00"])
    ends_at: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["16:30"])

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        if self.ends_at <= self.starts_at:
            raise ValueError(f"ends_at {self.ends_at} is not after starts_at {self.starts_at}")
        return self

    def slot(self) -> TimeSlot:
        return TimeSlot(weekday=self.weekday, starts_at=self.starts_at, ends_at=self.ends_at)


class RequestSupport(Command):
    """A need volunteers can meet: what, where, in which language, when; nothing else."""

    skill: Skill = Field(description="language_tutoring (Sprachtandem), accompaniment, …")
    languages: UniqueList[LanguageCode] = Field(min_length=1, max_length=10)
    schedule: list[Slot] = Field(default_factory=list, max_length=21)
    hours_per_week: int = Field(ge=1, le=40)
    involves_children: bool = Field(description="Children take part (needs a vetted volunteer)")
    district: District | None = Field(default=None, description="Default: the case's district")

    @model_validator(mode="after")
    def _children(self) -> Self:
        if self.skill.involves_children and not self.involves_children:
            raise ValueError(f"involves_children must be true for {self.skill.value}")
        return self


async def request_support(
    uow: Uow[IntegrationStore],
    actor: Actor,
    case_id: uuid.UUID,
    command: RequestSupport,
    today: date,
) -> SupportRequest:
    request: SupportRequest | None = None

    async def change(tx: Tx[CaseRecords], case: Case) -> None:
        nonlocal request
        request = SupportRequest(
            request_id=uuid.uuid4(),
            case_id=case_id,
            skill=command.skill,
            district=command.district or case.district,
            languages=tuple(command.languages),
            involves_children=command.involves_children,
            hours_per_week=command.hours_per_week,
            schedule=tuple(s.slot() for s in command.schedule),
            requested_on=today,
        )
        case.request_support(request)
        await tx.store.add_support_request(request)

    await _change(uow, actor, case_id, change)
    assert request is not None
    return request


class AddPerson(Command):
    """A household member's personal details; they stay in this service's database."""

    person_id: uuid.UUID | None = Field(
        default=None, description="The pseudonym from the assignment, if known; else new"
    )
    given_name: str = Field(min_length=1, max_length=200)
    family_name: str = Field(min_length=1, max_length=200)
    date_of_birth: date | None = None
    phone: str | None = Field(default=None, min_length=3, max_length=40)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$", max_length=200)


async def add_person(
    uow: Uow[IntegrationStore], actor: Actor, case_id: uuid.UUID, command: AddPerson, today: date
) -> Person:
    if command.date_of_birth is not None and command.date_of_birth > today:
        raise Invalid("date_of_birth", "date_of_birth is in the future")
    async with uow() as tx:
        case = found(await tx.store.get_case(case_id, for_update=True), f"case {case_id}")
        guard(actor, case)
        if not case.is_open:
            raise Conflict(f"case {case_id} is closed")
        person = Person(
            person_id=command.person_id or uuid.uuid4(),
            case_id=case_id,
            household_id=case.household_id,
            given_name=command.given_name,
            family_name=command.family_name,
            date_of_birth=command.date_of_birth,
            phone=command.phone,
            email=command.email,
        )
        if not await tx.store.add_person(person):
            raise Conflict(f"person {person.person_id} is recorded already")
    log.info("personal details recorded", case_id=str(case_id), person_id=str(person.person_id))
    return person


class RequestErasure(Command):
    """Erase personal details everywhere (Art. 17 DSGVO): of named people or a household."""

    household_id: uuid.UUID
    person_ids: UniqueList[uuid.UUID] = Field(
        default_factory=list, max_length=MAX_HOUSEHOLD, description="Empty: the whole household"
    )


async def request_erasure(
    uow: Uow[IntegrationStore], actor: Actor, command: RequestErasure, today: date
) -> ErasureReceipt:
    """Erase here and publish ErasureRequested for allocation and housing; the case, its
    milestones and every count stay."""
    async with uow() as tx:
        case = await tx.store.get_latest_case_of(command.household_id)
        if case is not None:
            guard(actor, case)
        elif actor.district is not None and not actor.roles - {Role.SOCIAL_WORKER}:
            # A district social worker erases for the households of their own cases only.
            raise NotYourDistrict(f"household {command.household_id} has no case of yours")
        erased = await tx.store.erase_people(command.household_id, command.person_ids)
        await tx.store.mark_erased(command.household_id, today)
        event = erasure(command.household_id, command.person_ids, ErasureReason.REQUESTED, today)
        await tx.store.record_erasure(
            event.erasure_id,
            command.household_id,
            list(command.person_ids),
            event.reason.value,
            today,
            len(erased),
            actor.subject,
        )
        tx.publish(event)
    log.info(
        "personal details erased",
        erasure_id=str(event.erasure_id),
        household_id=str(command.household_id),
        people=len(erased),
    )
    return ErasureReceipt(event.erasure_id, command.household_id, len(erased))


async def erase_after_retention(
    uow: Uow[IntegrationStore], *, today: date, retention: timedelta, limit: int
) -> int:
    """Erase the personal details of cases closed longer than ``retention``; how many."""
    async with uow() as tx:
        due = await tx.store.claim_due_for_erasure(today - retention, limit)
        for case in due:
            erased = await tx.store.erase_people(case.household_id, case_id=case.case_id)
            case.details_erased_on = today
            await tx.store.save_case(case)
            if await tx.store.get_open_case_of(case.household_id) is None:
                # The household is no longer counselled: the other services let go of the
                # whole household too (no person list: everyone).
                event = erasure(case.household_id, [], ErasureReason.RETENTION, today)
                await tx.store.record_erasure(
                    event.erasure_id,
                    case.household_id,
                    erased,
                    event.reason.value,
                    today,
                    len(erased),
                    None,
                )
                tx.publish(event)
    if due:
        log.info("personal details of closed cases erased", cases=len(due))
    return len(due)
