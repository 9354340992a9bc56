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
from enum import StrEnum

from ankommen_contracts import Pillar, SpecialNeed, Suitability
from ankommen_contracts.common import PlacesRow, roll_up
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
    ShelterOpened,
    ShelterPlanned,
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


# Which needs a site must declare a suitability for (the placement saga's rule; allocation
# applies the same rule when it picks a site, housing checks again).
_NEEDS = {
    SpecialNeed.WHEELCHAIR: Suitability.ACCESSIBLE,
    SpecialNeed.REDUCED_MOBILITY: Suitability.ACCESSIBLE,
    SpecialNeed.WOMEN_ONLY: Suitability.WOMEN_ONLY,
}


def suits(suitability: Iterable[Suitability], needs: Iterable[SpecialNeed]) -> bool:
    """Does a site with ``suitability`` fit a household with ``needs``?

    Wheelchair or reduced mobility needs an ``accessible`` site, ``women_only`` a
    ``women_only`` site; and a ``women_only`` site takes only households that need one
    (Frauenschutz).
    """
    offered, needed = set(suitability), set(needs)
    if not {_NEEDS[n] for n in needed if n in _NEEDS} <= offered:
        return False
    return not (Suitability.WOMEN_ONLY in offered and SpecialNeed.WOMEN_ONLY not in needed)


@dataclass(frozen=True)
class ReservationRequest:
    """A request for places for one household, from allocation or staff."""

    reservation_id: uuid.UUID
    site_id: uuid.UUID
    household_id: uuid.UUID
    places: int
    special_needs: frozenset[SpecialNeed] = frozenset()
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
    special_needs: frozenset[SpecialNeed] = frozenset()
    expires_at: datetime | None = None
    rejection_reason: RejectionReason | None = None
    free_places: int | None = None
    released_at: datetime | None = None
    release_reason: ReleaseReason | None = None
    checked_in_at: datetime | None = None

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
            special_needs=request.special_needs,
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
        )


@dataclass
class Occupant:
    """A household living at a site (Bewohner); one row per household."""

    household_id: uuid.UUID
    site_id: uuid.UUID
    persons: int
    checked_in_at: datetime
    reservation_id: uuid.UUID | None = None


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
    closes_on: date | None = None
    # Business time of the latest recorded change (opening, places, closing): a command
    # dated before it is refused (409), so the site's history stays in order.
    changed_at: datetime | None = None
    events: list[EventData] = field(default_factory=list, repr=False, compare=False)

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
        return max(self.capacity - self.taken, 0)

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
        )
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
    ) -> Site:
        """Open a site that was never planned here; it takes occupants from now on."""
        site = cls(
            site_id=site_id or new_id(),
            name=name,
            pillar=pillar,
            district=district,
            operator=operator,
            capacity=capacity,
            suitability=list(suitability),
        )
        site._opened()
        return site

    def open(self, *, operator: str | None = None, capacity: int | None = None) -> None:
        """Open a planned site, optionally naming its operator and its final capacity."""
        if self.status is not SiteStatus.PLANNED:
            raise Conflict(f"site {self.site_id} is {self.status.value}: only a planned site opens")
        operator = operator or self.operator
        if operator is None:
            raise Conflict(f"site {self.site_id} needs an operator (Betreiber) to open")
        capacity = self.capacity if capacity is None else capacity
        if capacity < 1:
            raise Conflict(f"site {self.site_id} needs at least one place to open")
        self.operator, self.capacity = operator, capacity
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
            )
        )

    def start_closing(self, reason: ClosingReason, closes_on: date | None = None) -> None:
        """Begin closing (Auflösung): no new reservations or occupants from now on."""
        if self.status is not SiteStatus.OPEN:
            raise Conflict(
                f"site {self.site_id} is {self.status.value}: only an open site starts closing"
            )
        self.status, self.closing_reason, self.closes_on = SiteStatus.CLOSING, reason, closes_on
        self.events.append(ShelterClosing(site_id=self.site_id, reason=reason, closes_on=closes_on))

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

    def refusal(self, places: int, needs: Iterable[SpecialNeed] = ()) -> RejectionReason | None:
        """Why the site cannot reserve ``places`` for a household with ``needs``; None if it can."""
        if self.status is SiteStatus.CLOSING:
            return RejectionReason.SITE_CLOSING
        if self.status is not SiteStatus.OPEN:
            return RejectionReason.SITE_NOT_OPEN
        if not suits(self.suitability, needs):
            return RejectionReason.UNSUITABLE
        if places > self.free:
            return RejectionReason.NO_FREE_PLACES
        return None

    def reserve(self, request: ReservationRequest, now: datetime) -> Reservation:
        """Reserve places until the expected arrival plus the grace (rule 1), or reject
        with the reason and free places; ``now`` is the request's business time."""
        assert request.site_id == self.site_id
        reason = self.refusal(request.places, request.special_needs)
        if reason is not None:
            reservation = Reservation.rejected(request, now, reason, free_places=self.free)
        else:
            self.reserved += request.places
            reservation = Reservation(
                reservation_id=request.reservation_id,
                site_id=self.site_id,
                household_id=request.household_id,
                places=request.places,
                special_needs=request.special_needs,
                status=ReservationStatus.HELD,
                requested_at=now,
                expires_at=request.expires_at(now),
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
        )
        self.events.append(
            OccupantCheckedIn(
                site_id=self.site_id,
                household_id=occupant.household_id,
                reservation_id=rid,
                persons=occupant.persons,
            )
        )
        return occupant

    def check_out(
        self, occupant: Occupant, reason: CheckOutReason, at: datetime | None = None
    ) -> None:
        """A household leaves (Auszug) at ``at``; its places are free again. A check-out
        dated before the check-in it ends is refused (409): corrections come first."""
        assert occupant.site_id == self.site_id
        if at is not None and at < occupant.checked_in_at:
            raise Conflict(
                f"check-out dated {at.isoformat()} is before household {occupant.household_id} "
                f"checked in ({occupant.checked_in_at.isoformat()})"
            )
        self.occupied -= occupant.persons
        self.events.append(
            OccupantCheckedOut(
                site_id=self.site_id,
                household_id=occupant.household_id,
                persons=occupant.persons,
                reason=reason,
            )
        )


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
