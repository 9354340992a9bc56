"""One function per command or consumed event; thin: load, let the domain decide, save,
publish, in one unit of work. The business date comes from the caller (the runtime's
clock), never from the machine's own clock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any

from ankommen_contracts import District, Envelope, LanguageCode, Skill, UniqueList
from ankommen_contracts.events.integration import CaseClosed, SupportRequested
from ankommen_contracts.events.volunteers import MatchEndReason
from ankommen_runtime import Conflict, NotFound, Tx, Uow, commands
from ankommen_runtime.clock import local_date
from ankommen_runtime.consumer import EventHandler, Subscription
from ankommen_runtime.logging import get_logger
from ankommen_runtime.store import found
from pydantic import Field, model_validator

from .domain import (
    MAX_HOURS_PER_WEEK,
    Contact,
    HoursEntry,
    Initiative,
    InitiativeKind,
    Match,
    MatchStatus,
    Neighbourhood,
    Ranking,
    RequestSource,
    RequestStatus,
    SupportRequest,
    Volunteer,
    Weekday,
    assess,
    rank,
)
from .store import VolunteersStore

log = get_logger(__name__)


@dataclass(frozen=True)
class Rules:
    """The service's settings the rules need (from ``VolunteersSettings``)."""

    certificate_validity: timedelta
    certificate_max_age: timedelta
    request_overdue_after: timedelta


class Command(commands.Command):
    """Unknown fields are refused and JSON types checked (422 naming the field)."""


Hours = Annotated[int, Field(ge=1, le=MAX_HOURS_PER_WEEK, description="Hours per week")]


# -- volunteers -----------------------------------------------------------------------------


class RegisterVolunteer(Command):
    """A volunteer's offer (Hilfsangebot). Name and contact stay in this service."""

    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=40, pattern=r"^[0-9 +()/-]+$")
    skills: UniqueList[Skill] = Field(min_length=1)
    languages: UniqueList[LanguageCode] = Field(
        min_length=1, max_length=20, description="Best first"
    )
    districts: UniqueList[District] = Field(
        min_length=1, max_length=13, description="Stadtbezirke the volunteer can reach"
    )
    weekdays: UniqueList[Weekday] = Field(min_length=1, max_length=7)
    hours_per_week: Hours
    initiative_id: uuid.UUID | None = Field(
        default=None, description="The support circle, MSO or group they came through"
    )
    mso: bool = Field(
        default=False,
        description="Came through a migrant self-organisation; implied by an MSO initiative",
    )
    registered_on: date | None = Field(default=None, description="Default: today")


async def register_volunteer(
    uow: Uow[VolunteersStore], command: RegisterVolunteer, today: date
) -> Volunteer:
    async with uow() as tx:
        mso = command.mso
        if command.initiative_id is not None:
            initiative = await tx.store.get_initiative(command.initiative_id)
            if initiative is None:
                raise Conflict(f"initiative_id: no initiative {command.initiative_id}")
            mso = mso or initiative.mso
        volunteer = Volunteer.register(
            volunteer_id=uuid.uuid4(),
            contact=Contact(command.name, command.email, command.phone),
            skills=command.skills,
            languages=command.languages,
            districts=command.districts,
            weekdays=command.weekdays,
            hours_per_week=command.hours_per_week,
            registered_on=command.registered_on or today,
            mso=mso,
            initiative_id=command.initiative_id,
        )
        if volunteer.registered_on > today:
            raise Conflict(f"registered_on {volunteer.registered_on} is in the future")
        await tx.store.add_volunteer(volunteer)
        tx.publish(*volunteer.events)
    return volunteer


class Pause(Command):
    until: date | None = Field(default=None, description="Planned return, if known")


async def pause(uow: Uow[VolunteersStore], volunteer_id: uuid.UUID, command: Pause) -> Volunteer:
    async with uow() as tx:
        volunteer = await _locked_volunteer(tx, volunteer_id)
        volunteer.pause(command.until)
        await tx.store.save_volunteer(volunteer)
    return volunteer


async def resume(uow: Uow[VolunteersStore], volunteer_id: uuid.UUID) -> Volunteer:
    async with uow() as tx:
        volunteer = await _locked_volunteer(tx, volunteer_id)
        volunteer.resume()
        await tx.store.save_volunteer(volunteer)
    return volunteer


class Withdraw(Command):
    withdrawn_on: date | None = Field(default=None, description="Default: today")


async def withdraw(
    uow: Uow[VolunteersStore], volunteer_id: uuid.UUID, command: Withdraw, today: date
) -> Volunteer:
    """The offer is taken back; running matches end (volunteer_withdrew), their requests
    open again."""
    on = command.withdrawn_on or today
    if on > today:
        raise Conflict(f"withdrawn_on {on} is in the future")
    async with uow() as tx:
        running = await tx.store.active_matches(volunteer_id=volunteer_id)
        requests = await tx.store.lock_requests([m.request_id for m in running])
        volunteer = await _locked_volunteer(tx, volunteer_id)
        matches = await tx.store.active_matches(volunteer_id=volunteer_id, for_update=True)
        if {m.match_id for m in matches} != {m.match_id for m in running}:
            raise Conflict(f"volunteer {volunteer_id}'s matches changed meanwhile; try again")
        volunteer.withdraw(on, [])
        for match in matches:
            volunteer.end(match, MatchEndReason.VOLUNTEER_WITHDREW, on, requests[match.request_id])
        await tx.store.save_volunteer(volunteer)
        await tx.store.save_matches(matches)
        for request in requests.values():
            await tx.store.save_request(request)
        tx.publish(*volunteer.events)
    return volunteer


class Vet(Command):
    """An extended police certificate (erweitertes Führungszeugnis) was shown."""

    certificate_issued_on: date
    vetted_on: date | None = Field(default=None, description="When it was shown; default today")


async def vet(
    uow: Uow[VolunteersStore], volunteer_id: uuid.UUID, command: Vet, today: date, rules: Rules
) -> Volunteer:
    vetted_on = command.vetted_on or today
    if vetted_on > today:
        raise Conflict(f"vetted_on {vetted_on} is in the future")
    async with uow() as tx:
        volunteer = await _locked_volunteer(tx, volunteer_id)
        volunteer.vet(
            issued_on=command.certificate_issued_on,
            vetted_on=vetted_on,
            validity=rules.certificate_validity,
            max_age_at_vetting=rules.certificate_max_age,
        )
        await tx.store.save_volunteer(volunteer)
        tx.publish(*volunteer.events)
    return volunteer


class LogHours(Command):
    hours: float = Field(gt=0, le=24, multiple_of=0.25, description="In quarter hours")
    worked_on: date | None = Field(default=None, description="Default: today")
    match_id: uuid.UUID | None = Field(default=None, description="Null for general help")
    district: District | None = Field(
        default=None, description="Where the help happened; taken from the match if given"
    )

    @model_validator(mode="after")
    def _district_or_match(self) -> LogHours:
        if self.match_id is None and self.district is None:
            raise ValueError("district is required for hours that belong to no match")
        return self


async def log_hours(
    uow: Uow[VolunteersStore], volunteer_id: uuid.UUID, command: LogHours, today: date
) -> HoursEntry:
    async with uow() as tx:
        volunteer = await _locked_volunteer(tx, volunteer_id)
        match = None
        if command.match_id is not None:
            match = await tx.store.get_match(command.match_id)
        entry = _entry(volunteer, command, today, match)
        await tx.store.add_hours([entry])
        tx.publish(*volunteer.events)
    return entry


class SheetLine(LogHours):
    """One line of an hours sheet: one volunteer's hours, as ``/volunteers/{id}/hours``
    takes them."""

    volunteer_id: uuid.UUID


class HoursSheet(Command):
    """The hours the coordination office collects from the tandems (Stundenzettel), many
    volunteers' at once."""

    lines: list[SheetLine] = Field(min_length=1, max_length=1000)


@dataclass(frozen=True)
class SheetOutcome:
    volunteer_id: uuid.UUID
    entry: HoursEntry | None = None
    refused: NotFound | Conflict | None = None


async def log_hours_sheet(
    uow: Uow[VolunteersStore], sheet: HoursSheet, today: date
) -> list[SheetOutcome]:
    """Log a sheet of hours in one transaction, each line as ``log_hours`` logs one, in the
    sheet's order; a line that would be refused there (an unknown volunteer or match, a day
    outside the match or in the future) is refused alone with its reason, the others go
    on."""
    async with uow() as tx:
        # The sheet's volunteers locked in one statement, in id order (two sheets that share
        # a volunteer wait for each other), its matches read in one, its entries kept in one.
        volunteers = await tx.store.lock_volunteers(line.volunteer_id for line in sheet.lines)
        matches = await tx.store.get_matches(
            line.match_id for line in sheet.lines if line.match_id is not None
        )
        outcomes: list[SheetOutcome] = []
        entries: list[HoursEntry] = []
        for line in sheet.lines:
            try:
                volunteer = found(
                    volunteers.get(line.volunteer_id), f"volunteer {line.volunteer_id}"
                )
                match = None if line.match_id is None else matches.get(line.match_id)
                entry = _entry(volunteer, line, today, match)
            except (NotFound, Conflict) as refused:
                outcomes.append(SheetOutcome(line.volunteer_id, refused=refused))
                continue
            entries.append(entry)
            outcomes.append(SheetOutcome(line.volunteer_id, entry=entry))
        await tx.store.add_hours(entries)
        for volunteer in volunteers.values():
            tx.publish(*volunteer.events)
    return outcomes


def _entry(volunteer: Volunteer, command: LogHours, today: date, match: Match | None) -> HoursEntry:
    """One entry of ``volunteer``'s hours (``match``: the one the command names, as kept;
    None if it names one that is not kept: ``NotFound``); its event waits in
    ``volunteer.events``."""
    if command.match_id is not None:
        found(match, f"match {command.match_id}")
    return volunteer.log_hours(
        hours=command.hours,
        worked_on=command.worked_on or today,
        today=today,
        match=match,
        district=command.district or 0,
    )


async def _locked_volunteer(tx: Tx[VolunteersStore], volunteer_id: uuid.UUID) -> Volunteer:
    volunteer = await tx.store.get_volunteer(volunteer_id, for_update=True)
    return found(volunteer, f"volunteer {volunteer_id}")


# -- initiatives ----------------------------------------------------------------------------


class Links(Command):
    districts: UniqueList[District] = Field(default_factory=list, max_length=13)
    site_ids: UniqueList[uuid.UUID] = Field(
        default_factory=list, max_length=200, description="Housing's site ids (Unterkünfte)"
    )


class AddInitiative(Links):
    """A support circle (Unterstützerkreis), MSO or other group."""

    name: str = Field(min_length=1, max_length=200)
    kind: InitiativeKind


async def add_initiative(uow: Uow[VolunteersStore], command: AddInitiative) -> Initiative:
    initiative = Initiative(uuid.uuid4(), command.name, command.kind, frozenset())
    initiative.link(command.districts, command.site_ids)
    async with uow() as tx:
        await tx.store.add_initiative(initiative)
    return initiative


async def link_initiative(
    uow: Uow[VolunteersStore], initiative_id: uuid.UUID, command: Links
) -> Initiative:
    async with uow() as tx:
        initiative = found(
            await tx.store.get_initiative(initiative_id, for_update=True),
            f"initiative {initiative_id}",
        )
        initiative.link(command.districts, command.site_ids)
        await tx.store.save_initiative(initiative)
    return initiative


# -- support requests and matching ---------------------------------------------------------


class EnterRequest(Command):
    """A support request entered by a coordinator (no case or household data)."""

    request_id: uuid.UUID | None = Field(
        default=None, description="Idempotency key; a repeat with the same id is a 409"
    )
    kind: Skill
    district: District
    languages: UniqueList[LanguageCode] = Field(min_length=1, max_length=10)
    weekdays: UniqueList[Weekday] = Field(
        default_factory=list, max_length=7, description="Days the help is needed; empty: any"
    )
    hours_per_week: Hours
    involves_children: bool
    requested_on: date | None = Field(default=None, description="Default: today")

    @model_validator(mode="after")
    def _children(self) -> EnterRequest:
        if self.kind.involves_children and not self.involves_children:
            raise ValueError(f"involves_children must be true for kind {self.kind.value!r}")
        return self


async def enter_request(
    uow: Uow[VolunteersStore], command: EnterRequest, today: date
) -> SupportRequest:
    requested_on = command.requested_on or today
    if requested_on > today:
        raise Conflict(f"requested_on {requested_on} is in the future")
    request = SupportRequest(
        request_id=command.request_id or uuid.uuid4(),
        kind=command.kind,
        district=command.district,
        languages=tuple(command.languages),
        weekdays=frozenset(command.weekdays),
        hours_per_week=command.hours_per_week,
        involves_children=command.involves_children,
        requested_on=requested_on,
        source=RequestSource.COORDINATOR,
    )
    async with uow() as tx:
        if not await tx.store.add_request(request):
            raise Conflict(f"request {request.request_id} exists already")
    return request


async def propose(
    reads: VolunteersStore,
    request_id: uuid.UUID,
    neighbourhood: Neighbourhood,
    today: date,
    limit: int,
) -> tuple[SupportRequest, Ranking, int]:
    """The ranked, explained proposals for a request (read only), and how many volunteers
    qualify in all."""
    request = found(await reads.get_request(request_id), f"request {request_id}")
    reachable = neighbourhood.reachable(request.district)
    candidates, qualified = await reads.candidates(request, reachable, today, limit)
    return request, rank(request, candidates, neighbourhood, today, limit), qualified


class MakeMatch(Command):
    volunteer_id: uuid.UUID | None = Field(
        default=None, description="The volunteer chosen; default: the best proposal"
    )
    matched_on: date | None = Field(default=None, description="Default: today")


async def make_match(
    uow: Uow[VolunteersStore],
    request_id: uuid.UUID,
    command: MakeMatch,
    neighbourhood: Neighbourhood,
    today: date,
) -> Match:
    """Match a volunteer to an open request (VolunteerMatched). The rules are checked
    again on the locked rows: a stale proposal or a chosen volunteer who does not qualify
    (e.g. no valid certificate for work with children) is a 409 with the reason."""
    on = command.matched_on or today
    if on > today:
        raise Conflict(f"matched_on {on} is in the future")
    async with uow() as tx:
        request = found(
            await tx.store.get_request(request_id, for_update=True), f"request {request_id}"
        )
        if request.status is not RequestStatus.OPEN:
            raise Conflict(f"request {request_id} is {request.status.value}, not open")
        volunteer_id = command.volunteer_id
        if volunteer_id is None:
            reachable = neighbourhood.reachable(request.district)
            candidates, _ = await tx.store.candidates(request, reachable, on, limit=1)
            ranking = rank(request, candidates, neighbourhood, on, limit=1)
            if not ranking.proposals:
                raise Conflict(
                    f"no volunteer qualifies for request {request_id} (active, "
                    f"{request.kind.value}, speaking {' or '.join(request.languages)}, "
                    f"in or next to district {request.district}, "
                    f"{request.hours_per_week} free hours a week"
                    + (", a valid police certificate" if request.involves_children else "")
                    + ")"
                )
            volunteer_id = ranking.proposals[0].volunteer_id
        volunteer = await _locked_volunteer(tx, volunteer_id)
        match = volunteer.take(request, assess(volunteer, request, neighbourhood, on), on)
        await tx.store.add_match(match)
        await tx.store.save_volunteer(volunteer)
        await tx.store.save_request(request)
        tx.publish(*volunteer.events)
    return match


class EndMatch(Command):
    reason: MatchEndReason
    ended_on: date | None = Field(default=None, description="Default: today")


async def end_match(
    uow: Uow[VolunteersStore], match_id: uuid.UUID, command: EndMatch, today: date
) -> Match:
    on = command.ended_on or today
    if on > today:
        raise Conflict(f"ended_on {on} is in the future")
    async with uow() as tx:
        seen = found(await tx.store.get_match(match_id), f"match {match_id}")
        request = await tx.store.get_request(seen.request_id, for_update=True)
        volunteer = await _locked_volunteer(tx, seen.volunteer_id)
        match = await tx.store.get_match(match_id, for_update=True)
        assert match is not None
        assert request is not None
        volunteer.end(match, command.reason, on, request)
        await tx.store.save_matches([match])
        await tx.store.save_volunteer(volunteer)
        await tx.store.save_request(request)
        tx.publish(*volunteer.events)
    return match


async def withdraw_request(
    uow: Uow[VolunteersStore], request_id: uuid.UUID, today: date
) -> SupportRequest:
    """The support is no longer wanted: closed; a running match ends (request_withdrawn)."""
    async with uow() as tx:
        request = found(
            await tx.store.get_request(request_id, for_update=True), f"request {request_id}"
        )
        if request.status is RequestStatus.CLOSED:
            raise Conflict(f"request {request_id} is closed already")
        await _close_requests(tx, [request], today)
    return request


async def _close_requests(
    tx: Tx[VolunteersStore], requests: list[SupportRequest], on: date
) -> None:
    """Close locked requests, ending their running matches (request_withdrawn)."""
    by_id = {r.request_id: r for r in requests}
    running = await tx.store.active_matches(request_ids=list(by_id))
    volunteers = await tx.store.lock_volunteers([m.volunteer_id for m in running])
    matches = await tx.store.active_matches(request_ids=list(by_id), for_update=True)
    for match in matches:
        volunteer = volunteers[match.volunteer_id]
        volunteer.end(match, MatchEndReason.REQUEST_WITHDRAWN, max(on, match.matched_on))
    for request in requests:
        request.status = RequestStatus.CLOSED
        await tx.store.save_request(request)
    await tx.store.save_matches(matches)
    for volunteer in sorted(volunteers.values(), key=lambda v: v.volunteer_id):
        await tx.store.save_volunteer(volunteer)
        tx.publish(*volunteer.events)


# -- periodic checks (on the business clock) -----------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    flagged_overdue: list[uuid.UUID]
    ended_for_expired_certificate: list[uuid.UUID]


async def sweep(uow: Uow[VolunteersStore], today: date, rules: Rules, limit: int) -> SweepResult:
    """Flag requests open too long; end matches with children whose volunteer's
    certificate expired (MatchEnded certificate_expired), opening their requests again."""
    async with uow() as tx:
        flagged = await tx.store.flag_overdue(today - rules.request_overdue_after, today)
    async with uow() as tx:
        expired = await tx.store.expired_children_matches(today, limit)
    ended: list[uuid.UUID] = []
    for seen in expired:
        async with uow() as tx:
            request = await tx.store.get_request(seen.request_id, for_update=True)
            volunteer = await _locked_volunteer(tx, seen.volunteer_id)
            match = await tx.store.get_match(seen.match_id, for_update=True)
            assert match is not None
            assert request is not None
            if match.status is not MatchStatus.ACTIVE or volunteer.certified_on(today):
                continue  # ended or re-vetted meanwhile
            volunteer.end(
                match, MatchEndReason.CERTIFICATE_EXPIRED, max(today, match.matched_on), request
            )
            await tx.store.save_matches([match])
            await tx.store.save_volunteer(volunteer)
            await tx.store.save_request(request)
            tx.publish(*volunteer.events)
            ended.append(match.match_id)
    if flagged or ended:
        log.info(
            "periodic check", flagged_overdue=len(flagged), ended_for_expired_certificate=len(ended)
        )
    return SweepResult(flagged, ended)


# -- events from integration ---------------------------------------------------------------


async def on_support_requested(tx: Tx[VolunteersStore], event: Envelope[Any]) -> None:
    """SupportRequested → an open request, dated by the event's business time (no
    schedule given: any day suits). A request id seen before changes nothing (the inbox
    absorbs redeliveries; this absorbs a republished request)."""
    data: SupportRequested = event.data
    request = SupportRequest(
        request_id=data.request_id,
        kind=data.skill,
        district=data.district,
        languages=tuple(data.languages),
        hours_per_week=data.hours_per_week,
        involves_children=data.involves_children,
        requested_on=local_date(event.occurred_at),
        source=RequestSource.INTEGRATION,
        case_id=data.case_id,
    )
    if not await tx.store.add_request(request):
        log.info("support request known already", request_id=str(data.request_id))


async def on_case_closed(tx: Tx[VolunteersStore], event: Envelope[Any]) -> None:
    """CaseClosed → the case's requests are withdrawn on the day it closed, running
    matches end."""
    data: CaseClosed = event.data
    requests = await tx.store.lock_requests_of_case(data.case_id)
    if requests:
        await _close_requests(tx, requests, local_date(event.occurred_at))


INTEGRATION: dict[str, EventHandler] = {
    "SupportRequested": on_support_requested,
    "CaseClosed": on_case_closed,
}


def subscriptions(settings: object) -> list[Subscription]:
    """What volunteers consumes (the handler-map convention): integration's requests and
    closed cases; other types are ignored and counted."""
    return [Subscription("integration", INTEGRATION)]
