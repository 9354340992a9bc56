"""Events published by the allocation service (topic ``allocation.events``).

Allocation receives the Land's assignments (Zuweisungen), keeps households together and
decides where each should live; housing confirms the beds. Household events are keyed
by ``household_id`` so one household's story stays in order.
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Any, ClassVar, Self

from pydantic import Field, model_validator

from ..common import (
    MAX_HOUSEHOLD,
    AgeBand,
    CountryCode,
    District,
    Gender,
    Pillar,
    Pseudonym,
    SiteRequirement,
    SpecialNeed,
    UniqueList,
    UtcDatetime,
    ValueObject,
    site_requirements,
)
from ..envelope import WAVE_VERSION, EventData
from ..registry import event, upcaster

__all__ = [
    "DepartureReason",
    "Member",
    "MinorReferredToYouthWelfare",
    "PlacementCancelled",
    "PlacementDecided",
    "PlacementFailed",
    "QuotaPeriodAnnounced",
    "RefugeeAssigned",
    "RefugeeDeparted",
    "RefugeeRelocated",
    "RelocationReason",
    "RelocationRequested",
    "minor_if_unaccompanied",
]


class RelocationReason(StrEnum):
    """Why a household has to move to another site (Umverlegung)."""

    EMERGENCY_DISSOLUTION = "emergency_dissolution"  # Notunterkunft being dissolved
    SITE_CLOSING = "site_closing"  # any other site closing
    CAPACITY_REDUCED = "capacity_reduced"  # places blocked or removed at the site
    SPECIAL_NEEDS = "special_needs"  # the site no longer fits the household's needs
    HOUSEHOLD_REQUEST = "household_request"  # the household asked to move
    OTHER = "other"


class DepartureReason(StrEnum):
    """Why a household left the city's care (Abgang)."""

    MOVED_AWAY = "moved_away"  # moved to another municipality or unknown whereabouts
    RETURNED = "returned"  # returned to the country of origin
    OTHER = "other"


class _AllocationEvent(EventData):
    SOURCE: ClassVar[str] = "allocation"
    VERSION: ClassVar[int] = WAVE_VERSION


class _HouseholdEvent(_AllocationEvent):
    SUBJECT_FIELD: ClassVar[str] = "household_id"

    household_id: uuid.UUID = Field(description="Pseudonymous household id (Haushalt)")


def minor_if_unaccompanied(unaccompanied_minor: bool, age_band: AgeBand) -> None:
    """Only a minor travels unaccompanied (the contract's rule for a member, and the
    assignment command's that raises it); a ``ValueError`` naming both otherwise."""
    if unaccompanied_minor and not age_band.is_minor:
        raise ValueError(
            f"unaccompanied_minor is true but age_band {age_band.value!r} is not a minor"
        )


class Member(ValueObject):
    """One person of an assigned household: coarse attributes only, never a name, never a
    need (the household's site requirements travel instead; health data stays home)."""

    person_id: uuid.UUID = Field(description="Pseudonymous person id, random, not derived")
    age_band: AgeBand
    gender: Gender
    country_of_origin: CountryCode
    unaccompanied_minor: bool = Field(
        description="Unbegleitete minderjährige Geflüchtete (UMF): no parent or legal "
        "guardian travels with this minor (an adult sibling is no guardian); only with a "
        "minor age band"
    )

    @model_validator(mode="after")
    def _minor_if_unaccompanied(self) -> Self:
        minor_if_unaccompanied(self.unaccompanied_minor, self.age_band)
        return self


@event
class QuotaPeriodAnnounced(_AllocationEvent):
    """The Land announced how many people it will assign to the city in a period (Aufnahmequote)."""

    TYPE: ClassVar[str] = "QuotaPeriodAnnounced"
    SUBJECT_FIELD: ClassVar[str] = "quota_period_id"

    quota_period_id: uuid.UUID = Field(description="Id of the quota period (Quotenzeitraum)")
    starts_on: date = Field(description="First day of the period")
    ends_on: date = Field(description="Last day of the period (inclusive)")
    expected_persons: int = Field(
        ge=0, le=100_000, description="People the Land will assign in the period (Aufnahmesoll)"
    )
    weekly_quota: int = Field(
        ge=0, le=10_000, description="Expected assignments per week (Wochenkontingent)"
    )

    @model_validator(mode="after")
    def _period_in_order(self) -> Self:
        if self.ends_on < self.starts_on:
            raise ValueError(f"ends_on {self.ends_on} is before starts_on {self.starts_on}")
        return self


@event
class RefugeeAssigned(_HouseholdEvent):
    """The Land assigned a household to the city (Zuweisung); it now needs a place.

    The envelope's ``occurred_at`` is the Land's decision (Zuweisungsdatum): the assignment
    counts in the ISO week of that date in Hannover (the quota week).

    v3: the household's site ``requirements`` (what a site must be, as in PlacementDecided)
    replace v2's per-member ``special_needs``: a need such as ``medical`` is health data
    (Art. 9 GDPR) and stays in allocation's database. v2 events are upcast by the same
    rule that derives the requirements (``site_requirements``).
    """

    TYPE: ClassVar[str] = "RefugeeAssigned"

    VERSION: ClassVar[int] = 3

    land_reference_pseudonym: Pseudonym = Field(
        description="Keyed pseudonym (HMAC-SHA256) of the Land's reference of the assignment "
        "(Zuweisungsbescheid): the same reference always gives the same pseudonym, but "
        "the reference itself stays in allocation's database"
    )
    quota_period_id: uuid.UUID | None = Field(
        default=None, description="Quota period the assignment counts against, if known"
    )
    household_size: int = Field(
        ge=1, le=MAX_HOUSEHOLD, description="Persons in the household; equals len(members)"
    )
    members: list[Member] = Field(min_length=1, max_length=MAX_HOUSEHOLD)
    requirements: UniqueList[SiteRequirement] = Field(
        default_factory=list,
        description="What a site must be for the members the city places together (all but "
        "unaccompanied minors referred to youth welfare): the protection rules, the kind of "
        "place, never a need or a diagnosis",
    )
    expected_arrival_at: UtcDatetime = Field(
        description="When the household is expected to arrive in the city, as the Land "
        "announced it (the decision itself if nothing was announced); holds run to it"
    )

    @model_validator(mode="after")
    def _members_match(self) -> Self:
        if self.household_size != len(self.members):
            raise ValueError(
                f"household_size {self.household_size} does not match the "
                f"{len(self.members)} members"
            )
        ids = [m.person_id for m in self.members]
        if len(set(ids)) != len(ids):
            raise ValueError("members: a person_id appears twice")
        return self


@upcaster("RefugeeAssigned", WAVE_VERSION)
def _refugee_assigned_v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """v2 carried each member's special needs; v3 the household's site requirements, derived
    by the one rule (``site_requirements``) from the members the city places."""
    members = [dict(m) for m in data["members"]]
    placed = [m for m in members if not m.get("unaccompanied_minor", False)]
    needs = {SpecialNeed(n) for m in placed for n in m.get("special_needs", [])}
    people = [(AgeBand(m["age_band"]), Gender(m["gender"])) for m in placed]
    for m in members:
        m.pop("special_needs", None)
    requirements = site_requirements(needs, people)
    return {**data, "members": members, "requirements": [r.value for r in requirements]}


@event
class PlacementDecided(_HouseholdEvent):
    """Allocation chose a site for a household and asks housing to reserve the beds.

    Housing answers on ``housing.events`` with BedReserved or ReservationRejected for the
    same ``reservation_id``; a repeated request with that id is answered again, never
    reserved twice.
    """

    TYPE: ClassVar[str] = "PlacementDecided"
    VERSION: ClassVar[int] = WAVE_VERSION

    site_id: uuid.UUID = Field(description="Site (Unterkunft) the household goes to")
    reservation_id: uuid.UUID = Field(
        description="Id of the requested reservation, chosen by allocation; idempotency key"
    )
    places: int = Field(
        ge=1,
        le=MAX_HOUSEHOLD,
        description="Beds to reserve: the household without members referred to youth welfare",
    )
    requirements: UniqueList[SiteRequirement] = Field(
        default_factory=list,
        description="What the site must be for this household (protection rules; housing "
        "checks again); the kind of place, never a need or a diagnosis",
    )
    pillar: Pillar
    district: District
    reason: str = Field(
        min_length=1,
        max_length=500,
        description="Why this site, in words for staff (the placement rule that chose it); "
        "generated by the policy, never personal data",
    )
    attempt: int = Field(
        ge=1, le=1000, description="1 for the first try; higher after rejected reservations"
    )
    for_review: bool = Field(
        default=False,
        description="A place of a pillar the household is not ready for (a Wohnprojekt or "
        "Wohnung for a new arrival), used because nothing else fits: nobody is left "
        "homeless, and staff review the placement",
    )
    expected_arrival_at: UtcDatetime = Field(
        description="When the household is expected at the site: housing holds the places "
        "until then plus its grace period (never a length chosen by the requester)"
    )


@event
class PlacementCancelled(_HouseholdEvent):
    """Allocation no longer needs a reservation it asked for (compensation of the saga).

    E.g. the household departed while housing was reserving. Housing releases the beds.
    """

    TYPE: ClassVar[str] = "PlacementCancelled"

    site_id: uuid.UUID
    reservation_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=500, description="Why, in words for staff")


@event
class PlacementFailed(_HouseholdEvent):
    """No suitable place was free for a household: a homelessness alert, never silence."""

    TYPE: ClassVar[str] = "PlacementFailed"

    reason: str = Field(
        min_length=1, max_length=500, description="Why nothing fitted, in words for staff"
    )
    waitlisted: bool = Field(description="The household is on the waitlist (Warteliste)")
    persons: int = Field(ge=1, le=MAX_HOUSEHOLD, description="Persons without a place")


@event
class RelocationRequested(_HouseholdEvent):
    """A household has to move to another site (Umverlegung angefordert)."""

    TYPE: ClassVar[str] = "RelocationRequested"

    from_site_id: uuid.UUID = Field(description="Site the household lives in now")
    reason: RelocationReason


@event
class RefugeeRelocated(_HouseholdEvent):
    """A household moved from one site to another; housing reserved the new beds."""

    TYPE: ClassVar[str] = "RefugeeRelocated"

    from_site_id: uuid.UUID
    to_site_id: uuid.UUID
    reservation_id: uuid.UUID = Field(description="Housing's reservation at the new site")
    to_pillar: Pillar
    to_district: District

    @model_validator(mode="after")
    def _moves(self) -> Self:
        if self.to_site_id == self.from_site_id:
            raise ValueError("to_site_id equals from_site_id: a relocation must change the site")
        return self


@event
class RefugeeDeparted(_HouseholdEvent):
    """A household left the city's care (Abgang), e.g. moved away or returned."""

    TYPE: ClassVar[str] = "RefugeeDeparted"

    site_id: uuid.UUID | None = Field(
        default=None, description="Site the household lived in, if it had one"
    )
    reason: DepartureReason
    persons: int = Field(ge=1, le=MAX_HOUSEHOLD, description="Persons who left")


@event
class MinorReferredToYouthWelfare(_HouseholdEvent):
    """An unaccompanied minor is referred to the youth office (Inobhutnahme, §42a SGB VIII).

    Decided per person: a minor without a parent or legal guardian goes to youth welfare
    even when an adult sibling travels with them, and is not placed at the household's
    site. Minors are counted apart from the asylum quota. For the youth office to consume;
    pseudonymous, coarse attributes only.
    """

    TYPE: ClassVar[str] = "MinorReferredToYouthWelfare"

    person_id: uuid.UUID = Field(description="Pseudonymous id of the minor, as in RefugeeAssigned")
    age_band: AgeBand
    gender: Gender
    country_of_origin: CountryCode
    travels_with_adult: bool = Field(
        description="An adult (not a guardian, e.g. an elder sibling) of the same assignment "
        "travels with the minor and is placed by the city; the youth office decides on "
        "keeping them in touch"
    )
    quota_period_id: uuid.UUID | None = Field(
        default=None,
        description="The assignment's quota period; the minor does not count against it",
    )

    @model_validator(mode="after")
    def _a_minor(self) -> Self:
        if not self.age_band.is_minor:
            raise ValueError(f"age_band {self.age_band.value!r} is not a minor")
        return self
