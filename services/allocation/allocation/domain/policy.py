"""Sites as allocation sees them, and the placement policy. Pure: no I/O.

The policy (``choose_site``) is a pure function of the household's needs and allocation's
estimate of the sites (``Board``), and every decision says which rule chose it.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, replace
from enum import StrEnum

from ankommen_contracts import Pillar, SpecialNeed, Suitability
from ankommen_contracts.common import district_label

MAX_REASON = 500  # the contract's limit on every `reason` text


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


class Board:
    """The sites one transaction chooses from; decisions hold places so the next one sees it."""

    def __init__(self, sites: Iterable[SiteOption] = ()) -> None:
        self._sites = {s.site_id: s for s in sites}

    def sites(self) -> list[SiteOption]:
        return list(self._sites.values())

    def get(self, site_id: uuid.UUID) -> SiteOption | None:
        return self._sites.get(site_id)

    def hold(self, site_id: uuid.UUID, places: int) -> None:
        site = self._sites.get(site_id)
        if site is not None:
            self._sites[site_id] = replace(site, free=site.free - places)

    def has_free(self, *, regular_only: bool = False) -> bool:
        """Any open site with a free place (a cheap test before looking for takers)."""
        return any(
            s.free > 0
            and s.status is SiteStatus.OPEN
            and not (regular_only and s.pillar is Pillar.NOTUNTERKUNFT)
            for s in self._sites.values()
        )


REGULAR_ORDER: dict[Pillar, tuple[Pillar, ...]] = {
    # New arrivals and anyone not ready for more start with 24/7 care.
    Pillar.WOHNHEIM: (Pillar.WOHNHEIM, Pillar.WOHNPROJEKT, Pillar.WOHNUNG),
    # Ready for shared housing but not a flat: a Wohnheim suits better than a flat.
    Pillar.WOHNPROJEKT: (Pillar.WOHNPROJEKT, Pillar.WOHNHEIM, Pillar.WOHNUNG),
    Pillar.WOHNUNG: (Pillar.WOHNUNG, Pillar.WOHNPROJEKT, Pillar.WOHNHEIM),
}
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
# Special needs a site must declare a suitability for; others (medical, family) are not
# declared by sites, so they cannot exclude one (family only prefers family sites).
REQUIRED_SUITABILITY: dict[SpecialNeed, Suitability] = {
    SpecialNeed.WHEELCHAIR: Suitability.ACCESSIBLE,
    SpecialNeed.REDUCED_MOBILITY: Suitability.ACCESSIBLE,
    SpecialNeed.WOMEN_ONLY: Suitability.WOMEN_ONLY,
}


@dataclass(frozen=True)
class Need:
    """What a placement must satisfy: the whole household, its needs, its readiness."""

    persons: int
    special_needs: frozenset[SpecialNeed]
    ready_for: Pillar
    assessment: str  # why that pillar, in words (from ``ready_for``)
    allow_emergency: bool = True  # relocations never move anyone *into* a Notunterkunft


@dataclass(frozen=True)
class Choice:
    site: SiteOption
    reason: str


@dataclass(frozen=True)
class NoFit:
    reason: str


def unfit(site: SiteOption, need: Need) -> str | None:
    """Why a site cannot take the household, or None if it can (free places aside)."""
    if site.status is not SiteStatus.OPEN:
        return "closing" if site.status is SiteStatus.CLOSING else "not open"
    if Suitability.MINORS in site.suitability:
        return "for unaccompanied minors (Jugendhilfe)"
    for need_ in sorted(need.special_needs):
        required = REQUIRED_SUITABILITY.get(need_)
        if required is not None and required not in site.suitability:
            return f"not {required.value.replace('_', '-')}"
    if (
        Suitability.WOMEN_ONLY in site.suitability
        and SpecialNeed.WOMEN_ONLY not in need.special_needs
    ):
        return "women-only"
    if site.pillar is Pillar.NOTUNTERKUNFT and not need.allow_emergency:
        return "a Notunterkunft (relocations go to regular places)"
    if site.free < need.persons:
        return f"fewer than {need.persons} free places"
    return None


def choose_site(
    need: Need, sites: Iterable[SiteOption], *, exclude: Set[uuid.UUID] = frozenset()
) -> Choice | NoFit:
    """The placement policy. Households stay together: one site with room for everyone.

    1. Regular pillars first, in the order of the household's readiness (new arrivals:
       Wohnheime; ready households: Wohnprojekte or Wohnungen first).
    2. Notunterkünfte only when no regular place fits.
    3. Within a pillar the site with the most free places (a family-suitable one first for
       a household that needs a family unit).
    Special needs exclude sites that do not declare the matching suitability, and a
    women-only site takes only households that need one.
    """
    fitting: list[SiteOption] = []
    why_not: Counter[str] = Counter()
    for site in sites:
        problem = "already tried in this round" if site.site_id in exclude else unfit(site, need)
        if problem is None:
            fitting.append(site)
        else:
            why_not[problem] += 1
    order = REGULAR_ORDER[need.ready_for]
    if need.allow_emergency:
        order = (*order, Pillar.NOTUNTERKUNFT)
    family = SpecialNeed.FAMILY in need.special_needs
    for rank, pillar in enumerate(order):
        candidates = [s for s in fitting if s.pillar is pillar]
        if not candidates:
            continue
        best = min(
            candidates,
            key=lambda s: (
                family and Suitability.FAMILIES not in s.suitability,
                -s.free,
                s.name,
                str(s.site_id),
            ),
        )
        return Choice(best, _decision_reason(need, best, order[:rank], candidates))
    return NoFit(_no_fit_reason(need, why_not))


def _decision_reason(
    need: Need, site: SiteOption, skipped: Sequence[Pillar], candidates: Sequence[SiteOption]
) -> str:
    first = REGULAR_ORDER[need.ready_for][0]
    if not skipped:
        rule = f"{need.assessment}: {PLURAL[first]} first"
    elif site.pillar is Pillar.NOTUNTERKUNFT:
        rule = (
            f"{need.assessment}; no regular place (Wohnheim, Wohnprojekt, Wohnung) fits "
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
    parts = [
        f"{site.name} ({SINGULAR[site.pillar]}, {district_label(site.district)})",
        rule,
        within,
    ]
    met = sorted(
        f"{REQUIRED_SUITABILITY[n].value.replace('_', '-')} ({n.value})"
        for n in need.special_needs
        if n in REQUIRED_SUITABILITY
    )
    if met:
        parts.append("needs met: " + ", ".join(met))
    return clip(": ".join(parts[:2]) + "; " + "; ".join(parts[2:]))


def _no_fit_reason(need: Need, why_not: Counter[str]) -> str:
    needs = f" with needs {', '.join(sorted(n.value for n in need.special_needs))}"
    head = f"No open site fits {persons_text(need.persons)}{needs if need.special_needs else ''}"
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
