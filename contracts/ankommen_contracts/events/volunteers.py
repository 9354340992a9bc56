"""Events published by the volunteers service (topic ``volunteers.events``).

The Koordinierungsstelle Flüchtlingshilfe registers volunteers, checks their vetting and
matches them to support requests. Every event here is keyed by ``volunteer_id``: a
match's events (matched, hours, ended) stay in order, and in order with the volunteer's
vetting, because a match never changes its volunteer. No names or contact data: those
stay in the volunteers service's database.
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from ..common import District, LanguageCode, Skill, UniqueList
from ..envelope import WAVE_VERSION, EventData
from ..registry import event

__all__ = [
    "MatchEndReason",
    "MatchEnded",
    "VolunteerHoursLogged",
    "VolunteerMatched",
    "VolunteerRegistered",
    "VolunteerVetted",
]


class MatchEndReason(StrEnum):
    """Why a match between a volunteer and a support request ended."""

    COMPLETED = "completed"  # the support is no longer needed
    VOLUNTEER_WITHDREW = "volunteer_withdrew"
    REQUEST_WITHDRAWN = "request_withdrawn"  # e.g. the case closed
    CERTIFICATE_EXPIRED = "certificate_expired"  # work with children without valid vetting
    OTHER = "other"


class _VolunteerEvent(EventData):
    SOURCE: ClassVar[str] = "volunteers"
    VERSION: ClassVar[int] = WAVE_VERSION
    SUBJECT_FIELD: ClassVar[str] = "volunteer_id"

    volunteer_id: uuid.UUID = Field(description="Pseudonymous volunteer id (Ehrenamtliche*r)")


@event
class VolunteerRegistered(_VolunteerEvent):
    """Someone offered to volunteer (Hilfsangebot); what, where and how much, never who."""

    TYPE: ClassVar[str] = "VolunteerRegistered"
    VERSION: ClassVar[int] = WAVE_VERSION

    districts: UniqueList[District] = Field(
        min_length=1, max_length=13, description="Stadtbezirke the volunteer can help in"
    )
    languages: UniqueList[LanguageCode] = Field(min_length=1, max_length=20)
    skills: UniqueList[Skill] = Field(min_length=1, max_length=len(Skill))
    hours_per_week: int = Field(ge=1, le=40, description="Available hours per week")
    mso: bool = Field(
        description="Came through a migrant self-organisation (Migrantenselbstorganisation)"
    )
    registered_on: date | None = Field(
        default=None,
        description="Business date of the offer (v2); null only in events upcast from v1",
    )


@event
class VolunteerVetted(_VolunteerEvent):
    """A volunteer showed an extended police certificate (erweitertes Führungszeugnis)."""

    TYPE: ClassVar[str] = "VolunteerVetted"
    VERSION: ClassVar[int] = WAVE_VERSION

    certificate_valid_until: date = Field(
        description="Last day the certificate counts; work with children needs it valid"
    )
    certificate_issued_on: date | None = Field(
        default=None, description="Issue date of the certificate (v2); null only from v1"
    )
    vetted_on: date | None = Field(
        default=None,
        description="Business date the certificate was shown (v2); null only from v1",
    )


@event
class VolunteerMatched(_VolunteerEvent):
    """A volunteer was matched to a support request."""

    TYPE: ClassVar[str] = "VolunteerMatched"
    VERSION: ClassVar[int] = WAVE_VERSION

    match_id: uuid.UUID
    request_id: uuid.UUID = Field(description="SupportRequested.request_id")
    district: District = Field(description="Where the support happens (the request's)")
    skill: Skill = Field(description="The request's skill")
    involves_children: bool | None = Field(
        default=None, description="Work with children (v2); null only from v1"
    )
    matched_on: date | None = Field(
        default=None, description="Business date of the match (v2); null only from v1"
    )


@event
class MatchEnded(_VolunteerEvent):
    """A match ended; the request is open again unless the reason says otherwise."""

    TYPE: ClassVar[str] = "MatchEnded"
    VERSION: ClassVar[int] = WAVE_VERSION

    match_id: uuid.UUID
    request_id: uuid.UUID
    reason: MatchEndReason
    ended_on: date | None = Field(
        default=None, description="Business date the match ended (v2); null only from v1"
    )


@event
class VolunteerHoursLogged(_VolunteerEvent):
    """A volunteer logged time spent helping."""

    TYPE: ClassVar[str] = "VolunteerHoursLogged"

    match_id: uuid.UUID | None = Field(
        default=None, description="The match the hours belong to; null for general help"
    )
    district: District = Field(description="Where the help happened")
    worked_on: date
    hours: float = Field(gt=0, le=24, multiple_of=0.25, description="Hours, in quarter hours")
