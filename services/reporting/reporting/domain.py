"""Reporting's views, computed from projected rows. Pure: no I/O.

Reporting owns no decisions: it folds events into read models and shapes them into the
interim review's views (Drucksache 2088/2016).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ankommen_contracts import DISTRICT_NAMES, Pillar


@dataclass(frozen=True)
class SiteCapacity:
    """One site as the capacity view sees it."""

    pillar: Pillar
    district: int
    capacity: int
    blocked: int
    occupied: int
    open: bool
    reserved: int = 0


@dataclass(frozen=True)
class CapacityRow:
    """Places (Plätze) of one group of sites: capacity, occupied, free, blocked."""

    key: str
    label: str
    sites: int
    capacity: int
    occupied: int
    blocked: int
    reserved: int = 0

    @property
    def free(self) -> int:
        return max(self.capacity - self.blocked - self.reserved - self.occupied, 0)

    @property
    def occupancy_rate(self) -> float:
        usable = self.capacity - self.blocked
        return round(self.occupied / usable, 4) if usable > 0 else 0.0


PILLAR_LABELS = {
    Pillar.WOHNHEIM: "Wohnheime",
    Pillar.WOHNPROJEKT: "Wohnprojekte",
    Pillar.WOHNUNG: "Wohnungen",
    Pillar.NOTUNTERKUNFT: "Notunterkünfte",
}


def _row(key: str, label: str, sites: list[SiteCapacity]) -> CapacityRow:
    return CapacityRow(
        key=key,
        label=label,
        sites=len(sites),
        capacity=sum(s.capacity for s in sites),
        occupied=sum(s.occupied for s in sites),
        blocked=sum(s.blocked for s in sites),
        reserved=sum(s.reserved for s in sites),
    )


def capacity_view(
    sites: Iterable[SiteCapacity],
) -> tuple[list[CapacityRow], list[CapacityRow], CapacityRow]:
    """View 3: places by pillar (all four, in model order) and by Stadtbezirk, plus total."""
    open_sites = [s for s in sites if s.open]
    by_pillar = [
        _row(p.value, PILLAR_LABELS[p], [s for s in open_sites if s.pillar is p]) for p in Pillar
    ]
    by_district = [
        _row(f"{d:02d}", name, [s for s in open_sites if s.district == d])
        for d, name in DISTRICT_NAMES.items()
    ]
    return by_pillar, by_district, _row("total", "Gesamt", open_sites)
