"""Allocation's handlers on the in-memory unit of work: what each command and each consumed
event publishes (and when, in business time), the state it leaves, and that a refused one
leaves neither. No server: ``InMemoryUnitOfWork`` with ``InMemoryAllocationStore``, whose
promises ``tests/contract/test_allocation_store_contract.py`` checks against PostgreSQL.

The placement rules themselves are tested on the aggregate (test_allocation_household.py);
here the glue: loading, saving, the board, the waitlist after places free up."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from allocation import handlers
from allocation.domain import Household, HouseholdStatus, SiteStatus
from allocation.handlers import (
    AnnounceQuotaPeriod,
    AssignedMember,
    Assignment,
    ConfirmArrival,
    RecordDeparture,
    RequestRelocation,
    RequestRelocations,
    UnknownReference,
)
from ankommen_contracts import (
    AgeBand,
    BuildingKind,
    Envelope,
    EventData,
    Gender,
    Pillar,
    Suitability,
    new_envelope,
    pseudonym,
)
from ankommen_contracts.events.allocation import (
    DepartureReason,
    PlacementCancelled,
    PlacementDecided,
    PlacementFailed,
    QuotaPeriodAnnounced,
    RefugeeAssigned,
    RefugeeDeparted,
    RelocationReason,
    RelocationRequested,
)
from ankommen_contracts.events.housing import (
    BedReserved,
    CapacityChangeReason,
    CheckOutReason,
    ClosingReason,
    OccupantCheckedIn,
    OccupantCheckedOut,
    RejectionReason,
    ReleaseReason,
    ReservationRejected,
    ReservationReleased,
    ShelterCapacityChanged,
    ShelterClosed,
    ShelterClosing,
    ShelterClosingDateSet,
    ShelterOpened,
    ShelterPlanned,
)
from ankommen_contracts.events.integration import ErasureRequested, ReadinessAssessed
from ankommen_contracts.examples import example_envelope
from ankommen_runtime import Conflict, NotFound
from ankommen_runtime.clock import CITY_TZ
from ankommen_runtime.consumer import EventHandler
from ankommen_runtime.context import message_context
from ankommen_runtime.errors import Unprocessable
from ankommen_runtime.memory import InMemoryUnitOfWork
from fakes.allocation import InMemoryAllocationStore
from pydantic import ValidationError

NOW = datetime(2016, 3, 14, 9, 30, tzinfo=UTC)  # the business clock, fixed
EARLIER = NOW - timedelta(days=3)  # a date given by a command or carried by an event
MINUTE = timedelta(minutes=1)  # the placement timeout of these tests

Uow = InMemoryUnitOfWork[InMemoryAllocationStore]


class FixedClock:
    def now(self) -> datetime:
        return NOW

    def today(self) -> date:
        return NOW.astimezone(CITY_TZ).date()


@pytest.fixture(autouse=True)
def pseudonym_key() -> Iterator[None]:
    """RefugeeAssigned carries the reference's keyed pseudonym: the process needs a key."""
    before = pseudonym._process_key
    pseudonym.set_process_key(pseudonym.LOCAL_DEVELOPMENT_KEY)
    yield
    pseudonym._process_key = before


@pytest.fixture
def uow() -> Uow:
    return InMemoryUnitOfWork(FixedClock(), store=InMemoryAllocationStore())


# ---------------------------------------------------------------------------------------
# Builders and readers
# ---------------------------------------------------------------------------------------


def adults(n: int = 2) -> list[AssignedMember]:
    genders = [Gender.FEMALE, Gender.MALE] * n
    return [
        AssignedMember(age_band=AgeBand.AGE_27_49, gender=g, country_of_origin="SYR")
        for g in genders[:n]
    ]


def assignment(reference: str, persons: int = 2, **fields: Any) -> Assignment:
    return Assignment(land_reference=reference, members=adults(persons), **fields)


def opened(
    capacity: int, *, pillar: Pillar = Pillar.WOHNHEIM, name: str = "Wohnheim Tresckowstraße"
) -> ShelterOpened:
    data: ShelterOpened = example_envelope("ShelterOpened").data
    return data.model_copy(
        update={
            "site_id": uuid.uuid4(),
            "capacity": capacity,
            "pillar": pillar,
            "name": name,
            "building": BuildingKind.PURPOSE_BUILT_HOME,
            "suitability": [Suitability.FAMILIES],
            "closes_on": None,
            "units": [],
        }
    )


async def deliver(
    uow: Uow,
    handler: EventHandler,
    data: EventData,
    *,
    sequence: int = 1,
    occurred_at: datetime = EARLIER,
) -> Envelope[Any]:
    """Hand an event to a handler as the consumer does: in its message context (business
    time: its ``occurred_at``), in one transaction."""
    envelope = new_envelope(
        data, sequence=sequence, correlation_id=uuid.uuid4(), occurred_at=occurred_at
    )
    await redeliver(uow, handler, envelope)
    return envelope


async def redeliver(uow: Uow, handler: EventHandler, envelope: Envelope[Any]) -> None:
    with message_context(envelope.event_id, envelope.correlation_id, envelope.occurred_at):
        async with uow() as tx:
            await handler(tx, envelope)


async def open_site(uow: Uow, capacity: int, **fields: Any) -> uuid.UUID:
    """A site opened by housing, folded as its event arrives (it places nobody yet)."""
    data = opened(capacity, **fields)
    await deliver(uow, handlers.on_shelter_opened, data)
    return data.site_id


def since(uow: Uow, mark: int) -> list[str]:
    return [e.type for e in uow.committed[mark:]]


def household_of(uow: Uow, household_id: uuid.UUID) -> Household:
    assert uow.store is not None
    return uow.store.households[household_id].household


async def free_at(uow: Uow, site_id: uuid.UUID) -> int:
    """Allocation's estimate of the site's free places, as the next decision sees it."""
    assert uow.store is not None
    site = await uow.store.site_option(site_id)
    assert site is not None, f"site {site_id} is known"
    return site.free


async def register(uow: Uow, reference: str, persons: int = 2, **fields: Any) -> uuid.UUID:
    [registered] = await handlers.register_assignments(
        uow, [assignment(reference, persons, **fields)]
    )
    return registered.household_id


def pending_of(uow: Uow, household_id: uuid.UUID) -> PlacementDecided:
    request = household_of(uow, household_id).pending
    assert request is not None, "a placement is in flight"
    return request


def bed_reserved(request: PlacementDecided, expires_at: datetime = NOW) -> BedReserved:
    return BedReserved(
        site_id=request.site_id,
        reservation_id=request.reservation_id,
        household_id=request.household_id,
        places=request.places,
        expires_at=expires_at + timedelta(days=2),
    )


def checked_in(request: PlacementDecided) -> OccupantCheckedIn:
    return OccupantCheckedIn(
        site_id=request.site_id,
        household_id=request.household_id,
        reservation_id=request.reservation_id,
        persons=request.places,
    )


async def housed(uow: Uow, reference: str, persons: int = 2) -> uuid.UUID:
    """A household assigned (the day before EARLIER), reserved for and checked in (at
    EARLIER) at the best open site."""
    household_id = await register(uow, reference, persons, occurred_at=EARLIER - timedelta(days=1))
    request = pending_of(uow, household_id)
    await deliver(uow, handlers.on_bed_reserved, bed_reserved(request))
    await deliver(uow, handlers.on_occupant_checked_in, checked_in(request))
    assert household_of(uow, household_id).status is HouseholdStatus.HOUSED
    return household_id


async def waitlisted(uow: Uow, reference: str, persons: int = 2) -> uuid.UUID:
    household_id = await register(uow, reference, persons)
    assert household_of(uow, household_id).status is HouseholdStatus.WAITLISTED
    return household_id


def unchanged(uow: Uow) -> tuple[InMemoryAllocationStore, int]:
    """What a refused command must leave as it was: the state and the events."""
    assert uow.store is not None
    return copy.deepcopy(uow.store), len(uow.committed)


# ---------------------------------------------------------------------------------------
# Quota periods
# ---------------------------------------------------------------------------------------


async def test_announcing_a_quota_period_records_it_and_raises_quota_period_announced(
    uow: Uow,
) -> None:
    command = AnnounceQuotaPeriod(
        starts_on=date(2016, 1, 1),
        ends_on=date(2016, 3, 31),
        expected_persons=1200,
        weekly_quota=90,
    )
    period, created = await handlers.announce_quota_period(uow, command)
    assert created
    [event] = uow.committed
    assert isinstance(event.data, QuotaPeriodAnnounced)
    assert (event.data.quota_period_id, event.data.weekly_quota) == (period.quota_period_id, 90)
    assert event.occurred_at == NOW
    assert uow.store is not None
    assert uow.store.quota_periods[period.quota_period_id].announced_at == NOW


async def test_announcing_the_same_period_again_raises_nothing(uow: Uow) -> None:
    command = AnnounceQuotaPeriod(
        quota_period_id=uuid.uuid4(),
        starts_on=date(2016, 1, 1),
        ends_on=date(2016, 3, 31),
        expected_persons=1200,
        weekly_quota=90,
    )
    first, _ = await handlers.announce_quota_period(uow, command)
    again, created = await handlers.announce_quota_period(uow, command)
    assert not created
    assert again == first
    assert len(uow.committed) == 1


async def test_announcing_a_known_period_with_other_figures_is_a_conflict_that_changes_nothing(
    uow: Uow,
) -> None:
    command = AnnounceQuotaPeriod(
        quota_period_id=uuid.uuid4(),
        starts_on=date(2016, 1, 1),
        ends_on=date(2016, 3, 31),
        expected_persons=1200,
        weekly_quota=90,
    )
    await handlers.announce_quota_period(uow, command)
    before = unchanged(uow)
    with pytest.raises(Conflict, match="other figures"):
        await handlers.announce_quota_period(uow, command.model_copy(update={"weekly_quota": 100}))
    assert unchanged(uow) == before


# ---------------------------------------------------------------------------------------
# Assignments
# ---------------------------------------------------------------------------------------


async def test_an_assignment_registers_the_household_and_decides_its_place_at_the_lands_date(
    uow: Uow,
) -> None:
    site = await open_site(uow, 10)
    mark = len(uow.committed)
    [registered] = await handlers.register_assignments(
        uow, [assignment("NI-2016-0001", 2, occurred_at=EARLIER)]
    )
    assert (registered.created, registered.status) == (True, HouseholdStatus.PLACING)
    assert since(uow, mark) == ["RefugeeAssigned", "PlacementDecided"]
    assigned, decided = (e.data for e in uow.committed[mark:])
    assert isinstance(assigned, RefugeeAssigned)
    assert "NI-2016-0001" not in assigned.model_dump_json()  # only its pseudonym travels
    assert isinstance(decided, PlacementDecided)
    assert (decided.household_id, decided.site_id, decided.places) == (
        registered.household_id,
        site,
        2,
    )
    assert {e.occurred_at for e in uow.committed[mark:]} == {EARLIER}
    household = household_of(uow, registered.household_id)
    assert (household.assigned_at, household.pending) == (EARLIER, decided)
    assert uow.store is not None
    assert [h.kind for h in uow.store.history[registered.household_id]] == ["assigned", "decided"]
    assert await free_at(uow, site) == 8  # the unanswered request holds its places


async def test_a_repeated_assignment_returns_the_household_registered_before_and_raises_nothing(
    uow: Uow,
) -> None:
    await open_site(uow, 10)
    command = assignment("NI-2016-0002", 2, occurred_at=EARLIER)
    [first] = await handlers.register_assignments(uow, [command])
    before = unchanged(uow)
    [again] = await handlers.register_assignments(uow, [command])
    assert (again.household_id, again.created, again.status) == (
        first.household_id,
        False,
        HouseholdStatus.PLACING,
    )
    assert unchanged(uow) == before


async def test_a_reference_known_with_other_data_is_a_conflict_and_nothing_of_the_batch_happens(
    uow: Uow,
) -> None:
    await open_site(uow, 10)
    await register(uow, "NI-2016-0003", 2)
    before = unchanged(uow)
    with pytest.raises(Conflict, match="NI-2016-0003 is registered already with other data"):
        await handlers.register_assignments(
            uow,
            [assignment("NI-2016-0004", 2), assignment("NI-2016-0003", 3)],
            batch=True,
        )
    assert unchanged(uow) == before


async def test_an_unknown_quota_period_is_refused_naming_the_assignments_field(uow: Uow) -> None:
    before = unchanged(uow)
    with pytest.raises(UnknownReference) as refused:
        await handlers.register_assignments(
            uow,
            [assignment("NI-2016-0005"), assignment("NI-2016-0006", quota_period_id=uuid.uuid4())],
            batch=True,
        )
    assert refused.value.loc == ("body", "assignments", 1, "quota_period_id")
    assert unchanged(uow) == before


async def test_an_assignment_dated_in_the_future_is_refused_naming_its_field(uow: Uow) -> None:
    before = unchanged(uow)
    with pytest.raises(Unprocessable) as refused:
        await handlers.register_assignments(
            uow, [assignment("NI-2016-0007", occurred_at=NOW + timedelta(days=1))]
        )
    assert refused.value.loc == ("body", "occurred_at")
    assert unchanged(uow) == before


async def test_a_batch_places_each_household_on_the_places_the_ones_before_left(
    uow: Uow,
) -> None:
    site = await open_site(uow, 4)
    mark = len(uow.committed)
    results = await handlers.register_assignments(
        uow,
        [assignment("NI-A", 2), assignment("NI-B", 2), assignment("NI-C", 2)],
        batch=True,
    )
    assert [r.status for r in results] == [
        HouseholdStatus.PLACING,
        HouseholdStatus.PLACING,
        HouseholdStatus.WAITLISTED,
    ]
    failed = [e.data for e in uow.committed[mark:] if isinstance(e.data, PlacementFailed)]
    assert [f.household_id for f in failed] == [results[2].household_id]
    assert await free_at(uow, site) == 0
    assert household_of(uow, results[2].household_id).waitlisted_since == NOW


# ---------------------------------------------------------------------------------------
# Staff commands on a household
# ---------------------------------------------------------------------------------------


async def test_a_command_on_an_unknown_household_is_not_found(uow: Uow) -> None:
    with pytest.raises(NotFound, match="household"):
        await handlers.record_departure(
            uow, uuid.uuid4(), RecordDeparture(reason=DepartureReason.MOVED_AWAY)
        )
    assert uow.committed == []


async def test_a_relocation_decides_another_site_at_the_commands_date(uow: Uow) -> None:
    first = await open_site(uow, 2)
    household_id = await housed(uow, "NI-M1")
    other = await open_site(uow, 10, name="Wohnheim Alte Bult")
    mark = len(uow.committed)
    at = NOW - timedelta(hours=1)
    household = await handlers.request_relocation(
        uow,
        household_id,
        RequestRelocation(reason=RelocationReason.HOUSEHOLD_REQUEST, occurred_at=at),
    )
    assert since(uow, mark) == ["RelocationRequested", "PlacementDecided"]
    requested, decided = (e.data for e in uow.committed[mark:])
    assert isinstance(requested, RelocationRequested)
    assert requested.from_site_id == first
    assert isinstance(decided, PlacementDecided)
    assert decided.site_id == other
    assert {e.occurred_at for e in uow.committed[mark:]} == {at}
    kept = household_of(uow, household_id)
    assert (kept.status, kept.home.site_id, kept.pending) == (
        HouseholdStatus.HOUSED,
        first,
        decided,
    )
    assert household.pending == decided


async def test_a_relocation_with_no_other_site_is_a_conflict_that_changes_nothing(
    uow: Uow,
) -> None:
    await open_site(uow, 2)
    household_id = await housed(uow, "NI-M2")
    before = unchanged(uow)
    with pytest.raises(Conflict, match="no other site fits"):
        await handlers.request_relocation(
            uow, household_id, RequestRelocation(reason=RelocationReason.HOUSEHOLD_REQUEST)
        )
    assert unchanged(uow) == before


async def test_a_relocation_list_decides_in_its_order_and_the_next_sees_the_place_taken(
    uow: Uow,
) -> None:
    await open_site(uow, 4)
    first, second = await housed(uow, "NI-L1"), await housed(uow, "NI-L2")
    other = await open_site(uow, 2, name="Wohnheim Alte Bult")  # room for one of them
    mark = len(uow.committed)
    outcomes = await handlers.request_relocations(
        uow,
        RequestRelocations(
            household_ids=[second, first], reason=RelocationReason.HOUSEHOLD_REQUEST
        ),
    )
    assert [(o.household_id, o.site_id) for o in outcomes] == [(second, other), (first, None)]
    assert outcomes[0].refused is None
    assert outcomes[1].refused is not None
    assert "no other site fits" in outcomes[1].refused
    assert since(uow, mark) == ["RelocationRequested", "PlacementDecided"]
    assert household_of(uow, second).pending == pending_of(uow, second)
    assert household_of(uow, first).pending is None, "the refused one stays where it is"
    assert await free_at(uow, other) == 0


async def test_a_relocation_list_refuses_an_unknown_or_unhoused_household_alone(
    uow: Uow,
) -> None:
    await open_site(uow, 2)
    staying = await housed(uow, "NI-L3")
    unknown = uuid.uuid4()
    other = await open_site(uow, 10, name="Wohnheim Alte Bult")
    waiting = await register(uow, "NI-L4")  # placed, not yet housed
    outcomes = await handlers.request_relocations(
        uow,
        RequestRelocations(
            household_ids=[unknown, waiting, staying], reason=RelocationReason.HOUSEHOLD_REQUEST
        ),
    )
    refused = {o.household_id: o.refused for o in outcomes}
    assert refused[unknown] == "no such household"
    assert refused[waiting] is not None
    assert "only a housed household" in refused[waiting]
    assert refused[staying] is None
    assert outcomes[2].site_id == other


def test_a_relocation_list_names_each_household_once_and_at_most_500() -> None:
    household = uuid.uuid4()
    reason = RelocationReason.HOUSEHOLD_REQUEST
    with pytest.raises(ValidationError, match="duplicate"):
        RequestRelocations(household_ids=[household, household], reason=reason)
    with pytest.raises(ValidationError, match="at least 1"):
        RequestRelocations(household_ids=[], reason=reason)
    with pytest.raises(ValidationError, match="at most 500"):
        RequestRelocations(household_ids=[uuid.uuid4() for _ in range(501)], reason=reason)


async def test_a_departure_cancels_the_placement_in_flight_and_a_second_one_is_a_conflict(
    uow: Uow,
) -> None:
    site = await open_site(uow, 10)
    household_id = await register(uow, "NI-D1", 2)
    request = pending_of(uow, household_id)
    mark = len(uow.committed)
    await handlers.record_departure(
        uow, household_id, RecordDeparture(reason=DepartureReason.MOVED_AWAY, occurred_at=NOW)
    )
    assert since(uow, mark) == ["PlacementCancelled", "RefugeeDeparted"]
    cancelled, departed = (e.data for e in uow.committed[mark:])
    assert isinstance(cancelled, PlacementCancelled)
    assert (cancelled.site_id, cancelled.reservation_id) == (site, request.reservation_id)
    assert isinstance(departed, RefugeeDeparted)
    assert departed.persons == 2
    assert household_of(uow, household_id).status is HouseholdStatus.DEPARTED
    assert await free_at(uow, site) == 10  # no request in flight holds places any more
    before = unchanged(uow)
    with pytest.raises(Conflict, match="departed already"):
        await handlers.record_departure(
            uow, household_id, RecordDeparture(reason=DepartureReason.MOVED_AWAY)
        )
    assert unchanged(uow) == before


async def test_an_expired_hold_makes_the_arrival_overdue_and_a_confirmation_places_it_again(
    uow: Uow,
) -> None:
    site = await open_site(uow, 10)
    household_id = await register(uow, "NI-O1", 2)
    request = pending_of(uow, household_id)
    await deliver(uow, handlers.on_bed_reserved, bed_reserved(request))
    expired = ReservationReleased(
        site_id=site,
        reservation_id=request.reservation_id,
        household_id=household_id,
        places=2,
        reason=ReleaseReason.EXPIRED,
    )
    mark = len(uow.committed)
    await deliver(uow, handlers.on_reservation_released, expired)
    assert since(uow, mark) == []  # a task for staff, never a placement by itself
    assert household_of(uow, household_id).status is HouseholdStatus.ARRIVAL_OVERDUE
    assert await free_at(uow, site) == 10
    arrives = NOW + timedelta(days=2)
    await handlers.confirm_arrival(
        uow, household_id, ConfirmArrival(expected_arrival_at=arrives, occurred_at=NOW)
    )
    assert since(uow, mark) == ["PlacementDecided"]
    decided = uow.committed[-1].data
    assert isinstance(decided, PlacementDecided)
    assert (decided.site_id, decided.expected_arrival_at, decided.attempt) == (site, arrives, 2)
    assert uow.committed[-1].occurred_at == NOW
    assert household_of(uow, household_id).status is HouseholdStatus.PLACING


async def test_confirming_the_arrival_of_a_household_not_overdue_is_a_conflict(uow: Uow) -> None:
    await open_site(uow, 10)
    household_id = await register(uow, "NI-O2", 2)
    before = unchanged(uow)
    with pytest.raises(Conflict, match="only an overdue arrival"):
        await handlers.confirm_arrival(uow, household_id, ConfirmArrival(expected_arrival_at=NOW))
    assert unchanged(uow) == before


async def test_an_arrival_beyond_the_horizon_is_refused_naming_the_field(uow: Uow) -> None:
    with pytest.raises(Unprocessable) as refused:
        await handlers.confirm_arrival(
            uow,
            uuid.uuid4(),
            ConfirmArrival(expected_arrival_at=NOW + handlers.ARRIVAL_HORIZON + timedelta(days=1)),
        )
    assert refused.value.loc == ("body", "expected_arrival_at")
    assert uow.committed == []


# ---------------------------------------------------------------------------------------
# Sweeps
# ---------------------------------------------------------------------------------------


async def test_an_unanswered_request_is_sent_again_unchanged_at_the_decisions_time(
    uow: Uow,
) -> None:
    await open_site(uow, 10)
    unanswered = await register(uow, "NI-T1", 2, occurred_at=EARLIER)
    answered = await register(uow, "NI-T2", 2)
    await deliver(uow, handlers.on_bed_reserved, bed_reserved(pending_of(uow, answered)))
    request = pending_of(uow, unanswered)
    mark = len(uow.committed)
    # The timeout is technical: wall time, whatever the business clock says.
    wall = datetime.now(UTC) + timedelta(minutes=2)
    more = await handlers.resend_overdue(uow, MINUTE, wall, answers_read_until=wall)
    assert not more
    [resent] = uow.committed[mark:]
    assert resent.data == request  # the same request: the same reservation_id
    assert resent.occurred_at == EARLIER
    assert uow.store is not None
    assert uow.store.history[unanswered][-1].kind == "resent"
    # Sent again just now: not overdue again before the timeout has passed twice over.
    later = datetime.now(UTC) + timedelta(seconds=90)
    await handlers.resend_overdue(uow, MINUTE, later, answers_read_until=later)
    assert len(uow.committed) == mark + 1
    latest = datetime.now(UTC) + timedelta(seconds=121)
    await handlers.resend_overdue(uow, MINUTE, latest, answers_read_until=latest)
    assert len(uow.committed) == mark + 2, "re-sent a second time after two timeouts"


async def test_a_request_is_not_sent_again_while_housings_answers_are_unread(uow: Uow) -> None:
    """A reply may be waiting unread in housing's topic: the wait counts only up to the
    moment allocation has read everything housing published (no retry storm)."""
    await open_site(uow, 10)
    await register(uow, "NI-T3", 2)
    mark = len(uow.committed)
    sent = datetime.now(UTC)
    wall = sent + timedelta(hours=1)
    behind = sent + timedelta(seconds=30)  # read only up to 30 s after it went out
    assert not await handlers.resend_overdue(uow, MINUTE, wall, answers_read_until=behind)
    assert not await handlers.resend_overdue(uow, MINUTE, wall, answers_read_until=None)
    assert len(uow.committed) == mark, "nothing re-sent while the answer may be unread"
    caught_up = sent + timedelta(seconds=61)
    await handlers.resend_overdue(uow, MINUTE, wall, answers_read_until=caught_up)
    assert [e.type for e in uow.committed[mark:]] == ["PlacementDecided"]
    # Read further than the wall clock (a fetch's moment a little ahead): the clock rules.
    mark = len(uow.committed)
    early = datetime.now(UTC)
    await handlers.resend_overdue(uow, MINUTE, early, answers_read_until=wall)
    assert len(uow.committed) == mark


async def test_the_waitlist_sweep_places_waitlisted_households_when_places_appear(
    uow: Uow,
) -> None:
    household_id = await waitlisted(uow, "NI-W1")
    assert uow.store is not None
    site = opened(10)
    await uow.store.site_opened(site, 1)  # folded without a handler: nobody placed yet
    mark = len(uow.committed)
    assert not await handlers.retry_waitlist(uow)
    assert since(uow, mark) == ["PlacementDecided"]
    decided = uow.committed[-1].data
    assert isinstance(decided, PlacementDecided)
    assert (decided.household_id, decided.site_id) == (household_id, site.site_id)
    assert decided.reason.startswith("from the waitlist")
    assert uow.committed[-1].occurred_at == NOW
    assert not await handlers.retry_waitlist(uow)  # nothing left to place
    assert len(uow.committed) == mark + 1


# ---------------------------------------------------------------------------------------
# Housing's events
# ---------------------------------------------------------------------------------------


async def test_a_planned_shelter_is_folded_and_places_nobody(uow: Uow) -> None:
    await waitlisted(uow, "NI-P1")
    data: ShelterPlanned = example_envelope("ShelterPlanned").data
    mark = len(uow.committed)
    await deliver(uow, handlers.on_shelter_planned, data)
    assert since(uow, mark) == []
    assert uow.store is not None
    assert uow.store.sites[data.site_id].status is SiteStatus.PLANNED


async def test_an_opened_shelter_places_the_waitlist_oldest_first_at_the_events_time(
    uow: Uow,
) -> None:
    newer = await waitlisted(uow, "NI-W3")  # waiting since NOW
    older = await register(uow, "NI-W2", 2, occurred_at=EARLIER)  # waiting since EARLIER
    assert household_of(uow, older).waitlisted_since == EARLIER
    site = opened(2)
    mark = len(uow.committed)
    envelope = await deliver(uow, handlers.on_shelter_opened, site, occurred_at=NOW)
    assert since(uow, mark) == ["PlacementDecided"]
    assert uow.committed[-1].data.household_id == older
    assert uow.committed[-1].occurred_at == NOW
    assert household_of(uow, newer).status is HouseholdStatus.WAITLISTED
    # Redelivered: the site is folded already and its places are taken: nothing more.
    before = unchanged(uow)
    await redeliver(uow, handlers.on_shelter_opened, envelope)
    assert unchanged(uow) == before


async def test_more_capacity_places_the_waitlist_and_a_stale_change_is_ignored(
    uow: Uow,
) -> None:
    site = await open_site(uow, 2)
    await register(uow, "NI-K1", 2)
    waiting = await waitlisted(uow, "NI-K2")
    grown = ShelterCapacityChanged(
        site_id=site, capacity=4, blocked_places=0, reason=CapacityChangeReason.EXPANDED
    )
    mark = len(uow.committed)
    await deliver(uow, handlers.on_shelter_capacity_changed, grown, sequence=2)
    assert since(uow, mark) == ["PlacementDecided"]
    assert uow.committed[-1].data.household_id == waiting
    stale = grown.model_copy(update={"capacity": 100})
    before = unchanged(uow)
    await deliver(uow, handlers.on_shelter_capacity_changed, stale, sequence=2)
    assert unchanged(uow) == before


async def test_a_wohnheim_opening_empties_a_notunterkunft_and_its_closing_makes_the_move_a_must(
    uow: Uow,
) -> None:
    gym = await open_site(uow, 2, pillar=Pillar.NOTUNTERKUNFT, name="Turnhalle")
    household_id = await housed(uow, "NI-C1")
    mark = len(uow.committed)
    regular = await open_site(uow, 10)
    assert since(uow, mark) == ["RelocationRequested", "PlacementDecided"]
    assert pending_of(uow, household_id).site_id == regular
    mark = len(uow.committed)
    event = ShelterClosing(site_id=gym, reason=ClosingReason.EMERGENCY_DISSOLUTION, closes_on=None)
    await deliver(uow, handlers.on_shelter_closing, event, sequence=5)
    kept = household_of(uow, household_id)
    assert kept.relocation_reason is RelocationReason.SITE_CLOSING  # the move is a must now
    assert since(uow, mark) == []
    assert uow.store is not None
    assert uow.store.sites[gym].status is SiteStatus.CLOSING


async def test_freed_places_go_to_the_emergency_residents_they_have_room_for_twenty_at_most(
    uow: Uow,
) -> None:
    await open_site(uow, 60, pillar=Pillar.NOTUNTERKUNFT, name="Messehalle 27")
    family = await housed(uow, "NI-F1", persons=3)
    singles = [await housed(uow, f"NI-S{i}", persons=1) for i in range(24)]
    # All checked in together, none vulnerable: the dissolution order is by id.
    in_line = sorted([family, *singles])
    mark = len(uow.committed)
    await open_site(uow, 2)  # a Wohnheim with two places: no room for the family
    first = [e.data.household_id for e in uow.committed[mark:] if e.type == "PlacementDecided"]
    assert first == [h for h in in_line if h != family][:2]
    assert household_of(uow, family).pending is None
    mark = len(uow.committed)
    await open_site(uow, 30, name="Wohnheim Alte Bult")  # room for all: 20 per event
    then = [e.data.household_id for e in uow.committed[mark:] if e.type == "PlacementDecided"]
    assert then == [h for h in in_line if h not in first][:20]


async def test_a_closing_shelter_asks_its_residents_to_move_elsewhere(uow: Uow) -> None:
    first = await open_site(uow, 2)
    household_id = await housed(uow, "NI-C2")
    other = await open_site(uow, 10, name="Wohnheim Alte Bult")
    mark = len(uow.committed)
    event = ShelterClosing(
        site_id=first, reason=ClosingReason.LEASE_ENDED, closes_on=date(2016, 6, 30)
    )
    await deliver(uow, handlers.on_shelter_closing, event, sequence=5)
    assert since(uow, mark) == ["RelocationRequested", "PlacementDecided"]
    requested, decided = (e.data for e in uow.committed[mark:])
    assert isinstance(requested, RelocationRequested)
    assert (requested.from_site_id, requested.reason) == (first, RelocationReason.SITE_CLOSING)
    assert isinstance(decided, PlacementDecided)
    assert decided.site_id == other
    assert {e.occurred_at for e in uow.committed[mark:]} == {EARLIER}
    assert uow.store is not None
    site = uow.store.sites[first]
    assert (site.status, site.closes_on) == (SiteStatus.CLOSING, date(2016, 6, 30))
    assert [s.site_id for s in (await uow.store.load_board()).sites()] == [other]
    assert household_of(uow, household_id).status is HouseholdStatus.HOUSED


async def test_a_closing_date_is_folded_and_a_closed_shelter_stays_closed(uow: Uow) -> None:
    site = await open_site(uow, 10)
    await deliver(
        uow,
        handlers.on_shelter_closing_date_set,
        ShelterClosingDateSet(site_id=site, closes_on=date(2016, 9, 30)),
        sequence=2,
    )
    assert uow.store is not None
    assert uow.store.sites[site].closes_on == date(2016, 9, 30)
    await deliver(uow, handlers.on_shelter_closed, ShelterClosed(site_id=site), sequence=3)
    assert uow.store.sites[site].status is SiteStatus.CLOSED
    before = unchanged(uow)
    await deliver(
        uow, handlers.on_shelter_opened, opened(10).model_copy(update={"site_id": site})
    )  # an older event, late: changes nothing
    assert unchanged(uow) == before
    assert uow.committed == []


async def test_a_bed_reserved_holds_the_placement_and_a_repeat_changes_nothing(
    uow: Uow,
) -> None:
    site = await open_site(uow, 10)
    household_id = await register(uow, "NI-B1", 2)
    reserved = bed_reserved(pending_of(uow, household_id))
    mark = len(uow.committed)
    envelope = await deliver(uow, handlers.on_bed_reserved, reserved)
    kept = household_of(uow, household_id)
    assert (kept.status, kept.reserved_until) == (HouseholdStatus.RESERVED, reserved.expires_at)
    assert since(uow, mark) == []
    assert await free_at(uow, site) == 8  # reserved now instead of requested
    before = unchanged(uow)
    await redeliver(uow, handlers.on_bed_reserved, envelope)
    await deliver(uow, handlers.on_bed_reserved, reserved)  # housing answered a resend again
    assert unchanged(uow) == before


async def test_a_reservation_nobody_waits_for_is_handed_back(uow: Uow) -> None:
    site = await open_site(uow, 10)
    household_id = await housed(uow, "NI-B2")
    stray = BedReserved(
        site_id=site,
        reservation_id=uuid.uuid4(),
        household_id=household_id,
        places=2,
        expires_at=NOW,
    )
    mark = len(uow.committed)
    await deliver(uow, handlers.on_bed_reserved, stray)
    assert since(uow, mark) == ["PlacementCancelled"]
    cancelled = uow.committed[-1].data
    assert isinstance(cancelled, PlacementCancelled)
    assert cancelled.reservation_id == stray.reservation_id
    assert uow.committed[-1].occurred_at == EARLIER


async def test_a_rejected_reservation_tries_the_next_site(uow: Uow) -> None:
    await open_site(uow, 10, name="Wohnheim A")
    await open_site(uow, 10, name="Wohnheim B")
    household_id = await register(uow, "NI-J1", 2)
    first = pending_of(uow, household_id)
    rejected = ReservationRejected(
        site_id=first.site_id,
        reservation_id=first.reservation_id,
        household_id=household_id,
        places=2,
        reason=RejectionReason.NO_FREE_PLACES,
        free_places=0,
    )
    mark = len(uow.committed)
    await deliver(uow, handlers.on_reservation_rejected, rejected)
    assert since(uow, mark) == ["PlacementDecided"]
    second = uow.committed[-1].data
    assert isinstance(second, PlacementDecided)
    assert second.site_id != first.site_id
    assert second.attempt == 2
    before = unchanged(uow)
    await deliver(uow, handlers.on_reservation_rejected, rejected)  # no longer awaited
    await deliver(
        uow,
        handlers.on_reservation_rejected,
        rejected.model_copy(update={"household_id": uuid.uuid4()}),
    )
    assert unchanged(uow) == before


async def test_a_released_reservation_frees_its_places_for_the_waitlist(uow: Uow) -> None:
    site = await open_site(uow, 2)
    holder = await register(uow, "NI-L1", 2)
    request = pending_of(uow, holder)
    await deliver(uow, handlers.on_bed_reserved, bed_reserved(request))
    waiting = await waitlisted(uow, "NI-L2")
    await handlers.record_departure(uow, holder, RecordDeparture(reason=DepartureReason.MOVED_AWAY))
    released = ReservationReleased(
        site_id=site,
        reservation_id=request.reservation_id,
        household_id=holder,
        places=2,
        reason=ReleaseReason.CANCELLED,
    )
    mark = len(uow.committed)
    await deliver(uow, handlers.on_reservation_released, released)
    assert since(uow, mark) == ["PlacementDecided"]
    assert uow.committed[-1].data.household_id == waiting
    assert household_of(uow, holder).status is HouseholdStatus.DEPARTED


async def test_a_check_in_houses_the_household_and_a_repeat_changes_nothing(uow: Uow) -> None:
    site = await open_site(uow, 10)
    household_id = await register(uow, "NI-I1", 2)
    request = pending_of(uow, household_id)
    await deliver(uow, handlers.on_bed_reserved, bed_reserved(request))
    arrival = await deliver(uow, handlers.on_occupant_checked_in, checked_in(request))
    kept = household_of(uow, household_id)
    assert (kept.status, kept.home.site_id, kept.home.checked_in_at, kept.pending) == (
        HouseholdStatus.HOUSED,
        site,
        arrival.occurred_at,
        None,
    )
    assert await free_at(uow, site) == 8  # occupied now instead of reserved
    before = unchanged(uow)
    await redeliver(uow, handlers.on_occupant_checked_in, arrival)
    assert unchanged(uow) == before


async def test_staff_house_a_waitlisted_household_directly(uow: Uow) -> None:
    household_id = await waitlisted(uow, "NI-I2")
    assert uow.store is not None
    site = opened(2)
    await uow.store.site_opened(site, 1)
    direct = OccupantCheckedIn(
        site_id=site.site_id, household_id=household_id, reservation_id=None, persons=2
    )
    await deliver(uow, handlers.on_occupant_checked_in, direct)
    kept = household_of(uow, household_id)
    assert (kept.status, kept.home.site_id, kept.home.pillar) == (
        HouseholdStatus.HOUSED,
        site.site_id,
        Pillar.WOHNHEIM,
    )
    assert await free_at(uow, site.site_id) == 0


async def test_a_check_out_to_an_own_flat_frees_the_places_for_the_waitlist(uow: Uow) -> None:
    site = await open_site(uow, 2)
    leaving = await housed(uow, "NI-X1")
    waiting = await waitlisted(uow, "NI-X2")
    out = OccupantCheckedOut(
        site_id=site, household_id=leaving, persons=2, reason=CheckOutReason.MOVED_OUT
    )
    mark = len(uow.committed)
    await deliver(uow, handlers.on_occupant_checked_out, out)
    assert household_of(uow, leaving).status is HouseholdStatus.MOVED_OUT
    assert since(uow, mark) == ["PlacementDecided"]
    assert uow.committed[-1].data.household_id == waiting
    before = unchanged(uow)
    await deliver(uow, handlers.on_occupant_checked_out, out)  # already gone: nothing
    assert unchanged(uow) == before


# ---------------------------------------------------------------------------------------
# Integration's events
# ---------------------------------------------------------------------------------------


async def test_an_erasure_replaces_the_land_reference_and_a_repeat_changes_nothing(
    uow: Uow,
) -> None:
    household_id = await waitlisted(uow, "NI-E1")
    erasure: ErasureRequested = example_envelope("ErasureRequested").data
    erasure = erasure.model_copy(update={"household_id": household_id})
    envelope = await deliver(uow, handlers.on_erasure_requested, erasure)
    assert uow.store is not None
    stored = uow.store.households[household_id]
    assert stored.household.land_reference == f"erased-{household_id}"
    assert stored.request["land_reference"] == f"erased-{household_id}"
    before = unchanged(uow)
    await redeliver(uow, handlers.on_erasure_requested, envelope)
    await deliver(
        uow,
        handlers.on_erasure_requested,
        erasure.model_copy(update={"household_id": uuid.uuid4()}),
    )
    assert unchanged(uow) == before
    # The old reference is free: a later assignment with it is a new household.
    assert await register(uow, "NI-E1") != household_id


async def test_a_readiness_assessment_is_kept_and_a_departed_household_is_left_alone(
    uow: Uow,
) -> None:
    await open_site(uow, 10)
    household_id = await housed(uow, "NI-A1")
    assessed: ReadinessAssessed = example_envelope("ReadinessAssessed").data
    assessed = assessed.model_copy(update={"household_id": household_id})
    await deliver(uow, handlers.on_readiness_assessed, assessed, occurred_at=NOW)
    readiness = household_of(uow, household_id).readiness
    assert readiness is not None
    assert (readiness.ready_for, readiness.assessed_on) == (
        assessed.ready_for,
        assessed.assessed_on,
    )
    # An older assessment arriving late changes nothing.
    before = unchanged(uow)
    stale = assessed.model_copy(
        update={"ready_for": "wohnheim", "assessed_on": assessed.assessed_on - timedelta(days=1)}
    )
    await deliver(uow, handlers.on_readiness_assessed, stale, occurred_at=NOW)
    assert unchanged(uow) == before
    await handlers.record_departure(
        uow, household_id, RecordDeparture(reason=DepartureReason.MOVED_AWAY)
    )
    before = unchanged(uow)
    await deliver(
        uow,
        handlers.on_readiness_assessed,
        assessed.model_copy(update={"ready_for": "wohnheim"}),
        occurred_at=NOW,
    )
    assert unchanged(uow) == before


def test_allocation_handles_housings_answers_and_integrations_assessments() -> None:
    class Settings:
        placement = handlers.DEFAULT_POLICY

    maps = {s.source: set(s.handlers) for s in handlers.subscriptions(Settings())}
    assert maps == {
        "housing": {
            "ShelterPlanned",
            "ShelterOpened",
            "ShelterCapacityChanged",
            "ShelterClosing",
            "ShelterClosingDateSet",
            "ShelterClosed",
            "BedReserved",
            "ReservationRejected",
            "ReservationReleased",
            "OccupantCheckedIn",
            "OccupantCheckedOut",
        },
        "integration": {"ErasureRequested", "ReadinessAssessed"},
    }
