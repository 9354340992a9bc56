"""``InMemoryAllocationStore``: allocation's ``AllocationStore`` in plain dicts and lists.

For the handlers' unit tests on ``InMemoryUnitOfWork`` (which deep-copies it per
transaction, so it holds no lock and no connection). It keeps ``PgAllocationStore``'s
promises, query by query: ``tests/contract/test_allocation_store_contract.py`` runs the
same scenarios against both. Locks are no-ops here: a unit test runs one transaction at a
time, so "skipping what another transaction holds" never skips anything.

Its state is open for tests to read: ``households``, ``history``, ``quota_periods``,
``sites``, ``reservations``, ``occupants``, ``units``.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from allocation.domain import (
    DEFAULT_POLICY,
    Board,
    EmergencyResident,
    HistoryEntry,
    Household,
    HouseholdStatus,
    PlacementPolicy,
    SiteOption,
    SiteStatus,
    dissolution_key,
    placement_pillar,
)
from allocation.store import QuotaPeriod
from ankommen_contracts import BuildingKind, Pillar, Suitability
from ankommen_contracts.events.allocation import QuotaPeriodAnnounced
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

# What ``save_household`` keeps (the columns of ``_MUTABLE`` in store.py); the identity,
# the members and the assignment as received stay as inserted.
_MUTABLE = (
    "status",
    "home",
    "placement",
    "relocation_reason",
    "tried_site_ids",
    "cancelled_reservation_ids",
    "attempts",
    "waitlisted_since",
    "readiness",
    "expected_arrival_at",
)


def _wall_now() -> datetime:
    """PostgreSQL's ``clock_timestamp()``: the request timeout is a technical one (wall
    clock), never business time."""
    return datetime.now(UTC)


@dataclass
class StoredHousehold:
    """A ``households`` row: the household as saved, the assignment as received, when its
    pending request last went out (wall clock) and how often it went out again."""

    household: Household
    request: dict[str, Any]
    request_sent_at: datetime | None
    request_resends: int = 0


@dataclass
class StoredSite:
    """A ``sites`` row of the replica."""

    site_id: uuid.UUID
    name: str
    pillar: Pillar
    district: int
    suitability: frozenset[Suitability]
    status: SiteStatus
    capacity: int
    last_sequence: int
    building: BuildingKind
    closes_on: date | None
    blocked: int = 0
    reserved: int = 0
    occupied: int = 0


@dataclass
class StoredReservation:
    """A ``site_reservations`` row: housing's reservation as its events showed it."""

    site_id: uuid.UUID
    household_id: uuid.UUID
    places: int
    state: str  # held, released, checked_in
    unit_id: uuid.UUID | None


@dataclass
class StoredOccupant:
    """A ``site_occupants`` row."""

    persons: int
    unit_id: uuid.UUID | None


@dataclass
class InMemoryAllocationStore:
    """``AllocationStore`` in memory (deep-copyable: plain data only)."""

    households: dict[uuid.UUID, StoredHousehold] = field(default_factory=dict)
    history: dict[uuid.UUID, list[HistoryEntry]] = field(default_factory=dict)
    quota_periods: dict[uuid.UUID, QuotaPeriod] = field(default_factory=dict)
    sites: dict[uuid.UUID, StoredSite] = field(default_factory=dict)
    units: dict[uuid.UUID, tuple[uuid.UUID, int]] = field(default_factory=dict)  # site, places
    reservations: dict[uuid.UUID, StoredReservation] = field(default_factory=dict)
    occupants: dict[tuple[uuid.UUID, uuid.UUID], StoredOccupant] = field(default_factory=dict)

    # -- quota periods ------------------------------------------------------------------

    async def add_quota_period(self, event: QuotaPeriodAnnounced, at: datetime) -> bool:
        if event.quota_period_id in self.quota_periods:
            return False
        self.quota_periods[event.quota_period_id] = QuotaPeriod(
            quota_period_id=event.quota_period_id,
            starts_on=event.starts_on,
            ends_on=event.ends_on,
            expected_persons=event.expected_persons,
            weekly_quota=event.weekly_quota,
            announced_at=at,
        )
        return True

    async def known_quota_periods(self, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        return {i for i in ids if i in self.quota_periods}

    async def list_quota_periods(
        self, quota_period_id: uuid.UUID | None = None
    ) -> list[QuotaPeriod]:
        periods = sorted(
            (
                q
                for q in self.quota_periods.values()
                if quota_period_id is None or q.quota_period_id == quota_period_id
            ),
            key=lambda q: (q.starts_on, q.quota_period_id),
        )
        return [self._with_assigned(q) for q in periods]

    def _with_assigned(self, q: QuotaPeriod) -> QuotaPeriod:
        counted = [
            s.household
            for s in self.households.values()
            if s.household.quota_period_id == q.quota_period_id
        ]
        return replace(
            q,
            assigned_households=sum(1 for h in counted if h.persons > 0),
            assigned_persons=sum(h.persons for h in counted),
            unaccompanied_minors=sum(len(h.referred) for h in counted),
        )

    # -- households ---------------------------------------------------------------------

    async def insert_household(self, h: Household, request: dict[str, Any]) -> bool:
        if any(s.household.land_reference == h.land_reference for s in self.households.values()):
            return False
        self.households[h.household_id] = StoredHousehold(
            household=_snapshot(h),
            request=copy.deepcopy(request),
            request_sent_at=_wall_now() if h.placement is not None else None,
        )
        self.history[h.household_id] = list(h.history)
        return True

    async def save_household(self, h: Household) -> None:
        stored = self.households.get(h.household_id)
        if stored is None:
            return  # an UPDATE of no row
        before = stored.household.pending
        changes = {name: copy.deepcopy(getattr(h, name)) for name in _MUTABLE}
        stored.household = replace(stored.household, **changes)
        after = stored.household.pending
        if after is None:
            stored.request_sent_at = None
        elif before != after:
            stored.request_sent_at = _wall_now()
        if before != after:
            stored.request_resends = 0  # a new request (or none): no re-send of it yet
        self.history.setdefault(h.household_id, []).extend(h.history)

    async def assignments_by_reference(
        self, references: Sequence[str]
    ) -> dict[str, tuple[uuid.UUID, dict[str, Any], HouseholdStatus]]:
        wanted = set(references)
        return {
            s.household.land_reference: (
                s.household.household_id,
                copy.deepcopy(s.request),
                s.household.status,
            )
            for s in self.households.values()
            if s.household.land_reference in wanted
        }

    async def get_household(
        self, household_id: uuid.UUID, *, for_update: bool = False
    ) -> Household | None:
        stored = self.households.get(household_id)
        return _snapshot(stored.household) if stored else None

    async def prefetch_households(self, household_ids: Sequence[uuid.UUID]) -> None:
        """Nothing to read ahead in memory: ``get_household`` answers as it would anyway."""

    async def lock_at_site(self, site_id: uuid.UUID) -> list[Household]:
        there = [
            s.household
            for s in self.households.values()
            if (s.household.home is not None and s.household.home.site_id == site_id)
            or (s.household.placement is not None and s.household.placement.site_id == site_id)
        ]
        there.sort(key=lambda h: (h.assigned_at, h.household_id))
        return [_snapshot(h) for h in there]

    async def lock_waitlist(self, limit: int) -> list[Household]:
        waiting = [
            s.household
            for s in self.households.values()
            if s.household.status
            in (HouseholdStatus.WAITLISTED, HouseholdStatus.RELOCATION_PENDING)
        ]
        waiting.sort(
            key=lambda h: (
                h.status is HouseholdStatus.RELOCATION_PENDING,
                *_nulls_last(h.waitlisted_since),
                *_nulls_last(h.home.checked_in_at if h.home else None),
                h.household_id,
            )
        )
        return [_snapshot(h) for h in waiting[:limit]]

    async def emergency_residents(
        self, policy: PlacementPolicy, limit: int
    ) -> list[EmergencyResident]:
        residents = []
        for s in self.households.values():
            h = s.household
            if (
                h.status is not HouseholdStatus.HOUSED
                or h.home is None
                or h.home.pillar is not Pillar.NOTUNTERKUNFT
                or h.placement is not None
            ):
                continue
            site = self.sites.get(h.home.site_id)
            residents.append(
                EmergencyResident(
                    household_id=h.household_id,
                    checked_in_at=h.home.checked_in_at,
                    vulnerable=h.vulnerable,
                    site_closes_on=site.closes_on if site else None,
                    site_building=site.building if site else BuildingKind.OTHER,
                    persons=h.persons,
                    ready_for=placement_pillar(h.readiness)[0],
                )
            )
        return sorted(residents, key=lambda r: dissolution_key(r, policy))[:limit]

    async def lock_households(
        self, household_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, Household]:
        return {
            i: _snapshot(self.households[i].household)
            for i in sorted(set(household_ids))
            if i in self.households
        }

    async def lock_overdue(
        self, heard: datetime, timeout: timedelta, doublings: int, limit: int
    ) -> list[Household]:
        overdue = [
            s
            for s in self.households.values()
            if s.household.placement is not None
            and not s.household.placement.held
            and s.request_sent_at is not None
            and s.request_sent_at < heard - timeout * 2 ** min(s.request_resends, doublings)
        ]
        overdue.sort(key=lambda s: s.request_sent_at or heard)
        return [_snapshot(s.household) for s in overdue[:limit]]

    async def mark_sent(self, household_ids: Sequence[uuid.UUID]) -> None:
        now = _wall_now()
        for i in household_ids:
            if i in self.households:
                self.households[i].request_sent_at = now
                self.households[i].request_resends += 1

    async def erase_intake(self, household_id: uuid.UUID) -> bool:
        stored = self.households.get(household_id)
        if stored is None:
            return False
        marker = f"erased-{household_id}"
        # The members' special needs (health data) go too, as received and as kept.
        members = tuple(
            m.model_copy(update={"special_needs": []}) for m in stored.household.members
        )
        stored.household = replace(stored.household, land_reference=marker, members=members)
        stored.request["land_reference"] = marker
        for member in stored.request.get("members", []):
            member.pop("special_needs", None)
        return True

    # -- the replica of housing's sites -------------------------------------------------

    async def load_board(self, policy: PlacementPolicy = DEFAULT_POLICY) -> Board:
        return Board(
            (self._option(s) for s in self.sites.values() if s.status is SiteStatus.OPEN), policy
        )

    async def site_option(self, site_id: uuid.UUID) -> SiteOption | None:
        site = self.sites.get(site_id)
        return self._option(site) if site else None

    def _option(self, site: StoredSite) -> SiteOption:
        # Places of requests housing has not answered count as taken, as in store.py.
        requested = sum(
            s.household.persons
            for s in self.households.values()
            if s.household.placement is not None
            and not s.household.placement.held
            and s.household.placement.site_id == site.site_id
        )
        units = {u: places for u, (at, places) in self.units.items() if at == site.site_id}
        taken = {r.unit_id for r in self.reservations.values() if r.state == "held"}
        taken |= {o.unit_id for o in self.occupants.values()}
        free_units = (
            tuple(sorted(places for u, places in units.items() if u not in taken))
            if units
            else None
        )
        return SiteOption(
            site_id=site.site_id,
            name=site.name,
            pillar=site.pillar,
            district=site.district,
            suitability=site.suitability,
            status=site.status,
            free=site.capacity - site.blocked - site.reserved - site.occupied - requested,
            building=site.building,
            closes_on=site.closes_on,
            free_units=free_units,
        )

    async def site_planned(self, d: ShelterPlanned, sequence: int) -> None:
        site = self.sites.get(d.site_id)
        if site is None:
            self.sites[d.site_id] = StoredSite(
                site_id=d.site_id,
                name=d.name,
                pillar=d.pillar,
                district=d.district,
                suitability=frozenset(d.suitability),
                status=SiteStatus.PLANNED,
                capacity=d.planned_capacity,
                last_sequence=sequence,
                building=d.building,
                closes_on=d.closes_on,
            )
        elif site.last_sequence < sequence and site.status is SiteStatus.PLANNED:
            site.name, site.pillar, site.district = d.name, d.pillar, d.district
            site.suitability, site.capacity = frozenset(d.suitability), d.planned_capacity
            site.building, site.closes_on, site.last_sequence = d.building, d.closes_on, sequence
        self._units(d.site_id, d.units)

    async def site_opened(self, d: ShelterOpened, sequence: int) -> None:
        site = self.sites.get(d.site_id)
        if site is None:
            self.sites[d.site_id] = StoredSite(
                site_id=d.site_id,
                name=d.name,
                pillar=d.pillar,
                district=d.district,
                suitability=frozenset(d.suitability),
                status=SiteStatus.OPEN,
                capacity=d.capacity,
                last_sequence=sequence,
                building=d.building,
                closes_on=d.closes_on,
            )
        elif site.last_sequence < sequence:
            site.name, site.pillar, site.district = d.name, d.pillar, d.district
            site.suitability, site.capacity = frozenset(d.suitability), d.capacity
            site.building, site.closes_on, site.last_sequence = d.building, d.closes_on, sequence
            site.status = SiteStatus.OPEN
        self._units(d.site_id, d.units)

    def _units(self, site_id: uuid.UUID, units: Sequence[Unit]) -> None:
        for u in units:
            self.units.setdefault(u.unit_id, (site_id, u.places))

    async def capacity_changed(self, d: ShelterCapacityChanged, sequence: int) -> None:
        site = self.sites.get(d.site_id)
        if site is not None and site.last_sequence < sequence:
            site.capacity, site.blocked, site.last_sequence = d.capacity, d.blocked_places, sequence

    async def site_status(self, site_id: uuid.UUID, status: SiteStatus, sequence: int) -> None:
        site = self.sites.get(site_id)
        if site is not None and site.last_sequence < sequence:
            site.status, site.last_sequence = status, sequence

    async def closing_date(self, site_id: uuid.UUID, closes_on: date | None, sequence: int) -> None:
        site = self.sites.get(site_id)
        if site is not None and site.last_sequence <= sequence:
            site.closes_on, site.last_sequence = closes_on, max(site.last_sequence, sequence)

    def _adjust(self, site_id: uuid.UUID, *, reserved: int = 0, occupied: int = 0) -> None:
        site = self.sites.get(site_id)
        if site is not None:
            site.reserved = max(site.reserved + reserved, 0)
            site.occupied = max(site.occupied + occupied, 0)

    async def reservation_held(self, d: BedReserved, *, then_save: Household | None = None) -> bool:
        if d.reservation_id in self.reservations:
            return False
        self.reservations[d.reservation_id] = StoredReservation(
            d.site_id, d.household_id, d.places, "held", d.unit_id
        )
        self._adjust(d.site_id, reserved=d.places)
        if then_save is not None:
            await self.save_household(then_save)
        return True

    async def reservation_released(self, d: ReservationReleased) -> None:
        self._end_hold(d.reservation_id, "released")

    def _end_hold(self, reservation_id: uuid.UUID, state: str) -> None:
        held = self.reservations.get(reservation_id)
        if held is not None and held.state == "held":
            held.state = state
            self._adjust(held.site_id, reserved=-held.places)

    async def occupant_checked_in(
        self, d: OccupantCheckedIn, *, then_save: Household | None = None
    ) -> None:
        if d.reservation_id is not None:
            self._end_hold(d.reservation_id, "checked_in")
        key = (d.site_id, d.household_id)
        if key not in self.occupants:
            self.occupants[key] = StoredOccupant(d.persons, d.unit_id)
            self._adjust(d.site_id, occupied=d.persons)
        if then_save is not None:
            await self.save_household(then_save)

    async def occupant_checked_out(self, d: OccupantCheckedOut) -> None:
        gone = self.occupants.pop((d.site_id, d.household_id), None)
        if gone is not None:
            self._adjust(d.site_id, occupied=-gone.persons)


def _snapshot(h: Household) -> Household:
    """A copy with nothing pending, as a household read from a row: the caller's changes
    reach the store only through ``save_household``."""
    copied = copy.deepcopy(h)
    copied.events.clear()
    copied.history.clear()
    return copied


def _nulls_last(value: datetime | None) -> tuple[bool, datetime]:
    """PostgreSQL's ascending order: NULL after every value."""
    return (value is None, value or datetime.min.replace(tzinfo=UTC))
