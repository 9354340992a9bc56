"""Events published by the integration service (topic ``integration.events``).

Integrationsmanagement works in cases, one per household. Every case event here is keyed
by ``case_id``, including ``SupportRequested``: a request is raised within a case, so it is
ordered with the case's opening, hand-over and closing (a consumer never sees a request
for a case it already saw closed). ``request_id`` identifies the request in the
volunteers service's events. ``ErasureRequested`` is keyed by its own ``erasure_id``: it
concerns people, not a case's story.

Business dates (``opened_on``, ``reached_on``, ``moved_on``, …) are the days things
happened in the world; they are null only in events written as version 1.
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import ClassVar, Self

from pydantic import Field, model_validator

from ..common import (
    MAX_HOUSEHOLD,
    District,
    LanguageCode,
    Pillar,
    Skill,
    UniqueList,
    ValueObject,
)
from ..envelope import WAVE_VERSION, EventData
from ..registry import event

__all__ = [
    "CaseCloseReason",
    "CaseClosed",
    "CaseHandedOver",
    "CaseOpened",
    "CaseTransferReason",
    "CaseTransferred",
    "DistrictStructure",
    "ErasureReason",
    "ErasureRequested",
    "FocusArea",
    "GermanLevel",
    "Independence",
    "LanguageLevel",
    "Milestone",
    "MilestoneReached",
    "MoveOutCompleted",
    "MoveOutPlanned",
    "MoveOutTarget",
    "ReadinessAssessed",
    "ResidenceProspects",
    "ResidenceStatus",
    "SupportRequested",
    "TimeSlot",
    "Weekday",
    "milestone_details_fit",
]


class FocusArea(StrEnum):
    """What a case works on (Handlungsfeld des Integrationsmanagements)."""

    HOUSING = "housing"  # Wohnen, Auszugsmanagement
    SCHOOL = "school"  # Schule und Kita
    WORK = "work"  # Ausbildung und Arbeit
    LANGUAGE = "language"  # Sprache
    EVERYDAY_SKILLS = "everyday_skills"  # Alltagskompetenzen
    PARTICIPATION = "participation"  # kulturelle und politische Teilhabe


class Milestone(StrEnum):
    """A step a household reached (Meilenstein)."""

    LANGUAGE_COURSE = "language_course"  # Sprach- oder Integrationskurs begonnen
    LANGUAGE_LEVEL = "language_level"  # Sprachniveau erreicht (A1–C1, ``language_level``)
    SCHOOL = "school"  # a child enrolled at school
    KITA = "kita"  # a child got a Kita place
    TRAINING = "training"  # Ausbildung begonnen
    WORK = "work"  # Arbeit aufgenommen
    RESIDENCE_STATUS = "residence_status"  # Aufenthaltsstatus, see ``residence_status``
    EVERYDAY_SKILLS = "everyday_skills"  # Alltagskompetenzen (Behörden, Einkauf, Verkehr)
    HOUSING = "housing"  # own tenancy signed


class LanguageLevel(StrEnum):
    """A CEFR level of German reached (Sprachniveau, GER)."""

    A1 = "a1"
    A2 = "a2"
    B1 = "b1"
    B2 = "b2"
    C1 = "c1"


class ResidenceStatus(StrEnum):
    """A household's residence status and its changes (Aufenthaltsstatus)."""

    IN_PROCEDURE = "in_procedure"  # Aufenthaltsgestattung: asylum procedure running
    PROTECTION_GRANTED = "protection_granted"  # Asyl, Flüchtlingsschutz, subsidiärer Schutz
    TOLERATED = "tolerated"  # Duldung
    REJECTED = "rejected"  # Antrag abgelehnt


def milestone_details_fit(
    milestone: Milestone,
    language_level: LanguageLevel | None,
    residence_status: ResidenceStatus | None,
) -> None:
    """A level exactly for a ``language_level`` milestone, a status exactly for a
    ``residence_status`` one (the event's rule, and the command's that raises it); a
    ``ValueError`` naming the detail otherwise."""
    for name, value, kind in (
        ("language_level", language_level, Milestone.LANGUAGE_LEVEL),
        ("residence_status", residence_status, Milestone.RESIDENCE_STATUS),
    ):
        if (value is None) == (milestone is kind):
            raise ValueError(f"{name} is required exactly for a {kind.value} milestone")


class Independence(StrEnum):
    """How independently a household manages everyday life (social workers' assessment)."""

    LOW = "low"
    SOME = "some"
    HIGH = "high"


class GermanLevel(StrEnum):
    """German of the household's best speaker, coarse, as allocation's placement uses it."""

    NONE = "none"
    A1 = "a1"
    A2 = "a2"
    B1 = "b1"
    B2_PLUS = "b2_plus"


class ResidenceProspects(StrEnum):
    """Prospects of staying (Bleibeperspektive), coarse."""

    GOOD = "good"
    UNCLEAR = "unclear"
    POOR = "poor"


class Weekday(StrEnum):
    MONDAY = "mon"
    TUESDAY = "tue"
    WEDNESDAY = "wed"
    THURSDAY = "thu"
    FRIDAY = "fri"
    SATURDAY = "sat"
    SUNDAY = "sun"


_CLOCK_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class TimeSlot(ValueObject):
    """A weekly time the support is needed (Wochentag, von–bis, local time)."""

    weekday: Weekday
    starts_at: str = Field(pattern=_CLOCK_TIME, description="HH:MM, local time")
    ends_at: str = Field(pattern=_CLOCK_TIME, description="HH:MM, local time, after starts_at")

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        if self.ends_at <= self.starts_at:
            raise ValueError(f"ends_at {self.ends_at} is not after starts_at {self.starts_at}")
        return self


class MoveOutTarget(StrEnum):
    """Where a household moves when it leaves city accommodation."""

    OWN_FLAT = "own_flat"  # own tenancy on the housing market
    SOCIAL_HOUSING = "social_housing"  # Belegrechtswohnung, Wohnungsbauoffensive
    SHARED_FLAT = "shared_flat"  # Wohngemeinschaft
    FAMILY_OR_FRIENDS = "family_or_friends"
    OTHER_MUNICIPALITY = "other_municipality"  # leaves the city (no target district)
    OTHER = "other"


class DistrictStructure(StrEnum):
    """District structure a case is handed over to (Übergabe in die Regelstrukturen)."""

    STADTBEZIRKSMANAGEMENT = "stadtbezirksmanagement"
    QUARTIERSMANAGEMENT = "quartiersmanagement"
    GEMEINWESENARBEIT = "gemeinwesenarbeit"
    STADTTEILZENTRUM = "stadtteilzentrum"
    JUGENDARBEIT = "jugendarbeit"


class CaseCloseReason(StrEnum):
    """Why a case ended."""

    GOALS_REACHED = "goals_reached"
    HANDED_OVER = "handed_over"  # after CaseHandedOver
    MOVED_AWAY = "moved_away"  # the household left the city
    DECLINED = "declined"  # the household no longer wants support
    OTHER = "other"


class _CaseEvent(EventData):
    SOURCE: ClassVar[str] = "integration"
    VERSION: ClassVar[int] = WAVE_VERSION
    SUBJECT_FIELD: ClassVar[str] = "case_id"

    case_id: uuid.UUID = Field(description="Integrationsmanagement case id")


@event
class CaseOpened(_CaseEvent):
    """Integrationsmanagement opened a case for a household."""

    TYPE: ClassVar[str] = "CaseOpened"
    VERSION: ClassVar[int] = WAVE_VERSION

    household_id: uuid.UUID
    district: District = Field(description="Stadtbezirk the case is counselled in")
    site_id: uuid.UUID | None = Field(
        default=None, description="Site the household lives in when the case opens, if any"
    )
    focus_areas: UniqueList[FocusArea] = Field(min_length=1, description="Handlungsfelder")
    persons: int | None = Field(
        default=None, ge=1, le=MAX_HOUSEHOLD, description="Persons in the household"
    )
    opened_on: date | None = Field(default=None, description="Day the case opened")


class CaseTransferReason(StrEnum):
    """Why a case moved to another Stadtbezirk's team."""

    RELOCATED = "relocated"  # the household moved to a site in another Stadtbezirk
    MOVED_OUT = "moved_out"  # the household moved into a flat of its own there


@event
class CaseTransferred(_CaseEvent):
    """A case moved to the Integrationsmanagement team of another Stadtbezirk."""

    TYPE: ClassVar[str] = "CaseTransferred"

    household_id: uuid.UUID
    from_district: District
    to_district: District
    site_id: uuid.UUID | None = Field(
        description="Site the household lives in now; null after a move into its own flat"
    )
    reason: CaseTransferReason
    transferred_on: date = Field(description="Day of the move")

    @model_validator(mode="after")
    def _moves(self) -> Self:
        if self.from_district == self.to_district:
            raise ValueError("to_district equals from_district: a transfer changes the district")
        return self


@event
class MilestoneReached(_CaseEvent):
    """A household reached a milestone, e.g. a language level, a Kita place or a status.

    ``language_level`` is set exactly for ``language_level`` milestones,
    ``residence_status`` exactly for ``residence_status`` milestones (a change of status:
    protection granted, tolerated, rejected).
    """

    TYPE: ClassVar[str] = "MilestoneReached"
    VERSION: ClassVar[int] = WAVE_VERSION

    household_id: uuid.UUID
    milestone: Milestone
    reached_on: date = Field(description="Day the milestone was reached")
    persons: int = Field(
        ge=1, le=MAX_HOUSEHOLD, description="Household members the milestone concerns"
    )
    language_level: LanguageLevel | None = Field(
        default=None, description="Level reached, for a language_level milestone"
    )
    residence_status: ResidenceStatus | None = Field(
        default=None, description="New status, for a residence_status milestone"
    )

    @model_validator(mode="after")
    def _details_fit(self) -> Self:
        milestone_details_fit(self.milestone, self.language_level, self.residence_status)
        return self


@event
class ReadinessAssessed(_CaseEvent):
    """Integrationsmanagement assessed which housing a household is ready for.

    Readiness is assessed here and nowhere else (Wohnfähigkeit): allocation places by
    ``ready_for`` instead of computing it. ``ready_for_own_tenancy`` says the household
    may move out into a tenancy of its own (Auszug).
    """

    TYPE: ClassVar[str] = "ReadinessAssessed"

    household_id: uuid.UUID
    ready_for: Pillar = Field(description="The most independent pillar it is ready for")
    ready_for_own_tenancy: bool
    independence: Independence
    german: GermanLevel
    residence_prospects: ResidenceProspects
    assessed_on: date
    reason: str = Field(
        min_length=1, max_length=500, description="Why, in words for staff; generated by the rule"
    )

    @model_validator(mode="after")
    def _pillar_is_regular(self) -> Self:
        if self.ready_for is Pillar.NOTUNTERKUNFT:
            raise ValueError("ready_for must be a regular pillar, not notunterkunft")
        return self


class _MoveOut(_CaseEvent):
    household_id: uuid.UUID
    from_site_id: uuid.UUID = Field(description="Site the household moves out of")
    target_kind: MoveOutTarget
    target_district: District | None = Field(
        description="Stadtbezirk moved to; null exactly when moving to another municipality"
    )

    @model_validator(mode="after")
    def _district_fits_target(self) -> Self:
        leaves = self.target_kind is MoveOutTarget.OTHER_MUNICIPALITY
        if leaves and self.target_district is not None:
            raise ValueError("target_district must be null when target_kind is other_municipality")
        if not leaves and self.target_district is None:
            raise ValueError(
                f"target_district is required when target_kind is {self.target_kind.value!r}"
            )
        return self


@event
class MoveOutPlanned(_MoveOut):
    """A move out of city accommodation is planned (Auszugsmanagement)."""

    TYPE: ClassVar[str] = "MoveOutPlanned"

    planned_on: date | None = Field(default=None, description="Planned moving day, if known")


@event
class MoveOutCompleted(_MoveOut):
    """A household moved out; housing checks it out and frees the beds."""

    TYPE: ClassVar[str] = "MoveOutCompleted"
    VERSION: ClassVar[int] = WAVE_VERSION

    moved_on: date | None = Field(default=None, description="Moving day")


@event
class CaseHandedOver(_CaseEvent):
    """A case was handed over to a district structure (Regelstruktur im Stadtbezirk)."""

    TYPE: ClassVar[str] = "CaseHandedOver"

    VERSION: ClassVar[int] = WAVE_VERSION

    household_id: uuid.UUID
    to_structure: DistrictStructure
    district: District = Field(description="Stadtbezirk of the receiving structure")
    receiving_partner: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The receiving organisation, e.g. 'Stadtteilzentrum Ricklingen' (never a "
        "person); null only in version 1",
    )
    handed_over_on: date | None = Field(default=None, description="Day of the handover")


@event
class CaseClosed(_CaseEvent):
    """Integrationsmanagement closed a case."""

    TYPE: ClassVar[str] = "CaseClosed"
    VERSION: ClassVar[int] = WAVE_VERSION

    reason: CaseCloseReason
    closed_on: date | None = Field(default=None, description="Day the case closed")


@event
class SupportRequested(_CaseEvent):
    """A case needs volunteer support (Unterstützungsbedarf).

    Keyed by ``case_id`` so it is ordered with the case's other events; ``request_id``
    identifies the request in the volunteers service's events.
    """

    TYPE: ClassVar[str] = "SupportRequested"
    VERSION: ClassVar[int] = WAVE_VERSION

    request_id: uuid.UUID = Field(description="Id of the request; volunteers' matches cite it")
    district: District = Field(description="Where the support is needed")
    languages: UniqueList[LanguageCode] = Field(
        min_length=1, max_length=10, description="Languages the helper could use, any of them"
    )
    skill: Skill
    involves_children: bool = Field(
        description="Work with children: needs a vetted volunteer (erweitertes Führungszeugnis)"
    )
    hours_per_week: int = Field(ge=1, le=40, description="Expected time needed per week")
    schedule: list[TimeSlot] = Field(
        default_factory=list,
        max_length=21,
        description="When, weekly (weekday, from, until); empty: to be agreed",
    )

    @model_validator(mode="after")
    def _children_if_skill_needs_them(self) -> Self:
        if self.skill.involves_children and not self.involves_children:
            raise ValueError(f"involves_children must be true for skill {self.skill.value!r}")
        return self


class ErasureReason(StrEnum):
    """Why personal details are erased (Löschung)."""

    REQUESTED = "requested"  # the person asked (Art. 17 DSGVO)
    RETENTION = "retention"  # the retention period of a closed case ended


@event
class ErasureRequested(EventData):
    """Erase the personal details of people in every service that holds them.

    Pseudonymous ids and history stay, so every count and report stays as it was: each
    service deletes or blanks what identifies a person (names, dates of birth, contact,
    the Land's file reference) for the listed ``person_ids``, or for the whole household
    when the list is empty.
    """

    TYPE: ClassVar[str] = "ErasureRequested"
    SOURCE: ClassVar[str] = "integration"
    SUBJECT_FIELD: ClassVar[str] = "erasure_id"

    erasure_id: uuid.UUID = Field(description="Id of the erasure request")
    household_id: uuid.UUID
    person_ids: UniqueList[uuid.UUID] = Field(
        max_length=MAX_HOUSEHOLD, description="People to erase; empty: the whole household"
    )
    reason: ErasureReason
    requested_on: date
