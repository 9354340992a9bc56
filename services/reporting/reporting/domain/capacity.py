"""Reporting's views, computed from projected rows. Pure: no I/O.

Reporting owns no decisions: it folds events into read models and shapes them into the
interim review's views (Drucksache 2088/2016).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ankommen_contracts import Pillar
from ankommen_contracts.common import PlacesRow, roll_up


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


# The roll-up (groups, labels, free places, occupancy rate) is the city's one rule in
# ankommen_contracts.common; housing's live /occupancy uses the same one.
CapacityRow = PlacesRow


def capacity_view(
    sites: Iterable[SiteCapacity],
) -> tuple[list[CapacityRow], list[CapacityRow], CapacityRow]:
    """View 3: places by pillar (all four, in model order) and by Stadtbezirk, plus total."""
    return roll_up(s for s in sites if s.open)
