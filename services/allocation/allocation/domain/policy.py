"""Sites as allocation sees them, and the placement policy. Pure: no I/O.

The policy (``choose_site``) is a pure function of the household's needs, allocation's
estimate of the sites (``Board``) and the city's settings (``PlacementPolicy``), and every
decision says which rule chose it.

Protection rules are hard rules, never preferences: a site that does not meet one of the
household's ``SiteRequirement`` s (accessible, not a mass shelter, women-only, no site for
single adults where children live, no women-only site where an adult man lives) is no
candidate, however many places it has free.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar

from ankommen_contracts import BuildingKind, Pillar, SiteRequirement, SpecialNeed, Suitability
from ankommen_contracts.common import district_label, unmet_requirements

MAX_REASON = 500  # the contract's limit on every `reason` text

# Emergency shelters go back in this order when two close on the same day (or on none):
# school sports halls to the schools first, then the clubs' halls, then trade-fair halls,
# tents and stores, hotels, former hospitals, modules (Drs. 2088/2016: dissolve the
# Notunterkünfte, return to the three-pillar model).
DEFAULT_DISSOLUTION_ORDER: tuple[BuildingKind, ...] = (
    BuildingKind.SCHOOL_SPORTS_HALL,
    BuildingKind.CLUB_SPORTS_HALL,
    BuildingKind.TRADE_FAIR_HALL,
    BuildingKind.TENT_VILLAGE,
    BuildingKind.FORMER_STORE,
    BuildingKind.HOTEL,
    BuildingKind.FORMER_HOSPITAL,
    BuildingKind.MODULES,
    BuildingKind.OTHER,
    BuildingKind.PURPOSE_BUILT_HOME,
    BuildingKind.FLATS,
)


@dataclass(frozen=True)
class PlacementPolicy:
    """What the council could decide differently: the city's placement settings.

    Passed into the domain (never read from the environment here); the service builds it
    from ``AllocationSettings`` and services/allocation/README.md documents each default.
    Readiness (which pillar a household is ready for, and whether residence prospects
    count for it) is not here: integration assesses it by its own settings.
    """

    # A misspelt setting (or one that moved, like readiness's to integration's
    # ANKOMMEN_READINESS) is refused when the settings are read, never taken as a default.
    __pydantic_config__: ClassVar[dict[str, str]] = {"extra": "forbid"}

    # Nobody homeless first: when neither a Wohnheim nor an emergency place fits, a free
    # Wohnprojekt or flat place is used (flagged for review) before PlacementFailed.
    move_on_places_before_failure: bool = True
    # Within a pillar, a site in the household's district (school, Kita, counselling)
    # before the site with the most free places.
    prefer_home_district: bool = True
    # When emergency shelters are dissolved, vulnerable households move first.
    vulnerable_first: bool = True
    # Which emergency shelters go back first when closing dates do not decide.
    dissolution_order: tuple[BuildingKind, ...] = field(default=DEFAULT_DISSOLUTION_ORDER)

    def dissolution_rank(self, building: BuildingKind) -> int:
        order = self.dissolution_order
        return order.index(building) if building in order else len(order)


DEFAULT_POLICY = PlacementPolicy()


class SiteStatus(StrEnum):
    """A site's lifecycle as housing reports it."""

    PLANNED = "planned"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(frozen=True)
class SiteOption:
    """A site in allocation's replica; ``free`` is an estimate (housing has the truth)."""

    site_id: uuid.UUID
    name: str
    pillar: Pillar
    district: int
    suitability: frozenset[Suitability]
    status: SiteStatus
    free: int
    building: BuildingKind = BuildingKind.OTHER
    closes_on: date | None = None
    # Flats: the places of each unit nobody rents (one household per unit); None for a
    # site of shared rooms, where ``free`` places count.
    free_units: tuple[int, ...] | None = None

    def room_for(self, persons: int) -> bool:
        """Room for the whole household: enough free places, or one free flat it fits in."""
        if self.free_units is not None:
            return any(places >= persons for places in self.free_units)
        return self.free >= persons

    def held(self, persons: int) -> SiteOption:
        """The site after a decision for ``persons``: the smallest fitting flat is let."""
        if self.free_units is None:
            return replace(self, free=self.free - persons)
        units = sorted(self.free_units)
        let = next(p for p in units if p >= persons)
        units.remove(let)
        return replace(self, free=self.free - let, free_units=tuple(units))


class Board:
    """The sites one transaction chooses from; decisions hold places so the next one sees it.

    It carries the city's ``PlacementPolicy``, so every decision on it follows the same
    settings.
    """

    def __init__(
        self, sites: Iterable[SiteOption] = (), policy: PlacementPolicy = DEFAULT_POLICY
    ) -> None:
        self._sites = {s.site_id: s for s in sites}
        self.policy = policy
        # ``choose_site``'s answers while no place is held: a placement round asks the same
        # question for many households alike (size, needs, district, home site)
        self._answers: dict[tuple[Need, frozenset[uuid.UUID]], Choice | NoFit] = {}
        self._rooms: dict[tuple[Pillar, ...], int] = {}

    def sites(self) -> list[SiteOption]:
        return list(self._sites.values())

    def get(self, site_id: uuid.UUID) -> SiteOption | None:
        return self._sites.get(site_id)

    def choose(self, need: Need, *, exclude: Set[uuid.UUID] = frozenset()) -> Choice | NoFit:
        """``choose_site`` on this board's sites, each question answered once until a
        place is held (a pure function of the need, the sites and the exclusions)."""
        key = (need, frozenset(exclude))
        answer = self._answers.get(key)
        if answer is None:
            answer = self._answers[key] = choose_site(need, self._sites.values(), exclude=exclude)
        return answer

    def hold(self, site_id: uuid.UUID, places: int) -> None:
        site = self._sites.get(site_id)
        if site is not None and site.room_for(places):
            self._sites[site_id] = site.held(places)
            self._answers.clear()
            self._rooms.clear()

    def room_in(self, pillars: tuple[Pillar, ...]) -> int:
        """The most persons one open site of these pillars can take now: its free places,
        or its largest free flat; 0 if none can take anyone."""
        room = self._rooms.get(pillars)
        if room is None:
            room = self._rooms[pillars] = max(
                (
                    max(s.free_units, default=0) if s.free_units is not None else s.free
                    for s in self._sites.values()
                    if s.status is SiteStatus.OPEN and s.pillar in pillars
                ),
                default=0,
            )
        return room

    def has_free(self, *, regular_only: bool = False) -> bool:
        """Any open site with a free place (a cheap test before looking for takers)."""
        return any(
            s.free > 0
            and s.status is SiteStatus.OPEN
            and not (regular_only and s.pillar is Pillar.NOTUNTERKUNFT)
            for s in self._sites.values()
        )


REGULAR_ORDER: dict[Pillar, tuple[Pillar, ...]] = {
    # New arrivals and anyone not ready for more start with 24-hour care (Wohnheim);
    # Wohnprojekte and flats are for households ready to move on.
    Pillar.WOHNHEIM: (Pillar.WOHNHEIM,),
    # Ready for shared housing but not a flat: a Wohnheim suits better than a flat.
    Pillar.WOHNPROJEKT: (Pillar.WOHNPROJEKT, Pillar.WOHNHEIM),
    Pillar.WOHNUNG: (Pillar.WOHNUNG, Pillar.WOHNPROJEKT, Pillar.WOHNHEIM),
}
# Nobody homeless first: places of pillars the household is not ready for, used (flagged
# for review) only when no regular place it is ready for and no emergency place fits.
MOVE_ON_FALLBACK: tuple[Pillar, ...] = (Pillar.WOHNPROJEKT, Pillar.WOHNUNG)
SINGULAR = {
    Pillar.WOHNHEIM: "Wohnheim",
    Pillar.WOHNPROJEKT: "Wohnprojekt",
    Pillar.WOHNUNG: "Wohnung",
    Pillar.NOTUNTERKUNFT: "Notunterkunft",
}
PLURAL = {
    Pillar.WOHNHEIM: "Wohnheime",
    Pillar.WOHNPROJEKT: "Wohnprojekte",
    Pillar.WOHNUNG: "Wohnungen",
    Pillar.NOTUNTERKUNFT: "Notunterkünfte",
}
REQUIRED_SUITABILITY: dict[SpecialNeed, Suitability] = {
    SpecialNeed.WHEELCHAIR: Suitability.ACCESSIBLE,
    SpecialNeed.REDUCED_MOBILITY: Suitability.ACCESSIBLE,
    SpecialNeed.WOMEN_ONLY: Suitability.WOMEN_ONLY,
}
_REQUIREMENT_TEXT = {
    SiteRequirement.ACCESSIBLE: "not accessible",
    SiteRequirement.NOT_MASS_SHELTER: "a mass shelter (hall or tent)",
    SiteRequirement.WOMEN_ONLY: "not women-only",
    SiteRequirement.NOT_SINGLE_ADULTS: "for single adults (children in the household)",
    SiteRequirement.NOT_WOMEN_ONLY: "women-only (an adult man in the household)",
}


@dataclass(frozen=True)
class Need:
    """What a placement must satisfy: the whole household, its needs, its readiness."""

    persons: int
    special_needs: frozenset[SpecialNeed]
    ready_for: Pillar  # integration's assessment (``ReadinessAssessed``), else Wohnheim
    assessment: str  # why that pillar, in words (from ``placement_pillar``)
    allow_emergency: bool = True  # relocations never move anyone *into* a Notunterkunft
    requirements: frozenset[SiteRequirement] = frozenset()  # protection rules: hard
    home_district: int | None = None  # where the household lives now (school, Kita)
    policy: PlacementPolicy = DEFAULT_POLICY


@dataclass(frozen=True)
class Choice:
    site: SiteOption
    reason: str
    for_review: bool = False  # a move-on place for a household not ready for it


@dataclass(frozen=True)
class NoFit:
    reason: str


def unfit(site: SiteOption, need: Need) -> str | None:
    """Why a site cannot take the household, or None if it can.

    Protection rules first: they hold whatever else is free.
    """
    if site.status is not SiteStatus.OPEN:
        return "closing" if site.status is SiteStatus.CLOSING else "not open"
    if Suitability.MINORS in site.suitability:
        return "for unaccompanied minors (Jugendhilfe)"
    unmet = unmet_requirements(need.requirements, site.suitability, site.building)
    if unmet:
        return _REQUIREMENT_TEXT[unmet[0]]
    if site.pillar is Pillar.NOTUNTERKUNFT and not need.allow_emergency:
        return "a Notunterkunft (relocations go to regular places)"
    if not site.room_for(need.persons):
        if site.free_units is not None:
            return f"no free flat for {need.persons}"
        return f"fewer than {need.persons} free places"
    return None


def choose_site(
    need: Need, sites: Iterable[SiteOption], *, exclude: Set[uuid.UUID] = frozenset()
) -> Choice | NoFit:
    """The placement policy. Households stay together: one site with room for everyone.

    1. The pillars the household is ready for, most independent first (new arrivals:
       Wohnheime only; Wohnprojekte and Wohnungen go to households ready to move on).
    2. Notunterkünfte when no such place fits (never for a relocation by choice).
    3. Nobody homeless first: a free Wohnprojekt or Wohnung place, flagged for review,
       before PlacementFailed (a city setting).
    Within a pillar: a family-suitable site for a family; a women-only site kept for
    those who need one; the household's own district; then the most free places.
    Protection rules (``SiteRequirement``) exclude a site whatever its free places.
    """
    fitting: list[SiteOption] = []
    why_not: Counter[str] = Counter()
    for site in sites:
        problem = "already tried in this round" if site.site_id in exclude else unfit(site, need)
        if problem is None:
            fitting.append(site)
        else:
            why_not[problem] += 1
    order: tuple[Pillar, ...] = REGULAR_ORDER[need.ready_for]
    if need.allow_emergency:
        order = (*order, Pillar.NOTUNTERKUNFT)
    ready = len(order)
    if need.allow_emergency and need.policy.move_on_places_before_failure:
        order = (*order, *(p for p in MOVE_ON_FALLBACK if p not in order))
    for rank, pillar in enumerate(order):
        candidates = [s for s in fitting if s.pillar is pillar]
        if not candidates:
            continue
        best = min(candidates, key=lambda s: _within_pillar(need, s))
        review = rank >= ready
        return Choice(best, _decision_reason(need, best, order[:rank], candidates, review), review)
    return NoFit(_no_fit_reason(need, why_not))


def _within_pillar(need: Need, site: SiteOption) -> tuple[object, ...]:
    family = SpecialNeed.FAMILY in need.special_needs
    away = (
        need.policy.prefer_home_district
        and need.home_district is not None
        and site.district != need.home_district
    )
    return (
        family and Suitability.FAMILIES not in site.suitability,
        # Women-only places are kept for the households who need one.
        SiteRequirement.WOMEN_ONLY not in need.requirements
        and Suitability.WOMEN_ONLY in site.suitability,
        away,
        -site.free,
        site.name,
        str(site.site_id),
    )


def _decision_reason(
    need: Need,
    site: SiteOption,
    skipped: Sequence[Pillar],
    candidates: Sequence[SiteOption],
    review: bool = False,
) -> str:
    first = REGULAR_ORDER[need.ready_for][0]
    if review:
        rule = (
            f"{need.assessment}; neither a place it is ready for nor an emergency place fits "
            f"{persons_text(need.persons)}: a free {SINGULAR[site.pillar]} place so that "
            "nobody is left homeless (for review by staff)"
        )
    elif not skipped:
        rule = f"{need.assessment}: {PLURAL[first]} first"
    elif site.pillar is Pillar.NOTUNTERKUNFT:
        rule = (
            f"{need.assessment}; no place of a pillar it is ready for fits "
            f"{persons_text(need.persons)}: a Notunterkunft only because nothing else is free"
        )
    else:
        none_fit = ", ".join(SINGULAR[p] for p in skipped)
        rule = (
            f"{need.assessment}: {PLURAL[first]} first, but no {none_fit} place fits "
            f"{persons_text(need.persons)}; next regular pillar {PLURAL[site.pillar]}"
        )
    if len(candidates) == 1:
        within = f"the only fitting {SINGULAR[site.pillar]} ({site.free} free)"
    else:
        within = (
            f"most free places of {len(candidates)} fitting {PLURAL[site.pillar]} "
            f"({site.free} free)"
        )
    if SpecialNeed.FAMILY in need.special_needs and Suitability.FAMILIES in site.suitability:
        within += ", suited for families"
    if (
        need.policy.prefer_home_district
        and need.home_district is not None
        and site.district == need.home_district
    ):
        within += ", in the household's own district"
    parts = [
        f"{site.name} ({SINGULAR[site.pillar]}, {district_label(site.district)})",
        rule,
        within,
    ]
    met = [r.value.replace("_", "-") for r in SiteRequirement if r in need.requirements]
    if met:
        parts.append("requirements met: " + ", ".join(met))
    return clip(": ".join(parts[:2]) + "; " + "; ".join(parts[2:]))


def _no_fit_reason(need: Need, why_not: Counter[str]) -> str:
    wanted = [r.value.replace("_", "-") for r in SiteRequirement if r in need.requirements]
    needs = f" requiring {', '.join(wanted)}" if wanted else ""
    head = f"No open site fits {persons_text(need.persons)}{needs}"
    if not why_not:
        return clip(f"{head}: no open site is known")
    detail = ", ".join(f"{n} {_sites(n)} {why}" for why, n in why_not.most_common())
    return clip(f"{head}: {detail}")


def persons_text(n: int) -> str:
    return "1 person" if n == 1 else f"{n} persons"


def _sites(n: int) -> str:
    return "site" if n == 1 else "sites"


def clip(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


@dataclass(frozen=True)
class EmergencyResident:
    """A household living in a Notunterkunft, as the dissolution order sees it."""

    household_id: uuid.UUID
    checked_in_at: datetime
    vulnerable: bool
    site_closes_on: date | None
    site_building: BuildingKind
    persons: int  # to place together
    ready_for: Pillar  # the pillar its placement starts from (integration's assessment)

    def may_find_room(self, board: Board) -> bool:
        """Whether one open site of a regular pillar the household is ready for has room
        for all of it. If not, ``choose_site`` finds nothing for its relocation (one by
        choice never goes to another Notunterkunft), so it need not be locked and asked:
        a check-out in a busy week otherwise had allocation look at 200 households."""
        return board.room_in(REGULAR_ORDER[self.ready_for]) >= self.persons


def dissolution_key(resident: EmergencyResident, policy: PlacementPolicy) -> tuple[object, ...]:
    """Who moves out of the emergency shelters first (Auflösung der Notunterkünfte).

    The shelter due to close first is emptied first (a closing date before none; school
    sports halls before club halls before the rest, as the policy orders the kinds), then
    the next; within one shelter vulnerable households first (children, special needs,
    65+), then the longest stay.
    """
    return (
        *shelter_dissolution_key(resident.site_closes_on, resident.site_building, policy),
        policy.vulnerable_first and not resident.vulnerable,
        resident.checked_in_at,
        resident.household_id,  # a UUID orders as its text does (fixed-width hex)
    )


def shelter_dissolution_key(
    closes_on: date | None, building: BuildingKind, policy: PlacementPolicy
) -> tuple[bool, date, int]:
    """Which shelter is emptied first: the part of ``dissolution_key`` that is the
    shelter's. Residents of shelters with equal keys are taken together, vulnerable first
    and then by length of stay."""
    return (closes_on is None, closes_on or date.max, policy.dissolution_rank(building))
