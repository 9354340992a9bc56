"""Allocation's model: households assigned by the Land and where they should live. Pure: no I/O.

Three modules, in the order a placement needs them:

- ``readiness``: which regular pillar a household is ready for, as Integrationsmanagement
  assessed it (``ReadinessAssessed``; allocation never computes it);
- ``policy``: sites as allocation sees them (``Board``) and the placement policy
  (``choose_site``), every decision with the rule that chose it;
- ``household``: the ``Household`` aggregate of the placement saga, with the placement in
  flight as one value (``Placement``).

Nothing here imports I/O: errors come from ``ankommen_runtime.errors`` (import-light), the
time is passed in by the handlers, which take it from the runtime's clock.
"""

from ankommen_contracts import NEED_REQUIREMENTS

from .household import (
    MAX_ATTEMPTS,
    MUST_MOVE,
    HistoryEntry,
    Home,
    Household,
    HouseholdStatus,
    IntakeMember,
    Placement,
)
from .policy import (
    DEFAULT_DISSOLUTION_ORDER,
    DEFAULT_POLICY,
    MAX_REASON,
    MOVE_ON_FALLBACK,
    PLURAL,
    REGULAR_ORDER,
    REQUIRED_SUITABILITY,
    SINGULAR,
    Board,
    Choice,
    EmergencyResident,
    Need,
    NoFit,
    PlacementPolicy,
    SiteOption,
    SiteStatus,
    choose_site,
    dissolution_key,
    shelter_dissolution_key,
    unfit,
)
from .readiness import NOT_ASSESSED, UNASSESSED_PILLAR, Readiness, placement_pillar

__all__ = [
    "DEFAULT_DISSOLUTION_ORDER",
    "DEFAULT_POLICY",
    "MAX_ATTEMPTS",
    "MAX_REASON",
    "MOVE_ON_FALLBACK",
    "MUST_MOVE",
    "NEED_REQUIREMENTS",
    "NOT_ASSESSED",
    "PLURAL",
    "REGULAR_ORDER",
    "REQUIRED_SUITABILITY",
    "SINGULAR",
    "UNASSESSED_PILLAR",
    "Board",
    "Choice",
    "EmergencyResident",
    "HistoryEntry",
    "Home",
    "Household",
    "HouseholdStatus",
    "IntakeMember",
    "Need",
    "NoFit",
    "Placement",
    "PlacementPolicy",
    "Readiness",
    "SiteOption",
    "SiteStatus",
    "choose_site",
    "dissolution_key",
    "placement_pillar",
    "shelter_dissolution_key",
    "unfit",
]
