"""Ankommen's public event contract.

Importing this package registers every event model in ``CATALOGUE``.
"""

from . import events
from .common import (
    DISTRICT_NAMES,
    MAX_HOUSEHOLD,
    NEED_REQUIREMENTS,
    PILLAR_LABELS,
    AgeBand,
    BuildingKind,
    BuildingOwner,
    CountryCode,
    District,
    Gender,
    LanguageCode,
    Pillar,
    PlacesRow,
    PublicText,
    SiteRequirement,
    Skill,
    SpecialNeed,
    Suitability,
    Text,
    UniqueList,
    UtcDatetime,
    ValueObject,
    district_label,
    roll_up,
    site_requirements,
    unmet_requirements,
)
from .envelope import SERVICES, Envelope, EventData, RawEnvelope, new_envelope
from .events import *  # noqa: F403  (registers the catalogue)
from .registry import (
    CATALOGUE,
    UPCASTERS,
    InvalidEvent,
    UnknownEventType,
    decode,
    encode,
    upcaster,
)

PUBLISHERS: tuple[str, ...] = ("allocation", "housing", "integration", "volunteers")
"""Services that publish events; each owns the topic ``<service>.events``."""


def topic_for(source: str) -> str:
    """The topic a service publishes its events on."""
    return f"{source}.events"


__all__ = [
    "CATALOGUE",
    "DISTRICT_NAMES",
    "MAX_HOUSEHOLD",
    "NEED_REQUIREMENTS",
    "PILLAR_LABELS",
    "PlacesRow",
    "district_label",
    "roll_up",
    "site_requirements",
    "unmet_requirements",
    "PUBLISHERS",
    "SERVICES",
    "UPCASTERS",
    "AgeBand",
    "BuildingKind",
    "BuildingOwner",
    "CountryCode",
    "District",
    "Envelope",
    "EventData",
    "Gender",
    "InvalidEvent",
    "LanguageCode",
    "Pillar",
    "PublicText",
    "RawEnvelope",
    "SiteRequirement",
    "Skill",
    "SpecialNeed",
    "Suitability",
    "Text",
    "UniqueList",
    "UnknownEventType",
    "UtcDatetime",
    "ValueObject",
    "decode",
    "encode",
    "new_envelope",
    "topic_for",
    "upcaster",
    *events.__all__,
]
