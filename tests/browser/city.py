"""A year of a city's refugee reception as events, for the pages' tests (seeded)."""

from __future__ import annotations

import random
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

AS_OF = date(2016, 9, 30)


# Milestones that need no further field (a language level or a residence status).
PLAIN_MILESTONES = [
    m for m in it.Milestone if m not in (it.Milestone.LANGUAGE_LEVEL, it.Milestone.RESIDENCE_STATUS)
]


def city(seed: int = 2088) -> list[Any]:
    """Envelopes: sites in every district (four pillars, sports halls), weekly assignments
    with check-ins, move-outs, cases, volunteers; from January 2015 to September 2016."""
    rng = random.Random(seed)
    out: list[Any] = []
    seq: dict[str, int] = {}

    def emit(day: date, data: EventData) -> None:
        s = seq[data.subject()] = seq.get(data.subject(), 0) + 1
        at = datetime.combine(day, time(9, rng.randint(0, 59)), tzinfo=UTC)
        out.append(
            new_envelope(
                data,
                sequence=s,
                correlation_id=uuid.uuid4(),
                occurred_at=at,
                recorded_at=at,
                event_id=uuid.UUID(int=rng.getrandbits(128)),
            )
        )

    start = date(2015, 1, 5)
    emit(
        start,
        al.QuotaPeriodAnnounced(
            quota_period_id=uuid.uuid4(),
            starts_on=start,
            ends_on=date(2016, 12, 31),
            expected_persons=9000,
            weekly_quota=90,
        ),
    )
    sites: list[tuple[uuid.UUID, Pillar, int]] = []
    for district in range(1, 14):
        for pillar, capacity, rate in (
            (Pillar.WOHNHEIM, 180, "24.50"),
            (Pillar.WOHNPROJEKT, 60, "19.00"),
            (Pillar.WOHNUNG, 12, "14.00"),
        ):
            site_id = uuid.uuid4()
            emit(
                start,
                ho.ShelterOpened(
                    site_id=site_id,
                    name=f"{pillar.value.title()} {district:02d}",
                    pillar=pillar,
                    district=district,
                    operator=rng.choice(["DRK", "Johanniter", "AWO", "Malteser"]),
                    capacity=capacity,
                    daily_rate=Decimal(rate),
                    monthly_fixed_cost=Decimal("2500.00") if pillar is Pillar.WOHNHEIM else None,
                ),
            )
            sites.append((site_id, pillar, district))
    halls = []
    for i, name in enumerate(
        ("Sporthalle Fröbelstraße", "Turnhalle Kestnerstraße", "Schulzentrum Ahlem")
    ):
        site_id = uuid.uuid4()
        emit(
            date(2015, 9, 1) + timedelta(days=7 * i),
            ho.ShelterOpened(
                site_id=site_id,
                name=name,
                pillar=Pillar.NOTUNTERKUNFT,
                district=(10, 1, 10)[i],
                operator="DRK",
                capacity=80,
                daily_rate=Decimal("31.00"),
            ),
        )
        halls.append(site_id)
        sites.append((site_id, Pillar.NOTUNTERKUNFT, (10, 1, 10)[i]))
    emit(
        date(2016, 6, 1),
        ho.ShelterRateChanged(
            site_id=sites[0][0],
            daily_rate=Decimal("26.00"),
            monthly_fixed_cost=Decimal("2500.00"),
            valid_from=date(2016, 7, 1),
        ),
    )
    planned = uuid.uuid4()
    emit(
        date(2016, 8, 1),
        ho.ShelterPlanned(
            site_id=planned,
            name="Wohnprojekt Mühlenberg",
            pillar=Pillar.WOHNPROJEKT,
            district=9,
            planned_capacity=120,
            planned_opening_on=date(2016, 12, 1),
        ),
    )
    residents: list[tuple[uuid.UUID, uuid.UUID, int, date]] = []
    day = start
    while day <= AS_OF:
        weekly = 20 if day < date(2015, 8, 1) else 70 if day < date(2016, 3, 1) else 25
        for _ in range(weekly // 3):
            persons = rng.randint(1, 5)
            household = uuid.uuid4()
            emit(
                day,
                al.RefugeeAssigned(
                    household_id=household,
                    land_reference_pseudonym=household.hex * 2,
                    household_size=persons,
                    members=[
                        al.Member(
                            person_id=uuid.uuid4(),
                            age_band=rng.choice(list(AgeBand)),
                            gender=rng.choice([Gender.FEMALE, Gender.MALE, Gender.MALE]),
                            country_of_origin=rng.choice(
                                ["SYR", "SYR", "AFG", "IRQ", "ERI", "IRN"]
                            ),
                            unaccompanied_minor=False,
                        )
                        for _ in range(persons)
                    ],
                    expected_arrival_at=datetime.combine(day, time(12), tzinfo=UTC),
                ),
            )
            open_sites = [
                s for s in sites if s[1] is not Pillar.NOTUNTERKUNFT or day >= date(2015, 9, 22)
            ]
            site_id, _, district = rng.choice(open_sites)
            arrival = day + timedelta(days=2)
            emit(
                arrival,
                ho.OccupantCheckedIn(site_id=site_id, household_id=household, persons=persons),
            )
            residents.append((household, site_id, persons, arrival))
            if rng.random() < 0.3:
                case = uuid.uuid4()
                emit(
                    arrival,
                    it.CaseOpened(
                        case_id=case,
                        household_id=household,
                        district=district,
                        focus_areas=[it.FocusArea.HOUSING],
                    ),
                )
                if rng.random() < 0.5:
                    emit(
                        arrival + timedelta(days=60),
                        it.MilestoneReached(
                            case_id=case,
                            household_id=household,
                            milestone=rng.choice(PLAIN_MILESTONES),
                            reached_on=arrival + timedelta(days=60),
                            persons=1,
                        ),
                    )
        for household, site_id, persons, since in list(residents):
            if (day - since).days > 120 and rng.random() < 0.04 and site_id not in halls:
                emit(
                    day,
                    ho.OccupantCheckedOut(
                        site_id=site_id,
                        household_id=household,
                        persons=persons,
                        reason=ho.CheckOutReason.MOVED_OUT,
                    ),
                )
                residents.remove((household, site_id, persons, since))
        day += timedelta(days=7)
    for hall in halls[:2]:
        for household, _site, persons, _since in [r for r in residents if r[1] == hall]:
            emit(
                date(2016, 5, 2),
                ho.OccupantCheckedOut(
                    site_id=hall,
                    household_id=household,
                    persons=persons,
                    reason=ho.CheckOutReason.RELOCATED,
                ),
            )
        emit(
            date(2016, 5, 2),
            ho.ShelterClosing(
                site_id=hall, reason=ho.ClosingReason.BUILDING_NEEDED, closes_on=date(2016, 5, 9)
            ),
        )
        emit(date(2016, 5, 9), ho.ShelterClosed(site_id=hall))
    for i in range(60):
        volunteer = uuid.uuid4()
        emit(
            date(2015, 10, 1) + timedelta(days=i),
            vo.VolunteerRegistered(
                volunteer_id=volunteer,
                districts=[rng.randint(1, 13)],
                languages=["de", "ar"],
                skills=[Skill.TRANSLATION],
                hours_per_week=3,
                mso=rng.random() < 0.2,
            ),
        )
        emit(
            date(2015, 11, 1) + timedelta(days=i),
            vo.VolunteerVetted(volunteer_id=volunteer, certificate_valid_until=date(2020, 1, 1)),
        )
    return out
