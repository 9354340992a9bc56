"""One valid, synthetic example of every event type.

Used in the generated JSON Schema and AsyncAPI documents, kept in the released snapshots
(so the compatibility test can upcast an old version's example to the current model),
and handy as test fixtures for consumers. Ids are derived deterministically from labels,
so regenerating the documents gives the same bytes. All data is synthetic.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from .common import (
    AgeBand,
    BuildingKind,
    BuildingOwner,
    Gender,
    Pillar,
    SiteRequirement,
    Skill,
    Suitability,
)
from .envelope import Envelope, EventData, new_envelope
from .events import allocation as al
from .events import housing as ho
from .events import integration as it
from .events import volunteers as vo
from .pseudonym import LOCAL_DEVELOPMENT_KEY, land_reference_pseudonym

_NAMESPACE = uuid.UUID("5f0c2a57-1d3e-4c8b-9a6e-2b7d4e1f0a93")


def example_id(label: str) -> uuid.UUID:
    """A stable UUID for a label: same label, same id, in every run."""
    return uuid.uuid5(_NAMESPACE, label)


_SITE = example_id("site:oststadtkrankenhaus")
_OTHER_SITE = example_id("site:tresckowstrasse")
_HOUSEHOLD = example_id("household:1")
_RESERVATION = example_id("reservation:1")
_CASE = example_id("case:1")
_REQUEST = example_id("request:1")
_ERASURE = example_id("erasure:1")
_VOLUNTEER = example_id("volunteer:1")
_MATCH = example_id("match:1")
_QUOTA = example_id("quota:2015-h2")

_MEMBERS = [
    al.Member(
        person_id=example_id("person:1"),
        age_band=AgeBand.AGE_27_49,
        gender=Gender.FEMALE,
        country_of_origin="SYR",
        unaccompanied_minor=False,
    ),
    al.Member(
        person_id=example_id("person:2"),
        age_band=AgeBand.AGE_27_49,
        gender=Gender.MALE,
        country_of_origin="SYR",
        unaccompanied_minor=False,
    ),
    al.Member(
        person_id=example_id("person:3"),
        age_band=AgeBand.AGE_6_17,
        gender=Gender.FEMALE,
        country_of_origin="SYR",
        unaccompanied_minor=False,
    ),
    al.Member(
        person_id=example_id("person:4"),
        age_band=AgeBand.UNDER_6,
        gender=Gender.MALE,
        country_of_origin="SYR",
        unaccompanied_minor=False,
    ),
]

_EXAMPLES: list[EventData] = [
    # allocation
    al.QuotaPeriodAnnounced(
        quota_period_id=_QUOTA,
        starts_on=date(2015, 10, 1),
        ends_on=date(2016, 1, 31),
        expected_persons=3700,
        weekly_quota=150,
    ),
    al.RefugeeAssigned(
        household_id=_HOUSEHOLD,
        # HMAC-SHA256 of "NI-2015-10-0815" under the local development key
        land_reference_pseudonym=land_reference_pseudonym(
            "NI-2015-10-0815", key=LOCAL_DEVELOPMENT_KEY.encode()
        ),
        quota_period_id=_QUOTA,
        household_size=4,
        requirements=[SiteRequirement.NOT_SINGLE_ADULTS, SiteRequirement.NOT_WOMEN_ONLY],
        members=_MEMBERS,
        expected_arrival_at=datetime(2015, 10, 19, 8, 0, tzinfo=UTC),
    ),
    al.PlacementDecided(
        household_id=_HOUSEHOLD,
        site_id=_SITE,
        reservation_id=_RESERVATION,
        pillar=Pillar.NOTUNTERKUNFT,
        district=4,
        reason="no regular place for a family of 4 free; emergency shelter with family units",
        attempt=2,
        places=4,
        requirements=[SiteRequirement.NOT_SINGLE_ADULTS, SiteRequirement.NOT_WOMEN_ONLY],
        expected_arrival_at=datetime(2015, 10, 19, 8, 0, tzinfo=UTC),
    ),
    al.MinorReferredToYouthWelfare(
        household_id=example_id("household:umf"),
        person_id=example_id("person:umf"),
        age_band=AgeBand.AGE_6_17,
        gender=Gender.MALE,
        country_of_origin="AFG",
        travels_with_adult=True,
        quota_period_id=_QUOTA,
    ),
    al.PlacementCancelled(
        household_id=_HOUSEHOLD,
        site_id=_SITE,
        reservation_id=_RESERVATION,
        reason="the household departed while the beds were being reserved",
    ),
    al.PlacementFailed(
        household_id=_HOUSEHOLD,
        reason="no site with 4 free family places",
        waitlisted=True,
        persons=4,
    ),
    al.RelocationRequested(
        household_id=_HOUSEHOLD,
        from_site_id=_SITE,
        reason=al.RelocationReason.EMERGENCY_DISSOLUTION,
    ),
    al.RefugeeRelocated(
        household_id=_HOUSEHOLD,
        from_site_id=_SITE,
        to_site_id=_OTHER_SITE,
        reservation_id=example_id("reservation:2"),
        to_pillar=Pillar.WOHNHEIM,
        to_district=9,
    ),
    al.RefugeeDeparted(
        household_id=_HOUSEHOLD,
        site_id=_OTHER_SITE,
        reason=al.DepartureReason.MOVED_AWAY,
        persons=4,
    ),
    # housing
    ho.ShelterPlanned(
        site_id=_OTHER_SITE,
        name="Wohnheim Tresckowstraße",
        pillar=Pillar.WOHNHEIM,
        district=9,
        operator="DRK",
        planned_capacity=100,
        planned_opening_on=date(2015, 10, 21),
        suitability=[Suitability.FAMILIES, Suitability.ACCESSIBLE],
        building=BuildingKind.PURPOSE_BUILT_HOME,
        owner=BuildingOwner.HOUSING_COMPANY,
    ),
    ho.ShelterOpened(
        site_id=_SITE,
        name="Ehemaliges Oststadtkrankenhaus",
        pillar=Pillar.NOTUNTERKUNFT,
        district=4,
        operator="DRK",
        capacity=500,
        suitability=[Suitability.FAMILIES],
        building=BuildingKind.FORMER_HOSPITAL,
        owner=BuildingOwner.CITY,
        closes_on=date(2017, 3, 22),
        daily_rate=Decimal("23.50"),
        monthly_fixed_cost=Decimal("45000.00"),
    ),
    ho.ShelterRateChanged(
        site_id=_SITE,
        daily_rate=Decimal("25.00"),
        monthly_fixed_cost=Decimal("45000.00"),
        valid_from=date(2016, 1, 1),
    ),
    ho.ShelterCapacityChanged(
        site_id=_SITE,
        capacity=800,
        blocked_places=20,
        reason=ho.CapacityChangeReason.EXPANDED,
    ),
    ho.ShelterClosing(
        site_id=_SITE,
        reason=ho.ClosingReason.EMERGENCY_DISSOLUTION,
        closes_on=date(2017, 3, 22),
    ),
    ho.ShelterClosingDateSet(site_id=_SITE, closes_on=date(2017, 3, 22)),
    ho.ShelterClosed(site_id=_SITE),
    ho.BedReserved(
        site_id=_SITE,
        reservation_id=_RESERVATION,
        household_id=_HOUSEHOLD,
        places=4,
        expires_at=datetime(2015, 10, 12, 18, 0, tzinfo=UTC),
        unit_id=None,
    ),
    ho.ReservationRejected(
        site_id=_OTHER_SITE,
        reservation_id=example_id("reservation:0"),
        household_id=_HOUSEHOLD,
        places=4,
        reason=ho.RejectionReason.NO_FREE_PLACES,
        free_places=2,
    ),
    ho.ReservationReleased(
        site_id=_SITE,
        reservation_id=_RESERVATION,
        household_id=_HOUSEHOLD,
        places=4,
        reason=ho.ReleaseReason.EXPIRED,
    ),
    ho.OccupantCheckedIn(
        site_id=_SITE, household_id=_HOUSEHOLD, reservation_id=_RESERVATION, persons=4
    ),
    ho.OccupantCheckedOut(
        site_id=_SITE, household_id=_HOUSEHOLD, persons=4, reason=ho.CheckOutReason.RELOCATED
    ),
    # integration
    it.CaseOpened(
        case_id=_CASE,
        household_id=_HOUSEHOLD,
        district=9,
        site_id=_OTHER_SITE,
        focus_areas=[it.FocusArea.HOUSING, it.FocusArea.SCHOOL, it.FocusArea.LANGUAGE],
        persons=4,
        opened_on=date(2016, 3, 14),
    ),
    it.CaseTransferred(
        case_id=_CASE,
        household_id=_HOUSEHOLD,
        from_district=9,
        to_district=10,
        site_id=_SITE,
        reason=it.CaseTransferReason.RELOCATED,
        transferred_on=date(2016, 5, 2),
    ),
    it.MilestoneReached(
        case_id=_CASE,
        household_id=_HOUSEHOLD,
        milestone=it.Milestone.KITA,
        reached_on=date(2016, 8, 1),
        persons=1,
    ),
    it.MilestoneReached(
        case_id=_CASE,
        household_id=_HOUSEHOLD,
        milestone=it.Milestone.LANGUAGE_LEVEL,
        reached_on=date(2016, 9, 30),
        persons=2,
        language_level=it.LanguageLevel.A2,
    ),
    it.ReadinessAssessed(
        case_id=_CASE,
        household_id=_HOUSEHOLD,
        ready_for=Pillar.WOHNUNG,
        ready_for_own_tenancy=True,
        independence=it.Independence.HIGH,
        german=it.GermanLevel.A2,
        residence_prospects=it.ResidenceProspects.GOOD,
        assessed_on=date(2016, 10, 4),
        reason="ready for a Wohnung (7 months in Hannover, high independence, German A2)",
    ),
    it.MoveOutPlanned(
        case_id=_CASE,
        household_id=_HOUSEHOLD,
        from_site_id=_OTHER_SITE,
        target_kind=it.MoveOutTarget.OWN_FLAT,
        target_district=10,
        planned_on=date(2016, 11, 1),
    ),
    it.MoveOutCompleted(
        case_id=_CASE,
        household_id=_HOUSEHOLD,
        from_site_id=_OTHER_SITE,
        target_kind=it.MoveOutTarget.OWN_FLAT,
        target_district=10,
        moved_on=date(2016, 11, 2),
    ),
    it.CaseHandedOver(
        case_id=_CASE,
        household_id=_HOUSEHOLD,
        to_structure=it.DistrictStructure.GEMEINWESENARBEIT,
        district=10,
        receiving_partner="Gemeinwesenarbeit Linden-Süd",
        handed_over_on=date(2017, 2, 1),
    ),
    it.CaseClosed(case_id=_CASE, reason=it.CaseCloseReason.HANDED_OVER, closed_on=date(2017, 2, 1)),
    it.SupportRequested(
        case_id=_CASE,
        request_id=_REQUEST,
        district=10,
        languages=["ar", "de"],
        skill=Skill.HOMEWORK_HELP,
        involves_children=True,
        hours_per_week=2,
        schedule=[
            it.TimeSlot(weekday=it.Weekday.TUESDAY, starts_at="15:00", ends_at="16:30"),
            it.TimeSlot(weekday=it.Weekday.THURSDAY, starts_at="15:00", ends_at="16:30"),
        ],
    ),
    it.ErasureRequested(
        erasure_id=_ERASURE,
        household_id=_HOUSEHOLD,
        person_ids=[],
        reason=it.ErasureReason.REQUESTED,
        requested_on=date(2018, 3, 1),
    ),
    # volunteers
    vo.VolunteerRegistered(
        volunteer_id=_VOLUNTEER,
        districts=[10, 1],
        languages=["de", "ar", "en"],
        skills=[Skill.HOMEWORK_HELP, Skill.ACCOMPANIMENT],
        hours_per_week=4,
        mso=True,
        registered_on=date(2016, 5, 2),
    ),
    vo.VolunteerVetted(
        volunteer_id=_VOLUNTEER,
        certificate_valid_until=date(2021, 5, 31),
        certificate_issued_on=date(2016, 5, 31),
        vetted_on=date(2016, 6, 10),
    ),
    vo.VolunteerMatched(
        volunteer_id=_VOLUNTEER,
        match_id=_MATCH,
        request_id=_REQUEST,
        district=10,
        skill=Skill.HOMEWORK_HELP,
        involves_children=True,
        matched_on=date(2016, 11, 2),
    ),
    vo.MatchEnded(
        volunteer_id=_VOLUNTEER,
        match_id=_MATCH,
        request_id=_REQUEST,
        reason=vo.MatchEndReason.COMPLETED,
        ended_on=date(2016, 12, 20),
    ),
    vo.VolunteerHoursLogged(
        volunteer_id=_VOLUNTEER,
        match_id=_MATCH,
        district=10,
        worked_on=date(2016, 11, 15),
        hours=1.5,
    ),
]

EXAMPLES: dict[str, EventData] = {example.TYPE: example for example in _EXAMPLES}
"""One example payload per event type, by ``TYPE``."""


def example_envelope(event_type: str) -> Envelope[Any]:
    """The example of ``event_type`` in a complete, deterministic envelope."""
    data = EXAMPLES[event_type]
    return new_envelope(
        data,
        sequence=1,
        correlation_id=example_id(f"correlation:{event_type}"),
        causation_id=None,
        occurred_at=datetime(2015, 10, 12, 9, 30, tzinfo=UTC),
        recorded_at=datetime(2015, 10, 12, 9, 31, tzinfo=UTC),
        event_id=example_id(f"event:{event_type}"),
    )
