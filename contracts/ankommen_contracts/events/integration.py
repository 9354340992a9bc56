"""Events published by the integration service (topic ``integration.events``).

Integrationsmanagement works in cases, one per household. Every event here is keyed by
``case_id``, including ``SupportRequested``: a request is raised within a case, so it is
ordered with the case's opening, hand-over and closing (a consumer never sees a request
for a case it already saw closed). ``request_id`` identifies the request in the
volunteers service's events.
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import ClassVar, Self

from pydantic import Field, model_validator

from ..common import MAX_HOUSEHOLD, District, LanguageCode, Skill, UniqueList
from ..envelope import WAVE_VERSION, EventData
from ..registry import event

__all__ = [
    "CaseCloseReason",
    "CaseClosed",
    "CaseHandedOver",
    "CaseOpened",
    "DistrictStructure",
    "FocusArea",
    "Milestone",
    "MilestoneReached",
    "MoveOutCompleted",
    "MoveOutPlanned",
    "MoveOutTarget",
    "SupportRequested",
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
    SCHOOL = "school"  # a child enrolled at school
    KITA = "kita"  # a child got a Kita place
    TRAINING = "training"  # Ausbildung begonnen
    WORK = "work"  # Arbeit aufgenommen
    RESIDENCE_STATUS = "residence_status"  # Aufenthaltstitel erteilt
    HOUSING = "housing"  # own tenancy signed


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

    household_id: uuid.UUID
    district: District = Field(description="Stadtbezirk the case is counselled in")
    site_id: uuid.UUID | None = Field(
        default=None, description="Site the household lives in when the case opens, if any"
    )
    focus_areas: UniqueList[FocusArea] = Field(min_length=1, description="Handlungsfelder")


@event
class MilestoneReached(_CaseEvent):
    """A household reached a milestone, e.g. a language course or a Kita place."""

    TYPE: ClassVar[str] = "MilestoneReached"

    household_id: uuid.UUID
    milestone: Milestone
    reached_on: date = Field(description="Day the milestone was reached")
    persons: int = Field(
        ge=1, le=MAX_HOUSEHOLD, description="Household members the milestone concerns"
    )


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


@event
class CaseHandedOver(_CaseEvent):
    """A case was handed over to a district structure (Regelstruktur im Stadtbezirk)."""

    TYPE: ClassVar[str] = "CaseHandedOver"

    household_id: uuid.UUID
    to_structure: DistrictStructure
    district: District = Field(description="Stadtbezirk of the receiving structure")


@event
class CaseClosed(_CaseEvent):
    """Integrationsmanagement closed a case."""

    TYPE: ClassVar[str] = "CaseClosed"

    reason: CaseCloseReason


@event
class SupportRequested(_CaseEvent):
    """A case needs volunteer support (Unterstützungsbedarf).

    Keyed by ``case_id`` so it is ordered with the case's other events; ``request_id``
    identifies the request in the volunteers service's events.
    """

    TYPE: ClassVar[str] = "SupportRequested"

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

    @model_validator(mode="after")
    def _children_if_skill_needs_them(self) -> Self:
        if self.skill.involves_children and not self.involves_children:
            raise ValueError(f"involves_children must be true for skill {self.skill.value!r}")
        return self
