"""Events published by the housing service (topic ``housing.events``).

Housing is the only authority on beds. Every event here is keyed by ``site_id``: a site's
reservations, rejections, check-ins and check-outs are ordered with its capacity
changes and its closing, so a consumer folding them never sees a site over capacity.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Self

from pydantic import Field, model_validator

from ..common import (
    MAX_HOUSEHOLD,
    BuildingKind,
    BuildingOwner,
    District,
    Pillar,
    PublicText,
    Suitability,
    UniqueList,
    UtcDatetime,
    ValueObject,
)
from ..envelope import WAVE_VERSION, EventData
from ..registry import event

__all__ = [
    "BedReserved",
    "CapacityChangeReason",
    "CheckOutReason",
    "ClosingReason",
    "OccupantCheckedIn",
    "OccupantCheckedOut",
    "RejectionReason",
    "ReleaseReason",
    "ReservationRejected",
    "ReservationReleased",
    "ShelterCapacityChanged",
    "ShelterClosed",
    "ShelterClosing",
    "ShelterClosingDateSet",
    "ShelterOpened",
    "ShelterPlanned",
    "ShelterRateChanged",
    "Unit",
]

MAX_CAPACITY = 5000
MAX_DAILY_RATE = Decimal("1000")
MAX_MONTHLY_FIXED_COST = Decimal("10000000")


def daily_rate_field(description: str) -> Any:
    """A daily rate per occupied place (Tagessatz): the events' field, and the commands' that
    raise them."""
    return Field(default=None, ge=0, le=MAX_DAILY_RATE, decimal_places=2, description=description)


def monthly_fixed_cost_field() -> Any:
    """A monthly lump sum: the events' field, and the commands' that raise them."""
    return Field(
        default=None,
        ge=0,
        le=MAX_MONTHLY_FIXED_COST,
        decimal_places=2,
        description="Lump sum per month in euros (rent, operator contract), if the site is "
        "paid that way; null if it is not",
    )


class CapacityChangeReason(StrEnum):
    """Why a site's usable or blocked places changed."""

    EXPANDED = "expanded"  # more places (new building part, more modules)
    REDUCED = "reduced"  # fewer places (standards, partial handback)
    PLACES_BLOCKED = "places_blocked"  # temporarily unusable (damage, quarantine)
    PLACES_RELEASED = "places_released"  # blocked places usable again
    DISSOLVING = "dissolving"  # wound down before closing (Auflösung)
    CORRECTION = "correction"  # the previous figure was wrong


class ClosingReason(StrEnum):
    """Why a site closes."""

    EMERGENCY_DISSOLUTION = "emergency_dissolution"  # Notunterkunft dissolved (Drs. 1003/2016)
    LEASE_ENDED = "lease_ended"  # rent or use agreement ends
    BUILDING_NEEDED = "building_needed"  # e.g. a sports hall returned to schools and clubs
    REPLACED = "replaced"  # replaced by a better site
    OTHER = "other"


class RejectionReason(StrEnum):
    """Why housing could not reserve beds."""

    NO_FREE_PLACES = "no_free_places"
    SITE_NOT_OPEN = "site_not_open"  # planned, or already closed
    SITE_CLOSING = "site_closing"  # takes no new occupants
    UNKNOWN_SITE = "unknown_site"  # housing does not know the requested site_id
    UNSUITABLE = "unsuitable"  # the site does not fit the household's needs
    NO_FREE_UNIT = "no_free_unit"  # flats: no unit free that the household fits in alone


class ReleaseReason(StrEnum):
    """Why reserved beds went back to the pool without a check-in."""

    EXPIRED = "expired"  # nobody checked in before expires_at
    CANCELLED = "cancelled"  # allocation cancelled the placement (PlacementCancelled)
    DEPARTED = "departed"  # the household left the city's care (RefugeeDeparted)


class CheckOutReason(StrEnum):
    """Why a household left a site; coarse on purpose (never hospital or custody)."""

    MOVED_OUT = "moved_out"  # into a flat (Auszug, after MoveOutCompleted)
    RELOCATED = "relocated"  # to another site (after RefugeeRelocated)
    DEPARTED = "departed"  # left the city's care (after RefugeeDeparted)
    HOUSE_BAN = "house_ban"  # Hausverbot: must leave this site, needs another place
    INSTITUTION = "institution"  # a stay in an institution (clinic, care, custody: not said)
    OTHER = "other"

    @property
    def needs_follow_up(self) -> bool:
        """No next place is known: staff must follow up (every exit has a place or an alert)."""
        return self in (CheckOutReason.HOUSE_BAN, CheckOutReason.INSTITUTION, CheckOutReason.OTHER)


class Unit(ValueObject):
    """One flat (Wohnung) of a site: let to one household at a time, never shared."""

    unit_id: uuid.UUID
    places: int = Field(ge=1, le=MAX_HOUSEHOLD, description="Places (beds) in the flat")


def _check_units(units: list[Unit], capacity: int) -> None:
    """A site with flats has exactly the places of its flats, each flat named once."""
    if not units:
        return
    if len({u.unit_id for u in units}) != len(units):
        raise ValueError("units: a unit_id appears twice")
    places = sum(u.places for u in units)
    if places != capacity:
        raise ValueError(f"units hold {places} places but the capacity is {capacity}")


class _SiteEvent(EventData):
    SOURCE: ClassVar[str] = "housing"
    VERSION: ClassVar[int] = WAVE_VERSION
    SUBJECT_FIELD: ClassVar[str] = "site_id"

    site_id: uuid.UUID = Field(description="Site (Unterkunft) id")


@event
class ShelterPlanned(_SiteEvent):
    """A site is planned or being built; it takes nobody yet."""

    TYPE: ClassVar[str] = "ShelterPlanned"
    VERSION: ClassVar[int] = WAVE_VERSION

    name: PublicText = Field(min_length=1, max_length=200, description="Public name of the site")
    pillar: Pillar
    district: District
    operator: PublicText | None = Field(
        default=None, min_length=1, max_length=200, description="Operator (Betreiber), if chosen"
    )
    planned_capacity: int = Field(ge=1, le=MAX_CAPACITY, description="Places planned")
    planned_opening_on: date | None = Field(default=None, description="Planned opening day")
    suitability: UniqueList[Suitability] = Field(
        default_factory=list,
        description="Whom the site will be suitable for; empty: nothing special declared",
    )
    building: BuildingKind = Field(
        default=BuildingKind.OTHER,
        description="Kind of building; halls and tents are mass shelters",
    )
    owner: BuildingOwner = Field(
        default=BuildingOwner.CITY, description="Whose building it is (whom it goes back to)"
    )
    closes_on: date | None = Field(
        default=None, description="Day the city must give the building up, if agreed"
    )
    units: list[Unit] = Field(
        default_factory=list,
        max_length=MAX_CAPACITY,
        description="Flats (Wohnungen) of the site, each let to one household; empty: the "
        "site's places are shared rooms",
    )

    @model_validator(mode="after")
    def _units_hold_the_places(self) -> Self:
        _check_units(self.units, self.planned_capacity)
        return self


@event
class ShelterOpened(_SiteEvent):
    """A site (Unterkunft) opened and takes occupants."""

    TYPE: ClassVar[str] = "ShelterOpened"
    VERSION: ClassVar[int] = WAVE_VERSION

    name: PublicText = Field(min_length=1, max_length=200, description="Public name of the site")
    pillar: Pillar
    district: District
    operator: PublicText = Field(min_length=1, max_length=200, description="Operator (Betreiber)")
    capacity: int = Field(ge=1, le=MAX_CAPACITY, description="Usable places")
    suitability: UniqueList[Suitability] = Field(
        default_factory=list,
        description="Whom the site is suitable for, matched against special needs; empty: "
        "nothing special declared (only for households without special needs)",
    )
    building: BuildingKind = Field(
        default=BuildingKind.OTHER,
        description="Kind of building; halls and tents are mass shelters",
    )
    owner: BuildingOwner = Field(
        default=BuildingOwner.CITY, description="Whose building it is (whom it goes back to)"
    )
    closes_on: date | None = Field(
        default=None, description="Day the city must give the building up, if agreed"
    )
    units: list[Unit] = Field(
        default_factory=list,
        max_length=MAX_CAPACITY,
        description="Flats (Wohnungen) of the site, each let to one household; empty: the "
        "site's places are shared rooms",
    )
    daily_rate: Decimal | None = daily_rate_field(
        "Euros per occupied place and day (Tagessatz), in force from the opening day; null "
        "if not agreed yet"
    )
    monthly_fixed_cost: Decimal | None = monthly_fixed_cost_field()

    @model_validator(mode="after")
    def _units_hold_the_places(self) -> Self:
        _check_units(self.units, self.capacity)
        return self


@event
class ShelterRateChanged(_SiteEvent):
    """The site's daily rate per place or its monthly lump sum changes from a given day.

    Costs are day-exact: each occupied place-day is paid at the rate in force that day
    (the latest ``valid_from`` not after it; the opening's rate before the first change).
    """

    TYPE: ClassVar[str] = "ShelterRateChanged"

    daily_rate: Decimal | None = daily_rate_field(
        "Euros per occupied place and day (Tagessatz) from valid_from; null: no daily rate"
    )
    monthly_fixed_cost: Decimal | None = monthly_fixed_cost_field()
    valid_from: date = Field(description="First day the new rate applies (Hannover's calendar)")


@event
class ShelterCapacityChanged(_SiteEvent):
    """A site's places changed; the figures are the new totals, not deltas."""

    TYPE: ClassVar[str] = "ShelterCapacityChanged"

    capacity: int = Field(ge=0, le=MAX_CAPACITY, description="Places in total (Kapazität)")
    blocked_places: int = Field(
        ge=0, le=MAX_CAPACITY, description="Places out of use (gesperrte Plätze), part of capacity"
    )
    reason: CapacityChangeReason

    @model_validator(mode="after")
    def _blocked_within_capacity(self) -> Self:
        if self.blocked_places > self.capacity:
            raise ValueError(
                f"blocked_places {self.blocked_places} exceeds capacity {self.capacity}"
            )
        return self


@event
class ShelterClosing(_SiteEvent):
    """A site will close: it takes no new occupants; its residents are relocated."""

    TYPE: ClassVar[str] = "ShelterClosing"

    reason: ClosingReason
    closes_on: date | None = Field(default=None, description="Planned closing day, if set")


@event
class ShelterClosingDateSet(_SiteEvent):
    """The day the city must give a site's building up was agreed or changed (e.g. a
    school wants its sports hall back); emergency shelters due first are emptied first."""

    TYPE: ClassVar[str] = "ShelterClosingDateSet"

    closes_on: date | None = Field(description="The agreed day; null: no date any more")


@event
class ShelterClosed(_SiteEvent):
    """A site closed; it was empty (everyone relocated or moved out)."""

    TYPE: ClassVar[str] = "ShelterClosed"


@event
class BedReserved(_SiteEvent):
    """Housing reserved places at a site for a household (atomically, never over capacity)."""

    TYPE: ClassVar[str] = "BedReserved"
    VERSION: ClassVar[int] = WAVE_VERSION

    reservation_id: uuid.UUID = Field(description="Chosen by the requester; idempotency key")
    household_id: uuid.UUID
    places: int = Field(ge=1, le=MAX_HOUSEHOLD, description="Places reserved")
    expires_at: UtcDatetime = Field(description="The places return to the pool after this, UTC")
    unit_id: uuid.UUID | None = Field(
        default=None, description="The flat let to the household; null at a site without units"
    )


@event
class ReservationRejected(_SiteEvent):
    """Housing could not reserve; ``site_id`` is the requested site, even if unknown."""

    TYPE: ClassVar[str] = "ReservationRejected"
    VERSION: ClassVar[int] = WAVE_VERSION

    reservation_id: uuid.UUID = Field(description="The requested reservation id")
    household_id: uuid.UUID
    places: int = Field(ge=1, le=MAX_HOUSEHOLD, description="Places requested")
    reason: RejectionReason
    free_places: int | None = Field(
        default=None, ge=0, le=MAX_CAPACITY, description="Free places then; null if unknown site"
    )


@event
class ReservationReleased(_SiteEvent):
    """Reserved beds returned to the pool without a check-in (expired or cancelled)."""

    TYPE: ClassVar[str] = "ReservationReleased"

    reservation_id: uuid.UUID
    household_id: uuid.UUID
    places: int = Field(ge=1, le=MAX_HOUSEHOLD, description="Places released")
    reason: ReleaseReason


@event
class OccupantCheckedIn(_SiteEvent):
    """A household moved into a site (Einzug)."""

    TYPE: ClassVar[str] = "OccupantCheckedIn"
    VERSION: ClassVar[int] = WAVE_VERSION

    household_id: uuid.UUID
    reservation_id: uuid.UUID | None = Field(
        default=None, description="Reservation turned into occupancy; null for a direct check-in"
    )
    persons: int = Field(ge=1, le=MAX_HOUSEHOLD)
    unit_id: uuid.UUID | None = Field(
        default=None, description="The flat the household lives in; null without units"
    )


@event
class OccupantCheckedOut(_SiteEvent):
    """A household left a site (Auszug); its places are free again."""

    TYPE: ClassVar[str] = "OccupantCheckedOut"
    VERSION: ClassVar[int] = WAVE_VERSION

    household_id: uuid.UUID
    persons: int = Field(ge=1, le=MAX_HOUSEHOLD)
    reason: CheckOutReason
