"""The contract's personal-data scan: an allow-list of field names and the types each may have.

Every field of every event (and of the models nested in them, and the envelope) is looked
at under every name it travels by (its name and any alias), through ``Optional``, unions,
lists, sets, tuples, dicts and ``Annotated``. A field passes only if

- its wire name is on ``ALLOWED`` with every type it can hold (a new field needs a review:
  add it here, with the reason it is not personal data);
- it holds no map (``dict``): a map of free text could carry anything;
- it holds free text (a ``str`` without a pattern) only where ``FREE_TEXT`` lists it;
- its name looks like no personal datum (``SUSPICIOUS``, English and German), unless
  ``SUSPICIOUS_BUT_REVIEWED`` lists the model and name (a site's public name);
- it holds no health category (``HEALTH``, special category data under Art. 9 GDPR), under
  whatever name: a consumer gets the kind of place a household needs (``SiteRequirement``),
  never the need itself.
"""

from __future__ import annotations

import decimal
import enum
import re
import types
import typing
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import AwareDatetime, BaseModel, NaiveDatetime
from pydantic.fields import FieldInfo

SUSPICIOUS = re.compile(
    r"(^|_)(name|names|firstname|surname|lastname|given|family_name|birth|born|dob|birthday"
    r"|address|street|house_number|postcode|postal|zip|city_of_birth|phone|mobile|tel|email"
    r"|mail|contact|passport|iban|tax|insurance|religion|ethnicity|diagnosis|health|illness"
    r"|disease|disability|medical|need|needs|handicap|photo|reference|aktenzeichen"
    r"|vorname|nachname|familienname|geburt\w*|geburtsdatum|adresse|anschrift|strasse|plz"
    r"|telefon|handy|pass|krankheit|diagnose|religion|foto)(_|$)"
)

# Kinds of value a field may hold; "text" is a str with no pattern, "code" one with a pattern.
UUID, INT, FLOAT, BOOL, DATE, DATETIME, CODE, TEXT, NONE, MAP = (
    "uuid",
    "int",
    "float",
    "bool",
    "date",
    "datetime",
    "code",
    "text",
    "none",
    "map",
)

ALLOWED: dict[str, frozenset[str]] = {
    name: frozenset(kinds)
    for name, kinds in {
        # envelope: ids, routing and ordering, no person
        "event_id": {UUID},
        "correlation_id": {UUID},
        "causation_id": {UUID, NONE},
        "type": {TEXT},  # checked against the catalogue
        "schema_version": {INT},
        "source": {TEXT},  # checked against the five services
        "subject": {TEXT},  # the aggregate id, a UUID as text
        "occurred_at": {DATETIME},  # business time: when it happened in the world
        "recorded_at": {DATETIME},  # when the service recorded it
        "sequence": {INT},
        "data": {"DataT"},
        # pseudonymous ids: random UUIDs or keyed pseudonyms, never derived from a person
        "household_id": {UUID},
        "person_id": {UUID},
        "site_id": {UUID, NONE},
        "from_site_id": {UUID},
        "to_site_id": {UUID},
        "reservation_id": {UUID, NONE},
        "quota_period_id": {UUID, NONE},
        "case_id": {UUID},
        "volunteer_id": {UUID},
        "match_id": {UUID, NONE},
        "request_id": {UUID},
        "land_reference_pseudonym": {CODE},
        # coarse attributes of a person (bands and categories, never a birth date)
        "members": {"model:Member"},
        "age_band": {"AgeBand"},
        "gender": {"Gender"},
        "country_of_origin": {CODE},
        "unaccompanied_minor": {BOOL},
        "languages": {CODE},
        "household_size": {INT},
        "persons": {INT, NONE},
        # sites, places and districts
        "name": {TEXT},  # a site's public name, see SUSPICIOUS_BUT_REVIEWED
        "operator": {TEXT, NONE},  # the organisation running a site (DRK, Johanniter)
        "pillar": {"Pillar"},
        "to_pillar": {"Pillar"},
        "district": {INT},
        "districts": {INT},
        "to_district": {INT},
        "target_district": {INT, NONE},
        "suitability": {"Suitability"},
        # the kind of building and whose it is; a flat of the city's flats (no address)
        "building": {"BuildingKind"},
        "owner": {"BuildingOwner"},
        "units": {"model:Unit"},
        "unit_id": {UUID, NONE},
        # what the site must be (accessible, not a mass shelter), never a need or diagnosis
        "requirements": {"SiteRequirement"},
        # what a site costs (Kostentabelle): euros per place-day and per month, from a day
        "daily_rate": {FLOAT, NONE},
        "monthly_fixed_cost": {FLOAT, NONE},
        "valid_from": {DATE},
        "for_review": {BOOL},
        "travels_with_adult": {BOOL},
        "capacity": {INT},
        "planned_capacity": {INT},
        "blocked_places": {INT},
        "places": {INT},
        "free_places": {INT, NONE},
        "attempt": {INT},
        "waitlisted": {BOOL},
        "target_kind": {"MoveOutTarget"},
        "to_structure": {"DistrictStructure"},
        # quota periods and dates of events (never of a person)
        "starts_on": {DATE},
        "ends_on": {DATE},
        "expected_persons": {INT},
        "weekly_quota": {INT},
        "expires_at": {DATETIME},
        "expected_arrival_at": {DATETIME},  # of the household at a site, announced by the Land
        "closes_on": {DATE, NONE},
        "planned_on": {DATE, NONE},
        "planned_opening_on": {DATE, NONE},
        "reached_on": {DATE},
        "worked_on": {DATE},
        "certificate_valid_until": {DATE},
        # business dates: when the event happened in the world (never a person's date)
        "opened_on": {DATE, NONE},
        "closed_on": {DATE, NONE},
        "moved_on": {DATE, NONE},
        "handed_over_on": {DATE, NONE},
        "requested_on": {DATE, NONE},
        "registered_on": {DATE, NONE},
        "vetted_on": {DATE, NONE},
        "certificate_issued_on": {DATE, NONE},  # the certificate's date, to tell its validity
        "matched_on": {DATE, NONE},
        "ended_on": {DATE, NONE},
        # erasure (right to be forgotten): which pseudonymous ids to erase, never the data
        "erasure_id": {UUID},
        "person_ids": {UUID},
        "ready_for": {"Pillar"},
        # readiness for a flat: coarse factors of the household, never a diagnosis
        "ready_for_own_tenancy": {BOOL},
        "independence": {"Independence"},
        "german": {"GermanLevel"},
        "residence_prospects": {"ResidenceProspects"},
        "assessed_on": {DATE},
        "language_level": {"LanguageLevel", NONE},
        "residence_status": {"ResidenceStatus", NONE},
        "from_district": {INT},
        "transferred_on": {DATE, NONE},
        # when a volunteer's help is wanted: weekday and hours, no person
        "schedule": {"model:TimeSlot"},
        "weekday": {"Weekday"},
        "starts_at": {CODE},  # "HH:MM"
        "ends_at": {CODE},
        "receiving_partner": {TEXT, NONE},  # an organisation (Stadtteilzentrum), never a person
        # integration and volunteering, coarse
        "milestone": {"Milestone"},
        "focus_areas": {"FocusArea"},
        "skill": {"Skill"},
        "skills": {"Skill"},
        "involves_children": {BOOL, NONE},
        "mso": {BOOL},
        "hours": {FLOAT},
        "hours_per_week": {INT},
        # why something happened: a category, or words the system generated
        "reason": {
            TEXT,
            "CapacityChangeReason",
            "CaseCloseReason",
            "CheckOutReason",
            "ClosingReason",
            "DepartureReason",
            "ErasureReason",
            "CaseTransferReason",
            "MatchEndReason",
            "RejectionReason",
            "ReleaseReason",
            "RelocationReason",
        },
    }.items()
}

# Health categories (Art. 9 GDPR): no event field may hold one, whatever its name. Special
# needs stay in allocation's database; events carry site requirements derived from them.
HEALTH = frozenset({"SpecialNeed"})

# Unconstrained text could carry anything; each such field is reviewed and listed here.
FREE_TEXT = {
    ("Envelope", "type"),
    ("Envelope", "source"),
    ("Envelope", "subject"),
    ("ShelterPlanned", "name"),  # a site's public name, e.g. "Ehemaliges Oststadtkrankenhaus"
    ("ShelterPlanned", "operator"),
    ("ShelterOpened", "name"),
    ("ShelterOpened", "operator"),
    ("PlacementDecided", "reason"),  # generated by the placement policy
    ("PlacementFailed", "reason"),
    ("PlacementCancelled", "reason"),  # generated by the saga
    ("ReadinessAssessed", "reason"),  # generated by integration's readiness rule
    ("CaseHandedOver", "receiving_partner"),  # an organisation, never a person
}

SUSPICIOUS_BUT_REVIEWED = {
    ("ShelterPlanned", "name"),
    ("ShelterOpened", "name"),
    ("RefugeeAssigned", "land_reference_pseudonym"),  # the keyed pseudonym, not the reference
}


@dataclass(frozen=True)
class Finding:
    model: str
    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.model}.{self.field}: {self.problem}"


def _has_pattern(metadata: Iterable[object]) -> bool:
    return any(getattr(m, "pattern", None) for m in metadata)


def kinds(annotation: object, metadata: Iterable[object] = ()) -> Iterator[str]:
    """Every kind of value ``annotation`` can hold, through wrappers and containers."""
    metadata = list(metadata)
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        yield from kinds(inner, [*metadata, *extra, *_field_infos(extra)])
        return
    if origin is typing.Union or isinstance(annotation, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from kinds(arg, metadata)
        return
    if origin in (dict, typing.Mapping) or annotation is dict:
        yield MAP
        for arg in typing.get_args(annotation):
            yield from kinds(arg)
        return
    if origin in (list, set, frozenset, tuple) or origin is typing.Literal:
        for arg in typing.get_args(annotation):
            if arg is not Ellipsis:
                yield from kinds(arg, metadata) if origin is not typing.Literal else iter([CODE])
        return
    if annotation is type(None):
        yield NONE
    elif annotation is bool:
        yield BOOL
    elif annotation is int:
        yield INT
    elif annotation in (float, decimal.Decimal):
        yield FLOAT
    elif annotation is str:
        yield CODE if _has_pattern(metadata) else TEXT
    elif annotation is uuid.UUID:
        yield UUID
    elif annotation in (AwareDatetime, NaiveDatetime) or (
        isinstance(annotation, type) and issubclass(annotation, datetime)
    ):
        yield DATETIME
    elif isinstance(annotation, type) and issubclass(annotation, date):
        yield DATE
    elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        yield annotation.__name__
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield f"model:{annotation.__name__}"
    elif isinstance(annotation, typing.TypeVar):
        yield annotation.__name__
    else:
        yield f"unknown:{annotation!r}"


def _field_infos(items: Iterable[object]) -> list[object]:
    found: list[object] = []
    for item in items:
        if isinstance(item, FieldInfo):
            found.extend(item.metadata)
    return found


def _nested(annotation: object) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _nested(arg)


def wire_names(name: str, field: FieldInfo) -> set[str]:
    """The field's name and every alias it is read or written under."""
    names = {name}
    for alias in (field.alias, field.serialization_alias):
        if isinstance(alias, str):
            names.add(alias)
    validation = field.validation_alias
    if isinstance(validation, str):
        names.add(validation)
    elif validation is not None:
        choices = getattr(validation, "choices", [validation])
        for choice in choices:
            path = getattr(choice, "path", [choice])
            names.update(p for p in path if isinstance(p, str))
    return names


def scan(models: Iterable[type[BaseModel]]) -> list[Finding]:
    """Every field (nested models too) that the allow-list does not let through."""
    findings: list[Finding] = []
    seen: set[type[BaseModel]] = set()
    todo = list(models)
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        label = model.__name__.split("[")[0]
        for name, field in model.model_fields.items():
            held = set(kinds(field.annotation, field.metadata))
            todo.extend(_nested(field.annotation))
            for wire in sorted(wire_names(name, field)):
                findings.extend(_judge(label, wire, held))
    return findings


def _judge(model: str, name: str, held: set[str]) -> Iterator[Finding]:
    if SUSPICIOUS.search(name.lower()) and (model, name) not in SUSPICIOUS_BUT_REVIEWED:
        yield Finding(model, name, "the name suggests personal data")
    allowed = ALLOWED.get(name)
    if allowed is None:
        yield Finding(model, name, "not on the allow-list of reviewed field names")
    elif not held <= allowed:
        yield Finding(model, name, f"holds {sorted(held - allowed)}, allowed {sorted(allowed)}")
    if held & HEALTH:
        yield Finding(model, name, f"holds a health category {sorted(held & HEALTH)} (Art. 9)")
    if MAP in held:
        yield Finding(model, name, "is a map: free keys and values could carry anything")
    if TEXT in held and (model, name) not in FREE_TEXT:
        yield Finding(model, name, "free text (a str without a pattern) that nobody reviewed")
