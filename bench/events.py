"""Synthetic events for the benchmarks: real contract models, about 1 KB each on the wire."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from ankommen_contracts import EventData, Pillar, encode, new_envelope
from ankommen_contracts.events import allocation as al
from ankommen_contracts.events import housing as ho
from ankommen_contracts.pseudonym import land_reference_pseudonym

# A household of three encodes to ~1,000 bytes: the "1 KB events".
HOUSEHOLD = 3
AGE_BANDS = list(al.AgeBand)
GENDERS = [al.Gender.FEMALE, al.Gender.MALE]
ORIGINS = ["SYR", "AFG", "IRQ", "ERI", "IRN"]


def assignment(week: int, index: int, quota_period: uuid.UUID) -> al.RefugeeAssigned:
    """One household the Land assigned in ``week`` (a weekly batch is one transaction)."""
    members = [
        al.Member(
            person_id=uuid.uuid4(),
            age_band=AGE_BANDS[(index + i) % len(AGE_BANDS)],
            gender=GENDERS[(index + i) % 2],
            country_of_origin=ORIGINS[index % len(ORIGINS)],
            unaccompanied_minor=False,
        )
        for i in range(HOUSEHOLD)
    ]
    return al.RefugeeAssigned(
        household_id=uuid.uuid4(),
        land_reference_pseudonym=land_reference_pseudonym(
            f"NI-2016-KW{week:03d}-{index:06d}", key=b"bench-pseudonym-key-bench-pseudonym-key"
        ),
        quota_period_id=quota_period,
        household_size=HOUSEHOLD,
        members=members,
        expected_arrival_at=datetime(2016, 1, 4, 8, 0, tzinfo=UTC) + timedelta(weeks=week),
    )


def kilobyte_event() -> bytes:
    """An encoded RefugeeAssigned envelope padded to exactly 1,024 bytes (raw ceilings)."""
    env = new_envelope(assignment(1, 1, uuid.uuid4()), sequence=1, correlation_id=uuid.uuid4())
    raw = encode(env)
    return raw + b" " * max(0, 1024 - len(raw))  # JSON allows trailing whitespace


def opened_site(rng: random.Random, site_id: uuid.UUID, index: int) -> ho.ShelterOpened:
    return ho.ShelterOpened(
        site_id=site_id,
        name=f"Benchmark-Unterkunft {index}",
        pillar=rng.choice(list(Pillar)),
        district=rng.randint(1, 13),
        operator=rng.choice(["DRK", "Johanniter", "Malteser", "AWO"]),
        capacity=rng.randint(40, 400),
    )


def site_history(rng: random.Random, index: int) -> list[EventData]:
    """Ten events of one site's life, as reporting folds them (see REBUILD_EVENTS_PER_SITE).

    Opened, grown, places blocked, three reservations of which one is released, two
    check-ins, one check-out: every handler of reporting's capacity view is exercised.
    """
    site_id = uuid.uuid4()
    opened = opened_site(rng, site_id, index)
    capacity = opened.capacity + rng.randint(0, 50)
    expires = datetime.now(UTC) + timedelta(days=2)
    households = [uuid.uuid4() for _ in range(3)]
    reservations = [uuid.uuid4() for _ in range(3)]
    sizes = [rng.randint(1, 6) for _ in range(3)]
    reasons = ho.CapacityChangeReason
    return [
        opened,
        ho.ShelterCapacityChanged(
            site_id=site_id, capacity=capacity, blocked_places=0, reason=reasons.EXPANDED
        ),
        ho.ShelterCapacityChanged(
            site_id=site_id,
            capacity=capacity,
            blocked_places=rng.randint(0, 10),
            reason=reasons.PLACES_BLOCKED,
        ),
        *(
            ho.BedReserved(
                site_id=site_id,
                reservation_id=r,
                household_id=h,
                places=n,
                expires_at=expires,
            )
            for r, h, n in zip(reservations, households, sizes, strict=True)
        ),
        ho.ReservationReleased(
            site_id=site_id,
            reservation_id=reservations[2],
            household_id=households[2],
            places=sizes[2],
            reason=ho.ReleaseReason.EXPIRED,
        ),
        *(
            ho.OccupantCheckedIn(site_id=site_id, household_id=h, reservation_id=r, persons=n)
            for r, h, n in zip(reservations[:2], households[:2], sizes[:2], strict=True)
        ),
        ho.OccupantCheckedOut(
            site_id=site_id,
            household_id=households[1],
            persons=sizes[1],
            reason=ho.CheckOutReason.RELOCATED,
        ),
    ]


REBUILD_EVENTS_PER_SITE = 10


def encoded_histories(sites: int, seed: int = 2088) -> Iterator[tuple[bytes, bytes, list[Any]]]:
    """(key, value, headers) of ``sites`` site histories, each site's events in order.

    Sites progress at random, as in a live stream: the next event comes from a random site
    that has events left, so the event types are mixed, not grouped.
    """
    rng = random.Random(seed)
    histories = [site_history(rng, i) for i in range(sites)]
    correlation = uuid.uuid4()
    position = [0] * sites
    active = list(range(sites))
    while active:
        pick = rng.randrange(len(active))
        site = active[pick]
        step = position[site]
        env = new_envelope(histories[site][step], sequence=step + 1, correlation_id=correlation)
        yield env.subject.encode(), encode(env), env.kafka_headers()
        position[site] += 1
        if position[site] == REBUILD_EVENTS_PER_SITE:
            active[pick] = active[-1]
            active.pop()
