"""Readiness is assessed in integration only, by the city's readiness settings
(``ReadinessPolicy``, ``ANKOMMEN_READINESS``); allocation has none of it any more."""

from __future__ import annotations

from datetime import date

import pytest
from allocation.app import AllocationSettings
from ankommen_contracts import Pillar
from ankommen_contracts.events.integration import (
    GermanLevel,
    Independence,
    ResidenceProspects,
    ResidenceStatus,
)
from integration.app import IntegrationSettings
from integration.domain import DEFAULT_READINESS_POLICY, ReadinessPolicy, assess_readiness
from pydantic import ValidationError

ON = date(2016, 9, 1)
GRANTED = ResidenceStatus.PROTECTION_GRANTED


def pillar(
    independence: Independence,
    german: GermanLevel,
    prospects: ResidenceProspects,
    months: int,
    policy: ReadinessPolicy = DEFAULT_READINESS_POLICY,
) -> tuple[Pillar, str]:
    r = assess_readiness(independence, german, prospects, None, months, ON, policy)
    return r.ready_for, r.reason


def test_readiness_from_length_of_stay_independence_language_and_prospects() -> None:
    good = (Independence.HIGH, GermanLevel.B1, ResidenceProspects.GOOD)
    ready, why = pillar(*good, months=8)
    assert ready is Pillar.WOHNUNG
    assert "ready for a Wohnung not yet for a tenancy of its own (8 months in Hannover" in why
    assert pillar(*good, months=1) == (Pillar.WOHNHEIM, "new arrival (1 months in Hannover)")
    ready, why = pillar(*good, months=4)
    assert ready is Pillar.WOHNPROJEKT
    assert "under 6 months here" in why
    ready, why = pillar(Independence.SOME, GermanLevel.A1, ResidenceProspects.UNCLEAR, 12)
    assert ready is Pillar.WOHNPROJEKT
    assert "independence not yet high" in why
    assert "German below A2" in why
    assert pillar(Independence.LOW, GermanLevel.NONE, ResidenceProspects.POOR, 12) == (
        Pillar.WOHNHEIM,
        "not yet ready for a Wohnprojekt (independence low, no German yet, "
        "residence prospects poor)",
    )


def test_whether_residence_prospects_affect_the_standard_is_the_councils_choice() -> None:
    unclear = (Independence.HIGH, GermanLevel.B1, ResidenceProspects.UNCLEAR)
    assert pillar(*unclear, months=8)[0] is Pillar.WOHNPROJEKT
    indifferent = ReadinessPolicy(prospects_affect_standard=False)
    assert pillar(*unclear, months=8, policy=indifferent)[0] is Pillar.WOHNUNG
    poor = (Independence.SOME, GermanLevel.A1, ResidenceProspects.POOR)
    assert pillar(*poor, months=8)[0] is Pillar.WOHNHEIM
    assert pillar(*poor, months=8, policy=indifferent)[0] is Pillar.WOHNPROJEKT


def test_a_tenancy_of_its_own_needs_protection_granted_whatever_the_setting() -> None:
    indifferent = ReadinessPolicy(prospects_affect_standard=False)
    tolerated = assess_readiness(
        Independence.HIGH,
        GermanLevel.B1,
        ResidenceProspects.POOR,
        ResidenceStatus.TOLERATED,
        12,
        ON,
        indifferent,
    )
    assert (tolerated.ready_for, tolerated.ready_for_own_tenancy) == (Pillar.WOHNUNG, False)
    granted = assess_readiness(
        Independence.HIGH, GermanLevel.B1, ResidenceProspects.GOOD, GRANTED, 12, ON
    )
    assert (granted.ready_for, granted.ready_for_own_tenancy) == (Pillar.WOHNUNG, True)


def test_the_lengths_of_stay_are_settings_and_must_be_in_order() -> None:
    good = (Independence.HIGH, GermanLevel.B1, ResidenceProspects.GOOD)
    patient = ReadinessPolicy(wohnprojekt_after_months=6, wohnung_after_months=12)
    assert pillar(*good, months=8, policy=patient)[0] is Pillar.WOHNPROJEKT
    assert pillar(*good, months=5, policy=patient) == (
        Pillar.WOHNHEIM,
        "new arrival (5 months in Hannover)",
    )
    with pytest.raises(ValueError, match="wohnprojekt_after_months <= wohnung_after_months"):
        ReadinessPolicy(wohnprojekt_after_months=9, wohnung_after_months=6)


def test_integration_reads_the_readiness_settings_from_ankommen_readiness(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANKOMMEN_READINESS", '{"prospects_affect_standard": false}')
    assert IntegrationSettings().readiness == ReadinessPolicy(prospects_affect_standard=False)
    monkeypatch.setenv("ANKOMMEN_READINESS", '{"prospects_count": false}')
    with pytest.raises(ValidationError, match=r"readiness\.prospects_count"):
        IntegrationSettings()
    monkeypatch.delenv("ANKOMMEN_READINESS")
    assert IntegrationSettings().readiness == DEFAULT_READINESS_POLICY


def test_allocation_refuses_the_readiness_settings_it_no_longer_has(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Set in allocation's ANKOMMEN_PLACEMENT, a readiness setting would silently do
    nothing: it is refused, naming the field."""
    monkeypatch.setenv("ANKOMMEN_PLACEMENT", '{"prospects_affect_standard": false}')
    with pytest.raises(ValidationError, match=r"placement\.prospects_affect_standard"):
        AllocationSettings()
    monkeypatch.setenv("ANKOMMEN_PLACEMENT", '{"prefer_home_district": false}')
    assert AllocationSettings().placement.prefer_home_district is False
