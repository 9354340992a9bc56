"""Housing's handlers on the in-memory unit of work: what each publishes (and when), the
state it leaves, what it refuses, and what a redelivery changes (nothing). No server:
``InMemoryHousingStore`` keeps ``PgHousingStore``'s promises (its contract test)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from ankommen_contracts import EventData, Pillar, new_envelope
from ankommen_contracts.events.allocation import (
    DepartureReason,
    PlacementCancelled,
    PlacementDecided,
    RefugeeDeparted,
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
    ShelterClosing,
    ShelterOpened,
    ShelterPlanned,
)
from ankommen_contracts.events.integration import (
    ErasureReason,
    ErasureRequested,
    MoveOutCompleted,
    MoveOutTarget,
)
from ankommen_runtime import Conflict, NotFound
from ankommen_runtime.clock import SimulatedClock
from ankommen_runtime.context import message_context
from ankommen_runtime.memory import InMemoryUnitOfWork
from fakes.housing import InMemoryHousingStore
from housing import handlers
from housing.domain import (
    Holding,
    Occupant,
    Reservation,
    ReservationStatus,
    Resident,
    SiteStatus,
)
from housing.handlers import (
    ChangeCapacity,
    CheckIn,
    CheckInList,
    CheckOut,
    CloseSite,
    ClosingDate,
    DoorCheckIn,
    OpenPlannedSite,
    OpenSite,
    Places,
    PlanSite,
    ReserveBeds,
    ResolveFollowUp,
    SeenAtTheDoor,
    StartClosing,
)
from pydantic import ValidationError

NOW = datetime(2016, 3, 14, 9, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)
GRACE = timedelta(hours=48)
Uow = InMemoryUnitOfWork[InMemoryHousingStore]


@pytest.fixture
def uow() -> Uow:
    return InMemoryUnitOfWork(SimulatedClock(NOW), store=InMemoryHousingStore())


def published(uow: Uow) -> list[EventData]:
    return [e.data for e in uow.committed]


def types(uow: Uow) -> list[str]:
    return [e.type for e in uow.committed]


async def refused_leaves_nothing(
    uow: Uow, error: type[Exception], match: str, act: Awaitable[Any]
) -> None:
    """``act`` is refused with ``error``; neither the store nor the events changed."""
    state, events = copy.deepcopy(uow.store), list(uow.committed)
    with pytest.raises(error, match=match):
        await act
    assert uow.store == state
    assert uow.committed == events


async def a_site(uow: Uow, capacity: int = 10, **extra: Any) -> uuid.UUID:
    command = OpenSite(
        name="Wohnheim Tresckowstraße",
        pillar=Pillar.WOHNHEIM,
        district=9,
        operator="DRK",
        capacity=capacity,
        occurred_at=NOW - 24 * HOUR,
        **extra,
    )
    return (await handlers.open_site(uow, command)).site_id


def reserve_beds(site_id: uuid.UUID, places: int = 2, **extra: Any) -> ReserveBeds:
    return ReserveBeds(
        reservation_id=extra.pop("reservation_id", uuid.uuid4()),
        site_id=site_id,
        household_id=extra.pop("household_id", uuid.uuid4()),
        places=places,
        **extra,
    )


async def a_hold(uow: Uow, site_id: uuid.UUID, places: int = 2, **extra: Any) -> uuid.UUID:
    reservation = await handlers.request_reservation(
        uow, reserve_beds(site_id, places, **extra), GRACE
    )
    assert reservation.status is ReservationStatus.HELD
    return reservation.reservation_id


async def an_occupant(uow: Uow, site_id: uuid.UUID, places: int = 2, **extra: Any) -> Occupant:
    reservation_id = await a_hold(uow, site_id, places, **extra)
    return await handlers.check_in(uow, reservation_id)


def site_of(uow: Uow, site_id: uuid.UUID) -> Any:
    assert uow.store is not None
    return uow.store.sites[site_id]


async def deliver(
    uow: Uow,
    handler: Callable[[Any, Any], Awaitable[None]],
    data: EventData,
    occurred_at: datetime = NOW,
) -> None:
    """As the consumer does: in the event's context, in one transaction."""
    envelope = new_envelope(data, sequence=1, correlation_id=uuid.uuid4(), occurred_at=occurred_at)
    with message_context(envelope.event_id, envelope.correlation_id, envelope.occurred_at):
        async with uow() as tx:
            await handler(tx, envelope)


# -- the shape --------------------------------------------------------------------------------


# -- sites --------------------------------------------------------------------------------


async def test_opening_a_site_records_it_and_publishes_shelter_opened_at_its_date(
    uow: Uow,
) -> None:
    site_id = await a_site(uow, capacity=40)
    [event] = uow.committed
    assert isinstance(event.data, ShelterOpened)
    assert (event.data.site_id, event.data.capacity, event.occurred_at) == (
        site_id,
        40,
        NOW - 24 * HOUR,
    )
    site = site_of(uow, site_id)
    assert (site.status, site.capacity, site.changed_at) == (SiteStatus.OPEN, 40, NOW - 24 * HOUR)
    assert [(h.status, h.capacity, h.effective_at) for h in uow.store.site_history] == [
        (SiteStatus.OPEN, 40, NOW - 24 * HOUR)
    ]


async def test_a_site_id_given_twice_is_a_conflict_and_the_first_site_stays(uow: Uow) -> None:
    site_id = await a_site(uow)
    await refused_leaves_nothing(
        uow, Conflict, "exists already", a_site(uow, capacity=3, site_id=site_id)
    )
    assert site_of(uow, site_id).capacity == 10


async def test_a_planned_site_takes_nobody_until_it_opens_with_its_operator(uow: Uow) -> None:
    plan = PlanSite(name="Modulbau Stöcken", pillar=Pillar.WOHNHEIM, district=13, capacity=60)
    site = await handlers.plan_site(uow, plan)
    assert types(uow) == ["ShelterPlanned"]
    assert isinstance(published(uow)[0], ShelterPlanned)
    rejected = await handlers.request_reservation(uow, reserve_beds(site.site_id), GRACE)
    assert rejected.rejection_reason is RejectionReason.SITE_NOT_OPEN
    await refused_leaves_nothing(
        uow,
        Conflict,
        "needs an operator",
        handlers.open_planned_site(uow, site.site_id, OpenPlannedSite()),
    )
    opened = await handlers.open_planned_site(
        uow, site.site_id, OpenPlannedSite(operator="Johanniter", capacity=50)
    )
    assert (opened.status, opened.operator, opened.capacity) == (SiteStatus.OPEN, "Johanniter", 50)
    assert isinstance(published(uow)[-1], ShelterOpened)
    assert site_of(uow, site.site_id).operator == "Johanniter"


async def test_capacity_grows_and_never_shrinks_below_what_is_taken(uow: Uow) -> None:
    site_id = await a_site(uow, capacity=10)
    changed = await handlers.change_capacity(uow, site_id, ChangeCapacity(capacity=12))
    assert changed.capacity == 12
    event = published(uow)[-1]
    assert isinstance(event, ShelterCapacityChanged)
    assert (event.capacity, event.reason) == (12, CapacityChangeReason.EXPANDED)
    await a_hold(uow, site_id, 5)
    await refused_leaves_nothing(
        uow,
        Conflict,
        "cannot shrink to 4",
        handlers.change_capacity(uow, site_id, ChangeCapacity(capacity=4)),
    )
    assert site_of(uow, site_id).capacity == 12


async def test_places_are_blocked_and_released_and_never_more_than_are_free(uow: Uow) -> None:
    site_id = await a_site(uow, capacity=5)
    await handlers.block_places(uow, site_id, Places(places=3))
    assert site_of(uow, site_id).blocked == 3
    await refused_leaves_nothing(
        uow,
        Conflict,
        "has 2 free places; cannot block 3",
        handlers.block_places(uow, site_id, Places(places=3)),
    )
    await handlers.release_blocked_places(uow, site_id, Places(places=2))
    assert site_of(uow, site_id).blocked == 1
    reasons = [e.reason for e in published(uow) if isinstance(e, ShelterCapacityChanged)]
    assert reasons == [CapacityChangeReason.PLACES_BLOCKED, CapacityChangeReason.PLACES_RELEASED]
    assert [h.blocked for h in uow.store.site_history] == [0, 3, 1]


async def test_a_change_dated_before_the_sites_latest_change_is_refused(uow: Uow) -> None:
    site_id = await a_site(uow)
    too_early = Places(places=1, occurred_at=NOW - 25 * HOUR)
    await refused_leaves_nothing(
        uow,
        Conflict,
        "before the latest recorded change",
        handlers.block_places(uow, site_id, too_early),
    )


async def test_a_change_to_an_unknown_site_is_not_found(uow: Uow) -> None:
    await refused_leaves_nothing(
        uow, NotFound, "no site", handlers.close_site(uow, uuid.uuid4(), CloseSite())
    )


async def test_a_site_starts_closing_gets_its_day_and_closes_once_nobody_holds_places(
    uow: Uow,
) -> None:
    site_id = await a_site(uow)
    reservation_id = await a_hold(uow, site_id, 2)
    await handlers.start_closing(uow, site_id, StartClosing(reason=ClosingReason.BUILDING_NEEDED))
    await handlers.set_closing_date(uow, site_id, ClosingDate(closes_on=date(2016, 6, 30)))
    await refused_leaves_nothing(
        uow, Conflict, "2 places are reserved", handlers.close_site(uow, site_id)
    )
    await deliver(
        uow,
        handlers.on_placement_cancelled,
        PlacementCancelled(
            household_id=uow.store.reservations[reservation_id].household_id,
            site_id=site_id,
            reservation_id=reservation_id,
            reason="the site closes",
        ),
    )
    closed = await handlers.close_site(uow, site_id)
    assert closed.status is SiteStatus.CLOSED
    assert types(uow)[-5:] == [
        "BedReserved",
        "ShelterClosing",
        "ShelterClosingDateSet",
        "ReservationReleased",
        "ShelterClosed",
    ]
    closing = published(uow)[-4]
    assert isinstance(closing, ShelterClosing)
    assert closing.reason is ClosingReason.BUILDING_NEEDED
    assert site_of(uow, site_id).closes_on == date(2016, 6, 30)
    assert [h.status for h in uow.store.site_history][-1] is SiteStatus.CLOSED


# -- reservations --------------------------------------------------------------------------


async def test_a_reservation_holds_places_until_the_arrival_plus_the_grace(uow: Uow) -> None:
    site_id = await a_site(uow, capacity=5)
    command = reserve_beds(site_id, 3, expected_arrival_at=NOW + 2 * HOUR)
    reservation = await handlers.request_reservation(uow, command, GRACE)
    event = uow.committed[-1]
    assert isinstance(event.data, BedReserved)
    assert (event.data.reservation_id, event.data.places, event.data.expires_at) == (
        command.reservation_id,
        3,
        NOW + 2 * HOUR + GRACE,
    )
    assert event.occurred_at == NOW
    assert site_of(uow, site_id).reserved == 3
    stored = uow.store.reservations[command.reservation_id]
    assert (stored.status, stored.expires_at) == ("held", reservation.expires_at)


async def test_a_repeated_reservation_gets_the_same_answer_and_reserves_nothing(
    uow: Uow,
) -> None:
    site_id = await a_site(uow, capacity=5)
    command = reserve_beds(site_id, 2)
    first = await handlers.request_reservation(uow, command, GRACE)
    again = await handlers.request_reservation(uow, command, GRACE)
    assert again == first
    assert types(uow)[-2:] == ["BedReserved", "BedReserved"]
    assert published(uow)[-1] == published(uow)[-2]
    assert site_of(uow, site_id).reserved == 2


async def test_a_reservation_id_reused_for_another_request_is_a_conflict(uow: Uow) -> None:
    site_id = await a_site(uow, capacity=5)
    command = reserve_beds(site_id, 2)
    await handlers.request_reservation(uow, command, GRACE)
    reused = command.model_copy(update={"places": 3})
    await refused_leaves_nothing(
        uow, Conflict, "use a new reservation_id", handlers.request_reservation(uow, reused, GRACE)
    )


async def test_a_reservation_beyond_the_capacity_is_rejected_with_the_free_places(
    uow: Uow,
) -> None:
    site_id = await a_site(uow, capacity=3)
    command = reserve_beds(site_id, 4)
    reservation = await handlers.request_reservation(uow, command, GRACE)
    assert reservation.rejection_reason is RejectionReason.NO_FREE_PLACES
    event = published(uow)[-1]
    assert isinstance(event, ReservationRejected)
    assert (event.reason, event.free_places) == (RejectionReason.NO_FREE_PLACES, 3)
    assert site_of(uow, site_id).reserved == 0
    assert uow.store.reservations[command.reservation_id].status == "rejected"
    again = await handlers.request_reservation(uow, command, GRACE)
    assert again.rejection_reason is RejectionReason.NO_FREE_PLACES, "a repeat: same answer"


async def test_a_reservation_for_an_unknown_site_is_rejected_and_kept(uow: Uow) -> None:
    command = reserve_beds(uuid.uuid4(), 2)
    reservation = await handlers.request_reservation(uow, command, GRACE)
    assert reservation.rejection_reason is RejectionReason.UNKNOWN_SITE
    event = published(uow)[-1]
    assert isinstance(event, ReservationRejected)
    assert event.free_places is None
    await refused_leaves_nothing(
        uow,
        Conflict,
        r"was rejected \(unknown_site\)",
        handlers.check_in(uow, command.reservation_id),
    )


class LosingTheRace(InMemoryHousingStore):
    """Another transaction takes ``taken`` places between the plain read and the
    conditional save of the decision, as a competing replica can on PostgreSQL."""

    taken: int = 0

    async def save_decision(self, reservation: Reservation) -> bool:
        self.sites[reservation.site_id].reserved += self.taken
        self.taken = 0
        return await super().save_decision(reservation)


async def test_a_reservation_that_loses_the_race_for_the_last_places_is_rejected() -> None:
    store = LosingTheRace()
    uow = InMemoryUnitOfWork(SimulatedClock(NOW), store=store)
    site_id = await a_site(uow, capacity=4)
    assert uow.store is not None
    uow.store.taken = 3
    reservation = await handlers.request_reservation(uow, reserve_beds(site_id, 2), GRACE)
    assert reservation.rejection_reason is RejectionReason.NO_FREE_PLACES
    event = published(uow)[-1]
    assert isinstance(event, ReservationRejected)
    assert event.free_places == 1, "decided again on the current figures"
    assert site_of(uow, site_id).reserved == 3, "the competitor's places only"
    assert uow.store.reservations[reservation.reservation_id].status == "rejected"


class CountedCalls:
    """The port as a handler sees it, each call recorded by name: on PostgreSQL, one
    statement each (a locked ``get_site`` two)."""

    def __init__(self, store: InMemoryHousingStore) -> None:
        self.store = store
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.store, name)


async def test_a_reservation_is_decided_in_two_calls_of_the_store(uow: Uow) -> None:
    """Claimed with its site read, then the places taken with the decision saved: about
    12,700 reservations a Hannover run, each two round trips instead of four."""
    site_id = await a_site(uow, capacity=4)
    for places, status in ((2, ReservationStatus.HELD), (3, ReservationStatus.REJECTED)):
        async with uow() as tx:
            store = CountedCalls(tx.store)
            counted = SimpleNamespace(store=store, clock=tx.clock, publish=tx.publish)
            request = reserve_beds(site_id, places).request(GRACE)
            reservation, repeated = await handlers.reserve(counted, request, NOW)  # type: ignore[arg-type]
        assert (reservation.status, repeated) == (status, False)
        assert store.calls == ["claim_reservation_at_site", "save_decision"]
    assert site_of(uow, site_id).reserved == 2


async def test_a_household_gets_the_smallest_free_flat_it_fits_in_alone(uow: Uow) -> None:
    site_id = await a_site(uow, capacity=10, flats=[6, 2, 2])
    site = site_of(uow, site_id)
    first = await handlers.request_reservation(uow, reserve_beds(site_id, 2), GRACE)
    second = await handlers.request_reservation(uow, reserve_beds(site_id, 2), GRACE)
    third = await handlers.request_reservation(uow, reserve_beds(site_id, 2), GRACE)
    twos = sorted(f.unit_id for f in site.flats if f.places == 2)
    six = next(f.unit_id for f in site.flats if f.places == 6)
    assert [first.unit_id, second.unit_id, third.unit_id] == [*twos, six]
    fourth = await handlers.request_reservation(uow, reserve_beds(site_id, 1), GRACE)
    assert fourth.rejection_reason is RejectionReason.NO_FREE_UNIT
    assert [e.unit_id for e in published(uow) if isinstance(e, BedReserved)] == [*twos, six]


# -- check-in and check-out ------------------------------------------------------------------


class ClosingMeanwhile(InMemoryHousingStore):
    """The site starts closing (another transaction commits) between a check-in's plain
    read of it and the write of its places at the end."""

    async def shift_holding(
        self, site_id: uuid.UUID, change: Holding, *, only_if_open: bool = False
    ) -> bool:
        self.sites[site_id].status = SiteStatus.CLOSING
        return await super().shift_holding(site_id, change, only_if_open=only_if_open)


async def test_a_check_in_at_a_site_that_stopped_taking_occupants_meanwhile_is_refused() -> None:
    uow = InMemoryUnitOfWork(SimulatedClock(NOW), store=ClosingMeanwhile())
    site_id = await a_site(uow, capacity=6)
    reservation_id = await a_hold(uow, site_id, 2)
    events = list(uow.committed)
    with pytest.raises(Conflict, match="stopped taking new occupants"):
        await handlers.check_in(uow, reservation_id)
    assert (site_of(uow, site_id).reserved, site_of(uow, site_id).occupied) == (2, 0)
    assert uow.store is not None
    assert uow.store.occupants == {}, "nobody moved in"
    assert uow.committed == events


async def test_a_check_in_turns_the_hold_into_occupancy_and_keeps_the_names_at_home(
    uow: Uow,
) -> None:
    site_id = await a_site(uow, capacity=5)
    reservation_id = await a_hold(uow, site_id, 2)
    command = CheckIn(
        residents=[
            SeenAtTheDoor(family_name="Haddad", given_names="Samir"),
            SeenAtTheDoor(family_name="Haddad", given_names="Lina"),
        ],
        occurred_at=NOW - HOUR / 2,
    )
    with pytest.raises(Conflict, match="before reservation"):
        await handlers.check_in(
            uow, reservation_id, command.model_copy(update={"occurred_at": NOW - HOUR})
        )
    occupant = await handlers.check_in(uow, reservation_id, CheckIn(residents=command.residents))
    event = uow.committed[-1]
    assert isinstance(event.data, OccupantCheckedIn)
    assert (event.data.household_id, event.data.persons, event.occurred_at) == (
        occupant.household_id,
        2,
        NOW,
    )
    site = site_of(uow, site_id)
    assert (site.reserved, site.occupied) == (0, 2)
    assert uow.store.reservations[reservation_id].status == "checked_in"
    assert uow.store.occupants[occupant.household_id] == occupant
    assert [(s.site_id, s.checked_out_at) for s in uow.store.stays] == [(site_id, None)]
    assert sorted(r.given_names for r in uow.store.residents.values()) == ["Lina", "Samir"]
    assert "Haddad" not in repr([e.model_dump() for e in published(uow)]), "names stay home"


async def test_checking_in_twice_is_a_conflict_and_an_unknown_reservation_not_found(
    uow: Uow,
) -> None:
    site_id = await a_site(uow)
    occupant = await an_occupant(uow, site_id)
    assert occupant.reservation_id is not None
    await refused_leaves_nothing(
        uow, Conflict, "checked in already", handlers.check_in(uow, occupant.reservation_id)
    )
    await refused_leaves_nothing(
        uow, NotFound, "no reservation", handlers.check_in(uow, uuid.uuid4())
    )


async def test_more_residents_than_places_is_a_conflict_and_nobody_moves_in(uow: Uow) -> None:
    site_id = await a_site(uow)
    reservation_id = await a_hold(uow, site_id, 1)
    crowd = CheckIn(residents=[SeenAtTheDoor(family_name="A", given_names="B")] * 2)
    await refused_leaves_nothing(
        uow,
        Conflict,
        "2 residents recorded for 1 places",
        handlers.check_in(uow, reservation_id, crowd),
    )


async def test_a_household_living_elsewhere_is_checked_out_there_first(uow: Uow) -> None:
    old, new = await a_site(uow), await a_site(uow)
    household = uuid.uuid4()
    reservation_id = await a_hold(uow, old, 2, household_id=household)
    await handlers.check_in(
        uow, reservation_id, CheckIn(residents=[SeenAtTheDoor(family_name="A", given_names="B")])
    )
    uow.clock.advance_to(NOW + HOUR)  # type: ignore[attr-defined]
    moving = await a_hold(uow, new, 2, household_id=household)
    await handlers.check_in(uow, moving)
    out, into = published(uow)[-2:]
    assert isinstance(out, OccupantCheckedOut)
    assert (out.site_id, out.reason) == (old, CheckOutReason.RELOCATED)
    assert isinstance(into, OccupantCheckedIn)
    assert into.site_id == new
    assert (site_of(uow, old).occupied, site_of(uow, new).occupied) == (0, 2)
    assert uow.store.residents == {}, "the old site no longer keeps their names"
    assert [(s.site_id, s.check_out_reason) for s in uow.store.stays] == [
        (old, "relocated"),
        (new, None),
    ]


class CheckedInElsewhereMeanwhile(InMemoryHousingStore):
    """A concurrent check-in elsewhere committed after this one read where the household
    lives (nowhere) and before it moved in, as can happen on PostgreSQL."""

    async def get_occupant(
        self, household_id: uuid.UUID, *, for_update: bool = False
    ) -> Occupant | None:
        return None

    async def lock_occupants(self, household_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Occupant]:
        return {}


async def test_a_newcomer_checked_in_elsewhere_at_the_same_moment_is_a_conflict() -> None:
    uow = InMemoryUnitOfWork(SimulatedClock(NOW), store=CheckedInElsewhereMeanwhile())
    elsewhere, here = await a_site(uow), await a_site(uow)
    household = uuid.uuid4()
    await an_occupant(uow, elsewhere, 2, household_id=household)
    reservation_id = await a_hold(uow, here, 2, household_id=household)
    await refused_leaves_nothing(
        uow,  # type: ignore[arg-type]
        Conflict,
        "checked in elsewhere at the same moment",
        handlers.check_in(uow, reservation_id),
    )


async def test_a_check_in_list_checks_in_its_order_and_refuses_one_alone(uow: Uow) -> None:
    shelter, flat = await a_site(uow, capacity=10), await a_site(uow, capacity=4)
    household = uuid.uuid4()
    arriving = await a_hold(uow, shelter, 2, household_id=household)
    moving_on = await a_hold(uow, flat, 2, household_id=household)
    neighbour = await a_hold(uow, shelter, 3)
    crowded = await a_hold(uow, shelter, 1)
    unknown = uuid.uuid4()
    uow.clock.advance_to(NOW + HOUR)  # type: ignore[attr-defined]
    events = len(uow.committed)
    person = SeenAtTheDoor(family_name="A", given_names="B")
    outcomes = await handlers.check_in_list(
        uow,
        CheckInList(
            check_ins=[
                DoorCheckIn(
                    reservation_id=arriving, residents=[person, person], occurred_at=NOW + HOUR / 2
                ),
                DoorCheckIn(reservation_id=unknown),
                DoorCheckIn(reservation_id=crowded, residents=[person, person]),
                DoorCheckIn(reservation_id=moving_on),
                DoorCheckIn(reservation_id=neighbour),
            ]
        ),
    )
    refused = {o.reservation_id: o.refused for o in outcomes if o.refused}
    assert isinstance(refused.pop(unknown), NotFound)
    assert "2 residents recorded for 1 places" in str(refused.pop(crowded))
    assert refused == {}
    assert [o.occupant.site_id for o in outcomes if o.occupant] == [shelter, flat, shelter]
    assert [(type(e).__name__, e.site_id) for e in published(uow)[events:]] == [
        ("OccupantCheckedIn", shelter),
        ("OccupantCheckedOut", shelter),
        ("OccupantCheckedIn", flat),
        ("OccupantCheckedIn", shelter),
    ], "in the list's order; the household went through the shelter to its flat"
    assert [e.occurred_at for e in uow.committed[events:]] == [
        NOW + HOUR / 2,
        NOW + HOUR,
        NOW + HOUR,
        NOW + HOUR,
    ], "each check-in dated by its own item (default: the clock's now)"
    assert (site_of(uow, shelter).occupied, site_of(uow, shelter).reserved) == (3, 1)
    assert (site_of(uow, flat).occupied, site_of(uow, flat).reserved) == (2, 0)
    assert uow.store.occupants[household].site_id == flat
    assert uow.store.residents == {}, "the shelter forgot the household's names"
    assert uow.store.reservations[crowded].status == "held", "the refused one is untouched"


async def test_a_check_in_list_of_one_refused_check_in_writes_nothing(uow: Uow) -> None:
    site_id = await a_site(uow)
    occupant = await an_occupant(uow, site_id)
    assert occupant.reservation_id is not None
    state, events = copy.deepcopy(uow.store), list(uow.committed)
    [outcome] = await handlers.check_in_list(
        uow, CheckInList(check_ins=[DoorCheckIn(reservation_id=occupant.reservation_id)])
    )
    assert isinstance(outcome.refused, Conflict)
    assert outcome.occupant is None
    assert (uow.store, uow.committed) == (state, events)


def test_a_check_in_list_names_a_reservation_once_and_holds_at_most_500() -> None:
    once = DoorCheckIn(reservation_id=uuid.uuid4())
    with pytest.raises(ValidationError, match="appears twice"):
        CheckInList(check_ins=[once, once])
    with pytest.raises(ValidationError, match="check_ins"):
        CheckInList(check_ins=[DoorCheckIn(reservation_id=uuid.uuid4()) for _ in range(501)])
    with pytest.raises(ValidationError, match="check_ins"):
        CheckInList(check_ins=[])


async def test_a_check_in_list_fails_whole_when_a_household_was_checked_in_elsewhere() -> None:
    uow = InMemoryUnitOfWork(SimulatedClock(NOW), store=CheckedInElsewhereMeanwhile())
    elsewhere, here = await a_site(uow), await a_site(uow)
    household = uuid.uuid4()
    await an_occupant(uow, elsewhere, 2, household_id=household)
    first = await a_hold(uow, here, 1)
    racing = await a_hold(uow, here, 2, household_id=household)
    await refused_leaves_nothing(
        uow,  # type: ignore[arg-type]
        Conflict,
        "checked in elsewhere at the same moment",
        handlers.check_in_list(
            uow,  # type: ignore[arg-type]
            CheckInList(
                check_ins=[DoorCheckIn(reservation_id=first), DoorCheckIn(reservation_id=racing)]
            ),
        ),
    )


async def test_a_check_out_frees_the_places_and_forgets_the_names(uow: Uow) -> None:
    site_id = await a_site(uow)
    reservation_id = await a_hold(uow, site_id, 2)
    occupant = await handlers.check_in(
        uow, reservation_id, CheckIn(residents=[SeenAtTheDoor(family_name="A", given_names="B")])
    )
    command = CheckOut(household_id=occupant.household_id, reason=CheckOutReason.MOVED_OUT)
    home, follow_up = await handlers.check_out(uow, site_id, command)
    assert (home, follow_up) == (occupant, None)
    event = published(uow)[-1]
    assert isinstance(event, OccupantCheckedOut)
    assert (event.persons, event.reason) == (2, CheckOutReason.MOVED_OUT)
    assert site_of(uow, site_id).occupied == 0
    assert uow.store.occupants == {}
    assert uow.store.residents == {}
    assert uow.store.follow_ups == {}
    assert [(s.checked_out_at, s.check_out_reason) for s in uow.store.stays] == [(NOW, "moved_out")]


async def test_an_exit_without_a_next_place_raises_a_follow_up_for_staff(uow: Uow) -> None:
    site_id = await a_site(uow)
    occupant = await an_occupant(uow, site_id, 3)
    command = CheckOut(household_id=occupant.household_id, reason=CheckOutReason.HOUSE_BAN)
    _, follow_up = await handlers.check_out(uow, site_id, command)
    assert follow_up is not None
    assert uow.store.follow_ups[follow_up.follow_up_id] == follow_up
    assert (follow_up.persons, follow_up.raised_at, follow_up.open) == (3, NOW, True)


async def test_a_check_out_is_refused_for_a_stranger_an_unknown_site_or_before_the_check_in(
    uow: Uow,
) -> None:
    site_id, other = await a_site(uow), await a_site(uow)
    occupant = await an_occupant(uow, site_id)
    leaving = CheckOut(household_id=occupant.household_id, reason=CheckOutReason.MOVED_OUT)
    await refused_leaves_nothing(
        uow, NotFound, "does not live at site", handlers.check_out(uow, other, leaving)
    )
    await refused_leaves_nothing(
        uow, NotFound, "no site", handlers.check_out(uow, uuid.uuid4(), leaving)
    )
    too_early = leaving.model_copy(update={"occurred_at": NOW - HOUR})
    await refused_leaves_nothing(
        uow, Conflict, "before household", handlers.check_out(uow, site_id, too_early)
    )


async def test_staff_resolve_a_follow_up_once_with_a_note(uow: Uow) -> None:
    site_id = await a_site(uow)
    occupant = await an_occupant(uow, site_id)
    command = CheckOut(household_id=occupant.household_id, reason=CheckOutReason.INSTITUTION)
    _, follow_up = await handlers.check_out(uow, site_id, command)
    assert follow_up is not None
    uow.clock.advance_to(NOW + HOUR)  # type: ignore[attr-defined]
    note = ResolveFollowUp(note="back from the clinic, placed at another site")
    resolved = await handlers.resolve_follow_up(uow, follow_up.follow_up_id, note)
    assert (resolved.resolved_at, resolved.note) == (NOW + HOUR, note.note)
    assert uow.store.follow_ups[follow_up.follow_up_id] == resolved
    events = len(uow.committed)
    await refused_leaves_nothing(
        uow,
        Conflict,
        "resolved already",
        handlers.resolve_follow_up(uow, follow_up.follow_up_id, note),
    )
    await refused_leaves_nothing(
        uow, NotFound, "no follow-up", handlers.resolve_follow_up(uow, uuid.uuid4(), note)
    )
    assert len(uow.committed) == events, "a resolution publishes nothing"


async def test_one_person_is_erased_from_the_resident_list(uow: Uow) -> None:
    site_id = await a_site(uow)
    reservation_id = await a_hold(uow, site_id, 2)
    await handlers.check_in(
        uow,
        reservation_id,
        CheckIn(residents=[SeenAtTheDoor(family_name="A", given_names=g) for g in "BC"]),
    )
    erased, kept = sorted(uow.store.residents.values(), key=lambda r: r.given_names)
    await handlers.erase_resident(uow, erased.resident_id)
    assert list(uow.store.residents.values()) == [kept]
    await refused_leaves_nothing(
        uow, NotFound, "no resident", handlers.erase_resident(uow, erased.resident_id)
    )


# -- the expiry sweeper ----------------------------------------------------------------------


async def test_the_sweeper_releases_expired_holds_at_their_expiry_oldest_first(uow: Uow) -> None:
    site_id = await a_site(uow, capacity=10)
    early = await a_hold(uow, site_id, 2)
    late = await a_hold(uow, site_id, 3, expected_arrival_at=NOW + HOUR)
    kept = await a_hold(uow, site_id, 1, expected_arrival_at=NOW + 9 * HOUR)
    assert await handlers.release_expired(uow, now=NOW + GRACE - HOUR, limit=10) == 0
    sweep = NOW + GRACE + 2 * HOUR
    assert await handlers.release_expired(uow, now=sweep, limit=1) == 1
    assert await handlers.release_expired(uow, now=sweep, limit=10) == 1
    released = [e for e in uow.committed if isinstance(e.data, ReservationReleased)]
    assert [(e.data.reservation_id, e.data.reason, e.occurred_at) for e in released] == [
        (early, ReleaseReason.EXPIRED, NOW + GRACE),
        (late, ReleaseReason.EXPIRED, NOW + HOUR + GRACE),
    ]
    assert site_of(uow, site_id).reserved == 1
    assert uow.store.reservations[kept].status == "held"
    assert await handlers.release_expired(uow, now=sweep, limit=10) == 0


# -- events from allocation ------------------------------------------------------------------


def decided(site_id: uuid.UUID, places: int = 2, **extra: Any) -> PlacementDecided:
    return PlacementDecided(
        household_id=extra.pop("household_id", uuid.uuid4()),
        site_id=site_id,
        reservation_id=extra.pop("reservation_id", uuid.uuid4()),
        pillar=Pillar.WOHNHEIM,
        district=9,
        reason="a family place free",
        attempt=1,
        places=places,
        expected_arrival_at=extra.pop("expected_arrival_at", NOW),
        **extra,
    )


async def test_placement_decided_reserves_at_the_decisions_business_time(uow: Uow) -> None:
    site_id = await a_site(uow, capacity=5)
    decision = decided(site_id, 2, expected_arrival_at=NOW)
    handler = handlers.allocation_handlers(GRACE)["PlacementDecided"]
    await deliver(uow, handler, decision, occurred_at=NOW - 2 * HOUR)
    event = uow.committed[-1]
    assert isinstance(event.data, BedReserved)
    assert (event.data.reservation_id, event.occurred_at) == (
        decision.reservation_id,
        NOW - 2 * HOUR,
    )
    assert event.data.expires_at == NOW + GRACE
    assert uow.store.reservations[decision.reservation_id].requested_at == NOW - 2 * HOUR
    assert site_of(uow, site_id).reserved == 2


async def test_a_decision_dated_days_ago_gets_its_grace_from_now_and_can_be_checked_in(
    uow: Uow,
) -> None:
    """Allocation answers a site opened back-dated to its own day (or a hold that ran
    out last week) with a decision of that date. The hold counts its grace from housing's
    clock: dated from the decision it had run out before it was made, was released at
    once, and each release started another such hold (the scenario's Tresckowstraße: 1,999
    holds released, 88 places never used for seven months)."""
    site_id = await a_site(uow, capacity=5)
    days_ago = NOW - 5 * 24 * HOUR
    decision = decided(site_id, 2, expected_arrival_at=days_ago)  # a move: already here
    handler = handlers.allocation_handlers(GRACE)["PlacementDecided"]
    await deliver(uow, handler, decision, occurred_at=days_ago)
    event = uow.committed[-1]
    assert isinstance(event.data, BedReserved)
    assert event.occurred_at == days_ago, "still dated at the decision"
    assert event.data.expires_at == NOW + GRACE
    assert await handlers.release_expired(uow, now=NOW, limit=10) == 0
    occupant = await handlers.check_in(uow, decision.reservation_id)
    assert occupant.site_id == site_id


async def test_a_redelivered_placement_decided_answers_again_and_reserves_nothing(
    uow: Uow,
) -> None:
    site_id = await a_site(uow, capacity=5)
    decision = decided(site_id, 2)
    handler = handlers.allocation_handlers(GRACE)["PlacementDecided"]
    await deliver(uow, handler, decision)
    state = copy.deepcopy(uow.store)
    await deliver(uow, handler, decision)
    await deliver(uow, handler, decision.model_copy(update={"places": 4}))  # id reused
    assert uow.store == state
    assert types(uow)[-3:] == ["BedReserved"] * 3
    assert {e.data.places for e in uow.committed[-3:]} == {2}, "the recorded answer"


async def test_placement_cancelled_releases_the_hold_and_a_repeat_changes_nothing(
    uow: Uow,
) -> None:
    site_id = await a_site(uow, capacity=5)
    household = uuid.uuid4()
    reservation_id = await a_hold(uow, site_id, 2, household_id=household)
    cancel = PlacementCancelled(
        household_id=household, site_id=site_id, reservation_id=reservation_id, reason="gone"
    )
    await deliver(uow, handlers.on_placement_cancelled, cancel, occurred_at=NOW - HOUR)
    event = uow.committed[-1]
    assert isinstance(event.data, ReservationReleased)
    assert (event.data.reason, event.occurred_at) == (ReleaseReason.CANCELLED, NOW - HOUR)
    assert site_of(uow, site_id).reserved == 0
    stored = uow.store.reservations[reservation_id]
    assert (stored.status, stored.released_at) == ("released", NOW - HOUR)
    state, events = copy.deepcopy(uow.store), len(uow.committed)
    await deliver(uow, handlers.on_placement_cancelled, cancel)
    await deliver(
        uow,
        handlers.on_placement_cancelled,
        cancel.model_copy(update={"reservation_id": uuid.uuid4()}),  # never reserved here
    )
    assert (uow.store, len(uow.committed)) == (state, events)


async def test_refugee_departed_releases_holds_checks_out_and_a_repeat_changes_nothing(
    uow: Uow,
) -> None:
    home, elsewhere = await a_site(uow), await a_site(uow)
    household = uuid.uuid4()
    await an_occupant(uow, home, 3, household_id=household)
    held = await a_hold(uow, elsewhere, 3, household_id=household)
    departed = RefugeeDeparted(
        household_id=household, site_id=home, reason=DepartureReason.MOVED_AWAY, persons=3
    )
    await deliver(uow, handlers.on_refugee_departed, departed, occurred_at=NOW + HOUR)
    # Each site's events, in the order the sites were locked (by id).
    last_two = uow.committed[-2:]
    assert [e.data.site_id for e in last_two] == sorted([home, elsewhere])
    [released] = [e.data for e in last_two if isinstance(e.data, ReservationReleased)]
    assert (released.reservation_id, released.reason) == (held, ReleaseReason.DEPARTED)
    [out] = [e.data for e in last_two if isinstance(e.data, OccupantCheckedOut)]
    assert (out.site_id, out.reason) == (home, CheckOutReason.DEPARTED)
    assert [e.occurred_at for e in last_two] == [NOW + HOUR] * 2
    assert (site_of(uow, home).occupied, site_of(uow, elsewhere).reserved) == (0, 0)
    assert household not in uow.store.occupants
    state, events = copy.deepcopy(uow.store), len(uow.committed)
    await deliver(uow, handlers.on_refugee_departed, departed)
    assert (uow.store, len(uow.committed)) == (state, events)


async def test_a_departure_dated_before_the_check_in_ends_the_stay_at_the_check_in(
    uow: Uow,
) -> None:
    site_id = await a_site(uow)
    occupant = await an_occupant(uow, site_id, 2)
    departed = RefugeeDeparted(
        household_id=occupant.household_id, reason=DepartureReason.RETURNED, persons=2
    )
    await deliver(uow, handlers.on_refugee_departed, departed, occurred_at=NOW - 5 * HOUR)
    assert [(s.checked_out_at, s.check_out_reason) for s in uow.store.stays] == [(NOW, "departed")]
    assert uow.committed[-1].type == "OccupantCheckedOut"


# -- events from integration -----------------------------------------------------------------


async def test_move_out_completed_checks_the_household_out_and_a_repeat_changes_nothing(
    uow: Uow,
) -> None:
    site_id = await a_site(uow)
    reservation_id = await a_hold(uow, site_id, 2)
    occupant = await handlers.check_in(
        uow, reservation_id, CheckIn(residents=[SeenAtTheDoor(family_name="A", given_names="B")])
    )
    moved = MoveOutCompleted(
        case_id=uuid.uuid4(),
        household_id=occupant.household_id,
        from_site_id=site_id,
        target_kind=MoveOutTarget.OWN_FLAT,
        target_district=10,
    )
    await deliver(uow, handlers.on_move_out_completed, moved, occurred_at=NOW + HOUR)
    event = uow.committed[-1]
    assert isinstance(event.data, OccupantCheckedOut)
    assert (event.data.reason, event.occurred_at) == (CheckOutReason.MOVED_OUT, NOW + HOUR)
    assert site_of(uow, site_id).occupied == 0
    assert (uow.store.occupants, uow.store.residents) == ({}, {})
    state, events = copy.deepcopy(uow.store), len(uow.committed)
    await deliver(uow, handlers.on_move_out_completed, moved)
    assert (uow.store, len(uow.committed)) == (state, events)


async def test_erasure_requested_erases_the_households_names_and_nothing_else(
    uow: Uow,
) -> None:
    site_id = await a_site(uow)
    reservation_id = await a_hold(uow, site_id, 2)
    occupant = await handlers.check_in(
        uow,
        reservation_id,
        CheckIn(residents=[SeenAtTheDoor(family_name="A", given_names=g) for g in "BC"]),
    )
    assert uow.store is not None
    neighbour = Resident(uuid.uuid4(), site_id, uuid.uuid4(), "D", "E", NOW)
    uow.store.residents[neighbour.resident_id] = neighbour
    events = len(uow.committed)
    erasure = ErasureRequested(
        erasure_id=uuid.uuid4(),
        household_id=occupant.household_id,
        person_ids=[],
        reason=ErasureReason.REQUESTED,
        requested_on=date(2016, 3, 14),
    )
    await deliver(uow, handlers.on_erasure_requested, erasure)
    assert list(uow.store.residents) == [neighbour.resident_id]
    assert uow.store.occupants[occupant.household_id] == occupant, "occupancy stays"
    assert len(uow.committed) == events, "an erasure publishes nothing"
    state = copy.deepcopy(uow.store)
    await deliver(uow, handlers.on_erasure_requested, erasure)
    assert uow.store == state
