"""The store's candidate query on real PostgreSQL applies exactly the domain's rules and
ranks by exactly the domain's score: its top proposals equal the domain ranking everyone."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from pathlib import Path

from ankommen_contracts import Skill
from ankommen_runtime.db import RUNTIME_MIGRATIONS, create_pool, migrate
from volunteers import handlers
from volunteers.districts import load
from volunteers.domain import (
    Contact,
    RequestSource,
    SupportRequest,
    Volunteer,
    VolunteerStatus,
    Weekday,
    rank,
)
from volunteers.store import PgVolunteersStore

TODAY = date(2016, 11, 15)
MIGRATIONS = Path(handlers.__file__).parent / "migrations"
LANGUAGES = ("de", "ar", "fa", "ku", "ti", "en")


def _volunteer(rng: random.Random) -> Volunteer:
    hours = rng.randint(1, 8)
    v = Volunteer(
        volunteer_id=uuid.UUID(int=rng.getrandbits(128)),
        contact=Contact("x"),
        skills=frozenset(rng.sample(list(Skill), rng.randint(1, 4))),
        languages=tuple(rng.sample(LANGUAGES, rng.randint(1, 3))),
        districts=frozenset(rng.sample(range(1, 14), rng.randint(1, 4))),
        weekdays=frozenset(rng.sample(list(Weekday), rng.randint(1, 7))),
        hours_per_week=hours,
        committed_hours=rng.randint(0, hours),
        registered_on=TODAY,
        mso=rng.random() < 0.3,
        status=rng.choice(list(VolunteerStatus)),
    )
    if rng.random() < 0.5:
        v.certificate_valid_until = TODAY + timedelta(days=rng.randint(-30, 30))
    return v


def _request(rng: random.Random) -> SupportRequest:
    kind = rng.choice(list(Skill))
    return SupportRequest(
        request_id=uuid.uuid4(),
        kind=kind,
        district=rng.randint(1, 13),
        languages=tuple(rng.sample(LANGUAGES, rng.randint(1, 2))),
        weekdays=frozenset(rng.sample(list(Weekday), rng.randint(0, 4))),
        hours_per_week=rng.randint(1, 3),
        involves_children=kind.involves_children or rng.random() < 0.3,
        requested_on=TODAY,
        source=RequestSource.COORDINATOR,
    )


async def test_the_databases_top_proposals_equal_the_domain_ranking_everyone(
    database: str,
) -> None:
    rng = random.Random(17)
    neighbourhood = load()
    pool = await create_pool(database)
    try:
        await migrate(pool, [("runtime", RUNTIME_MIGRATIONS), ("volunteers", MIGRATIONS)])
        async with pool.acquire() as conn:
            await PgVolunteersStore(conn).add_volunteers([_volunteer(rng) for _ in range(1_000)])
        everyone = await PgVolunteersStore(pool).all_volunteers()
        compared = with_proposals = 0
        for _ in range(120):
            request = _request(rng)
            async with pool.acquire() as conn:
                await PgVolunteersStore(conn).add_request(request)
            _, ranking, qualified = await handlers.propose(
                PgVolunteersStore(pool), request.request_id, neighbourhood, TODAY, 10
            )
            naive = rank(request, everyone, neighbourhood, TODAY, 10)
            assert [(p.volunteer_id, p.hundredths) for p in ranking.proposals] == [
                (p.volunteer_id, p.hundredths) for p in naive.proposals
            ], request
            assert qualified == naive.considered - sum(naive.excluded.values())
            assert ranking.excluded == {}, "the database let through only who qualifies"
            compared += 1
            with_proposals += bool(naive.proposals)
        assert compared == 120
        assert with_proposals > 40, "the data gives most requests someone to propose"
    finally:
        await pool.close()
