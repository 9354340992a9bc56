"""Readiness as Integrationsmanagement assessed it (Wohnfähigkeit). Pure: no I/O.

Allocation never computes readiness: integration assesses it (its rule and the city's
readiness settings live there) and publishes ``ReadinessAssessed``; allocation keeps the
latest assessment of each household and places by its ``ready_for``. A household nobody
has assessed yet, a new arrival above all, starts in a Wohnheim with 24/7 care.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ankommen_contracts import Pillar

NOT_ASSESSED = "readiness not assessed by Integrationsmanagement yet (new arrivals: Wohnheim)"
UNASSESSED_PILLAR = Pillar.WOHNHEIM  # where a household nobody has assessed starts


@dataclass(frozen=True)
class Readiness:
    """The latest ``ReadinessAssessed`` of a household, as allocation keeps it."""

    ready_for: Pillar  # the most independent regular pillar it is ready for
    ready_for_own_tenancy: bool  # may move out into a tenancy of its own (Auszug)
    assessed_on: date
    reason: str  # integration's words for staff

    def supersedes(self, other: Readiness | None) -> bool:
        """A later assessment replaces an earlier one; one of the same day too (they
        arrive in the case's order). An older one, arriving late, changes nothing."""
        return other is None or self.assessed_on >= other.assessed_on


def placement_pillar(readiness: Readiness | None) -> tuple[Pillar, str]:
    """The pillar placement starts from, and why in words: the assessment's ``ready_for``,
    or a Wohnheim while nobody has assessed the household."""
    if readiness is None:
        return UNASSESSED_PILLAR, NOT_ASSESSED
    verdict = _VERDICT[readiness.ready_for]
    if readiness.ready_for_own_tenancy:
        verdict += " and for a tenancy of its own"
    return readiness.ready_for, (
        f"assessed by Integrationsmanagement on {readiness.assessed_on.isoformat()}: {verdict}"
    )


_VERDICT = {
    Pillar.WOHNUNG: "ready for a Wohnung",
    Pillar.WOHNPROJEKT: "ready for a Wohnprojekt, not yet for a Wohnung",
    Pillar.WOHNHEIM: "not yet ready for a Wohnprojekt",
}
