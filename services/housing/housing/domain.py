"""Housing's model: sites (Unterkünfte), their places, reservations and occupants. Pure: no I/O.

Housing is the only authority on places. A ``Site`` guards its own invariant — never more
places occupied, reserved and blocked than its capacity — and records the events it raises
in ``events``, as cosmicpython's aggregates do; the unit of work writes them to the outbox
on commit. The database repeats the invariant (a conditional UPDATE and a CHECK
constraint), because many replicas decide at once and only the row is shared.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from ankommen_contracts import (
    BuildingKind,
    BuildingOwner,
    Pillar,
    SiteRequirement,
    Suitability,
)
from ankommen_contracts.common import PlacesRow, roll_up, unmet_requirements
from ankommen_contracts.envelope import EventData
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
    ShelterRateChanged,
    Unit,
)
from ankommen_runtime.errors import Conflict
from ankommen_runtime.ids import new_id

DEFAULT_GRACE = timedelta(hours=48)
"""How long reserved places wait after the expected arrival (Karenzzeit; rule 1): the hold
runs to the arrival the Land announced plus this, a city setting, never the caller's."""

MAX_CAPACITY = 5000


class SiteStatus(StrEnum):
    """Lifecycle of a site: planned → open → closing (no new occupants) → closed."""

    PLANNED = "planned"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class ReservationStatus(StrEnum):
    """held → checked_in, or held → released (expired, cancelled, departed); or rejected."""

    HELD = "held"
    CHECKED_IN = "checked_in"
    RELEASED = "released"
    REJECTED = "rejected"


def suits(
    suitability: Iterable[Suitability],
    requirements: Iterable[SiteRequirement],
    building: BuildingKind = BuildingKind.OTHER,
) -> bool:
    """Does a site fit a household with these requirements (the protection rules)?

    The same rule allocation chooses by (``ankommen_contracts.common.unmet_requirements``):
    accessible where needed, no hall or tent for who needs a quieter place, women-only for
    who needs it, never a site for single adults for children, never a women-only site
    for an adult man.
    """
    return not unmet_requirements(requirements, suitability, building)


@dataclass(frozen=True)
class ReservationRequest:
    """A request for places for one household, from allocation or staff."""

    reservation_id: uuid.UUID
    site_id: uuid.UUID
    household_id: uuid.UUID
    places: int
    requirements: frozenset[SiteRequirement] = frozenset()
    # When the household is expected; None: at the reservation itself (already here).
    expected_arrival_at: datetime | None = None
    grace: timedelta = DEFAULT_GRACE

    def expires_at(self, now: datetime) -> datetime:
        """Rule 1: held until the expected arrival (never before ``now``) plus the grace."""
        arrival = self.expected_arrival_at or now
        return max(arrival, now) + self.grace


@dataclass
class Reservation:
    """Places held for a household until it checks in or the hold ends; or a rejection."""

    reservation_id: uuid.UUID
    site_id: uuid.UUID
    household_id: uuid.UUID
    places: int
    status: ReservationStatus
    requested_at: datetime
    requirements: frozenset[SiteRequirement] = frozenset()
    expires_at: datetime | None = None
    rejection_reason: RejectionReason | None = None
    free_places: int | None = None
    released_at: datetime | None = None
    release_reason: ReleaseReason | None = None
    checked_in_at: datetime | None = None
    unit_id: uuid.UUID | None = None  # the flat let to the household, at a site with flats

    @classmethod
    def for_unknown_site(cls, request: ReservationRequest, now: datetime) -> Reservation:
        """Nobody knows the site: rejected, and kept so that a repeat is rejected alike."""
        return cls.rejected(request, now, RejectionReason.UNKNOWN_SITE, free_places=None)

    @classmethod
    def rejected(
        cls,
        request: ReservationRequest,
        now: datetime,
        reason: RejectionReason,
        free_places: int | None,
    ) -> Reservation:
        return cls(
            reservation_id=request.reservation_id,
            site_id=request.site_id,
            household_id=request.household_id,
            places=request.places,
            requirements=request.requirements,
            status=ReservationStatus.REJECTED,
            requested_at=now,
            rejection_reason=reason,
            free_places=free_places,
        )

    def answers(self, request: ReservationRequest) -> bool:
        """Is this the outcome of the same request (a repeat), not a reused id?"""
        return (self.site_id, self.household_id, self.places) == (
            request.site_id,
            request.household_id,
            request.places,
        )

    def outcome(self) -> BedReserved | ReservationRejected:
        """The answer as first given, with the same figures: what a repeat gets again."""
        if self.status is ReservationStatus.REJECTED:
            assert self.rejection_reason is not None
            return ReservationRejected(
                site_id=self.site_id,
                reservation_id=self.reservation_id,
                household_id=self.household_id,
                places=self.places,
                reason=self.rejection_reason,
                free_places=self.free_places,
            )
        assert self.expires_at is not None
        return BedReserved(
            site_id=self.site_id,
            reservation_id=self.reservation_id,
            household_id=self.household_id,
            places=self.places,
            expires_at=self.expires_at,
            unit_id=self.unit_id,
        )


@dataclass
class Occupant:
    """A household living at a site (Bewohner); one row per household."""

    household_id: uuid.UUID
    site_id: uuid.UUID
    persons: int
    checked_in_at: datetime
    reservation_id: uuid.UUID | None = None
    unit_id: uuid.UUID | None = None


@dataclass
class Flat:
    """A Wohnung: a unit with its places, let to one household at a time (never shared)."""

    unit_id: uuid.UUID
    places: int
    household_id: uuid.UUID | None = None  # who holds or lives in it; None: free

    @property
    def free(self) -> bool:
        return self.household_id is None


class FollowUpReason(StrEnum):
    """Why staff must follow up an exit; as coarse as the check-out reason."""

    HOUSE_BAN = "house_ban"
    INSTITUTION = "institution"
    OTHER = "other"


@dataclass
class FollowUp:
    """An exit without a next place: staff must follow up (every exit has a place or an alert).

    Holds no more than the coarse reason (never hospital or custody); what staff learn goes
    into their note, which stays in housing's database.
    """

    follow_up_id: uuid.UUID
    site_id: uuid.UUID
    household_id: uuid.UUID
    persons: int
    reason: FollowUpReason
    raised_at: datetime
    resolved_at: datetime | None = None
    note: str | None = None

    @property
    def open(self) -> bool:
        return self.resolved_at is None

    def resolve(self, note: str, now: datetime) -> None:
        if not self.open:
            raise Conflict(f"follow-up {self.follow_up_id} was resolved already")
        self.resolved_at, self.note = now, note


@dataclass
class Resident:
    """A person as the operator saw them at the door (names as on the papers).

    Kept only in housing's database, never in an event or a log line; erasable per person,
    and gone when the household leaves the site.
    """

    resident_id: uuid.UUID
    site_id: uuid.UUID
    household_id: uuid.UUID
    family_name: str
    given_names: str
    recorded_at: datetime


@dataclass(frozen=True)
class Holding:
    """A site's places in households' hands: held for an arrival (reserved) and lived in
    (occupied, belegt). Check-ins, check-outs and releases change these and nothing else
    of a site, so the store can write their change as a difference (``Site.holding``
    before and after), not as a row read under lock."""

    reserved: int = 0
    occupied: int = 0

    def __sub__(self, other: Holding) -> Holding:
        return Holding(self.reserved - other.reserved, self.occupied - other.occupied)

    def __bool__(self) -> bool:
        return bool(self.reserved or self.occupied)


@dataclass
class Site:
    """A site (Unterkunft): one of the four pillars, in one Stadtbezirk, run by an operator.

    ``capacity`` counts every place; ``blocked`` (gesperrt), ``reserved`` and ``occupied``
    (belegt) are parts of it, and ``free`` is what is left for new reservations.
    """

    site_id: uuid.UUID
    name: str
    pillar: Pillar
    district: int
    operator: str | None
    capacity: int
    status: SiteStatus = SiteStatus.PLANNED
    blocked: int = 0
    reserved: int = 0
    occupied: int = 0
    suitability: list[Suitability] = field(default_factory=list)
    planned_opening_on: date | None = None
    closing_reason: ClosingReason | None = None
    closes_on: date | None = None  # the day the building must be given up, if agreed
    building: BuildingKind = BuildingKind.OTHER
    owner: BuildingOwner = BuildingOwner.CITY
    # The city's flats in one district are one site; each flat a unit let to one household.
    flats: list[Flat] = field(default_factory=list)
    # What the city pays (Kostentabelle), in force now: euros per occupied place and day
    # (Tagessatz) and a monthly lump sum (rent, operator contract); None: none agreed.
    daily_rate: Decimal | None = None
    monthly_fixed_cost: Decimal | None = None
    # Business time of the latest recorded change (opening, places, closing): a command
    # dated before it is refused (409), so the site's history stays in order.
    changed_at: datetime | None = None
    events: list[EventData] = field(default_factory=list, repr=False, compare=False)

    @property
    def holding(self) -> Holding:
        return Holding(self.reserved, self.occupied)

    @property
    def usable(self) -> int:
        """Places that may be reserved or occupied: capacity minus blocked places."""
        return self.capacity - self.blocked

    @property
    def taken(self) -> int:
        """Places in use or promised: occupied, reserved and blocked."""
        return self.occupied + self.reserved + self.blocked

    @property
    def free(self) -> int:
        """Places new reservations may take; at a site with flats, those of free flats only
        (the spare beds of a let flat belong to its household)."""
        if self.flats:
            return max(sum(f.places for f in self.flats if f.free) - self.blocked, 0)
        return max(self.capacity - self.taken, 0)

    @property
    def units(self) -> int:
        return len(self.flats)

    @property
    def free_units(self) -> int:
        return sum(1 for f in self.flats if f.free)

    @staticmethod
    def new_flats(places: Iterable[int]) -> list[Flat]:
        return [Flat(uuid.uuid4(), p) for p in places]

    def _declared_units(self) -> list[Unit]:
        return [Unit(unit_id=f.unit_id, places=f.places) for f in self.flats]

    def _check_flats(self) -> None:
        if self.flats and sum(f.places for f in self.flats) != self.capacity:
            raise Conflict(
                f"the flats of site {self.site_id} hold {sum(f.places for f in self.flats)} "
                f"places, not its capacity {self.capacity}"
            )

    # -- lifecycle ---------------------------------------------------------------------

    @classmethod
    def plan(
        cls,
        *,
        name: str,
        pillar: Pillar,
        district: int,
        capacity: int,
        operator: str | None = None,
        suitability: Iterable[Suitability] = (),
        planned_opening_on: date | None = None,
        site_id: uuid.UUID | None = None,
        building: BuildingKind = BuildingKind.OTHER,
        owner: BuildingOwner = BuildingOwner.CITY,
        closes_on: date | None = None,
        flats: Iterable[int] = (),
    ) -> Site:
        """Plan a site (in Planung or im Bau): known, counted in plans, takes nobody yet."""
        site = cls(
            site_id=site_id or new_id(),
            name=name,
            pillar=pillar,
            district=district,
            operator=operator,
            capacity=capacity,
            suitability=list(suitability),
            planned_opening_on=planned_opening_on,
            building=building,
            owner=owner,
            closes_on=closes_on,
            flats=cls.new_flats(flats),
        )
        site._check_flats()
        site.events.append(
            ShelterPlanned(
                site_id=site.site_id,
                name=name,
                pillar=pillar,
                district=district,
                operator=operator,
                planned_capacity=capacity,
                planned_opening_on=planned_opening_on,
                suitability=list(site.suitability),
                building=building,
                owner=owner,
                closes_on=closes_on,
                units=site._declared_units(),
            )
        )
        return site

    @classmethod
    def open_new(
        cls,
        *,
        name: str,
        pillar: Pillar,
        district: int,
        operator: str,
        capacity: int,
        suitability: Iterable[Suitability] = (),
        site_id: uuid.UUID | None = None,
        building: BuildingKind = BuildingKind.OTHER,
        owner: BuildingOwner = BuildingOwner.CITY,
        closes_on: date | None = None,
        flats: Iterable[int] = (),
        daily_rate: Decimal | None = None,
        monthly_fixed_cost: Decimal | None = None,
    ) -> Site:
        """Open a site that was never planned here; it takes occupants from now on, paid
        at ``daily_rate`` and ``monthly_fixed_cost`` from its opening day."""
        site = cls(
            site_id=site_id or new_id(),
            name=name,
            pillar=pillar,
            district=district,
            operator=operator,
            capacity=capacity,
            suitability=list(suitability),
            building=building,
            owner=owner,
            closes_on=closes_on,
            flats=cls.new_flats(flats),
            daily_rate=daily_rate,
            monthly_fixed_cost=monthly_fixed_cost,
        )
        site._check_flats()
        site._opened()
        return site

    def open(
        self,
        *,
        operator: str | None = None,
        capacity: int | None = None,
        daily_rate: Decimal | None = None,
        monthly_fixed_cost: Decimal | None = None,
    ) -> None:
        """Open a planned site, optionally naming its operator, its final capacity and what
        it costs from its opening day."""
        if self.status is not SiteStatus.PLANNED:
            raise Conflict(f"site {self.site_id} is {self.status.value}: only a planned site opens")
        operator = operator or self.operator
        if operator is None:
            raise Conflict(f"site {self.site_id} needs an operator (Betreiber) to open")
        capacity = self.capacity if capacity is None else capacity
        if capacity < 1:
            raise Conflict(f"site {self.site_id} needs at least one place to open")
        if self.flats and capacity != self.capacity:
            raise Conflict(f"site {self.site_id} has flats: its places are those of its flats")
        self.operator, self.capacity = operator, capacity
        self.daily_rate, self.monthly_fixed_cost = daily_rate, monthly_fixed_cost
        self._opened()

    def _opened(self) -> None:
        assert self.operator is not None
        self.status = SiteStatus.OPEN
        self.events.append(
            ShelterOpened(
                site_id=self.site_id,
                name=self.name,
                pillar=self.pillar,
                district=self.district,
                operator=self.operator,
                capacity=self.capacity,
                suitability=list(self.suitability),
                building=self.building,
                owner=self.owner,
                closes_on=self.closes_on,
                units=self._declared_units(),
                daily_rate=self.daily_rate,
                monthly_fixed_cost=self.monthly_fixed_cost,
            )
        )

    def change_rates(
        self, daily_rate: Decimal | None, monthly_fixed_cost: Decimal | None, valid_from: date
    ) -> None:
        """What the city pays for the site from ``valid_from`` on (a new agreement with the
        operator or the owner); both replace the ones in force, None ends one."""
        if self.status not in (SiteStatus.OPEN, SiteStatus.CLOSING):
            raise Conflict(
                f"site {self.site_id} is {self.status.value}: only a site in use is paid for"
            )
        self.daily_rate, self.monthly_fixed_cost = daily_rate, monthly_fixed_cost
        self.events.append(
            ShelterRateChanged(
                site_id=self.site_id,
                daily_rate=daily_rate,
                monthly_fixed_cost=monthly_fixed_cost,
                valid_from=valid_from,
            )
        )

    def start_closing(self, reason: ClosingReason, closes_on: date | None = None) -> None:
        """Begin closing (Auflösung): no new reservations or occupants from now on."""
        if self.status is not SiteStatus.OPEN:
            raise Conflict(
                f"site {self.site_id} is {self.status.value}: only an open site starts closing"
            )
        closes_on = closes_on or self.closes_on  # the agreed day stands unless a new one is set
        self.status, self.closing_reason, self.closes_on = SiteStatus.CLOSING, reason, closes_on
        self.events.append(ShelterClosing(site_id=self.site_id, reason=reason, closes_on=closes_on))

    def set_closing_date(self, closes_on: date | None) -> None:
        """Record the day the building must be given up (or that there is none any more)."""
        if self.status is SiteStatus.CLOSED:
            raise Conflict(f"site {self.site_id} is closed")
        if closes_on == self.closes_on:
            return  # nothing changed: nothing to tell anyone
        self.closes_on = closes_on
        self.events.append(ShelterClosingDateSet(site_id=self.site_id, closes_on=closes_on))

    def close(self) -> None:
        """Close an empty closing site, or drop a plan; refused while anyone lives or holds here."""
        if self.status is SiteStatus.CLOSED:
            raise Conflict(f"site {self.site_id} is closed already")
        if self.occupied or self.reserved:
            raise Conflict(
                f"site {self.site_id} cannot close: {self.occupied} persons live here and "
                f"{self.reserved} places are reserved; relocate them first"
            )
        if self.status is SiteStatus.OPEN:
            raise Conflict(
                f"site {self.site_id} is open: start closing first, so nobody new moves in"
            )
        self.status = SiteStatus.CLOSED
        self.events.append(ShelterClosed(site_id=self.site_id))

    # -- places ------------------------------------------------------------------------

    def change_capacity(self, capacity: int, reason: CapacityChangeReason | None = None) -> None:
        """Grow or shrink the site; never below what is occupied, reserved and blocked."""
        if self.status is SiteStatus.CLOSED:
            raise Conflict(f"site {self.site_id} is closed")
        if capacity == self.capacity:
            return  # nothing changed: nothing to tell anyone
        if self.flats:
            raise Conflict(f"site {self.site_id} has flats: its places are those of its flats")
        if reason is None:
            reason = (
                CapacityChangeReason.EXPANDED
                if capacity > self.capacity
                else CapacityChangeReason.REDUCED
            )
        if reason in (CapacityChangeReason.PLACES_BLOCKED, CapacityChangeReason.PLACES_RELEASED):
            raise Conflict(f"reason {reason.value} is for blocking and releasing places")
        if reason is CapacityChangeReason.EXPANDED and capacity < self.capacity:
            raise Conflict(f"capacity {capacity} is not more than {self.capacity} (expanded)")
        if (
            reason in (CapacityChangeReason.REDUCED, CapacityChangeReason.DISSOLVING)
            and capacity > self.capacity
        ):
            raise Conflict(f"capacity {capacity} is not less than {self.capacity} ({reason.value})")
        if capacity < self.taken:
            raise Conflict(
                f"site {self.site_id} cannot shrink to {capacity}: {self.occupied} occupied, "
                f"{self.reserved} reserved and {self.blocked} blocked places"
            )
        self.capacity = capacity
        self._capacity_changed(reason)

    def block(self, places: int) -> None:
        """Take free places out of use (damage, renovation, quarantine)."""
        self._in_use("block places")
        if places > self.free:
            raise Conflict(
                f"site {self.site_id} has {self.free} free places; cannot block {places}"
            )
        self.blocked += places
        self._capacity_changed(CapacityChangeReason.PLACES_BLOCKED)

    def release_blocked(self, places: int) -> None:
        """Put blocked places back into use."""
        self._in_use("release blocked places")
        if places > self.blocked:
            raise Conflict(
                f"site {self.site_id} has {self.blocked} blocked places; cannot release {places}"
            )
        self.blocked -= places
        self._capacity_changed(CapacityChangeReason.PLACES_RELEASED)

    def _in_use(self, what: str) -> None:
        if self.status not in (SiteStatus.OPEN, SiteStatus.CLOSING):
            raise Conflict(f"site {self.site_id} is {self.status.value}: cannot {what}")

    def _capacity_changed(self, reason: CapacityChangeReason) -> None:
        self.events.append(
            ShelterCapacityChanged(
                site_id=self.site_id,
                capacity=self.capacity,
                blocked_places=self.blocked,
                reason=reason,
            )
        )

    # -- reservations, check-in, check-out ---------------------------------------------

    def refusal(
        self, places: int, requirements: Iterable[SiteRequirement] = ()
    ) -> RejectionReason | None:
        """Why the site cannot reserve ``places`` for a household with ``requirements``;
        None if it can. Protection rules hold however many places are free."""
        if self.status is SiteStatus.CLOSING:
            return RejectionReason.SITE_CLOSING
        if self.status is not SiteStatus.OPEN:
            return RejectionReason.SITE_NOT_OPEN
        if not suits(self.suitability, requirements, self.building):
            return RejectionReason.UNSUITABLE
        if self.flats and self._flat_for(places) is None:
            return RejectionReason.NO_FREE_UNIT
        if places > self.free:
            return RejectionReason.NO_FREE_PLACES
        return None

    def _flat_for(self, places: int) -> Flat | None:
        """The smallest free flat the household fits in alone (bigger flats stay for bigger
        households)."""
        fitting = [f for f in self.flats if f.free and f.places >= places]
        return min(fitting, key=lambda f: (f.places, str(f.unit_id)), default=None)

    def _flat(self, unit_id: uuid.UUID | None) -> Flat | None:
        return next((f for f in self.flats if f.unit_id == unit_id), None)

    def reserve(
        self, request: ReservationRequest, now: datetime, *, held_from: datetime | None = None
    ) -> Reservation:
        """Reserve places until the expected arrival plus the grace (rule 1), or reject
        with the reason and free places; ``now`` is the request's business time.

        ``held_from``: when housing holds the places (its clock), if later than the
        request's time. A request dated in the past (allocation's answer to a site opened
        back-dated to its own day, or to a hold that ran out last week) must still get
        its grace from now: a hold that ran out before it was made could never be checked
        in, and each release dated in the past started another such hold."""
        assert request.site_id == self.site_id
        reason = self.refusal(request.places, request.requirements)
        if reason is not None:
            reservation = Reservation.rejected(request, now, reason, free_places=self.free)
        else:
            flat = self._flat_for(request.places) if self.flats else None
            if flat is not None:
                flat.household_id = request.household_id  # let to this household alone
            self.reserved += request.places
            reservation = Reservation(
                reservation_id=request.reservation_id,
                site_id=self.site_id,
                household_id=request.household_id,
                places=request.places,
                requirements=request.requirements,
                status=ReservationStatus.HELD,
                requested_at=now,
                expires_at=request.expires_at(max(now, held_from or now)),
                unit_id=flat.unit_id if flat else None,
            )
        self.events.append(reservation.outcome())
        return reservation

    def release(self, reservation: Reservation, reason: ReleaseReason, now: datetime) -> bool:
        """Give held places back to the pool; False (and nothing recorded) if none are held.

        Safe to repeat: a cancel of an already released or checked-in reservation does nothing.
        """
        assert reservation.site_id == self.site_id
        if reservation.status is not ReservationStatus.HELD:
            return False
        self.reserved -= reservation.places
        self._vacate(reservation.unit_id)
        reservation.status = ReservationStatus.RELEASED
        reservation.released_at, reservation.release_reason = now, reason
        self.events.append(
            ReservationReleased(
                site_id=self.site_id,
                reservation_id=reservation.reservation_id,
                household_id=reservation.household_id,
                places=reservation.places,
                reason=reason,
            )
        )
        return True

    def check_in(
        self,
        reservation: Reservation,
        now: datetime,
        *,
        home: Occupant | None = None,
        home_site: Site | None = None,
    ) -> Occupant:
        """Turn a held reservation into occupancy (Einzug).

        ``home`` is where the household lives now, if anywhere: it is checked out there
        (reason ``relocated``, recorded on ``home_site``) in the same step, since a
        household lives in one place.
        """
        assert reservation.site_id == self.site_id
        rid = reservation.reservation_id
        if reservation.status is ReservationStatus.CHECKED_IN:
            raise Conflict(f"reservation {rid} is checked in already")
        if reservation.status is ReservationStatus.REJECTED:
            assert reservation.rejection_reason is not None
            raise Conflict(f"reservation {rid} was rejected ({reservation.rejection_reason.value})")
        if reservation.status is ReservationStatus.RELEASED:
            assert reservation.release_reason is not None
            raise Conflict(f"reservation {rid} was released ({reservation.release_reason.value})")
        assert reservation.expires_at is not None
        if now < reservation.requested_at:
            raise Conflict(
                f"check-in dated {now.isoformat()} is before reservation {rid} was made "
                f"({reservation.requested_at.isoformat()}); correct the earlier record first"
            )
        if home is not None and now < home.checked_in_at:
            raise Conflict(
                f"check-in dated {now.isoformat()} is before household {home.household_id} "
                f"moved into its current site ({home.checked_in_at.isoformat()})"
            )
        if now >= reservation.expires_at:
            raise Conflict(
                f"reservation {rid} expired at {reservation.expires_at.isoformat()}; "
                "its places go back to the pool"
            )
        if self.status is not SiteStatus.OPEN:
            raise Conflict(f"site {self.site_id} is {self.status.value}: it takes no new occupants")
        if home is not None and home.site_id == self.site_id:
            raise Conflict(f"household {home.household_id} lives at site {self.site_id} already")
        if home is not None:
            assert home_site is not None
            assert home_site.site_id == home.site_id
            home_site.check_out(home, CheckOutReason.RELOCATED, now)
        self.reserved -= reservation.places
        self.occupied += reservation.places
        reservation.status, reservation.checked_in_at = ReservationStatus.CHECKED_IN, now
        occupant = Occupant(
            household_id=reservation.household_id,
            site_id=self.site_id,
            persons=reservation.places,
            checked_in_at=now,
            reservation_id=rid,
            unit_id=reservation.unit_id,
        )
        self.events.append(
            OccupantCheckedIn(
                site_id=self.site_id,
                household_id=occupant.household_id,
                reservation_id=rid,
                persons=occupant.persons,
                unit_id=reservation.unit_id,
            )
        )
        return occupant

    def check_out(
        self, occupant: Occupant, reason: CheckOutReason, at: datetime
    ) -> FollowUp | None:
        """A household leaves (Auszug) at ``at``; its places (its flat) are free again. A
        check-out dated before the check-in it ends is refused (409): corrections come first.

        Every exit has a next place or an alert: leaving for a house ban, a stay in an
        institution or another reason with no next place raises a follow-up for staff.
        The event carries only the coarse reason.
        """
        assert occupant.site_id == self.site_id
        if at < occupant.checked_in_at:
            raise Conflict(
                f"check-out dated {at.isoformat()} is before household {occupant.household_id} "
                f"checked in ({occupant.checked_in_at.isoformat()})"
            )
        self.occupied -= occupant.persons
        self._vacate(occupant.unit_id)
        self.events.append(
            OccupantCheckedOut(
                site_id=self.site_id,
                household_id=occupant.household_id,
                persons=occupant.persons,
                reason=reason,
            )
        )
        if not reason.needs_follow_up:
            return None
        return FollowUp(
            follow_up_id=uuid.uuid4(),
            site_id=self.site_id,
            household_id=occupant.household_id,
            persons=occupant.persons,
            reason=FollowUpReason(reason.value),
            raised_at=at,
        )

    def _vacate(self, unit_id: uuid.UUID | None) -> None:
        flat = self._flat(unit_id)
        if flat is not None:
            flat.household_id = None


# -- occupancy (Belegung) ------------------------------------------------------------------
# The roll-up itself (groups, labels) is the city's one rule in ankommen_contracts.common;
# housing decides only which of its sites hold places.

OccupancyRow = PlacesRow


def occupancy(
    sites: Iterable[Site],
) -> tuple[list[OccupancyRow], list[OccupancyRow], OccupancyRow]:
    """Places per pillar (all four), per Stadtbezirk (all 13) and in total.

    Counts sites in use (open or closing), as reporting's capacity view does; planned and
    closed sites hold no places.
    """
    return roll_up(s for s in sites if s.status in (SiteStatus.OPEN, SiteStatus.CLOSING))
