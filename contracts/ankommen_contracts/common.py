"""Value types shared by the event models: coarse attributes only, never personal data.

Everything here is deliberately coarse: an age *band* instead of a birth date, a country
instead of a place of birth, a Stadtbezirk instead of an address. Reports need no more,
and the owning service keeps the rest in its own database.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Protocol, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field


class ValueObject(BaseModel):
    """Base of nested payload parts (e.g. a household member): as strict as an event."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Pillar(StrEnum):
    """Housing pillar (Säule) of Hannover's accommodation model."""

    WOHNHEIM = "wohnheim"  # communal home with 24/7 operator care
    WOHNPROJEKT = "wohnprojekt"  # smaller shared housing project
    WOHNUNG = "wohnung"  # flat rented by the city
    NOTUNTERKUNFT = "notunterkunft"  # temporary emergency shelter (the fourth pillar)


PILLAR_LABELS: dict[Pillar, str] = {
    Pillar.WOHNHEIM: "Wohnheime",
    Pillar.WOHNPROJEKT: "Wohnprojekte",
    Pillar.WOHNUNG: "Wohnungen",
    Pillar.NOTUNTERKUNFT: "Notunterkünfte",
}

# The largest household the Land assigns as one (every contract and command bounds by it).
MAX_HOUSEHOLD = 30

District = Annotated[
    int, Field(ge=1, le=13, description="Stadtbezirk number 1-13 (01 Mitte … 13 Nord)")
]

DISTRICT_NAMES: dict[int, str] = {
    1: "Mitte",
    2: "Vahrenwald-List",
    3: "Bothfeld-Vahrenheide",
    4: "Buchholz-Kleefeld",
    5: "Misburg-Anderten",
    6: "Kirchrode-Bemerode-Wülferode",
    7: "Südstadt-Bult",
    8: "Döhren-Wülfel",
    9: "Ricklingen",
    10: "Linden-Limmer",
    11: "Ahlem-Badenstedt-Davenstedt",
    12: "Herrenhausen-Stöcken",
    13: "Nord",
}


CITY = "Hannover"


def district_label(number: int) -> str:
    """``Stadtbezirk 09 Ricklingen``: how staff and reports name a district."""
    return f"Stadtbezirk {number:02d} {DISTRICT_NAMES.get(number, '')}".rstrip()


# -- the capacity roll-up ------------------------------------------------------------------
# One rule, used by housing (its live Belegung, from its own sites) and by reporting (the
# interim review's view 3, folded from housing's events): places grouped by pillar (all
# four), by Stadtbezirk (all 13) and in total. Which sites count is the caller's choice.


class HasPlaces(Protocol):
    """Anything with a site's places: housing's ``Site``, reporting's projected row."""

    @property
    def pillar(self) -> Pillar: ...
    @property
    def district(self) -> int: ...
    @property
    def capacity(self) -> int: ...
    @property
    def blocked(self) -> int: ...
    @property
    def reserved(self) -> int: ...
    @property
    def occupied(self) -> int: ...


@dataclass(frozen=True)
class PlacesRow:
    """Places (Plätze) of one group of sites: capacity = free + reserved + occupied + blocked."""

    key: str
    label: str
    sites: int
    capacity: int
    blocked: int
    reserved: int
    occupied: int

    @property
    def free(self) -> int:
        return max(self.capacity - self.blocked - self.reserved - self.occupied, 0)

    @property
    def occupancy_rate(self) -> float:
        """Occupied share of the usable (not blocked) places, 4 decimals."""
        usable = self.capacity - self.blocked
        return round(self.occupied / usable, 4) if usable > 0 else 0.0


def _places_row(key: str, label: str, sites: list[HasPlaces]) -> PlacesRow:
    return PlacesRow(
        key=key,
        label=label,
        sites=len(sites),
        capacity=sum(s.capacity for s in sites),
        blocked=sum(s.blocked for s in sites),
        reserved=sum(s.reserved for s in sites),
        occupied=sum(s.occupied for s in sites),
    )


def roll_up(sites: Iterable[HasPlaces]) -> tuple[list[PlacesRow], list[PlacesRow], PlacesRow]:
    """Places by pillar (model order), by Stadtbezirk (01-13) and for the whole city."""
    counted = list(sites)
    by_pillar = [
        _places_row(p.value, PILLAR_LABELS[p], [s for s in counted if s.pillar is p])
        for p in Pillar
    ]
    by_district = [
        _places_row(f"{d:02d}", name, [s for s in counted if s.district == d])
        for d, name in DISTRICT_NAMES.items()
    ]
    return by_pillar, by_district, _places_row("total", CITY, counted)


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[
    AwareDatetime,
    AfterValidator(_to_utc),
    Field(description="Timezone-aware timestamp, normalised to UTC"),
]
"""A timestamp with an explicit offset (naive datetimes are rejected), stored as UTC."""

CountryCode = Annotated[
    str,
    Field(
        pattern=r"^[A-Z]{3}$",
        description="ISO 3166-1 alpha-3 country code, e.g. SYR, IRQ, AFG; XXX = stateless",
    ),
]

LanguageCode = Annotated[
    str,
    Field(pattern=r"^[a-z]{2}$", description="ISO 639-1 language code, e.g. de, ar, fa, ti"),
]

H = TypeVar("H", bound=Hashable)


def _no_duplicates(items: list[H]) -> list[H]:
    seen: set[H] = set()
    duplicates: set[H] = set()
    for item in items:
        (duplicates if item in seen else seen).add(item)
    if duplicates:
        raise ValueError(f"duplicate values {sorted({str(d) for d in duplicates})}")
    return items


UniqueList = Annotated[
    list[H], AfterValidator(_no_duplicates), Field(json_schema_extra={"uniqueItems": True})
]
"""A list used as a set: order is kept, duplicates are rejected."""


def _storable(text: str) -> str:
    # PostgreSQL's text and jsonb cannot hold U+0000, and a lone surrogate has no UTF-8
    # form: refused here, such a value is a 422 naming the field, never a 500.
    if "\x00" in text:
        raise ValueError("contains a NUL character (U+0000), which cannot be stored")
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        raise ValueError("contains a lone UTF-16 surrogate, which cannot be stored")
    return text


Text = Annotated[str, AfterValidator(_storable)]
"""Free text a person typed (a name of a site, a reason): any characters that can be stored.

Combine with a length, e.g. ``Annotated[Text, Field(max_length=200)]``.
"""

_CONTACT_LIKE = (
    (re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+"), "an e-mail address"),
    (re.compile(r"\+?\d(?:[\s()/.-]*\d){6,}"), "a phone number or another long number"),
    (re.compile(r"\b\d{1,2}\.\s?\d{1,2}\.\s?\d{2,4}\b"), "a date"),
    (re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b"), "a date"),
)


def _no_contact_data(text: str) -> str:
    # Published text (a site's public name, its operator) goes to every consumer and stays
    # on the topics: what looks like contact data or a birth date is refused at the door.
    for pattern, what in _CONTACT_LIKE:
        if pattern.search(text):
            raise ValueError(f"looks like {what}; published text must not carry contact data")
    return text


PublicText = Annotated[Text, AfterValidator(_no_contact_data)]
"""Free text that is published in events (a site's public name, its operator's name).

Storable, and without anything that looks like an e-mail address, a phone number or a
date; a person's name cannot be recognised, so such fields are listed in the record of
processing as public by design (docs/records-of-processing.md).
"""

Pseudonym = Annotated[
    str,
    Field(
        pattern=r"^[0-9a-f]{64}$",
        description="Keyed pseudonym: HMAC-SHA256 as 64 lowercase hex characters",
    ),
]
"""A direct identifier replaced by its keyed pseudonym (``ankommen_runtime.pseudonym``)."""


class AgeBand(StrEnum):
    """Coarse age band (Altersgruppe) of a person; never a birth date."""

    UNDER_6 = "0-5"
    AGE_6_17 = "6-17"
    AGE_18_26 = "18-26"
    AGE_27_49 = "27-49"
    AGE_50_64 = "50-64"
    AGE_65_PLUS = "65+"

    @property
    def is_minor(self) -> bool:
        return self in (AgeBand.UNDER_6, AgeBand.AGE_6_17)


class Gender(StrEnum):
    """Gender (Geschlecht) as recorded by the Land's assignment; ``unknown`` if not recorded."""

    FEMALE = "female"
    MALE = "male"
    DIVERSE = "diverse"
    UNKNOWN = "unknown"


class SpecialNeed(StrEnum):
    """A need that placement must respect (besonderer Bedarf); coarse, never a diagnosis."""

    WHEELCHAIR = "wheelchair"  # needs a step-free, wheelchair-accessible place
    REDUCED_MOBILITY = "reduced_mobility"  # no stairs, short ways
    MEDICAL = "medical"  # needs to stay near regular medical care
    WOMEN_ONLY = "women_only"  # needs a women-only place (Frauenschutz)
    FAMILY = "family"  # needs a family unit rather than a dormitory


class Suitability(StrEnum):
    """Whom a site (Unterkunft) is suitable for; matched against special needs."""

    FAMILIES = "families"
    SINGLE_ADULTS = "single_adults"
    WOMEN_ONLY = "women_only"
    ACCESSIBLE = "accessible"  # barrierefrei: wheelchair and reduced mobility
    MINORS = "minors"  # for unaccompanied minors (Jugendhilfe standard)


class SiteRequirement(StrEnum):
    """What a site must be (or must not be) for a household: the placement's protection rules.

    Derived from the household's needs and composition and carried by events instead of
    the needs themselves: a requirement names the kind of place, never a diagnosis.
    """

    ACCESSIBLE = "accessible"  # barrierefrei: wheelchair or reduced mobility
    NOT_MASS_SHELTER = "not_mass_shelter"  # a quieter place: no hall, tent or open dormitory
    WOMEN_ONLY = "women_only"  # Frauenschutz: the household needs a women-only site
    NOT_SINGLE_ADULTS = "not_single_adults"  # children live here: never a site for single adults
    NOT_WOMEN_ONLY = "not_women_only"  # an adult man lives here: never a women-only site


class BuildingKind(StrEnum):
    """What kind of building a site is (Gebäudeart); decides how it is dissolved.

    Sports halls belong to schools or clubs and go back to them first; halls and tents are
    mass shelters (no quieter place for anyone who needs one).
    """

    SCHOOL_SPORTS_HALL = "school_sports_hall"  # Schulsporthalle
    CLUB_SPORTS_HALL = "club_sports_hall"  # Vereinssporthalle
    TRADE_FAIR_HALL = "trade_fair_hall"  # Messehalle
    TENT_VILLAGE = "tent_village"  # Zeltdorf (also tents inside a hall)
    FORMER_STORE = "former_store"  # ehemaliger Bau- oder Möbelmarkt
    HOTEL = "hotel"
    FORMER_HOSPITAL = "former_hospital"  # e.g. Oststadtkrankenhaus, Siloah
    MODULES = "modules"  # Modulanlage (timber or container modules)
    PURPOSE_BUILT_HOME = "purpose_built_home"  # Wohnheim or Wohnprojekt built as such
    FLATS = "flats"  # the city's rented flats (Wohnungen)
    OTHER = "other"

    @property
    def is_mass_shelter(self) -> bool:
        """Halls and tents: open dormitories where nobody has a quieter place."""
        return self in _MASS_SHELTERS


_MASS_SHELTERS = frozenset(
    {
        BuildingKind.SCHOOL_SPORTS_HALL,
        BuildingKind.CLUB_SPORTS_HALL,
        BuildingKind.TRADE_FAIR_HALL,
        BuildingKind.TENT_VILLAGE,
        BuildingKind.FORMER_STORE,
    }
)


class BuildingOwner(StrEnum):
    """Whose building a site is: whom it goes back to when the city gives it up."""

    CITY = "city"  # the Landeshauptstadt itself (also bought buildings)
    SCHOOL = "school"  # a school's hall (the city as school board)
    SPORTS_CLUB = "sports_club"  # a club's hall
    TRADE_FAIR = "trade_fair"  # the trade-fair company's halls and grounds
    HOUSING_COMPANY = "housing_company"  # e.g. the municipal GBH
    PRIVATE = "private"  # rented from a private owner (hotels, stores)
    LAND = "land"  # the Land (Lower Saxony)
    OTHER = "other"


# Special needs that require a kind of site; ``family`` only prefers one (not a protection
# rule) and ``medical`` asks for a quieter place, never for a named condition.
NEED_REQUIREMENTS: Mapping[SpecialNeed, SiteRequirement] = MappingProxyType(
    {
        SpecialNeed.WHEELCHAIR: SiteRequirement.ACCESSIBLE,
        SpecialNeed.REDUCED_MOBILITY: SiteRequirement.ACCESSIBLE,
        SpecialNeed.MEDICAL: SiteRequirement.NOT_MASS_SHELTER,
        SpecialNeed.WOMEN_ONLY: SiteRequirement.WOMEN_ONLY,
    }
)


def site_requirements(
    needs: Iterable[SpecialNeed], people: Iterable[tuple[AgeBand, Gender]]
) -> list[SiteRequirement]:
    """What a site must be for a household placed together (protection rules), in a fixed
    order: from the needs of its placed members (accessible, not a mass shelter,
    women-only) and from who lives together (children: never a site for single adults; an
    adult man, or an adult whose gender is not recorded: never a women-only site).

    The one rule that turns needs into requirements: allocation decides by it, and events
    carry its result instead of the needs (health data stays in allocation's database).
    """
    wanted = {NEED_REQUIREMENTS[n] for n in needs if n in NEED_REQUIREMENTS}
    for age_band, gender in people:
        if age_band.is_minor:
            wanted.add(SiteRequirement.NOT_SINGLE_ADULTS)
        elif gender in (Gender.MALE, Gender.UNKNOWN):
            wanted.add(SiteRequirement.NOT_WOMEN_ONLY)
    return [r for r in SiteRequirement if r in wanted]


def unmet_requirements(
    requirements: Iterable[SiteRequirement],
    suitability: Iterable[Suitability],
    building: BuildingKind,
) -> list[SiteRequirement]:
    """The requirements a site does not meet, in a fixed order; empty if it fits.

    One rule for both sides of the placement saga: allocation chooses by it, housing
    checks every reservation again by it. Hot: a placement round asks it for every site
    and every household it looks at (hundreds of thousands of times in a busy week), so
    it checks only what is wanted, in ``SiteRequirement``'s order.
    """
    wanted = requirements if isinstance(requirements, frozenset | set) else set(requirements)
    if not wanted:
        return []
    offered = suitability if isinstance(suitability, frozenset | set) else set(suitability)
    return [r for r, meets in _REQUIREMENT_CHECKS if r in wanted and not meets(offered, building)]


_REQUIREMENT_TEST: Mapping[SiteRequirement, Callable[[Set[Suitability], BuildingKind], bool]] = {
    SiteRequirement.ACCESSIBLE: lambda offered, _: Suitability.ACCESSIBLE in offered,
    SiteRequirement.NOT_MASS_SHELTER: lambda _, building: not building.is_mass_shelter,
    SiteRequirement.WOMEN_ONLY: lambda offered, _: Suitability.WOMEN_ONLY in offered,
    SiteRequirement.NOT_SINGLE_ADULTS: lambda offered, _: Suitability.SINGLE_ADULTS not in offered,
    SiteRequirement.NOT_WOMEN_ONLY: lambda offered, _: Suitability.WOMEN_ONLY not in offered,
}
# every requirement's test, in the enum's order (the order of ``unmet_requirements``)
_REQUIREMENT_CHECKS = tuple((r, _REQUIREMENT_TEST[r]) for r in SiteRequirement)


class Skill(StrEnum):
    """What a volunteer offers and a support request needs (Unterstützungsbereich)."""

    TRANSLATION = "translation"  # Dolmetschen, Sprachmittlung
    LANGUAGE_TUTORING = "language_tutoring"  # Sprachpatenschaft, Deutsch üben
    HOMEWORK_HELP = "homework_help"  # Hausaufgabenhilfe
    CHILDCARE = "childcare"  # Kinderbetreuung
    ACCOMPANIMENT = "accompaniment"  # Begleitung zu Ämtern und Ärzten
    HOUSING_SEARCH = "housing_search"  # Wohnungssuche
    JOB_SEARCH = "job_search"  # Ausbildung und Arbeit
    SPORT_AND_LEISURE = "sport_and_leisure"  # Sport und Freizeit
    EVERYDAY_HELP = "everyday_help"  # Alltagshilfe

    @property
    def involves_children(self) -> bool:
        """Work that is always with children (needs a valid extended police certificate)."""
        return self in (Skill.CHILDCARE, Skill.HOMEWORK_HELP)


__all__ = [
    "CITY",
    "DISTRICT_NAMES",
    "MAX_HOUSEHOLD",
    "NEED_REQUIREMENTS",
    "PILLAR_LABELS",
    "AgeBand",
    "BuildingKind",
    "BuildingOwner",
    "CountryCode",
    "District",
    "Gender",
    "HasPlaces",
    "LanguageCode",
    "Pillar",
    "PlacesRow",
    "Pseudonym",
    "PublicText",
    "SiteRequirement",
    "Skill",
    "SpecialNeed",
    "Suitability",
    "Text",
    "UniqueList",
    "UtcDatetime",
    "ValueObject",
    "district_label",
    "roll_up",
    "site_requirements",
    "unmet_requirements",
]
