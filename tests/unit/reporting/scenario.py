"""Event sequences for reporting's unit tests: real contract models on business days."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from ankommen_contracts import EventData, Pillar, new_envelope
from ankommen_contracts.common import AgeBand, Gender, Skill
from ankommen_contracts.events import allocation as al
from ankommen_contracts.events import housing as ho
from ankommen_contracts.events import integration as it
from ankommen_contracts.events import volunteers as vo
from reporting.domain.facts import Fact, fact_of


class Scenario:
    """Builds facts in the order written; ``on(day)`` sets the business day (10:00 UTC)."""

    def __init__(self) -> None:
        self.facts: list[Fact] = []
        self.day = date(2015, 1, 5)
        self._sequences: dict[str, int] = {}

    def on(self, day: date) -> Scenario:
        self.day = day
        return self

    def emit(self, data: EventData) -> Fact:
        subject = data.subject()
        seq = self._sequences[subject] = self._sequences.get(subject, 0) + 1
        at = datetime.combine(self.day, time(10, 0), tzinfo=UTC)
        envelope = new_envelope(
            data, sequence=seq, correlation_id=uuid.uuid4(), occurred_at=at, recorded_at=at
        )
        fact = fact_of(envelope)
        self.facts.append(fact)
        return fact

    # -- housing ----------------------------------------------------------------------

    def site(
        self,
        name: str = "Wohnheim Tresckowstraße",
        pillar: Pillar = Pillar.WOHNHEIM,
        district: int = 9,
        capacity: int = 100,
        operator: str = "DRK",
        daily_rate: str | None = None,
        monthly: str | None = None,
        closes_on: date | None = None,
    ) -> uuid.UUID:
        site_id = uuid.uuid4()
        self.emit(
            ho.ShelterOpened(
                closes_on=closes_on,
                site_id=site_id,
                name=name,
                pillar=pillar,
                district=district,
                operator=operator,
                capacity=capacity,
                daily_rate=Decimal(daily_rate) if daily_rate else None,
                monthly_fixed_cost=Decimal(monthly) if monthly else None,
            )
        )
        return site_id

    def planned(self, capacity: int, opening: date, district: int = 3) -> uuid.UUID:
        site_id = uuid.uuid4()
        self.emit(
            ho.ShelterPlanned(
                site_id=site_id,
                name="Neubau Mühlenberg",
                pillar=Pillar.WOHNPROJEKT,
                district=district,
                planned_capacity=capacity,
                planned_opening_on=opening,
            )
        )
        return site_id

    def closing_date(self, site_id: uuid.UUID, closes_on: date | None) -> None:
        self.emit(ho.ShelterClosingDateSet(site_id=site_id, closes_on=closes_on))

    def rate(
        self, site_id: uuid.UUID, daily: str, valid_from: date, monthly: str | None = None
    ) -> None:
        self.emit(
            ho.ShelterRateChanged(
                site_id=site_id,
                daily_rate=Decimal(daily),
                monthly_fixed_cost=Decimal(monthly) if monthly else None,
                valid_from=valid_from,
            )
        )

    def check_in(
        self, site_id: uuid.UUID, persons: int, household: uuid.UUID | None = None
    ) -> uuid.UUID:
        household = household or uuid.uuid4()
        self.emit(ho.OccupantCheckedIn(site_id=site_id, household_id=household, persons=persons))
        return household

    def check_out(
        self,
        site_id: uuid.UUID,
        household: uuid.UUID,
        persons: int,
        reason: ho.CheckOutReason = ho.CheckOutReason.MOVED_OUT,
    ) -> None:
        self.emit(
            ho.OccupantCheckedOut(
                site_id=site_id, household_id=household, persons=persons, reason=reason
            )
        )

    def closing(self, site_id: uuid.UUID, on: date, reason: ho.ClosingReason) -> None:
        self.emit(ho.ShelterClosing(site_id=site_id, reason=reason, closes_on=on))

    def closed(self, site_id: uuid.UUID) -> None:
        self.emit(ho.ShelterClosed(site_id=site_id))

    # -- allocation ---------------------------------------------------------------------

    def quota(self, starts: date, ends: date, weekly: int) -> None:
        self.emit(
            al.QuotaPeriodAnnounced(
                quota_period_id=uuid.uuid4(),
                starts_on=starts,
                ends_on=ends,
                expected_persons=weekly * ((ends - starts).days + 1) // 7,
                weekly_quota=weekly,
            )
        )

    def assigned(
        self,
        persons: int,
        gender: Gender = Gender.FEMALE,
        age: AgeBand = AgeBand.AGE_27_49,
        origin: str = "SYR",
        minor: bool = False,
    ) -> uuid.UUID:
        household = uuid.uuid4()
        members = [
            al.Member(
                person_id=uuid.uuid4(),
                age_band=age if not minor else AgeBand.AGE_6_17,
                gender=gender,
                country_of_origin=origin,
                unaccompanied_minor=minor,
            )
            for _ in range(persons)
        ]
        self.emit(
            al.RefugeeAssigned(
                household_id=household,
                land_reference_pseudonym=household.hex * 2,
                household_size=persons,
                members=members,
                expected_arrival_at=datetime.combine(self.day, time(12), tzinfo=UTC)
                + timedelta(days=2),
            )
        )
        return household

    # -- integration and volunteers -----------------------------------------------------

    def case(self, household: uuid.UUID, district: int) -> uuid.UUID:
        case_id = uuid.uuid4()
        self.emit(
            it.CaseOpened(
                case_id=case_id,
                household_id=household,
                district=district,
                focus_areas=[it.FocusArea.HOUSING],
            )
        )
        return case_id

    def moved_out(
        self, case_id: uuid.UUID, household: uuid.UUID, site_id: uuid.UUID, to: int
    ) -> None:
        self.emit(
            it.MoveOutCompleted(
                case_id=case_id,
                household_id=household,
                from_site_id=site_id,
                target_kind=it.MoveOutTarget.OWN_FLAT,
                target_district=to,
            )
        )

    def volunteer(self, districts: list[int], mso: bool = False) -> uuid.UUID:
        volunteer_id = uuid.uuid4()
        self.emit(
            vo.VolunteerRegistered(
                volunteer_id=volunteer_id,
                districts=districts,
                languages=["de"],
                skills=[Skill.TRANSLATION],
                hours_per_week=4,
                mso=mso,
            )
        )
        return volunteer_id


def row(table: Any, **match: Any) -> dict[str, Any]:
    """The one row of ``table`` whose fields equal ``match``."""
    found = [r for r in table.rows if all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, f"{len(found)} rows match {match} in {table.key}"
    return found[0]
