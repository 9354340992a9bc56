"""``InMemoryHousingStore``: housing's store (``housing.store.HousingStore``) in plain dicts
and lists, for handler tests on ``InMemoryUnitOfWork`` that run in milliseconds.

It keeps the promises ``PgHousingStore`` keeps (``tests/contract/
test_housing_store_contract.py`` runs the same scenarios against both): rows as the tables
hold them, what each ``save_…`` writes and what it leaves, the flats' holders derived from
held reservations and occupants, the orders handlers rely on, and the outcomes of the
database's guards: ``save_decision`` refuses places beyond capacity, a taken site id or a
second home is ``AlreadyRecorded``, a site over its capacity is refused as the CHECK
constraint refuses it. It does not lock: the in-memory unit of work runs one transaction
at a time. Everything it holds is plain data, so ``copy.deepcopy`` gives each transaction
its own state; every object handed out or taken in is a copy, as a row read from or
written to a table is.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from ankommen_contracts import SiteRequirement
from ankommen_contracts.events.housing import RejectionReason, ReleaseReason
from housing.domain import (
    Flat,
    FollowUp,
    Holding,
    Occupant,
    Reservation,
    ReservationRequest,
    ReservationStatus,
    Resident,
    Site,
    SiteStatus,
)
from housing.store import AlreadyRecorded, Claim


@dataclass
class ReservationRow:
    """A row of ``reservations``: ``status`` is text, 'pending' while being decided."""

    reservation_id: uuid.UUID
    site_id: uuid.UUID
    household_id: uuid.UUID
    places: int
    requirements: frozenset[SiteRequirement]
    status: str
    requested_at: datetime
    expected_arrival_at: datetime | None
    expires_at: datetime | None = None
    rejection_reason: RejectionReason | None = None
    free_places: int | None = None
    released_at: datetime | None = None
    release_reason: ReleaseReason | None = None
    checked_in_at: datetime | None = None
    unit_id: uuid.UUID | None = None

    def reservation(self) -> Reservation:
        # As on PostgreSQL, a row still 'pending' is no Reservation (ValueError).
        return Reservation(
            reservation_id=self.reservation_id,
            site_id=self.site_id,
            household_id=self.household_id,
            places=self.places,
            requirements=self.requirements,
            status=ReservationStatus(self.status),
            requested_at=self.requested_at,
            expires_at=self.expires_at,
            rejection_reason=self.rejection_reason,
            free_places=self.free_places,
            released_at=self.released_at,
            release_reason=self.release_reason,
            checked_in_at=self.checked_in_at,
            unit_id=self.unit_id,
        )


@dataclass(frozen=True)
class SiteState:
    """A row of ``site_history``: the site's state from ``effective_at`` on."""

    site_id: uuid.UUID
    effective_at: datetime
    status: SiteStatus
    capacity: int
    blocked: int


@dataclass
class Stay:
    """A row of ``stays`` (Aufenthalt): kept after the check-out."""

    household_id: uuid.UUID
    site_id: uuid.UUID
    persons: int
    checked_in_at: datetime
    checked_out_at: datetime | None = None
    check_out_reason: str | None = None


@dataclass
class InMemoryHousingStore:
    """``HousingStore`` in memory. The attributes are the tables; tests read them to see
    the state a handler left."""

    sites: dict[uuid.UUID, Site] = field(default_factory=dict)  # flats without holders
    site_history: list[SiteState] = field(default_factory=list)
    reservations: dict[uuid.UUID, ReservationRow] = field(default_factory=dict)
    occupants: dict[uuid.UUID, Occupant] = field(default_factory=dict)
    stays: list[Stay] = field(default_factory=list)
    follow_ups: dict[uuid.UUID, FollowUp] = field(default_factory=dict)
    residents: dict[uuid.UUID, Resident] = field(default_factory=dict)

    # -- sites ---------------------------------------------------------------------------

    def _read_site(self, stored: Site) -> Site:
        """A copy of the stored site, its flats (by places, then id) with their holders."""
        holders = {
            r.unit_id: r.household_id
            for r in self.reservations.values()
            if r.status == ReservationStatus.HELD and r.unit_id is not None
        }
        for o in self.occupants.values():
            if o.unit_id is not None:
                holders.setdefault(o.unit_id, o.household_id)
        site = copy.deepcopy(stored)
        site.events = []
        site.flats = sorted(
            (Flat(f.unit_id, f.places, holders.get(f.unit_id)) for f in stored.flats),
            key=lambda f: (f.places, f.unit_id),
        )
        return site

    async def add_site(self, site: Site) -> None:
        if site.site_id in self.sites:
            raise AlreadyRecorded(f"site {site.site_id}")
        _within_capacity(site)
        stored = copy.deepcopy(site)
        stored.events = []
        stored.flats = [Flat(f.unit_id, f.places) for f in site.flats]
        self.sites[site.site_id] = stored

    async def get_site(self, site_id: uuid.UUID, *, for_update: bool = False) -> Site | None:
        stored = self.sites.get(site_id)
        return self._read_site(stored) if stored is not None else None

    async def get_sites(self, site_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Site]:
        return {
            site_id: self._read_site(self.sites[site_id])
            for site_id in sorted(set(site_ids))
            if site_id in self.sites
        }

    async def save_site(self, site: Site) -> None:
        stored = self.sites.get(site.site_id)
        if stored is None:
            return  # an UPDATE of no row
        saved = replace(
            stored,
            operator=site.operator,
            capacity=site.capacity,
            blocked=site.blocked,
            reserved=site.reserved,
            occupied=site.occupied,
            status=site.status,
            closing_reason=site.closing_reason,
            closes_on=site.closes_on,
            changed_at=site.changed_at,
            daily_rate=site.daily_rate,
            monthly_fixed_cost=site.monthly_fixed_cost,
        )
        _within_capacity(saved)
        self.sites[site.site_id] = saved

    async def record_site_state(self, site: Site, at: datetime) -> None:
        self.site_history.append(
            SiteState(site.site_id, at, site.status, site.capacity, site.blocked)
        )

    async def shift_holding(
        self, site_id: uuid.UUID, change: Holding, *, only_if_open: bool = False
    ) -> bool:
        stored = self.sites.get(site_id)
        if stored is None or (only_if_open and stored.status is not SiteStatus.OPEN):
            return False
        shifted = replace(
            stored,
            reserved=stored.reserved + change.reserved,
            occupied=stored.occupied + change.occupied,
        )
        _within_capacity(shifted)
        self.sites[site_id] = shifted
        return True

    # -- reservations --------------------------------------------------------------------

    async def claim_reservation_at_site(self, request: ReservationRequest, now: datetime) -> Claim:
        site = await self.get_site(request.site_id)
        if request.reservation_id in self.reservations:
            return Claim(claimed=False, site=site)
        self.reservations[request.reservation_id] = ReservationRow(
            reservation_id=request.reservation_id,
            site_id=request.site_id,
            household_id=request.household_id,
            places=request.places,
            requirements=frozenset(request.requirements),
            status="pending",
            requested_at=now,
            expected_arrival_at=request.expected_arrival_at,
        )
        return Claim(claimed=True, site=site)

    async def get_reservation(
        self, reservation_id: uuid.UUID, *, for_update: bool = False
    ) -> Reservation | None:
        row = self.reservations.get(reservation_id)
        return row.reservation() if row is not None else None

    async def save_decision(self, reservation: Reservation) -> bool:
        if reservation.status is ReservationStatus.HELD:
            # The places the pending row claimed, at its site: both or neither.
            row = self.reservations.get(reservation.reservation_id)
            stored = self.sites.get(row.site_id) if row is not None else None
            if (
                row is None
                or row.status != "pending"
                or stored is None
                or stored.status is not SiteStatus.OPEN
                or stored.occupied + stored.reserved + stored.blocked + row.places > stored.capacity
            ):
                return False
            stored.reserved += row.places
        await self.save_reservation(reservation)
        return True

    async def save_reservation(self, reservation: Reservation) -> None:
        row = self.reservations.get(reservation.reservation_id)
        if row is None:
            return  # an UPDATE of no row
        r = reservation
        row.status = r.status.value
        row.requested_at, row.expires_at = r.requested_at, r.expires_at
        row.rejection_reason, row.free_places = r.rejection_reason, r.free_places
        row.released_at, row.release_reason = r.released_at, r.release_reason
        row.checked_in_at, row.unit_id = r.checked_in_at, r.unit_id

    async def save_reservations(self, reservations: Iterable[Reservation]) -> None:
        for reservation in reservations:
            await self.save_reservation(reservation)

    async def lock_reservations(
        self, reservation_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, Reservation]:
        return {
            r: row.reservation()
            for r in sorted(set(reservation_ids))
            if (row := self.reservations.get(r)) is not None
        }

    async def lock_held_of_household(self, household_id: uuid.UUID) -> list[Reservation]:
        return [
            r.reservation()
            for r in sorted(self.reservations.values(), key=lambda r: r.reservation_id)
            if r.household_id == household_id and r.status == ReservationStatus.HELD
        ]

    async def claim_expired(self, now: datetime, limit: int) -> list[Reservation]:
        expired = sorted(
            (
                r
                for r in self.reservations.values()
                if r.status == ReservationStatus.HELD
                and r.expires_at is not None
                and r.expires_at <= now
            ),
            key=lambda r: (r.expires_at or now, r.reservation_id),
        )
        return [r.reservation() for r in expired[:limit]]

    # -- occupants -----------------------------------------------------------------------

    async def get_occupant(
        self, household_id: uuid.UUID, *, for_update: bool = False
    ) -> Occupant | None:
        occupant = self.occupants.get(household_id)
        return copy.copy(occupant) if occupant is not None else None

    async def lock_occupants(self, household_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Occupant]:
        return {
            h: copy.copy(self.occupants[h])
            for h in sorted(set(household_ids))
            if h in self.occupants
        }

    async def move_in(self, occupant: Occupant, *, moved_from: uuid.UUID | None) -> None:
        household = occupant.household_id
        flat_taken = occupant.unit_id is not None and any(
            o.unit_id == occupant.unit_id and o.household_id != household
            for o in self.occupants.values()
        )
        if flat_taken or (moved_from is None and household in self.occupants):
            raise AlreadyRecorded(f"household {household} lives here")
        if moved_from is not None:
            self._end_stay(household, occupant.checked_in_at, "relocated")
            self._forget_residents(household, moved_from)
            if household not in self.occupants:
                # An UPDATE of no row; the stay below still begins, as on PostgreSQL.
                self._begin_stay(occupant)
                return
        self.occupants[household] = copy.copy(occupant)
        self._begin_stay(occupant)

    async def move_out(
        self, household_id: uuid.UUID, site_id: uuid.UUID, at: datetime, reason: str
    ) -> None:
        self.occupants.pop(household_id, None)
        self._end_stay(household_id, at, reason)
        self._forget_residents(household_id, site_id)

    def _begin_stay(self, occupant: Occupant) -> None:
        if any(s.household_id == occupant.household_id for s in self._open_stays()):
            raise AlreadyRecorded(f"household {occupant.household_id} stays somewhere")
        self.stays.append(
            Stay(occupant.household_id, occupant.site_id, occupant.persons, occupant.checked_in_at)
        )

    def _end_stay(self, household_id: uuid.UUID, at: datetime, reason: str) -> None:
        for stay in self._open_stays():
            if stay.household_id == household_id:
                if at < stay.checked_in_at:  # the table's CHECK (checked_out_at >= …)
                    raise ValueError(f"stay of {household_id} would end before it began")
                stay.checked_out_at, stay.check_out_reason = at, reason

    def _open_stays(self) -> list[Stay]:
        return [s for s in self.stays if s.checked_out_at is None]

    # -- follow-ups ----------------------------------------------------------------------

    async def add_follow_up(self, follow_up: FollowUp) -> None:
        if follow_up.follow_up_id in self.follow_ups:
            raise ValueError(f"follow-up {follow_up.follow_up_id} exists")  # primary key
        self.follow_ups[follow_up.follow_up_id] = copy.copy(follow_up)

    async def get_follow_up(
        self, follow_up_id: uuid.UUID, *, for_update: bool = False
    ) -> FollowUp | None:
        follow_up = self.follow_ups.get(follow_up_id)
        return copy.copy(follow_up) if follow_up is not None else None

    async def save_follow_up(self, follow_up: FollowUp) -> None:
        stored = self.follow_ups.get(follow_up.follow_up_id)
        if stored is not None:
            stored.resolved_at, stored.note = follow_up.resolved_at, follow_up.note

    # -- residents -----------------------------------------------------------------------

    async def add_residents(self, residents: Iterable[Resident]) -> None:
        for resident in residents:
            if resident.resident_id in self.residents:
                raise ValueError(f"resident {resident.resident_id} exists")  # primary key
            self.residents[resident.resident_id] = copy.copy(resident)

    def _forget_residents(self, household_id: uuid.UUID, site_id: uuid.UUID) -> None:
        for r in list(self.residents.values()):
            if r.household_id == household_id and r.site_id == site_id:
                del self.residents[r.resident_id]

    async def erase_resident(self, resident_id: uuid.UUID) -> bool:
        return self.residents.pop(resident_id, None) is not None

    async def erase_residents(
        self, household_id: uuid.UUID, person_ids: Iterable[uuid.UUID]
    ) -> int:
        # The resident list knows people by household only (no person id yet), so the
        # whole household goes, whoever is named: as on PostgreSQL today.
        gone = [r.resident_id for r in self.residents.values() if r.household_id == household_id]
        for resident_id in gone:
            del self.residents[resident_id]
        return len(gone)


def _within_capacity(site: Site) -> None:
    """The table's last line of defence (CHECK within_capacity and the counts ≥ 0)."""
    if min(site.capacity, site.blocked, site.reserved, site.occupied) < 0 or (
        site.occupied + site.reserved + site.blocked > site.capacity
    ):
        raise ValueError(f"site {site.site_id} would be over its capacity")


__all__ = ["InMemoryHousingStore", "ReservationRow", "SiteState", "Stay"]
