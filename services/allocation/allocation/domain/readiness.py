"""Readiness: which regular pillar a household is ready for (Wohnfähigkeit). Pure: no I/O.

Staff record coarse attributes; with the length of stay they decide whether a household
starts in a Wohnheim or is ready for a Wohnprojekt or a Wohnung.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ankommen_contracts import Pillar

# The factors' vocabulary is the contract's (integration assesses them and publishes
# ReadinessAssessed): one home for the words, whichever service records them.
from ankommen_contracts.events.integration import GermanLevel, Independence, ResidenceProspects

_INDEPENDENCE_RANK = {level: i for i, level in enumerate(Independence)}
_GERMAN_RANK = {level: i for i, level in enumerate(GermanLevel)}

# Below these lengths of stay a household counts as a new arrival whatever else is known.
WOHNPROJEKT_AFTER_MONTHS = 3
WOHNUNG_AFTER_MONTHS = 6


@dataclass(frozen=True)
class Readiness:
    """Coarse attributes recorded by staff; with the length of stay they decide the pillar."""

    independence: Independence
    german: GermanLevel
    residence_prospects: ResidenceProspects


def months_since(start: datetime, now: datetime) -> int:
    """Whole months (of 30 days) between two moments; never negative."""
    return max((now - start).days // 30, 0)


def ready_for(
    readiness: Readiness | None,
    months: int,
    *,
    wohnprojekt_after: int = WOHNPROJEKT_AFTER_MONTHS,
    wohnung_after: int = WOHNUNG_AFTER_MONTHS,
    prospects_count: bool = True,
) -> tuple[Pillar, str]:
    """The most independent regular pillar the household is ready for, and why in words.

    Wohnung: 6+ months here, high independence, German A2+, good residence prospects.
    Wohnprojekt: 3+ months, at least some independence, German A1+, prospects not poor.
    Anyone else, and every new arrival, starts in a Wohnheim with 24/7 care. The months
    and whether residence prospects count are the city's settings (``PlacementPolicy``).
    """
    stay = f"{months} months in Hannover"
    if months < wohnprojekt_after:
        return Pillar.WOHNHEIM, f"new arrival ({stay})"
    if readiness is None:
        return Pillar.WOHNHEIM, f"{stay}, readiness not assessed yet"
    r = readiness
    not_for_flat = [
        text
        for missing, text in (
            (months < wohnung_after, f"under {wohnung_after} months here"),
            (r.independence is not Independence.HIGH, "independence not yet high"),
            (_GERMAN_RANK[r.german] < _GERMAN_RANK[GermanLevel.A2], "German below A2"),
            (
                prospects_count and r.residence_prospects is not ResidenceProspects.GOOD,
                "residence prospects not good",
            ),
        )
        if missing
    ]
    if not not_for_flat:
        return Pillar.WOHNUNG, (
            f"ready for a Wohnung ({stay}, {r.independence.value} independence, "
            f"German {_german(r.german)}, {r.residence_prospects.value} residence prospects)"
        )
    not_for_project = [
        text
        for missing, text in (
            (_INDEPENDENCE_RANK[r.independence] < 1, "independence low"),
            (r.german is GermanLevel.NONE, "no German yet"),
            (
                prospects_count and r.residence_prospects is ResidenceProspects.POOR,
                "residence prospects poor",
            ),
        )
        if missing
    ]
    if not not_for_project:
        return Pillar.WOHNPROJEKT, (
            f"ready for a Wohnprojekt, not yet for a Wohnung ({', '.join(not_for_flat)})"
        )
    return Pillar.WOHNHEIM, f"not yet ready for a Wohnprojekt ({', '.join(not_for_project)})"


def _german(level: GermanLevel) -> str:
    return "B2 or better" if level is GermanLevel.B2_PLUS else level.value.upper()
