"""Housing's two stores keep the same promises: every scenario runs against
``InMemoryHousingStore`` (the handlers' unit tests use it) and ``PgHousingStore`` on a fresh
database with housing's migrations (marked integration by its fixture). What the port
cannot read back (the site's history, the stays, the resident list) each backend shows
from its own tables."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Protocol

import asyncpg
import pytest
from ankommen_contracts import BuildingKind, BuildingOwner, Pillar, SiteRequirement, Suitability
from ankommen_contracts.events.housing import ClosingReason, RejectionReason, ReleaseReason
from ankommen_runtime.db import create_pool, migrate
from fakes.housing import InMemoryHousingStore
from housing.app import SPEC
from housing.domain import (
    Flat,
    FollowUp,
    FollowUpReason,
    Holding,
    Occupant,
    Reservation,
    ReservationRequest,
    ReservationStatus,
    Resident,
    Site,
    SiteStatus,
)
from housing.store import AlreadyRecorded, HousingStore, PgHousingStore

T0 = datetime(2016, 3, 14, 9, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)

# (effective_at, status, capacity, blocked) of each recorded state of a site, in order
History = list[tuple[datetime, SiteStatus, int, int]]
# (site_id, persons, checked_in_at, checked_out_at, check_out_reason) of each stay, in order
Stays = list[tuple[uuid.UUID, int, datetime, datetime | None, str | None]]
# (status, expires_at) of a reservation's row as stored: 'pending' while undecided
Row = tuple[str, datetime | None]


class Backend(Protocol):
    store: HousingStore

    async def history(self, site_id: uuid.UUID) -> History: ...
    async def stays(self, household_id: uuid.UUID) -> Stays: ...
    async def resident_ids(self) -> set[uuid.UUID]: ...
    async def reservation_row(self, reservation_id: uuid.UUID) -> Row: ...


class Memory:
    def __init__(self) -> None:
        self.fake = InMemoryHousingStore()
        self.store: HousingStore = self.fake

    async def history(self, site_id: uuid.UUID) -> History:
        return [
            (h.effective_at, h.status, h.capacity, h.blocked)
            for h in self.fake.site_history
            if h.site_id == site_id
        ]

    async def stays(self, household_id: uuid.UUID) -> Stays:
        return [
            (s.site_id, s.persons, s.checked_in_at, s.checked_out_at, s.check_out_reason)
            for s in self.fake.stays
            if s.household_id == household_id
        ]

    async def resident_ids(self) -> set[uuid.UUID]:
        return set(self.fake.residents)

    async def reservation_row(self, reservation_id: uuid.UUID) -> Row:
        row = self.fake.reservations[reservation_id]
        return (row.status, row.expires_at)


class Postgres:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.store: HousingStore = PgHousingStore(conn)

    async def history(self, site_id: uuid.UUID) -> History:
        rows = await self.conn.fetch(
            """SELECT effective_at, status, capacity, blocked FROM site_history
               WHERE site_id = $1 ORDER BY id""",
            site_id,
        )
        return [
            (r["effective_at"], SiteStatus(r["status"]), r["capacity"], r["blocked"]) for r in rows
        ]

    async def stays(self, household_id: uuid.UUID) -> Stays:
        rows = await self.conn.fetch(
            """SELECT site_id, persons, checked_in_at, checked_out_at, check_out_reason
               FROM stays WHERE household_id = $1 ORDER BY id""",
            household_id,
        )
        return [tuple(r.values()) for r in rows]  # type: ignore[misc]

    async def resident_ids(self) -> set[uuid.UUID]:
        return {
            r["resident_id"] for r in await self.conn.fetch("SELECT resident_id FROM residents")
        }

    async def reservation_row(self, reservation_id: uuid.UUID) -> Row:
        row = await self.conn.fetchrow(
            "SELECT status, expires_at FROM reservations WHERE reservation_id = $1",
            reservation_id,
        )
        assert row is not None
        return (row["status"], row["expires_at"])


def an_open_site(capacity: int = 10, flats: tuple[int, ...] = ()) -> Site:
    site = Site.open_new(
        name=f"Wohnheim {uuid.uuid4().hex[:6]}",
        pillar=Pillar.WOHNHEIM,
        district=9,
        operator="DRK",
        capacity=capacity,
        suitability=[Suitability.FAMILIES, Suitability.ACCESSIBLE],
        building=BuildingKind.PURPOSE_BUILT_HOME,
        owner=BuildingOwner.HOUSING_COMPANY,
        closes_on=date(2017, 6, 30),
        flats=flats,
        daily_rate=Decimal("23.50"),
    )
    site.changed_at = T0
    return site


def a_request(
    site: Site, places: int = 2, household: uuid.UUID | None = None, *, at: datetime = T0
) -> ReservationRequest:
    """A request for a household expected an hour after ``at``."""
    return ReservationRequest(
        reservation_id=uuid.uuid4(),
        site_id=site.site_id,
        household_id=household or uuid.uuid4(),
        places=places,
        requirements=frozenset({SiteRequirement.ACCESSIBLE}),
        expected_arrival_at=at + HOUR,
    )


async def claimed(b: Backend, request: ReservationRequest, at: datetime = T0) -> Site:
    """Claim the request's reservation id; the site it asks for, as read then."""
    claim = await b.store.claim_reservation_at_site(request, at)
    assert claim.claimed
    assert claim.site is not None
    return claim.site


async def held(b: Backend, site: Site, places: int = 2, *, at: datetime = T0) -> Reservation:
    """A reservation claimed and saved as held (what ``reserve`` leaves), with the site's
    reserved places taken."""
    request = a_request(site, places, at=at)
    reservation = (await claimed(b, request, at)).reserve(request, at)
    assert reservation.status is ReservationStatus.HELD
    assert await b.store.save_decision(reservation)
    return reservation


async def reserved(b: Backend, site: Site) -> int:
    read = await b.store.get_site(site.site_id)
    assert read is not None
    return read.reserved


def occupant_of(reservation: Reservation, at: datetime) -> Occupant:
    return Occupant(
        household_id=reservation.household_id,
        site_id=reservation.site_id,
        persons=reservation.places,
        checked_in_at=at,
        unit_id=reservation.unit_id,
    )


# -- sites ---------------------------------------------------------------------------------


async def a_site_reads_back_as_added_with_its_flats_free_and_in_order(b: Backend) -> None:
    site = an_open_site(capacity=8, flats=(4, 2, 2))
    await b.store.add_site(site)
    read = await b.store.get_site(site.site_id)
    by_places = sorted(site.flats, key=lambda f: (f.places, f.unit_id))
    assert read == replace(site, flats=[Flat(f.unit_id, f.places) for f in by_places])
    assert read is not None
    assert [f.places for f in read.flats] == [2, 2, 4]
    assert all(f.free for f in read.flats)
    assert read.events == [], "a read site has raised nothing"
    assert await b.store.get_site(uuid.uuid4()) is None
    locked = await b.store.get_site(site.site_id, for_update=True)
    assert locked == read


async def a_taken_site_id_is_already_recorded(b: Backend) -> None:
    site = an_open_site()
    await b.store.add_site(site)
    with pytest.raises(AlreadyRecorded):
        await b.store.add_site(replace(an_open_site(), site_id=site.site_id))
    assert await b.store.get_site(site.site_id) == site, "the first site stays"


async def saving_a_site_writes_what_its_rules_change_and_nothing_else(b: Backend) -> None:
    site = an_open_site(capacity=10)
    await b.store.add_site(site)
    changed = await b.store.get_site(site.site_id, for_update=True)
    assert changed is not None
    changed.name, changed.district, changed.suitability = "Renamed", 3, []
    changed.operator, changed.capacity, changed.blocked = "Johanniter", 12, 2
    changed.reserved, changed.occupied = 3, 4
    changed.status, changed.closing_reason = SiteStatus.CLOSING, ClosingReason.LEASE_ENDED
    changed.closes_on, changed.changed_at = date(2016, 12, 31), T0 + HOUR
    changed.daily_rate, changed.monthly_fixed_cost = None, Decimal("41000.00")
    await b.store.save_site(changed)
    read = await b.store.get_site(site.site_id)
    assert read is not None
    assert (read.name, read.district, read.suitability) == (site.name, 9, site.suitability)
    assert (read.operator, read.capacity, read.blocked, read.reserved, read.occupied) == (
        "Johanniter", 12, 2, 3, 4,
    )  # fmt: skip
    assert (read.status, read.closing_reason, read.closes_on, read.changed_at) == (
        SiteStatus.CLOSING, ClosingReason.LEASE_ENDED, date(2016, 12, 31), T0 + HOUR,
    )  # fmt: skip
    assert (read.daily_rate, read.monthly_fixed_cost) == (None, Decimal("41000.00"))
    stranger = an_open_site()
    await b.store.save_site(stranger)  # never added: nothing to write
    assert await b.store.get_site(stranger.site_id) is None


async def a_plan_dropped_before_it_opened_is_saved_closed_without_an_operator(
    b: Backend,
) -> None:
    plan = Site.plan(name="Modulbau Bemerode", pillar=Pillar.WOHNHEIM, district=6, capacity=96)
    await b.store.add_site(plan)
    dropped = await b.store.get_site(plan.site_id, for_update=True)
    assert dropped is not None
    dropped.close()
    await b.store.save_site(dropped)
    read = await b.store.get_site(plan.site_id)
    assert read is not None
    assert (read.status, read.operator) == (SiteStatus.CLOSED, None)


async def several_sites_are_read_in_id_order_unknown_ones_left_out(b: Backend) -> None:
    sites = [an_open_site() for _ in range(3)]
    for site in sites:
        await b.store.add_site(site)
    unknown = uuid.uuid4()
    ids = [s.site_id for s in sites]
    read = await b.store.get_sites([ids[2], unknown, ids[0], ids[2], ids[1]])
    assert list(read) == sorted(ids)
    assert read == {s.site_id: await b.store.get_site(s.site_id) for s in sites}
    assert await b.store.get_sites([unknown]) == {}


async def a_holding_shifts_by_its_difference_on_the_stored_figures(b: Backend) -> None:
    site = an_open_site(capacity=10)
    site.reserved, site.occupied = 4, 3
    await b.store.add_site(site)
    stale = await b.store.get_site(site.site_id)
    assert stale is not None
    # Another transaction's check-out lands between this one's read and its write.
    assert await b.store.shift_holding(site.site_id, Holding(occupied=-1))
    assert await b.store.shift_holding(site.site_id, Holding(reserved=-2, occupied=2))
    read = await b.store.get_site(site.site_id)
    assert read is not None
    assert (read.reserved, read.occupied) == (2, 4), "both changes kept, neither overwritten"
    assert (read.capacity, read.status) == (10, SiteStatus.OPEN)
    assert not await b.store.shift_holding(uuid.uuid4(), Holding(occupied=1)), "unknown site"


async def a_holding_shifts_only_if_open_when_asked(b: Backend) -> None:
    site = an_open_site(capacity=10)
    site.reserved, site.status = 2, SiteStatus.CLOSING
    await b.store.add_site(site)
    assert not await b.store.shift_holding(
        site.site_id, Holding(reserved=-2, occupied=2), only_if_open=True
    )
    assert await b.store.shift_holding(site.site_id, Holding(reserved=-2))
    read = await b.store.get_site(site.site_id)
    assert read is not None
    assert (read.reserved, read.occupied) == (0, 0), "the refused shift changed nothing"


async def a_sites_states_are_kept_with_their_business_time(b: Backend) -> None:
    site = an_open_site(capacity=10)
    await b.store.add_site(site)
    await b.store.record_site_state(site, T0)
    site.blocked, site.status = 2, SiteStatus.CLOSING
    await b.store.record_site_state(site, T0 + HOUR)
    assert await b.history(site.site_id) == [
        (T0, SiteStatus.OPEN, 10, 0),
        (T0 + HOUR, SiteStatus.CLOSING, 10, 2),
    ]


# -- reservations --------------------------------------------------------------------------


async def a_reservation_id_is_claimed_once_and_reads_back_as_decided(b: Backend) -> None:
    site = an_open_site(capacity=5)
    await b.store.add_site(site)
    request = a_request(site, 2)
    await claimed(b, request)
    again = await b.store.claim_reservation_at_site(request, T0 + HOUR)
    assert not again.claimed, "decided once"
    assert again.site == site, "the site is read either way"
    reservation = Reservation.rejected(request, T0, RejectionReason.NO_FREE_PLACES, 1)
    assert await b.store.save_decision(reservation)
    assert await b.store.get_reservation(request.reservation_id) == reservation
    assert await b.store.get_reservation(request.reservation_id, for_update=True) == reservation
    assert await b.store.get_reservation(uuid.uuid4()) is None


async def a_claim_reads_the_site_with_its_flats_and_their_holders(b: Backend) -> None:
    site = an_open_site(capacity=6, flats=(4, 2))
    await b.store.add_site(site)
    holding = await held(b, site, 2)
    request = a_request(site, 3)
    claim = await b.store.claim_reservation_at_site(request, T0)
    assert claim.claimed
    assert claim.site == await b.store.get_site(site.site_id)
    assert claim.site is not None
    assert [(f.places, f.household_id) for f in claim.site.flats] == [
        (2, holding.household_id),
        (4, None),
    ]
    assert (claim.site.reserved, claim.site.events) == (2, [])


async def a_claim_for_an_unknown_site_is_kept_without_a_site(b: Backend) -> None:
    stranger = an_open_site()  # never added
    request = a_request(stranger, 2)
    claim = await b.store.claim_reservation_at_site(request, T0)
    assert (claim.claimed, claim.site) == (True, None)
    assert not (await b.store.claim_reservation_at_site(request, T0)).claimed
    rejection = Reservation.for_unknown_site(request, T0)
    assert await b.store.save_decision(rejection)
    assert await b.store.get_reservation(request.reservation_id) == rejection


async def a_held_decision_takes_its_places_and_is_saved_with_them(b: Backend) -> None:
    site = an_open_site(capacity=5)
    await b.store.add_site(site)
    request = a_request(site, 2)
    reservation = (await claimed(b, request)).reserve(request, T0)
    assert await b.store.save_decision(reservation)
    assert await reserved(b, site) == 2
    assert await b.store.get_reservation(request.reservation_id) == reservation
    assert await b.reservation_row(request.reservation_id) == ("held", reservation.expires_at)


async def places_are_held_up_to_the_capacity_and_never_beyond(b: Backend) -> None:
    site = an_open_site(capacity=5)
    site.blocked, site.occupied = 1, 1
    await b.store.add_site(site)
    first, second, third, fourth = (a_request(site, n) for n in (2, 2, 1, 1))
    # Each decided on the same plain read, as racing transactions decide.
    decisions = [(await claimed(b, r)).reserve(r, T0) for r in (first, second, third, fourth)]
    assert all(d.status is ReservationStatus.HELD for d in decisions)
    assert [await b.store.save_decision(d) for d in decisions] == [True, False, True, False]
    assert await reserved(b, site) == 3, "1 + 3 + 1 = 5: full, never beyond"
    for refused in (second, fourth):
        assert await b.reservation_row(refused.reservation_id) == ("pending", None), (
            "a refused decision is not saved"
        )


async def a_refused_decision_can_be_decided_again_on_the_current_site(b: Backend) -> None:
    site = an_open_site(capacity=3)
    await b.store.add_site(site)
    mine = a_request(site, 2)
    stale = (await claimed(b, mine)).reserve(mine, T0)
    await held(b, site, 2)  # another request takes the places meanwhile
    assert not await b.store.save_decision(stale)
    current = await b.store.get_site(site.site_id, for_update=True)
    assert current is not None
    rejection = current.reserve(mine, T0)
    assert (rejection.rejection_reason, rejection.free_places) == (
        RejectionReason.NO_FREE_PLACES, 1,
    )  # fmt: skip
    assert await b.store.save_decision(rejection)
    assert await b.store.get_reservation(mine.reservation_id) == rejection
    assert await reserved(b, site) == 2, "the other request's places only"


async def a_site_not_open_takes_no_held_decision(b: Backend) -> None:
    site = an_open_site(capacity=5)
    await b.store.add_site(site)
    request = a_request(site, 1)
    decided = (await claimed(b, request)).reserve(request, T0)
    closing = await b.store.get_site(site.site_id, for_update=True)
    assert closing is not None
    closing.start_closing(ClosingReason.LEASE_ENDED)
    await b.store.save_site(closing)
    assert not await b.store.save_decision(decided)
    assert await reserved(b, site) == 0
    assert await b.reservation_row(request.reservation_id) == ("pending", None)
    planned = Site.plan(
        name="Plan",
        pillar=Pillar.WOHNHEIM,
        district=2,
        capacity=5,
        suitability=[Suitability.ACCESSIBLE],
    )
    await b.store.add_site(planned)
    early = a_request(planned, 1)
    await claimed(b, early)
    as_if_open = replace(planned, status=SiteStatus.OPEN).reserve(early, T0)
    assert as_if_open.status is ReservationStatus.HELD
    assert not await b.store.save_decision(as_if_open)
    assert await reserved(b, planned) == 0


async def a_rejected_decision_is_saved_without_touching_the_site(b: Backend) -> None:
    site = an_open_site(capacity=3)
    site.occupied = 2
    await b.store.add_site(site)
    request = a_request(site, 2)
    rejection = (await claimed(b, request)).reserve(request, T0)
    assert rejection.status is ReservationStatus.REJECTED
    assert await b.store.save_decision(rejection)
    assert await b.store.get_reservation(request.reservation_id) == rejection
    read = await b.store.get_site(site.site_id)
    assert read is not None
    assert (read.reserved, read.occupied) == (0, 2)


async def a_decision_takes_its_places_once(b: Backend) -> None:
    site = an_open_site(capacity=10)
    await b.store.add_site(site)
    reservation = await held(b, site, 2)
    assert not await b.store.save_decision(reservation), "decided already"
    assert await reserved(b, site) == 2
    never_claimed = replace(reservation, reservation_id=uuid.uuid4())
    assert not await b.store.save_decision(never_claimed), "nothing claimed to decide"
    assert await reserved(b, site) == 2
    assert await b.store.get_reservation(never_claimed.reservation_id) is None


async def saving_a_reservation_writes_its_decision_not_what_was_claimed(b: Backend) -> None:
    site = an_open_site(capacity=5)
    await b.store.add_site(site)
    reservation = await held(b, site, 2)
    reservation.site_id, reservation.household_id, reservation.places = (
        uuid.uuid4(), uuid.uuid4(), 4,
    )  # fmt: skip
    reservation.requirements = frozenset()
    reservation.status = ReservationStatus.RELEASED
    reservation.released_at, reservation.release_reason = T0 + HOUR, ReleaseReason.CANCELLED
    await b.store.save_reservation(reservation)
    read = await b.store.get_reservation(reservation.reservation_id)
    assert read is not None
    assert (read.site_id, read.places, read.requirements) == (
        site.site_id, 2, frozenset({SiteRequirement.ACCESSIBLE}),
    )  # fmt: skip
    assert (read.status, read.released_at, read.release_reason) == (
        ReservationStatus.RELEASED, T0 + HOUR, ReleaseReason.CANCELLED,
    )  # fmt: skip
    assert read.expires_at == T0 + HOUR + timedelta(hours=48)


async def a_flat_shows_the_household_holding_or_living_in_it(b: Backend) -> None:
    site = an_open_site(capacity=6, flats=(2, 4))
    await b.store.add_site(site)
    holding = await held(b, site, 2)
    assert holding.unit_id is not None
    read = await b.store.get_site(site.site_id)
    assert read is not None
    assert [(f.places, f.household_id) for f in read.flats] == [
        (2, holding.household_id),
        (4, None),
    ]
    holding.status, holding.checked_in_at = ReservationStatus.CHECKED_IN, T0
    await b.store.save_reservation(holding)
    await b.store.move_in(occupant_of(holding, T0), moved_from=None)
    read = await b.store.get_site(site.site_id)
    assert read is not None
    assert read.flats[0].household_id == holding.household_id
    await b.store.move_out(holding.household_id, site.site_id, T0 + HOUR, "moved_out")
    read = await b.store.get_site(site.site_id)
    assert read is not None
    assert [f.free for f in read.flats] == [True, True]


async def a_households_held_reservations_are_locked_in_id_order(b: Backend) -> None:
    site = an_open_site(capacity=20)
    await b.store.add_site(site)
    household = uuid.uuid4()
    mine = []
    for _ in range(3):
        request = a_request(site, 1, household)
        reservation = (await claimed(b, request)).reserve(request, T0)
        mine.append(reservation)
    mine[1].status = ReservationStatus.RELEASED
    mine[1].released_at, mine[1].release_reason = T0, ReleaseReason.EXPIRED
    await b.store.save_reservations(mine)
    await held(b, site, 1)  # another household's
    locked = await b.store.lock_held_of_household(household)
    assert [r.reservation_id for r in locked] == sorted(
        r.reservation_id for r in (mine[0], mine[2])
    )
    assert await b.store.lock_held_of_household(uuid.uuid4()) == []


async def a_lists_reservations_and_occupants_are_locked_in_id_order(b: Backend) -> None:
    site = an_open_site(capacity=20)
    await b.store.add_site(site)
    first, second = await held(b, site, 1), await held(b, site, 2)
    unknown = uuid.uuid4()
    locked = await b.store.lock_reservations([second.reservation_id, unknown, first.reservation_id])
    assert list(locked) == sorted([first.reservation_id, second.reservation_id])
    assert locked[first.reservation_id] == await b.store.get_reservation(first.reservation_id)
    assert locked[second.reservation_id] == await b.store.get_reservation(second.reservation_id)
    living = occupant_of(first, T0)
    await b.store.move_in(living, moved_from=None)
    homes = await b.store.lock_occupants(
        [second.household_id, first.household_id, first.household_id]
    )
    assert homes == {first.household_id: living}, "only those living here, once each"
    assert await b.store.lock_reservations([]) == {}
    assert await b.store.lock_occupants([]) == {}


async def expired_holds_are_claimed_oldest_first_up_to_the_limit(b: Backend) -> None:
    site = an_open_site(capacity=20)
    await b.store.add_site(site)
    later = await held(b, site, 1, at=T0 + HOUR)
    first = await held(b, site, 1, at=T0)
    same = [await held(b, site, 1, at=T0 + 2 * HOUR) for _ in range(2)]
    released = await held(b, site, 1, at=T0)
    released.status, released.released_at = ReservationStatus.RELEASED, T0
    released.release_reason = ReleaseReason.CANCELLED
    await b.store.save_reservation(released)
    assert first.expires_at is not None
    assert later.expires_at is not None
    assert await b.store.claim_expired(first.expires_at - timedelta(seconds=1), 10) == []
    assert [r.reservation_id for r in await b.store.claim_expired(later.expires_at, 10)] == [
        first.reservation_id,
        later.reservation_id,
    ]
    everything = await b.store.claim_expired(T0 + timedelta(days=9), 3)
    assert [r.reservation_id for r in everything] == [
        first.reservation_id,
        later.reservation_id,
        min(r.reservation_id for r in same),
    ]
    assert all(r.status is ReservationStatus.HELD for r in everything)


# -- occupants -----------------------------------------------------------------------------


async def a_household_moves_in_moves_on_and_out_and_its_stays_are_kept(b: Backend) -> None:
    first, second = an_open_site(), an_open_site()
    await b.store.add_site(first)
    await b.store.add_site(second)
    household = uuid.uuid4()
    assert await b.store.get_occupant(household) is None
    there = Occupant(household, first.site_id, 3, T0)
    await b.store.move_in(there, moved_from=None)
    assert await b.store.get_occupant(household) == there
    with pytest.raises(AlreadyRecorded):
        await b.store.move_in(Occupant(household, second.site_id, 3, T0), moved_from=None)
    assert await b.store.get_occupant(household, for_update=True) == there
    moved = Occupant(household, second.site_id, 3, T0 + HOUR)
    await b.store.move_in(moved, moved_from=first.site_id)
    assert await b.store.get_occupant(household) == moved
    await b.store.move_out(household, second.site_id, T0 + 2 * HOUR, "departed")
    assert await b.store.get_occupant(household) is None
    assert await b.stays(household) == [
        (first.site_id, 3, T0, T0 + HOUR, "relocated"),
        (second.site_id, 3, T0 + HOUR, T0 + 2 * HOUR, "departed"),
    ]


async def a_flat_someone_lives_in_takes_nobody_else(b: Backend) -> None:
    site = an_open_site(capacity=4, flats=(4,))
    await b.store.add_site(site)
    unit = site.flats[0].unit_id
    resident, intruder = uuid.uuid4(), uuid.uuid4()
    await b.store.move_in(Occupant(resident, site.site_id, 2, T0, unit_id=unit), moved_from=None)
    intruding = Occupant(intruder, site.site_id, 2, T0, unit_id=unit)
    with pytest.raises(AlreadyRecorded):
        await b.store.move_in(intruding, moved_from=None)
    assert await b.store.get_occupant(intruder) is None
    assert await b.stays(intruder) == []


# -- follow-ups ----------------------------------------------------------------------------


async def a_follow_up_is_raised_then_resolved_with_a_note(b: Backend) -> None:
    site = an_open_site()
    await b.store.add_site(site)
    follow_up = FollowUp(uuid.uuid4(), site.site_id, uuid.uuid4(), 2, FollowUpReason.HOUSE_BAN, T0)
    await b.store.add_follow_up(follow_up)
    assert await b.store.get_follow_up(follow_up.follow_up_id) == follow_up
    assert await b.store.get_follow_up(uuid.uuid4()) is None
    resolving = await b.store.get_follow_up(follow_up.follow_up_id, for_update=True)
    assert resolving is not None
    resolving.resolve("placed at another site", T0 + HOUR)
    resolving.persons = 7  # not what a resolution writes
    await b.store.save_follow_up(resolving)
    read = await b.store.get_follow_up(follow_up.follow_up_id)
    assert read is not None
    assert (read.resolved_at, read.note, read.persons) == (
        T0 + HOUR, "placed at another site", 2,
    )  # fmt: skip


# -- residents -----------------------------------------------------------------------------


async def residents_are_forgotten_per_site_and_erased_per_person_or_household(
    b: Backend,
) -> None:
    """A household leaves a site's resident list when it leaves the site, by a move or a
    move-out, and only that site's list."""
    here, there, next_door = an_open_site(), an_open_site(), an_open_site()
    for site in (here, there, next_door):
        await b.store.add_site(site)
    household, other = uuid.uuid4(), uuid.uuid4()

    def person(site: Site, h: uuid.UUID) -> Resident:
        return Resident(uuid.uuid4(), site.site_id, h, "Haddad", "Samir", T0)

    mine_here, mine_there = person(here, household), person(there, household)
    theirs, also_theirs = person(here, other), person(here, other)
    await b.store.add_residents([mine_here, mine_there, theirs, also_theirs])
    await b.store.add_residents([])
    assert await b.resident_ids() == {
        r.resident_id for r in (mine_here, mine_there, theirs, also_theirs)
    }
    await b.store.move_in(Occupant(household, here.site_id, 1, T0), moved_from=None)
    await b.store.move_in(
        Occupant(household, next_door.site_id, 1, T0 + HOUR), moved_from=here.site_id
    )
    assert await b.resident_ids() == {r.resident_id for r in (mine_there, theirs, also_theirs)}
    mine_next_door = person(next_door, household)
    await b.store.add_residents([mine_next_door])
    await b.store.move_out(household, next_door.site_id, T0 + 2 * HOUR, "moved_out")
    assert await b.resident_ids() == {r.resident_id for r in (mine_there, theirs, also_theirs)}
    assert await b.store.erase_resident(theirs.resident_id)
    assert not await b.store.erase_resident(theirs.resident_id), "erased already"
    # The list knows people by household: the whole household goes, whoever is named.
    assert await b.store.erase_residents(other, [uuid.uuid4()]) == 1
    assert await b.store.erase_residents(other, []) == 0
    assert await b.resident_ids() == {mine_there.resident_id}
    assert await b.store.erase_residents(household, []) == 1
    assert await b.resident_ids() == set()


SCENARIOS: list[Callable[[Backend], Awaitable[None]]] = [
    a_site_reads_back_as_added_with_its_flats_free_and_in_order,
    a_taken_site_id_is_already_recorded,
    saving_a_site_writes_what_its_rules_change_and_nothing_else,
    a_plan_dropped_before_it_opened_is_saved_closed_without_an_operator,
    several_sites_are_read_in_id_order_unknown_ones_left_out,
    a_holding_shifts_by_its_difference_on_the_stored_figures,
    a_holding_shifts_only_if_open_when_asked,
    a_sites_states_are_kept_with_their_business_time,
    a_reservation_id_is_claimed_once_and_reads_back_as_decided,
    a_claim_reads_the_site_with_its_flats_and_their_holders,
    a_claim_for_an_unknown_site_is_kept_without_a_site,
    a_held_decision_takes_its_places_and_is_saved_with_them,
    places_are_held_up_to_the_capacity_and_never_beyond,
    a_refused_decision_can_be_decided_again_on_the_current_site,
    a_site_not_open_takes_no_held_decision,
    a_rejected_decision_is_saved_without_touching_the_site,
    a_decision_takes_its_places_once,
    saving_a_reservation_writes_its_decision_not_what_was_claimed,
    a_flat_shows_the_household_holding_or_living_in_it,
    a_households_held_reservations_are_locked_in_id_order,
    a_lists_reservations_and_occupants_are_locked_in_id_order,
    expired_holds_are_claimed_oldest_first_up_to_the_limit,
    a_household_moves_in_moves_on_and_out_and_its_stays_are_kept,
    a_flat_someone_lives_in_takes_nobody_else,
    a_follow_up_is_raised_then_resolved_with_a_note,
    residents_are_forgotten_per_site_and_erased_per_person_or_household,
]


async def housing_pool(database: str, size: int) -> asyncpg.Pool:
    pool = await create_pool(database, min_size=1, max_size=size)
    assert SPEC.migrations is not None
    await migrate(pool, [("housing", SPEC.migrations)])
    return pool


@pytest.fixture
async def connection(database: str) -> AsyncIterator[asyncpg.Connection]:
    pool = await housing_pool(database, 1)
    async with pool.acquire() as conn:
        yield conn
    await pool.close()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_the_in_memory_housing_store(scenario: Callable[[Backend], Awaitable[None]]) -> None:
    await scenario(Memory())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_the_postgres_housing_store(
    scenario: Callable[[Backend], Awaitable[None]], connection: asyncpg.Connection
) -> None:
    await scenario(Postgres(connection))


RACERS = 12


async def test_transactions_racing_for_the_last_places_never_overbook(database: str) -> None:
    """Twelve transactions decide on the same plain read of a site with five places free,
    then save their decisions at the same moment: each waits for the site's row and has
    the condition checked again on the newest version, so five hold a place, and the
    others, refused and changing nothing, decide again on the locked row (as ``reserve``
    does) and are rejected. Only PostgreSQL has transactions that race."""
    pool = await housing_pool(database, RACERS)
    try:
        site = an_open_site(capacity=6)
        site.occupied = 1
        async with pool.acquire() as conn:
            await PgHousingStore(conn).add_site(site)
        everyone_has_read = asyncio.Barrier(RACERS)

        async def decide(request: ReservationRequest) -> tuple[bool, Reservation]:
            async with pool.acquire() as conn, conn.transaction():
                store = PgHousingStore(conn)
                claim = await store.claim_reservation_at_site(request, T0)
                assert claim.site is not None
                decision = claim.site.reserve(request, T0)
                assert decision.status is ReservationStatus.HELD, "five free on the plain read"
                await everyone_has_read.wait()
                if await store.save_decision(decision):
                    return True, decision
                current = await store.get_site(request.site_id, for_update=True)
                assert current is not None
                decision = current.reserve(request, T0)
                assert await store.save_decision(decision)
                return False, decision

        outcomes = await asyncio.gather(*(decide(a_request(site, 1)) for _ in range(RACERS)))
        first_time = [d for saved, d in outcomes if saved]
        again = [d for saved, d in outcomes if not saved]
        assert len(first_time) == 5
        assert all(d.status is ReservationStatus.HELD for d in first_time)
        assert {(d.status, d.rejection_reason, d.free_places) for d in again} == {
            (ReservationStatus.REJECTED, RejectionReason.NO_FREE_PLACES, 0)
        }
        async with pool.acquire() as conn:
            read = await PgHousingStore(conn).get_site(site.site_id)
            held_places = await conn.fetchval(
                "SELECT sum(places) FROM reservations WHERE site_id = $1 AND status = 'held'",
                site.site_id,
            )
        assert read is not None
        assert (read.reserved, read.occupied, held_places) == (5, 1, 5), "full, not beyond"
    finally:
        await pool.close()
