"""Allocation's two stores keep the same promises: every scenario runs against
``InMemoryAllocationStore`` (the unit tests' fake) and ``PgAllocationStore`` on a fresh
database with allocation's migrations (marked integration by its ``database`` fixture).

Each scenario uses only ``AllocationStore`` (the port the handlers use), except where a
promise shows only in what the API reads back (the history), which the backend reads."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import allocation
import asyncpg
import pytest
from allocation.domain import (
    DEFAULT_POLICY,
    EmergencyResident,
    HistoryEntry,
    Home,
    Household,
    HouseholdStatus,
    Placement,
    PlacementPolicy,
    Readiness,
    SiteStatus,
    dissolution_key,
)
from allocation.store import (
    _RESIDENT_SHELTERS,
    AllocationStore,
    PgAllocationStore,
    _first_residents,
)
from allocation_builders import family, member
from ankommen_contracts import AgeBand, BuildingKind, Pillar, SpecialNeed, Suitability
from ankommen_contracts.events.allocation import (
    QuotaPeriodAnnounced,
    RelocationReason,
)
from ankommen_contracts.events.housing import (
    BedReserved,
    OccupantCheckedIn,
    OccupantCheckedOut,
    ReservationReleased,
    ShelterCapacityChanged,
    ShelterOpened,
    ShelterPlanned,
    Unit,
)
from ankommen_contracts.examples import example_envelope
from ankommen_runtime.db import create_pool, migrate
from fakes.allocation import InMemoryAllocationStore

MIGRATIONS = Path(allocation.__file__).parent / "migrations"
T0 = datetime(2016, 3, 1, 9, 0, tzinfo=UTC)


NO_WAIT = timedelta(0)  # overdue as soon as sent before the moment asked about
SECOND = timedelta(seconds=1)


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


class Backend(Protocol):
    store: AllocationStore

    async def history(self, household_id: uuid.UUID) -> list[HistoryEntry]: ...


class Memory:
    def __init__(self) -> None:
        self.store = InMemoryAllocationStore()

    async def history(self, household_id: uuid.UUID) -> list[HistoryEntry]:
        return list(self.store.history.get(household_id, []))


class Postgres:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.store = PgAllocationStore(conn)

    async def history(self, household_id: uuid.UUID) -> list[HistoryEntry]:
        return await self.store.history(household_id)


# ---------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------


def household(
    status: HouseholdStatus = HouseholdStatus.WAITLISTED,
    *,
    assigned_at: datetime = T0,
    persons: int = 2,
    members: list[Any] | None = None,
    home: Home | None = None,
    placement: Placement | None = None,
    waitlisted_since: datetime | None = None,
    quota_period_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None,
) -> Household:
    household_id = household_id or uuid.uuid4()
    return Household(
        household_id=household_id,
        land_reference=f"H-{household_id.hex[:10]}",
        members=tuple(members if members is not None else family(persons)),
        assigned_at=assigned_at,
        status=status,
        quota_period_id=quota_period_id,
        home=home,
        placement=placement,
        waitlisted_since=waitlisted_since,
    )


def placing_at(site_id: uuid.UUID, places: int, *, held: bool = False) -> Placement:
    request = example_envelope("PlacementDecided").data.model_copy(
        update={
            "household_id": uuid.uuid4(),
            "site_id": site_id,
            "reservation_id": uuid.uuid4(),
            "places": places,
        }
    )
    return Placement(request, decided_at=T0, reserved_until=at(48) if held else None)


def living_at(site_id: uuid.UUID, pillar: Pillar = Pillar.WOHNHEIM, since: int = 0) -> Home:
    return Home(site_id, pillar, 4, at(since))


def request_of(h: Household) -> dict[str, Any]:
    members = [m.model_dump(mode="json", include={"person_id", "special_needs"}) for m in h.members]
    return {"land_reference": h.land_reference, "members": members}


async def registered(b: Backend, *households: Household) -> None:
    for h in households:
        assert await b.store.insert_household(h, request_of(h))


def opened(
    site_id: uuid.UUID | None = None,
    *,
    capacity: int = 50,
    pillar: Pillar = Pillar.WOHNHEIM,
    building: BuildingKind = BuildingKind.PURPOSE_BUILT_HOME,
    closes_on: date | None = None,
    units: list[Unit] | None = None,
    name: str = "Wohnheim Tresckowstraße",
) -> ShelterOpened:
    data: ShelterOpened = example_envelope("ShelterOpened").data
    return data.model_copy(
        update={
            "site_id": site_id or uuid.uuid4(),
            "capacity": capacity,
            "pillar": pillar,
            "building": building,
            "closes_on": closes_on,
            "units": units or [],
            "name": name,
            "suitability": [Suitability.FAMILIES],
        }
    )


def planned(site_id: uuid.UUID, capacity: int, name: str = "Geplant") -> ShelterPlanned:
    data: ShelterPlanned = example_envelope("ShelterPlanned").data
    return data.model_copy(
        update={"site_id": site_id, "planned_capacity": capacity, "name": name, "units": []}
    )


def bed_reserved(site_id: uuid.UUID, places: int, unit_id: uuid.UUID | None = None) -> BedReserved:
    return BedReserved(
        site_id=site_id,
        reservation_id=uuid.uuid4(),
        household_id=uuid.uuid4(),
        places=places,
        expires_at=at(48),
        unit_id=unit_id,
    )


def released(r: BedReserved) -> ReservationReleased:
    data: ReservationReleased = example_envelope("ReservationReleased").data
    return data.model_copy(
        update={
            "site_id": r.site_id,
            "reservation_id": r.reservation_id,
            "household_id": r.household_id,
            "places": r.places,
        }
    )


def checked_in(
    site_id: uuid.UUID,
    persons: int,
    reservation_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None,
    unit_id: uuid.UUID | None = None,
) -> OccupantCheckedIn:
    return OccupantCheckedIn(
        site_id=site_id,
        household_id=household_id or uuid.uuid4(),
        reservation_id=reservation_id,
        persons=persons,
        unit_id=unit_id,
    )


def checked_out(d: OccupantCheckedIn) -> OccupantCheckedOut:
    data: OccupantCheckedOut = example_envelope("OccupantCheckedOut").data
    return data.model_copy(
        update={"site_id": d.site_id, "household_id": d.household_id, "persons": d.persons}
    )


async def free(b: Backend, site_id: uuid.UUID) -> int:
    site = await b.store.site_option(site_id)
    assert site is not None, f"site {site_id} is known"
    return site.free


def period(starts_on: date, quota_period_id: uuid.UUID | None = None) -> QuotaPeriodAnnounced:
    return QuotaPeriodAnnounced(
        quota_period_id=quota_period_id or uuid.uuid4(),
        starts_on=starts_on,
        ends_on=starts_on + timedelta(days=90),
        expected_persons=1200,
        weekly_quota=90,
    )


# ---------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------


async def a_quota_period_is_recorded_once_and_listed_by_its_start(b: Backend) -> None:
    later, earlier = period(date(2016, 4, 1)), period(date(2016, 1, 1))
    assert await b.store.add_quota_period(later, at(1))
    assert await b.store.add_quota_period(earlier, at(2))
    assert not await b.store.add_quota_period(later.model_copy(update={"weekly_quota": 1}), at(3))
    listed = await b.store.list_quota_periods()
    assert [(q.quota_period_id, q.weekly_quota, q.announced_at) for q in listed] == [
        (earlier.quota_period_id, 90, at(2)),
        (later.quota_period_id, 90, at(1)),
    ]
    [only] = await b.store.list_quota_periods(later.quota_period_id)
    assert (only.starts_on, only.ends_on, only.expected_persons) == (
        date(2016, 4, 1),
        date(2016, 6, 30),
        1200,
    )
    assert await b.store.list_quota_periods(uuid.uuid4()) == []
    unknown = uuid.uuid4()
    assert await b.store.known_quota_periods([later.quota_period_id, unknown]) == {
        later.quota_period_id
    }
    assert await b.store.known_quota_periods([]) == set()


async def a_quota_period_counts_placed_persons_and_referred_minors_apart(b: Backend) -> None:
    q = period(date(2016, 1, 1))
    assert await b.store.add_quota_period(q, at(0))
    unaccompanied = member(AgeBand.AGE_6_17, unaccompanied=True)
    with_minor = household(
        quota_period_id=q.quota_period_id,
        members=[member(), member(), member(AgeBand.AGE_6_17, unaccompanied=True)],
    )
    minors_only = household(
        HouseholdStatus.YOUTH_WELFARE, quota_period_id=q.quota_period_id, members=[unaccompanied]
    )
    elsewhere = household(persons=5)  # counted against no period
    await registered(b, with_minor, minors_only, elsewhere)
    [counted] = await b.store.list_quota_periods(q.quota_period_id)
    assert (
        counted.assigned_households,
        counted.assigned_persons,
        counted.unaccompanied_minors,
    ) == (1, 2, 2)


async def a_household_is_registered_once_per_land_reference(b: Backend) -> None:
    site = uuid.uuid4()
    h = household(HouseholdStatus.PLACING, placement=placing_at(site, 2))
    assert await b.store.insert_household(h, {"land_reference": h.land_reference, "n": 1})
    again = household(HouseholdStatus.WAITLISTED, waitlisted_since=T0)
    again.land_reference = h.land_reference
    assert not await b.store.insert_household(again, {"other": True})
    assert await b.store.get_household(again.household_id) is None
    assert await b.store.assignments_by_reference([h.land_reference, "H-unknown"]) == {
        h.land_reference: (
            h.household_id,
            {"land_reference": h.land_reference, "n": 1},
            HouseholdStatus.PLACING,
        )
    }
    assert await b.store.assignments_by_reference([]) == {}
    read = await b.store.get_household(h.household_id)
    assert read == h
    assert read is not None
    assert read.events == []
    assert read.history == []
    assert await b.store.get_household(h.household_id, for_update=True) == h
    assert await b.store.get_household(uuid.uuid4()) is None


async def saving_keeps_a_transition_and_never_the_identity(b: Backend) -> None:
    site = uuid.uuid4()
    h = household(HouseholdStatus.PLACING, placement=placing_at(site, 2))
    await registered(b, h)
    changed = await b.store.get_household(h.household_id, for_update=True)
    assert changed is not None
    changed.status = HouseholdStatus.HOUSED
    changed.home = living_at(site, Pillar.WOHNUNG, since=5)
    changed.placement = None
    changed.relocation_reason = RelocationReason.SITE_CLOSING
    changed.tried_site_ids = [site, uuid.uuid4()]
    changed.cancelled_reservation_ids = [uuid.uuid4()]
    changed.attempts = 3
    changed.waitlisted_since = at(1)
    changed.readiness = Readiness(Pillar.WOHNUNG, True, date(2016, 3, 1), "independent, B1")
    changed.expected_arrival_at = at(7)
    changed.land_reference = "H-renamed"  # not something a transition changes
    await b.store.save_household(changed)
    after = await b.store.get_household(h.household_id)
    changed.land_reference = h.land_reference
    assert after == changed
    unknown = household()
    unknown.history.append(HistoryEntry(at(1), "failed", "nothing fits"))
    await b.store.save_household(unknown)  # saving an unregistered household adds nothing
    assert await b.store.get_household(unknown.household_id) is None
    assert await b.history(unknown.household_id) == []


async def the_history_is_kept_in_the_order_written(b: Backend) -> None:
    h = household()
    first = [
        HistoryEntry(at(1), "assigned", "assigned by the Land"),
        HistoryEntry(at(0), "decided", "Wohnheim", uuid.uuid4(), uuid.uuid4(), 1),
    ]
    h.history.extend(first)  # noted by the transitions before the household is inserted
    await registered(b, h)
    saved = await b.store.get_household(h.household_id, for_update=True)
    assert saved is not None
    assert saved.history == []  # read back with nothing pending
    await b.store.save_household(saved)  # nothing noted: the story stays as it is
    later = [
        HistoryEntry(at(3), "failed", "nothing fits"),
        HistoryEntry(at(2), "waitlisted", "no place free", attempt=2),
    ]
    saved.history.extend(later)
    await b.store.save_household(saved)
    assert await b.history(h.household_id) == [*first, *later]


async def a_repeated_registration_adds_no_history(b: Backend) -> None:
    h = household()
    h.history.append(HistoryEntry(at(1), "assigned", "assigned by the Land"))
    await registered(b, h)
    again = household()
    again.land_reference = h.land_reference
    again.history.append(HistoryEntry(at(2), "assigned", "assigned by the Land again"))
    assert not await b.store.insert_household(again, request_of(again))
    assert await b.history(h.household_id) == h.history
    assert await b.history(again.household_id) == []


async def at_a_site_are_its_residents_and_requests_oldest_first(b: Backend) -> None:
    site, other = uuid.uuid4(), uuid.uuid4()
    resident = household(HouseholdStatus.HOUSED, assigned_at=at(3), home=living_at(site))
    placing = household(HouseholdStatus.PLACING, assigned_at=at(1), placement=placing_at(site, 2))
    reserved = household(
        HouseholdStatus.RESERVED, assigned_at=at(2), placement=placing_at(site, 2, held=True)
    )
    moving_in = household(
        HouseholdStatus.HOUSED,
        assigned_at=at(0),
        home=living_at(other),
        placement=placing_at(site, 2),
    )
    elsewhere = household(HouseholdStatus.HOUSED, assigned_at=at(0), home=living_at(other))
    await registered(b, resident, placing, reserved, moving_in, elsewhere)
    there = await b.store.lock_at_site(site)
    assert [h.household_id for h in there] == [
        moving_in.household_id,
        placing.household_id,
        reserved.household_id,
        resident.household_id,
    ]
    assert there[0] == moving_in
    assert await b.store.lock_at_site(uuid.uuid4()) == []


async def the_waitlist_is_oldest_first_then_pending_relocations(b: Backend) -> None:
    closing = uuid.uuid4()
    newer = household(waitlisted_since=at(5))
    older = household(waitlisted_since=at(2))
    stays = household(
        HouseholdStatus.RELOCATION_PENDING, home=living_at(closing, since=1), assigned_at=at(0)
    )
    stays_longer = household(
        HouseholdStatus.RELOCATION_PENDING, home=living_at(closing, since=0), assigned_at=at(0)
    )
    housed = household(HouseholdStatus.HOUSED, home=living_at(closing))
    placing = household(HouseholdStatus.PLACING, placement=placing_at(closing, 2))
    await registered(b, newer, stays, older, stays_longer, housed, placing)
    order = [
        older.household_id,
        newer.household_id,
        stays_longer.household_id,
        stays.household_id,
    ]
    assert [h.household_id for h in await b.store.lock_waitlist(10)] == order
    assert [h.household_id for h in await b.store.lock_waitlist(2)] == order[:2]
    assert (await b.store.lock_waitlist(1))[0] == older


async def emergency_residents_are_those_in_notunterkuenfte_with_no_move(b: Backend) -> None:
    gym, unknown_site, home = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await b.store.site_opened(
        opened(
            gym,
            pillar=Pillar.NOTUNTERKUNFT,
            building=BuildingKind.SCHOOL_SPORTS_HALL,
            closes_on=date(2016, 6, 30),
        ),
        1,
    )
    children = household(
        HouseholdStatus.HOUSED,
        members=[member(), member(AgeBand.UNDER_6)],
        home=living_at(gym, Pillar.NOTUNTERKUNFT, since=4),
    )
    adults = household(
        HouseholdStatus.HOUSED,
        members=[member(), member()],
        home=living_at(unknown_site, Pillar.NOTUNTERKUNFT, since=2),
    )
    adults.readiness = Readiness(Pillar.WOHNPROJEKT, False, date(2016, 1, 4), "assessed")
    moving = household(
        HouseholdStatus.HOUSED,
        home=living_at(gym, Pillar.NOTUNTERKUNFT),
        placement=placing_at(home, 2),
    )
    regular = household(HouseholdStatus.HOUSED, home=living_at(home, Pillar.WOHNHEIM))
    pending = household(
        HouseholdStatus.RELOCATION_PENDING, home=living_at(gym, Pillar.NOTUNTERKUNFT)
    )
    await registered(b, children, adults, moving, regular, pending)
    found = await b.store.emergency_residents(DEFAULT_POLICY, 10)
    residents = sorted(found, key=lambda r: r.household_id)
    assert residents == sorted(
        [
            EmergencyResident(
                children.household_id,
                at(4),
                True,
                date(2016, 6, 30),
                BuildingKind.SCHOOL_SPORTS_HALL,
                persons=2,
                ready_for=Pillar.WOHNHEIM,  # nobody assessed it yet
            ),
            EmergencyResident(
                adults.household_id,
                at(2),
                False,
                None,
                BuildingKind.OTHER,
                persons=2,
                ready_for=Pillar.WOHNPROJEKT,
            ),
        ],
        key=lambda r: r.household_id,
    )


async def emergency_residents_come_in_the_dissolution_order_and_only_so_many(
    b: Backend,
) -> None:
    """The store's order is the domain's ``dissolution_key``, under the default policy and
    under one of the city's own (the first ``limit`` of it)."""
    school = uuid.uuid4()
    club = uuid.uuid4()
    messe = uuid.uuid4()
    open_ended = uuid.uuid4()
    unknown = uuid.uuid4()
    for site, building, closes in (
        (school, BuildingKind.SCHOOL_SPORTS_HALL, date(2016, 6, 30)),
        (club, BuildingKind.CLUB_SPORTS_HALL, date(2016, 6, 30)),
        (messe, BuildingKind.TRADE_FAIR_HALL, date(2016, 3, 31)),
        (open_ended, BuildingKind.OTHER, None),
    ):
        await b.store.site_opened(
            opened(site, pillar=Pillar.NOTUNTERKUNFT, building=building, closes_on=closes), 1
        )
    people = []
    for n, site in enumerate((school, club, messe, open_ended, unknown) * 3):
        members = [member(), member(AgeBand.UNDER_6)] if n % 3 == 0 else None
        home = living_at(site, Pillar.NOTUNTERKUNFT, since=(n * 7) % 11)
        people.append(household(HouseholdStatus.HOUSED, members=members, home=home))
    await registered(b, *people)
    every = await b.store.emergency_residents(DEFAULT_POLICY, 100)
    assert len(every) == len(people)
    for policy in (
        DEFAULT_POLICY,
        PlacementPolicy(
            vulnerable_first=False,
            dissolution_order=(BuildingKind.TRADE_FAIR_HALL, BuildingKind.CLUB_SPORTS_HALL),
        ),
    ):
        expected = sorted(every, key=lambda r: dissolution_key(r, policy))
        assert await b.store.emergency_residents(policy, 100) == expected
        # every limit: ending inside a shelter, a key of shelters, the vulnerable ones
        for limit in range(1, len(people) + 2):
            assert await b.store.emergency_residents(policy, limit) == expected[:limit], limit


async def households_are_locked_by_id_and_unknown_ones_are_absent(b: Backend) -> None:
    one, two = household(), household(HouseholdStatus.HOUSED, home=living_at(uuid.uuid4()))
    await registered(b, one, two)
    unknown = uuid.uuid4()
    locked = await b.store.lock_households([two.household_id, unknown, one.household_id])
    assert locked == {one.household_id: one, two.household_id: two}
    assert await b.store.lock_households([]) == {}


async def a_household_read_ahead_answers_as_the_database_would(b: Backend) -> None:
    """``prefetch_households`` (a consumed batch's) changes no answer: each household
    read ahead is the one a locked read would give, also after the transaction changed
    it another way (saved through another object, registered, its intake erased)."""
    kept, changed, erased = household(), household(), household()
    await registered(b, kept, changed, erased)
    later = household()
    await b.store.prefetch_households(
        [erased.household_id, kept.household_id, later.household_id, changed.household_id]
    )
    # changed through another read of it (as a relocation locks it) and saved
    other = (await b.store.lock_households([changed.household_id]))[changed.household_id]
    other.status = HouseholdStatus.HOUSED
    other.home = living_at(uuid.uuid4())
    other.history.append(HistoryEntry(at(2), "checked_in", "moved in"))
    await b.store.save_household(other)
    await registered(b, later)  # unknown when read ahead, registered since
    assert await b.store.erase_intake(erased.household_id)
    for h in (kept, changed, later, erased):
        assert await b.store.get_household(h.household_id, for_update=True) == (
            await b.store.get_household(h.household_id)
        )
    assert await b.store.get_household(changed.household_id, for_update=True) == other
    # taken once: a household changed after it was handed out reads back as saved
    again = await b.store.get_household(kept.household_id, for_update=True)
    assert again is not None
    again.status = HouseholdStatus.DEPARTED
    again.history.append(HistoryEntry(at(3), "departed", "moved away"))
    await b.store.save_household(again)
    assert await b.store.get_household(kept.household_id, for_update=True) == again
    await b.store.prefetch_households([])
    assert await b.store.get_household(uuid.uuid4(), for_update=True) is None


async def unanswered_requests_are_overdue_longest_unanswered_first(b: Backend) -> None:
    site = uuid.uuid4()
    before = datetime.now(UTC) - timedelta(hours=1)
    first = household(HouseholdStatus.PLACING, placement=placing_at(site, 2))
    second = household(HouseholdStatus.PLACING, placement=placing_at(site, 2))
    held = household(HouseholdStatus.RESERVED, placement=placing_at(site, 2, held=True))
    waiting = household(waitlisted_since=T0)
    await registered(b, first, second, held, waiting)
    later = datetime.now(UTC) + timedelta(hours=1)

    async def overdue(limit: int = 10) -> list[uuid.UUID]:
        return [h.household_id for h in await b.store.lock_overdue(later, NO_WAIT, 0, limit)]

    assert await b.store.lock_overdue(before, NO_WAIT, 0, 10) == []
    assert await overdue() == [first.household_id, second.household_id]
    assert (await b.store.lock_overdue(later, NO_WAIT, 0, 1)) == [first]
    await b.store.mark_sent([first.household_id])  # sent again now: the latest
    assert await overdue() == [second.household_id, first.household_id]
    await b.store.save_household(second)  # the same request: still sent when it was
    assert await overdue() == [second.household_id, first.household_id]
    second.placement = placing_at(site, 2)  # a new request goes out now
    await b.store.save_household(second)
    assert await overdue() == [first.household_id, second.household_id]
    first.placement, first.status = None, HouseholdStatus.WAITLISTED
    await b.store.save_household(first)  # no request: nothing to re-send
    assert await overdue() == [second.household_id]
    second.placement = second.placement.hold(at(48))  # housing answered
    await b.store.save_household(second)
    assert await overdue() == []


async def each_re_send_waits_twice_as_long_up_to_the_doublings_and_a_new_request_starts_over(
    b: Backend,
) -> None:
    site = uuid.uuid4()
    minute = timedelta(minutes=1)
    h = household(HouseholdStatus.PLACING, placement=placing_at(site, 2))
    sent = datetime.now(UTC)
    await registered(b, h)
    written = datetime.now(UTC)

    async def overdue(heard: datetime) -> bool:
        found = await b.store.lock_overdue(heard, minute, 2, 10)
        return [x.household_id for x in found] == [h.household_id]

    # The clock between the moments taken before and after each write decides nothing.
    assert not await overdue(sent + minute - SECOND)
    assert await overdue(written + minute + SECOND)
    for resends, wait in ((1, 2 * minute), (2, 4 * minute), (3, 4 * minute), (4, 4 * minute)):
        sent = datetime.now(UTC)
        await b.store.mark_sent([h.household_id])
        written = datetime.now(UTC)
        assert not await overdue(sent + wait - SECOND), f"re-sent {resends} times"
        assert await overdue(written + wait + SECOND), f"re-sent {resends} times"
    h.placement = placing_at(site, 3)  # a new request: one timeout again
    sent = datetime.now(UTC)
    await b.store.save_household(h)
    written = datetime.now(UTC)
    assert not await overdue(sent + minute - SECOND)
    assert await overdue(written + minute + SECOND)


async def erasing_the_intake_replaces_the_land_reference_and_drops_special_needs(
    b: Backend,
) -> None:
    h = household(members=[member(AgeBand.AGE_27_49, SpecialNeed.MEDICAL), member()])
    old = h.land_reference
    await registered(b, h)
    assert await b.store.erase_intake(h.household_id)
    marker = f"erased-{h.household_id}"
    assert await b.store.assignments_by_reference([old]) == {}
    without_needs = [{"person_id": str(m.person_id), "special_needs": []} for m in h.members]
    [(household_id, request, status)] = (await b.store.assignments_by_reference([marker])).values()
    assert (household_id, request["land_reference"], status) == (h.household_id, marker, h.status)
    assert [
        {"person_id": m["person_id"], "special_needs": m.get("special_needs", [])}
        for m in request["members"]
    ] == without_needs
    read = await b.store.get_household(h.household_id)
    assert read is not None
    assert read.land_reference == marker
    assert [m.person_id for m in read.members] == [m.person_id for m in h.members]
    assert read.special_needs == []
    assert not await b.store.erase_intake(uuid.uuid4())
    newcomer = household()
    newcomer.land_reference = old
    assert await b.store.insert_household(newcomer, request_of(newcomer))


async def the_board_shows_open_sites_with_their_free_places(b: Backend) -> None:
    open_site, closing, planned_site = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await b.store.site_opened(opened(open_site, capacity=40), 1)
    await b.store.site_opened(opened(closing, capacity=30), 1)
    await b.store.site_status(closing, SiteStatus.CLOSING, 2)
    await b.store.site_planned(planned(planned_site, 20), 1)
    board = await b.store.load_board()
    assert [s.site_id for s in board.sites()] == [open_site]
    [site] = board.sites()
    assert (site.free, site.pillar, site.suitability, site.free_units) == (
        40,
        Pillar.WOHNHEIM,
        frozenset({Suitability.FAMILIES}),
        None,
    )
    option = await b.store.site_option(closing)
    assert option is not None
    assert option.status is SiteStatus.CLOSING
    planned_option = await b.store.site_option(planned_site)
    assert planned_option is not None
    assert (planned_option.status, planned_option.free) == (SiteStatus.PLANNED, 20)
    assert await b.store.site_option(uuid.uuid4()) is None


async def a_site_event_older_than_the_last_one_folded_changes_nothing(b: Backend) -> None:
    site = uuid.uuid4()
    await b.store.site_planned(planned(site, 20, "Plan A"), 1)
    await b.store.site_planned(planned(site, 25, "Plan B"), 3)
    await b.store.site_planned(planned(site, 99, "Stale"), 2)
    option = await b.store.site_option(site)
    assert option is not None
    assert (option.name, option.free) == ("Plan B", 25)
    await b.store.site_opened(opened(site, capacity=60, name="Open"), 4)
    await b.store.site_opened(opened(site, capacity=10, name="Stale"), 4)
    await b.store.site_planned(planned(site, 5, "Replanned"), 9)  # open: stays open
    option = await b.store.site_option(site)
    assert option is not None
    assert (option.name, option.status, option.free) == ("Open", SiteStatus.OPEN, 60)
    change = ShelterCapacityChanged.model_validate(
        {**example_envelope("ShelterCapacityChanged").data.model_dump(), "site_id": site}
    )
    await b.store.capacity_changed(change.model_copy(update={"capacity": 80}), 5)
    await b.store.capacity_changed(change.model_copy(update={"capacity": 1}), 5)  # a repeat
    assert await free(b, site) == 80 - change.blocked_places
    await b.store.site_status(site, SiteStatus.CLOSING, 6)
    await b.store.closing_date(site, date(2016, 9, 30), 6)  # the closing event's own date
    await b.store.site_status(site, SiteStatus.OPEN, 5)  # stale
    await b.store.closing_date(site, date(2017, 1, 1), 5)  # stale
    option = await b.store.site_option(site)
    assert option is not None
    assert (option.status, option.closes_on) == (
        SiteStatus.CLOSING,
        date(2016, 9, 30),
    )
    await b.store.closing_date(site, None, 7)
    await b.store.site_status(site, SiteStatus.CLOSED, 7)  # not later than the date: stale
    option = await b.store.site_option(site)
    assert option is not None
    assert (option.status, option.closes_on) == (SiteStatus.CLOSING, None)
    await b.store.site_status(site, SiteStatus.CLOSED, 8)
    option = await b.store.site_option(site)
    assert option is not None
    assert option.status is SiteStatus.CLOSED
    await b.store.capacity_changed(change.model_copy(update={"site_id": uuid.uuid4()}), 1)
    await b.store.site_status(uuid.uuid4(), SiteStatus.CLOSED, 1)  # unknown sites: nothing
    await b.store.closing_date(uuid.uuid4(), None, 1)


async def reservations_and_occupants_are_counted_once(b: Backend) -> None:
    site = uuid.uuid4()
    await b.store.site_opened(opened(site, capacity=20), 1)
    first, second = bed_reserved(site, 4), bed_reserved(site, 3)
    assert await b.store.reservation_held(first)
    assert not await b.store.reservation_held(first)  # housing answered a re-sent request
    assert await b.store.reservation_held(second)
    assert await free(b, site) == 13
    await b.store.reservation_released(released(second))
    await b.store.reservation_released(released(second))
    assert await free(b, site) == 16
    arrival = checked_in(site, 4, first.reservation_id, first.household_id)
    await b.store.occupant_checked_in(arrival)
    await b.store.occupant_checked_in(arrival)
    assert await free(b, site) == 16  # the reserved places are occupied now
    await b.store.reservation_released(released(first))  # checked in: nothing to release
    assert await free(b, site) == 16
    direct = checked_in(site, 2)
    await b.store.occupant_checked_in(direct)
    assert await free(b, site) == 14
    await b.store.occupant_checked_out(checked_out(arrival))
    await b.store.occupant_checked_out(checked_out(arrival))
    assert await free(b, site) == 18
    unknown = checked_in(uuid.uuid4(), 3)
    await b.store.occupant_checked_out(checked_out(unknown))  # never lived there: nothing
    assert await free(b, site) == 18


async def answered_by_housing(
    b: Backend, status: HouseholdStatus, persons: int
) -> tuple[uuid.UUID, Household, BedReserved]:
    """An open site of 20 places, a household of ``persons`` registered with a request for
    them there, and housing's answer holding the places."""
    site = uuid.uuid4()
    await b.store.site_opened(opened(site, capacity=20), 1)
    h = household(status, persons=persons, placement=placing_at(site, persons))
    await registered(b, h)
    return site, h, bed_reserved(site, persons).model_copy(update={"household_id": h.household_id})


async def a_household_saved_with_its_reservation_is_saved_only_if_the_reservation_is_new(
    b: Backend,
) -> None:
    site, h, held = await answered_by_housing(b, HouseholdStatus.PLACING, 3)
    answered = await b.store.get_household(h.household_id, for_update=True)
    assert answered is not None
    assert answered.placement is not None
    answered.status = HouseholdStatus.RESERVED
    answered.placement = answered.placement.hold(at(48))
    answered.history.append(HistoryEntry(at(2), "reserved", "housing reserved the places"))
    assert await b.store.reservation_held(held, then_save=answered)
    saved = await b.store.get_household(h.household_id)
    assert saved is not None
    assert saved.status is HouseholdStatus.RESERVED
    assert [e.kind for e in await b.history(h.household_id)] == ["reserved"]
    assert await free(b, site) == 17, "the places counted once: held, no longer requested"
    # Housing answers the re-sent request again: neither the count nor the household moves.
    again = await b.store.get_household(h.household_id, for_update=True)
    assert again is not None
    again.status = HouseholdStatus.WAITLISTED
    again.history.append(HistoryEntry(at(3), "failed", "must not be kept"))
    assert not await b.store.reservation_held(held, then_save=again)
    after = await b.store.get_household(h.household_id)
    assert after is not None
    assert after.status is HouseholdStatus.RESERVED
    assert [e.kind for e in await b.history(h.household_id)] == ["reserved"]
    assert await free(b, site) == 17


async def a_household_saved_with_its_check_in_is_saved_with_the_places_it_occupies(
    b: Backend,
) -> None:
    site, h, held = await answered_by_housing(b, HouseholdStatus.RESERVED, 4)
    assert await b.store.reservation_held(held)
    housed = await b.store.get_household(h.household_id, for_update=True)
    assert housed is not None
    housed.status, housed.placement = HouseholdStatus.HOUSED, None
    housed.home = living_at(site, Pillar.WOHNHEIM, since=5)
    housed.history.append(HistoryEntry(at(5), "housed", "checked in (Wohnheim)", site))
    arrival = checked_in(site, 4, held.reservation_id, h.household_id)
    await b.store.occupant_checked_in(arrival, then_save=housed)
    after = await b.store.get_household(h.household_id)
    assert after is not None
    assert after.status is HouseholdStatus.HOUSED
    assert after.home is not None
    assert after.home.site_id == site
    assert [e.kind for e in await b.history(h.household_id)] == ["housed"]
    assert await free(b, site) == 16, "the reserved places are occupied now"


async def unanswered_requests_hold_their_places_on_the_board(b: Backend) -> None:
    site = uuid.uuid4()
    await b.store.site_opened(opened(site, capacity=20), 1)
    waiting = household(HouseholdStatus.PLACING, persons=3, placement=placing_at(site, 3))
    await registered(b, waiting)
    assert await free(b, site) == 17
    [option] = (await b.store.load_board()).sites()
    assert option.free == 17
    # Housing answered: its reservation counts from now on, the request no longer.
    reserved = bed_reserved(site, 3)
    assert await b.store.reservation_held(reserved)
    assert waiting.placement is not None
    waiting.placement = waiting.placement.hold(at(48))
    await b.store.save_household(waiting)
    assert await free(b, site) == 17


async def flats_are_free_while_nobody_holds_or_rents_them(b: Backend) -> None:
    flats, rooms = uuid.uuid4(), uuid.uuid4()
    small, large = Unit(unit_id=uuid.uuid4(), places=2), Unit(unit_id=uuid.uuid4(), places=5)
    await b.store.site_opened(opened(flats, capacity=7, units=[large, small]), 1)
    await b.store.site_opened(opened(flats, capacity=7, units=[large, small]), 1)  # a repeat
    await b.store.site_opened(opened(rooms, capacity=7), 1)

    async def free_units(site_id: uuid.UUID) -> tuple[int, ...] | None:
        option = await b.store.site_option(site_id)
        assert option is not None
        return option.free_units

    assert await free_units(flats) == (2, 5)
    assert await free_units(rooms) is None
    assert await b.store.reservation_held(bed_reserved(flats, 5, large.unit_id))
    assert await free_units(flats) == (2,)
    await b.store.occupant_checked_in(checked_in(flats, 2, unit_id=small.unit_id))
    assert await free_units(flats) == ()
    [option] = [s for s in (await b.store.load_board()).sites() if s.site_id == flats]
    assert option.free_units == ()


SCENARIOS: list[Callable[[Backend], Awaitable[None]]] = [
    a_quota_period_is_recorded_once_and_listed_by_its_start,
    a_quota_period_counts_placed_persons_and_referred_minors_apart,
    a_household_is_registered_once_per_land_reference,
    saving_keeps_a_transition_and_never_the_identity,
    the_history_is_kept_in_the_order_written,
    a_repeated_registration_adds_no_history,
    at_a_site_are_its_residents_and_requests_oldest_first,
    the_waitlist_is_oldest_first_then_pending_relocations,
    emergency_residents_are_those_in_notunterkuenfte_with_no_move,
    emergency_residents_come_in_the_dissolution_order_and_only_so_many,
    households_are_locked_by_id_and_unknown_ones_are_absent,
    a_household_read_ahead_answers_as_the_database_would,
    unanswered_requests_are_overdue_longest_unanswered_first,
    each_re_send_waits_twice_as_long_up_to_the_doublings_and_a_new_request_starts_over,
    erasing_the_intake_replaces_the_land_reference_and_drops_special_needs,
    the_board_shows_open_sites_with_their_free_places,
    a_site_event_older_than_the_last_one_folded_changes_nothing,
    reservations_and_occupants_are_counted_once,
    a_household_saved_with_its_reservation_is_saved_only_if_the_reservation_is_new,
    a_household_saved_with_its_check_in_is_saved_with_the_places_it_occupies,
    unanswered_requests_hold_their_places_on_the_board,
    flats_are_free_while_nobody_holds_or_rents_them,
]


@pytest.fixture
async def conn(database: str) -> AsyncIterator[asyncpg.Connection]:
    pool = await create_pool(database, min_size=1, max_size=1)
    await migrate(pool, [("allocation", MIGRATIONS)])
    async with pool.acquire() as conn:
        yield conn
    await pool.close()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_the_in_memory_allocation_store(
    scenario: Callable[[Backend], Awaitable[None]],
) -> None:
    await scenario(Memory())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_the_postgres_allocation_store(
    scenario: Callable[[Backend], Awaitable[None]], conn: asyncpg.Connection
) -> None:
    await scenario(Postgres(conn))


async def test_emergency_residents_are_read_through_their_partial_index(
    conn: asyncpg.Connection,
) -> None:
    """The queries behind ``emergency_residents`` state the predicate of the partial index
    ``households_in_emergency`` so that PostgreSQL can read the residents through it, in
    its order: if the two drift apart, every freeing event reads every resident again
    (0.75 s an event at a hundred times Hannover). Sequential and bitmap scans are
    switched off, so the plan names the index whenever it can serve the query (which
    index a plan of ten rows prefers is no guide to one of 100,000)."""
    shelters = [uuid.uuid4(), uuid.uuid4()]
    people = [
        household(HouseholdStatus.HOUSED, home=living_at(site, Pillar.NOTUNTERKUNFT, since=n))
        for n, site in enumerate(shelters * 5)
    ]
    await registered(Postgres(conn), *people)
    await conn.execute("ANALYZE households")
    await conn.execute("SET enable_seqscan = off")
    await conn.execute("SET enable_bitmapscan = off")
    for query, args in (
        (_RESIDENT_SHELTERS, (201,)),
        (_first_residents(0, 2, True), (200, *shelters)),
        (_first_residents(0, 2, False), (200, *shelters)),
        (_first_residents(1, 1, True), (200, 190, *shelters)),
    ):
        plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {query}", *args))
        assert "households_in_emergency" in plan, plan
    # Shelters read whole (their residents counted first) need no order: any index on the
    # shelter bounds the read to its residents.
    plan = "\n".join(
        r[0] for r in await conn.fetch(f"EXPLAIN {_first_residents(2, 0, True)}", 200, *shelters)
    )
    assert plan.count("Index Cond: (site_id = ") == 2, plan
