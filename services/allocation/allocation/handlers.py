"""Allocation's handlers: one per command and per consumed housing event; thin.

Rules live in ``domain``; each handler loads (and locks) what it changes, lets the domain
decide, saves, and hands the raised events to the unit of work, all in one transaction.
Consumed events arrive through the runtime's consumer policy, whose transaction also holds
the inbox row: a redelivered event changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any, Self

from ankommen_contracts import AgeBand, CountryCode, Envelope, Gender, SpecialNeed, UniqueList
from ankommen_contracts.events.allocation import (
    MAX_HOUSEHOLD,
    DepartureReason,
    QuotaPeriodAnnounced,
    RelocationReason,
    minor_if_unaccompanied,
)
from ankommen_contracts.events.integration import ErasureRequested, ReadinessAssessed
from ankommen_runtime import Conflict, Tx, Uow
from ankommen_runtime.clock import BusinessTime, occurred
from ankommen_runtime.commands import Command
from ankommen_runtime.consumer import EventHandler, Subscription
from ankommen_runtime.errors import Unprocessable
from ankommen_runtime.ids import new_id
from ankommen_runtime.pseudonym import land_reference_pseudonym
from ankommen_runtime.store import found
from pydantic import Field, model_validator

from .domain import (
    DEFAULT_POLICY,
    Board,
    Household,
    HouseholdStatus,
    IntakeMember,
    PlacementPolicy,
    Readiness,
    SiteStatus,
)
from .store import AllocationStore, QuotaPeriod

# Bounds per housing event, so one event never triggers unbounded work; the periodic
# waitlist sweep (and the next event that frees places) carries on where it stopped.
WAITLIST_SCAN = 200  # waitlisted (or emergency-sheltered) households looked at
MOVES_PER_EVENT = 20  # placements started from the waitlist plus relocations
RELOCATIONS_LOCKED = 20  # emergency residents locked at a time while looking for takers
OVERDUE_PER_SWEEP = 100  # unanswered requests re-sent per timeout sweep
# Each re-send of one request waits twice as long as the one before, up to 2**5 timeouts
# (32 min at the default 60 s): a housing that is hours behind gets a few copies of each
# request, not one a minute, each of which it must answer again.
RESEND_DOUBLINGS = 5
# An expected arrival further than this after the decision is a typo, not a plan: 422.
ARRIVAL_HORIZON = timedelta(days=180)

OCCURRED_AT = Field(
    default=None,
    description="When it happened in the world (business time): an ISO instant with its "
    "offset, or a date (00:00 in Hannover); default now. Not in the future.",
)


# ---------------------------------------------------------------------------------------
# Commands (request bodies)
# ---------------------------------------------------------------------------------------


class AnnounceQuotaPeriod(Command):
    """The Land announces how many people it will assign in a period (Aufnahmequote)."""

    quota_period_id: uuid.UUID | None = Field(
        default=None, description="Optional id chosen by the caller; a repeat is answered again"
    )
    starts_on: date
    ends_on: date
    expected_persons: int = Field(ge=0, le=100_000, description="Aufnahmesoll of the period")
    weekly_quota: int = Field(ge=0, le=10_000, description="Wochenkontingent")

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        if self.ends_on < self.starts_on:
            raise ValueError(f"ends_on {self.ends_on} is before starts_on {self.starts_on}")
        return self


class AssignedMember(Command):
    """One person of the household: coarse attributes only, never a name."""

    person_id: uuid.UUID | None = Field(
        default=None, description="Pseudonymous person id; a random one if not given"
    )
    age_band: AgeBand
    gender: Gender
    country_of_origin: CountryCode
    unaccompanied_minor: bool = False
    special_needs: UniqueList[SpecialNeed] = Field(
        default_factory=list, max_length=len(SpecialNeed)
    )

    @model_validator(mode="after")
    def _minor_if_unaccompanied(self) -> Self:
        # The contract's Member refuses this too; here it becomes a 422 naming the field.
        minor_if_unaccompanied(self.unaccompanied_minor, self.age_band)
        return self


class Assignment(Command):
    """One household assigned by the Land (Zuweisung); placed together."""

    land_reference: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9./_-]*$",
        description="The Land's reference of the assignment (Zuweisungsbescheid), a code; "
        "kept here, events carry only its keyed pseudonym",
    )
    quota_period_id: uuid.UUID | None = Field(
        default=None, description="Quota period the assignment counts against, if known"
    )
    members: list[AssignedMember] = Field(min_length=1, max_length=MAX_HOUSEHOLD)
    occurred_at: BusinessTime | None = Field(
        default=None,
        description="The Land's decision (Zuweisungsdatum): the assignment counts in the ISO "
        "week of this date in Hannover; default now. Not in the future.",
    )
    expected_arrival_at: BusinessTime | None = Field(
        default=None,
        description="When the household is expected (the bus on Monday): the reservation "
        "holds until then plus housing's grace period; default the decision itself",
    )

    @model_validator(mode="after")
    def _distinct_people(self) -> Self:
        ids = [m.person_id for m in self.members if m.person_id is not None]
        if len(set(ids)) != len(ids):
            raise ValueError("members: a person_id appears twice")
        return self

    def contract_members(self) -> list[IntakeMember]:
        return [
            IntakeMember(
                person_id=m.person_id or new_id(),
                age_band=m.age_band,
                gender=m.gender,
                country_of_origin=m.country_of_origin,
                unaccompanied_minor=m.unaccompanied_minor,
                special_needs=m.special_needs,
            )
            for m in self.members
        ]


class AssignmentBatch(Command):
    """The Land's weekly batch of assignments."""

    assignments: list[Assignment] = Field(min_length=1, max_length=1000)
    occurred_at: BusinessTime | None = Field(
        default=None, description="The Land's decision for every assignment that names none"
    )
    expected_arrival_at: BusinessTime | None = Field(
        default=None, description="Expected arrival for every assignment that names none"
    )

    @model_validator(mode="after")
    def _dates_of_the_batch(self) -> Self:
        """The batch's dates are its assignments' unless one says otherwise."""
        self.assignments = [
            a.model_copy(
                update={
                    "occurred_at": a.occurred_at or self.occurred_at,
                    "expected_arrival_at": a.expected_arrival_at or self.expected_arrival_at,
                }
            )
            for a in self.assignments
        ]
        return self

    @model_validator(mode="after")
    def _distinct_references(self) -> Self:
        refs = [a.land_reference for a in self.assignments]
        twice = sorted({r for r in refs if refs.count(r) > 1})
        if twice:
            raise ValueError(f"assignments: land_reference {', '.join(twice)} appears twice")
        return self


class RequestRelocation(Command):
    reason: RelocationReason
    occurred_at: BusinessTime | None = OCCURRED_AT


class RequestRelocations(Command):
    """The week's list of households to move on (Umzugsliste): one decision after another,
    in the list's order, so the first in the list is offered a place first."""

    household_ids: UniqueList[uuid.UUID] = Field(min_length=1, max_length=500)
    reason: RelocationReason
    occurred_at: BusinessTime | None = OCCURRED_AT


class RecordDeparture(Command):
    reason: DepartureReason
    occurred_at: BusinessTime | None = OCCURRED_AT


class ConfirmArrival(Command):
    """Staff close an overdue arrival's task: the household is expected (again) then."""

    expected_arrival_at: BusinessTime = Field(
        description="When the household arrives (or arrived); the new hold runs to it"
    )
    occurred_at: BusinessTime | None = OCCURRED_AT


class UnknownReference(Unprocessable):
    """A command names something unknown in a field: a 422 naming that field."""


@dataclass(frozen=True)
class RelocationOutcome:
    """What became of one household of a relocation list: moving to ``site_id``, or
    ``refused`` with the reason (the 404 or 409 the single command would have given)."""

    household_id: uuid.UUID
    site_id: uuid.UUID | None = None
    refused: str | None = None


@dataclass(frozen=True)
class Registered:
    """What became of one assignment: a new household, or the one registered before."""

    land_reference: str
    household_id: uuid.UUID
    created: bool
    status: HouseholdStatus


# ---------------------------------------------------------------------------------------
# Command handlers
# ---------------------------------------------------------------------------------------


async def announce_quota_period(
    uow: Uow[AllocationStore], command: AnnounceQuotaPeriod
) -> tuple[QuotaPeriod, bool]:
    """Record the period and raise QuotaPeriodAnnounced; a repeat with the same id and data
    changes nothing, the same id with other data is a conflict."""
    event = QuotaPeriodAnnounced(
        quota_period_id=command.quota_period_id or new_id(),
        starts_on=command.starts_on,
        ends_on=command.ends_on,
        expected_persons=command.expected_persons,
        weekly_quota=command.weekly_quota,
    )
    async with uow() as tx:
        created = await tx.store.add_quota_period(event, tx.now())
        [period] = await tx.store.list_quota_periods(event.quota_period_id)
        if created:
            tx.publish(event)
        elif (period.starts_on, period.ends_on, period.expected_persons, period.weekly_quota) != (
            event.starts_on,
            event.ends_on,
            event.expected_persons,
            event.weekly_quota,
        ):
            raise Conflict(f"quota period {event.quota_period_id} exists with other figures")
    return period, created


async def register_assignments(
    uow: Uow[AllocationStore],
    assignments: Sequence[Assignment],
    *,
    batch: bool = False,
    policy: PlacementPolicy = DEFAULT_POLICY,
) -> list[Registered]:
    """Register the Land's assignments; each new household is placed in the same transaction.

    Idempotent by ``land_reference``: a repeat returns the household registered before;
    a reference registered with other data is a conflict (and nothing of the call happens).
    """
    dates = [_assignment_dates(uow, a, i if batch else None) for i, a in enumerate(assignments)]
    by_reference = {a.land_reference: d for a, d in zip(assignments, dates, strict=True)}
    results: dict[str, Registered] = {}
    async with uow() as tx:
        known = await tx.store.assignments_by_reference([a.land_reference for a in assignments])
        new = [a for a in assignments if a.land_reference not in known]
        for a in assignments:
            if a.land_reference in known:
                results[a.land_reference] = _repeat(a, known[a.land_reference])
        wanted = {a.quota_period_id for a in new if a.quota_period_id}
        missing = wanted - await tx.store.known_quota_periods(list(wanted))
        for i, a in enumerate(assignments):
            if a.quota_period_id in missing:
                loc = ("body", "assignments", i) if batch else ("body",)
                raise UnknownReference(
                    (*loc, "quota_period_id"), f"unknown quota period {a.quota_period_id}"
                )
        board = await tx.store.load_board(policy) if new else Board(policy=policy)
        # Sorted by reference: two overlapping batches insert in the same order (no deadlock).
        for a in sorted(new, key=lambda a: a.land_reference):
            decided_at, arrival = by_reference[a.land_reference]
            household = Household.assign(
                land_reference=a.land_reference,
                land_reference_pseudonym=land_reference_pseudonym(a.land_reference),
                members=a.contract_members(),
                quota_period_id=a.quota_period_id,
                board=board,
                now=decided_at,
                expected_arrival_at=arrival,
            )
            if not await tx.store.insert_household(household, _request(a)):
                # Registered by a concurrent request a moment ago: a repeat after all.
                again = await tx.store.assignments_by_reference([a.land_reference])
                results[a.land_reference] = _repeat(a, again[a.land_reference])
                continue
            _published(tx, household, at=decided_at)
            results[a.land_reference] = Registered(
                a.land_reference, household.household_id, True, household.status
            )
    return [results[a.land_reference] for a in assignments]


def _assignment_dates(
    uow: Uow[AllocationStore], a: Assignment, index: int | None
) -> tuple[datetime, datetime | None]:
    """The decision (not in the future) and the expected arrival (not before the decision,
    at most ``ARRIVAL_HORIZON`` after it) of one assignment; 422 naming the field."""
    loc: tuple[str | int, ...] = ("body",) if index is None else ("body", "assignments", index)
    try:
        decided_at = occurred(a.occurred_at, uow.clock)
    except Unprocessable as exc:
        raise Unprocessable((*loc, "occurred_at"), str(exc)) from exc
    arrival = a.expected_arrival_at
    if arrival is not None and arrival > decided_at + ARRIVAL_HORIZON:
        raise Unprocessable(
            (*loc, "expected_arrival_at"),
            f"expected_arrival_at {arrival.isoformat()} is more than "
            f"{ARRIVAL_HORIZON.days} days after the decision ({decided_at.isoformat()})",
        )
    return decided_at, arrival


def _request(assignment: Assignment) -> dict[str, Any]:
    return assignment.model_dump(mode="json")


def _repeat(
    assignment: Assignment, known: tuple[uuid.UUID, dict[str, Any], HouseholdStatus]
) -> Registered:
    household_id, request, status = known
    if request != _request(assignment):
        raise Conflict(
            f"land_reference {assignment.land_reference} is registered already with other "
            f"data (household {household_id})"
        )
    return Registered(assignment.land_reference, household_id, False, status)


async def request_relocation(
    uow: Uow[AllocationStore],
    household_id: uuid.UUID,
    command: RequestRelocation,
    policy: PlacementPolicy = DEFAULT_POLICY,
) -> Household:
    at = occurred(command.occurred_at, uow.clock)
    async with uow() as tx:
        household = await _locked(tx, household_id)
        board = await tx.store.load_board(policy)
        household.request_relocation(command.reason, board, at)
        await _save(tx, household, at=at)
    return household


async def request_relocations(
    uow: Uow[AllocationStore],
    command: RequestRelocations,
    policy: PlacementPolicy = DEFAULT_POLICY,
) -> list[RelocationOutcome]:
    """Relocate a list of households in one transaction, each decided as
    ``request_relocation`` decides one, on one board: a place one takes is not offered to
    the next. A household that cannot move now is refused alone; the others go on."""
    at = occurred(command.occurred_at, uow.clock)
    async with uow() as tx:
        # locked in id order, so two lists (or a list and a consumer's round) that share
        # households wait for each other instead of deadlocking; in one statement
        await tx.store.prefetch_households(command.household_ids)
        households = {
            household_id: await tx.store.get_household(household_id, for_update=True)
            for household_id in sorted(command.household_ids)
        }
        board = await tx.store.load_board(policy)
        outcomes = []
        for household_id in command.household_ids:
            household = households[household_id]
            if household is None:
                outcomes.append(RelocationOutcome(household_id, refused="no such household"))
                continue
            try:
                household.request_relocation(command.reason, board, at)
            except Conflict as refused:
                outcomes.append(RelocationOutcome(household_id, refused=str(refused)))
                continue
            await _save(tx, household, at=at)
            assert household.pending is not None  # a relocation decides a site or refuses
            outcomes.append(RelocationOutcome(household_id, site_id=household.pending.site_id))
    return outcomes


async def record_departure(
    uow: Uow[AllocationStore], household_id: uuid.UUID, command: RecordDeparture
) -> Household:
    at = occurred(command.occurred_at, uow.clock)
    async with uow() as tx:
        household = await _locked(tx, household_id)
        household.depart(command.reason, at)
        await _save(tx, household, at=at)
    return household


async def confirm_arrival(
    uow: Uow[AllocationStore],
    household_id: uuid.UUID,
    command: ConfirmArrival,
    policy: PlacementPolicy = DEFAULT_POLICY,
) -> Household:
    """Close the task of an overdue arrival (rule 1): placed again, in its queue place."""
    at = occurred(command.occurred_at, uow.clock)
    if command.expected_arrival_at > at + ARRIVAL_HORIZON:
        raise Unprocessable(
            ("body", "expected_arrival_at"),
            f"expected_arrival_at is more than {ARRIVAL_HORIZON.days} days ahead",
        )
    async with uow() as tx:
        household = await _locked(tx, household_id)
        board = await tx.store.load_board(policy)
        household.confirm_arrival(command.expected_arrival_at, board, at)
        await _save(tx, household, at=at)
    return household


async def resend_overdue(
    uow: Uow[AllocationStore],
    timeout: timedelta,
    now: datetime,
    answers_read_until: datetime | None,
) -> bool:
    """Re-send the same PlacementDecided for requests unanswered longer than ``timeout``
    (doubled for each time it was re-sent already, ``RESEND_DOUBLINGS`` times at most);
    True if there may be more to re-send. The re-sent event keeps the decision's business
    time.

    The wait is technical, on the wall clock (``now``), and counted only up to
    ``answers_read_until``: the moment up to which allocation has read everything housing
    published (``ConsumerPolicy.read_until``). An answer not read yet may be waiting in
    the topic; re-sending because allocation is behind would only put more answers in
    front of it (a retry storm). Unknown (None): nothing is re-sent."""
    if answers_read_until is None:
        return False
    heard = min(now, answers_read_until)
    async with uow() as tx:
        households = await tx.store.lock_overdue(
            heard, timeout, RESEND_DOUBLINGS, OVERDUE_PER_SWEEP
        )
        for household in households:
            decided_at = household.decided_at
            household.resend(now)
            await _save(tx, household, at=decided_at)
        await tx.store.mark_sent([h.household_id for h in households])
    return len(households) == OVERDUE_PER_SWEEP


async def retry_waitlist(
    uow: Uow[AllocationStore], policy: PlacementPolicy = DEFAULT_POLICY
) -> bool:
    """Use free places that the per-event bound left over (a periodic sweep); True if the
    bound was reached again, so there may be more to place."""
    async with uow() as tx:
        return await _use_freed_places(tx, await tx.store.load_board(policy)) == MOVES_PER_EVENT


# ---------------------------------------------------------------------------------------
# Consumed housing events
# ---------------------------------------------------------------------------------------


async def on_shelter_planned(tx: Tx[AllocationStore], event: Envelope[Any]) -> None:
    await tx.store.site_planned(event.data, event.sequence)


async def on_shelter_opened(
    tx: Tx[AllocationStore], event: Envelope[Any], *, policy: PlacementPolicy = DEFAULT_POLICY
) -> None:
    await tx.store.site_opened(event.data, event.sequence)
    await _use_freed_places(tx, await tx.store.load_board(policy))


async def on_shelter_capacity_changed(
    tx: Tx[AllocationStore], event: Envelope[Any], *, policy: PlacementPolicy = DEFAULT_POLICY
) -> None:
    await tx.store.capacity_changed(event.data, event.sequence)
    await _use_freed_places(tx, await tx.store.load_board(policy))


async def on_shelter_closing(
    tx: Tx[AllocationStore], event: Envelope[Any], *, policy: PlacementPolicy = DEFAULT_POLICY
) -> None:
    site_id = event.data.site_id
    await tx.store.site_status(site_id, SiteStatus.CLOSING, event.sequence)
    if event.data.closes_on is not None:
        await tx.store.closing_date(site_id, event.data.closes_on, event.sequence)
    board, now = await tx.store.load_board(policy), tx.now()
    for household in await tx.store.lock_at_site(site_id):
        household.site_closing(site_id, board, now)
        await _save(tx, household)


async def on_shelter_closing_date_set(tx: Tx[AllocationStore], event: Envelope[Any]) -> None:
    d = event.data
    await tx.store.closing_date(d.site_id, d.closes_on, event.sequence)


async def on_shelter_closed(tx: Tx[AllocationStore], event: Envelope[Any]) -> None:
    await tx.store.site_status(event.data.site_id, SiteStatus.CLOSED, event.sequence)


async def on_bed_reserved(tx: Tx[AllocationStore], event: Envelope[Any]) -> None:
    d = event.data
    # The household's answer is worked out first and saved with the reservation's count in
    # one statement (one round trip per event, not two), only if the reservation is new:
    # housing answering a re-sent request again changes nothing.
    household = await tx.store.get_household(d.household_id, for_update=True)
    if household is not None:
        household.reservation_confirmed(d.site_id, d.reservation_id, d.expires_at, tx.now())
    changed = _changed(household)
    if await tx.store.reservation_held(d, then_save=changed) and changed is not None:
        _published(tx, changed, at=None)


async def on_reservation_rejected(
    tx: Tx[AllocationStore], event: Envelope[Any], *, policy: PlacementPolicy = DEFAULT_POLICY
) -> None:
    d = event.data
    household = await tx.store.get_household(d.household_id, for_update=True)
    if household is not None:
        board = await tx.store.load_board(policy)
        household.reservation_rejected(
            d.site_id, d.reservation_id, d.reason, d.free_places, board, tx.now()
        )
        await _save(tx, household)


async def on_reservation_released(
    tx: Tx[AllocationStore], event: Envelope[Any], *, policy: PlacementPolicy = DEFAULT_POLICY
) -> None:
    d = event.data
    await tx.store.reservation_released(d)
    household = await tx.store.get_household(d.household_id, for_update=True)
    board = await tx.store.load_board(policy)
    if household is not None:
        household.reservation_released(d.reservation_id, d.reason, board, tx.now())
        await _save(tx, household)
    await _use_freed_places(tx, board)


async def on_occupant_checked_in(tx: Tx[AllocationStore], event: Envelope[Any]) -> None:
    d = event.data
    household = await tx.store.get_household(d.household_id, for_update=True)
    if household is not None:
        # The site matters only for a direct check-in (no reservation to take it from),
        # and only where it is (read before the check-in counts its persons there).
        site = await tx.store.site_option(d.site_id) if d.reservation_id is None else None
        household.checked_in(site, d.reservation_id, event.occurred_at, tx.now())
    changed = _changed(household)
    await tx.store.occupant_checked_in(d, then_save=changed)  # one statement for both
    if changed is not None:
        _published(tx, changed, at=None)


async def on_occupant_checked_out(
    tx: Tx[AllocationStore], event: Envelope[Any], *, policy: PlacementPolicy = DEFAULT_POLICY
) -> None:
    d = event.data
    await tx.store.occupant_checked_out(d)
    household = await tx.store.get_household(d.household_id, for_update=True)
    board = await tx.store.load_board(policy)
    if household is not None:
        household.checked_out(d.site_id, d.reason, board, tx.now())
        await _save(tx, household)
    await _use_freed_places(tx, board)


def housing_handlers(policy: PlacementPolicy = DEFAULT_POLICY) -> dict[str, EventHandler]:
    """What allocation does with ``housing.events``, deciding by the city's ``policy``."""
    decide = partial  # handlers that may place someone are bound to the policy
    return {
        "ShelterPlanned": on_shelter_planned,
        "ShelterOpened": decide(on_shelter_opened, policy=policy),
        "ShelterCapacityChanged": decide(on_shelter_capacity_changed, policy=policy),
        "ShelterClosing": decide(on_shelter_closing, policy=policy),
        "ShelterClosingDateSet": on_shelter_closing_date_set,
        "ShelterClosed": on_shelter_closed,
        "BedReserved": on_bed_reserved,
        "ReservationRejected": decide(on_reservation_rejected, policy=policy),
        "ReservationReleased": decide(on_reservation_released, policy=policy),
        "OccupantCheckedIn": on_occupant_checked_in,
        "OccupantCheckedOut": decide(on_occupant_checked_out, policy=policy),
    }


async def on_erasure_requested(tx: Tx[AllocationStore], event: Envelope[Any]) -> None:
    """ErasureRequested (integration): the intake data that could identify the household
    (the Land's file reference, in its column and in the assignment as received) is
    replaced by a pseudonymous marker; members, history and every count stay."""
    data: ErasureRequested = event.data
    await tx.store.erase_intake(data.household_id)


async def on_readiness_assessed(tx: Tx[AllocationStore], event: Envelope[Any]) -> None:
    """ReadinessAssessed (integration): readiness is integration's alone; later placements
    and relocations start from its ``ready_for``. A household allocation does not know is
    left alone; the aggregate ignores a stale assessment and a departed household."""
    data: ReadinessAssessed = event.data
    household = await tx.store.get_household(data.household_id, for_update=True)
    if household is None:
        return
    assessed = Readiness(data.ready_for, data.ready_for_own_tenancy, data.assessed_on, data.reason)
    if household.readiness_assessed(assessed, event.occurred_at):
        await _save(tx, household)


def integration_handlers() -> dict[str, EventHandler]:
    """What allocation does with ``integration.events``."""
    return {
        "ErasureRequested": on_erasure_requested,
        "ReadinessAssessed": on_readiness_assessed,
    }


# The events whose handler starts from ``get_household(data.household_id, for_update=True)``.
ABOUT_A_HOUSEHOLD = frozenset(
    {
        "BedReserved",
        "ReservationRejected",
        "ReservationReleased",
        "OccupantCheckedIn",
        "OccupantCheckedOut",
        "ReadinessAssessed",
    }
)


async def lock_households_of(tx: Tx[AllocationStore], events: Sequence[Envelope[Any]]) -> None:
    """A consumed batch's prefetch: the households its events are about, locked and read
    in one statement instead of one round trip per event."""
    ids = [e.data.household_id for e in events if e.type in ABOUT_A_HOUSEHOLD]
    if ids:
        await tx.store.prefetch_households(ids)


def subscriptions(settings: Any) -> list[Subscription]:
    """What allocation consumes (the handler-map convention): housing's answers and its
    sites, deciding by the city's placement policy from the settings; integration's
    readiness assessments and erasures."""
    return [
        Subscription("housing", housing_handlers(settings.placement), lock_households_of),
        Subscription("integration", integration_handlers(), lock_households_of),
    ]


async def _use_freed_places(tx: Tx[AllocationStore], board: Board) -> int:
    """Places may have appeared on ``board`` (loaded in this transaction; a move the event
    itself started holds its places there already): the waitlist first (oldest first),
    then people waiting in Notunterkünfte for a regular place (longest stay first).
    Bounded: at most ``MOVES_PER_EVENT`` placements; the periodic ``retry_waitlist``
    carries on. Returns the placements started."""
    now, policy = tx.now(), board.policy
    if not board.has_free():
        return 0
    moves = 0
    for household in await tx.store.lock_waitlist(WAITLIST_SCAN):
        if moves == MOVES_PER_EVENT:
            return moves  # more waiting than one round may handle: no relocations before them
        if household.retry_from_waitlist(board, now):
            moves += 1
            await _save(tx, household)
    if not board.has_free(regular_only=True):
        return moves
    # Dissolution order (a domain rule): the shelter due to close first, school sports
    # halls first; vulnerable households first; then the longest stay.
    residents = await tx.store.emergency_residents(policy, WAITLIST_SCAN)
    # Locked a few at a time, and only those a free place could still take: the board
    # fills with every move, and most households have no place once the freed ones went.
    while moves < MOVES_PER_EVENT:
        fitting = [r for r in residents if r.may_find_room(board)]
        batch, residents = fitting[:RELOCATIONS_LOCKED], fitting[RELOCATIONS_LOCKED:]
        if not batch:
            break
        locked = await tx.store.lock_households([r.household_id for r in batch])
        for resident in batch:
            household = locked.get(resident.household_id)
            if household is None:
                continue  # another transaction is moving it
            if moves == MOVES_PER_EVENT:
                break
            if household.relocate_from_emergency(board, now):
                moves += 1
                await _save(tx, household)
    return moves


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


async def _locked(tx: Tx[AllocationStore], household_id: uuid.UUID) -> Household:
    household = await tx.store.get_household(household_id, for_update=True)
    return found(household, f"household {household_id}")


async def _save(
    tx: Tx[AllocationStore], household: Household, *, at: datetime | None = None
) -> None:
    if household.history:  # every transition notes itself: no note, no change
        await tx.store.save_household(household)  # with the lines of history it noted
        _published(tx, household, at=at)


def _changed(household: Household | None) -> Household | None:
    """The household if a transition noted itself (``_save``'s test), else None."""
    return household if household is not None and household.history else None


def _published(tx: Tx[AllocationStore], household: Household, *, at: datetime | None) -> None:
    """The household's events, once the store has kept it and its history; ``at`` is their
    business time (None: the work's, ``tx.now()``)."""
    tx.publish(*household.events, at=at)
    household.events.clear()
    household.history.clear()
