"""Builders for allocation's unit tests: members, sites and boards, with sensible defaults."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from allocation.domain import Board, IntakeMember, Readiness, SiteOption, SiteStatus
from ankommen_contracts import AgeBand, Gender, Pillar, SpecialNeed, Suitability

NOW = datetime(2016, 3, 1, 9, 0, tzinfo=UTC)
TODAY = NOW.date()


def member(
    age: AgeBand = AgeBand.AGE_27_49,
    *needs: SpecialNeed,
    gender: Gender = Gender.FEMALE,
    unaccompanied: bool = False,
) -> IntakeMember:
    return IntakeMember(
        person_id=uuid.uuid4(),
        age_band=age,
        gender=gender,
        country_of_origin="SYR",
        unaccompanied_minor=unaccompanied,
        special_needs=list(needs),
    )


def family(size: int, *needs: SpecialNeed) -> list[IntakeMember]:
    """Two adults and children; the needs go to the first adult (the household shares them)."""
    adults = [member(AgeBand.AGE_27_49, *needs), member(AgeBand.AGE_27_49, gender=Gender.MALE)]
    return (adults + [member(AgeBand.AGE_6_17) for _ in range(size)])[:size]


def site(
    name: str,
    pillar: Pillar,
    free: int,
    *suitability: Suitability,
    district: int = 1,
    status: SiteStatus = SiteStatus.OPEN,
) -> SiteOption:
    return SiteOption(
        site_id=uuid.uuid4(),
        name=name,
        pillar=pillar,
        district=district,
        suitability=frozenset(suitability),
        status=status,
        free=free,
    )


def board(*sites: SiteOption) -> Board:
    return Board(sites)


def assessed(pillar: Pillar, on: date = TODAY, *, own_tenancy: bool = False) -> Readiness:
    """Integration's ReadinessAssessed as allocation keeps it."""
    return Readiness(pillar, own_tenancy, on, f"integration's reason for {pillar.value}")
