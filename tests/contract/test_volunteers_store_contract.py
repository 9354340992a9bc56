"""The in-memory volunteers store keeps ``VolunteersStore``'s promises: the same scenarios
run against ``InMemoryVolunteersStore`` and ``PgVolunteersStore`` on a fresh database with
the service's migrations (that half is marked integration by its ``database`` fixture)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import pytest
import volunteers
from ankommen_contracts import Skill
from ankommen_contracts.events.volunteers import MatchEndReason
from ankommen_runtime.db import RUNTIME_MIGRATIONS, create_pool, migrate
from fakes.volunteers import InMemoryVolunteersStore
from volunteers.districts import load
from volunteers.domain import (
    Contact,
    HoursEntry,
    Initiative,
    InitiativeKind,
    Match,
    MatchStatus,
    RequestSource,
    RequestStatus,
    SupportRequest,
    Volunteer,
    VolunteerStatus,
    Weekday,
)
from volunteers.store import PgVolunteersStore, VolunteersStore

MIGRATIONS = Path(volunteers.__file__).parent / "migrations"
TODAY = date(2016, 11, 15)
REACHES_9 = load().reachable(9)  # Ricklingen and its neighbours


class Backend(Protocol):
    store: VolunteersStore

    async def hours_of(self, volunteer_id: uuid.UUID) -> float: ...


class Memory:
    def __init__(self) -> None:
        self.store = InMemoryVolunteersStore()

    async def hours_of(self, volunteer_id: uuid.UUID) -> float:
        return sum(e.hours for e in self.store.hours if e.volunteer_id == volunteer_id)


@dataclass
class Postgres:
    pool: asyncpg.Pool

    def __post_init__(self) -> None:
        self.store = PgVolunteersStore(self.pool)

    async def hours_of(self, volunteer_id: uuid.UUID) -> float:
        return await self.store.hours_of(volunteer_id)


def ordered_ids(n: int) -> list[uuid.UUID]:
    return sorted(uuid.uuid4() for _ in range(n))


def a_volunteer(**fields: Any) -> Volunteer:
    given: dict[str, Any] = {
        "volunteer_id": uuid.uuid4(),
        "contact": Contact("Heike Brandt", "heike@example.org", "0511 987654"),
        "skills": frozenset({Skill.LANGUAGE_TUTORING, Skill.ACCOMPANIMENT}),
        "languages": ("de", "ar"),
        "districts": frozenset({9}),
        "weekdays": frozenset({Weekday.TUE, Weekday.THU}),
        "hours_per_week": 4,
        "registered_on": date(2016, 1, 10),
    }
    return Volunteer(**(given | fields))


def a_request(**fields: Any) -> SupportRequest:
    given: dict[str, Any] = {
        "request_id": uuid.uuid4(),
        "kind": Skill.LANGUAGE_TUTORING,
        "district": 9,
        "languages": ("ar",),
        "hours_per_week": 2,
        "involves_children": False,
        "requested_on": date(2016, 11, 1),
        "source": RequestSource.INTEGRATION,
    }
    return SupportRequest(**(given | fields))


def a_match(volunteer: Volunteer, request: SupportRequest, **fields: Any) -> Match:
    given: dict[str, Any] = {
        "match_id": uuid.uuid4(),
        "request_id": request.request_id,
        "volunteer_id": volunteer.volunteer_id,
        "district": request.district,
        "skill": request.kind,
        "involves_children": request.involves_children,
        "hours_per_week": request.hours_per_week,
        "matched_on": date(2016, 11, 2),
        "score": 87.5,
    }
    return Match(**(given | fields))


async def a_volunteer_comes_back_as_registered_without_events(b: Backend) -> None:
    initiative = Initiative(uuid.uuid4(), "Unterstützerkreis Ricklingen",
                            InitiativeKind.SUPPORT_CIRCLE, frozenset({9}))  # fmt: skip
    await b.store.add_initiative(initiative)
    volunteer = a_volunteer(mso=True, initiative_id=initiative.initiative_id)
    volunteer.events.append(object())  # type: ignore[arg-type]
    assert await b.store.get_volunteer(volunteer.volunteer_id) is None
    await b.store.add_volunteer(volunteer)
    got = await b.store.get_volunteer(volunteer.volunteer_id, for_update=True)
    assert got == volunteer
    assert got is not None
    assert got.events == []


async def saving_a_volunteer_writes_back_only_what_may_change(b: Backend) -> None:
    volunteer = a_volunteer()
    await b.store.save_volunteer(volunteer)
    assert await b.store.get_volunteer(volunteer.volunteer_id) is None, "save adds nothing"
    await b.store.add_volunteer(volunteer)
    changed = replace(
        volunteer,
        committed_hours=3,
        status=VolunteerStatus.PAUSED,
        paused_until=date(2016, 12, 1),
        certificate_issued_on=date(2016, 10, 1),
        certificate_valid_until=date(2021, 10, 1),
        hours_per_week=10,  # the offer itself is not rewritten by a save
        contact=Contact("Someone else"),
    )
    await b.store.save_volunteer(changed)
    assert await b.store.get_volunteer(volunteer.volunteer_id) == replace(
        changed, hours_per_week=4, contact=volunteer.contact
    )
    withdrawn = replace(changed, status=VolunteerStatus.WITHDRAWN, withdrawn_on=TODAY)
    await b.store.save_volunteer(withdrawn)
    got = await b.store.get_volunteer(volunteer.volunteer_id)
    assert got is not None
    assert (got.status, got.withdrawn_on) == (VolunteerStatus.WITHDRAWN, TODAY)


async def locking_volunteers_gives_the_known_ones_by_id(b: Backend) -> None:
    first, second = (a_volunteer(volunteer_id=i) for i in ordered_ids(2))
    for v in (second, first):
        await b.store.add_volunteer(v)
    locked = await b.store.lock_volunteers([second.volunteer_id, uuid.uuid4(), first.volunteer_id])
    assert locked == {first.volunteer_id: first, second.volunteer_id: second}
    assert await b.store.lock_volunteers([]) == {}


async def candidates_are_who_qualifies_best_score_first_ties_by_id(b: Backend) -> None:
    tie_a, tie_b, tie_c = ordered_ids(3)
    best = a_volunteer(languages=("ar", "de"), mso=True)  # here, first language, MSO
    here = [a_volunteer(volunteer_id=tie_b), a_volunteer(volunteer_id=tie_a)]  # equal
    neighbour = a_volunteer(districts=frozenset({10}))  # a neighbouring Stadtbezirk
    loaded = a_volunteer(committed_hours=1)  # less time left after the match
    # the request names no day: a volunteer free on Saturdays only fits as well
    other_day = a_volunteer(volunteer_id=tie_c, weekdays=frozenset({Weekday.SAT}))
    excluded = [
        a_volunteer(status=VolunteerStatus.PAUSED),
        a_volunteer(skills=frozenset({Skill.TRANSLATION})),
        a_volunteer(languages=("de", "fa")),
        a_volunteer(districts=frozenset({1})),  # not next to 9
        a_volunteer(committed_hours=3),  # 1 free hour, 2 needed
    ]
    for v in (best, *here, neighbour, loaded, other_day, *excluded):
        await b.store.add_volunteer(v)
    request = a_request()
    found, qualified = await b.store.candidates(request, REACHES_9, TODAY, 10)
    assert qualified == 6
    assert [v.volunteer_id for v in found] == [
        best.volunteer_id, tie_a, tie_b, tie_c, loaded.volunteer_id, neighbour.volunteer_id,
    ]  # fmt: skip
    assert {v.contact for v in found} == {Contact("")}, "candidates carry no contact details"
    top, still = await b.store.candidates(request, REACHES_9, TODAY, 2)
    assert ([v.volunteer_id for v in top], still) == ([best.volunteer_id, tie_a], 6)
    on_tuesday = a_request(weekdays=frozenset({Weekday.TUE}))
    found, qualified = await b.store.candidates(on_tuesday, REACHES_9, TODAY, 10)
    assert other_day.volunteer_id not in {v.volunteer_id for v in found}
    assert qualified == 5


async def work_with_children_needs_a_certificate_valid_that_day(b: Backend) -> None:
    valid = a_volunteer(skills=frozenset({Skill.CHILDCARE}),
                        certificate_valid_until=TODAY)  # fmt: skip
    lapsed = a_volunteer(skills=frozenset({Skill.CHILDCARE}),
                         certificate_valid_until=TODAY - timedelta(days=1))  # fmt: skip
    never = a_volunteer(skills=frozenset({Skill.CHILDCARE}))
    for v in (valid, lapsed, never):
        await b.store.add_volunteer(v)
    request = a_request(kind=Skill.CHILDCARE, involves_children=True)
    found, qualified = await b.store.candidates(request, REACHES_9, TODAY, 10)
    assert ([v.volunteer_id for v in found], qualified) == ([valid.volunteer_id], 1)
    assert found[0].certificate_valid_until == TODAY
    assert await b.store.candidates(a_request(district=3), load().reachable(3), TODAY, 10) == (
        [],
        0,
    )


async def an_initiative_is_kept_and_its_links_change(b: Backend) -> None:
    initiative = Initiative(uuid.uuid4(), "MSO Hannover", InitiativeKind.MSO, frozenset({9}))
    assert await b.store.get_initiative(initiative.initiative_id) is None
    await b.store.add_initiative(initiative)
    assert await b.store.get_initiative(initiative.initiative_id) == initiative
    relinked = replace(initiative, districts=frozenset({9, 10}), site_ids=frozenset({uuid.uuid4()}))
    await b.store.save_initiative(relinked)
    assert await b.store.get_initiative(initiative.initiative_id, for_update=True) == relinked


async def a_request_is_kept_once_and_its_status_changes(b: Backend) -> None:
    request = a_request(weekdays=frozenset({Weekday.MON}), case_id=uuid.uuid4())
    assert await b.store.get_request(request.request_id) is None
    assert await b.store.add_request(request) is True
    assert await b.store.add_request(replace(request, district=3)) is False, "a repeat"
    assert await b.store.get_request(request.request_id) == request
    matched = replace(request, status=RequestStatus.MATCHED, flagged_overdue_on=TODAY)
    await b.store.save_request(matched)
    assert await b.store.get_request(request.request_id, for_update=True) == matched


async def a_cases_requests_not_closed_and_named_requests_are_locked_by_id(b: Backend) -> None:
    case = uuid.uuid4()
    first, second, closed = (a_request(request_id=i, case_id=case) for i in ordered_ids(3))
    closed.status = RequestStatus.CLOSED
    others = a_request(case_id=uuid.uuid4())
    for r in (second, closed, first, others):
        await b.store.add_request(r)
    assert await b.store.lock_requests_of_case(case) == [first, second]
    assert await b.store.lock_requests_of_case(uuid.uuid4()) == []
    locked = await b.store.lock_requests([closed.request_id, uuid.uuid4(), first.request_id])
    assert locked == {first.request_id: first, closed.request_id: closed}


async def requests_open_too_long_are_flagged_once(b: Backend) -> None:
    cutoff = date(2016, 11, 1)
    old = a_request(requested_on=date(2016, 10, 20))
    on_the_day = a_request(requested_on=cutoff)
    matched = a_request(requested_on=date(2016, 10, 1), status=RequestStatus.MATCHED)
    flagged = a_request(requested_on=date(2016, 10, 1), flagged_overdue_on=date(2016, 10, 16))
    for r in (old, on_the_day, matched, flagged):
        await b.store.add_request(r)
    assert await b.store.flag_overdue(cutoff, TODAY) == [old.request_id]
    assert await b.store.flag_overdue(cutoff, TODAY) == []
    got = await b.store.get_request(old.request_id)
    assert got is not None
    assert got.flagged_overdue_on == TODAY
    still = await b.store.get_request(flagged.request_id)
    assert still is not None
    assert still.flagged_overdue_on == date(2016, 10, 16)


async def matches_are_kept_and_running_ones_found_by_volunteer_or_request(b: Backend) -> None:
    one, two = a_volunteer(), a_volunteer()
    r1, r2, r3 = a_request(), a_request(), a_request()
    for v in (one, two):
        await b.store.add_volunteer(v)
    for r in (r1, r2, r3):
        await b.store.add_request(r)
    ids = ordered_ids(4)
    m1 = a_match(one, r1, match_id=ids[2])
    m2 = a_match(one, r2, match_id=ids[0])
    m3 = a_match(two, r3, match_id=ids[1])
    done = a_match(two, r1, match_id=ids[3], status=MatchStatus.ENDED, ended_on=TODAY,
                   end_reason=MatchEndReason.COMPLETED)  # fmt: skip
    assert await b.store.get_match(m1.match_id) is None
    for m in (m1, m2, m3, done):
        await b.store.add_match(m)
    assert await b.store.get_match(done.match_id) == done
    assert await b.store.active_matches() == [m2, m3, m1]
    assert await b.store.active_matches(volunteer_id=one.volunteer_id, for_update=True) == [m2, m1]
    assert await b.store.active_matches(request_ids=[r1.request_id, r3.request_id]) == [m3, m1]
    assert await b.store.active_matches(volunteer_id=two.volunteer_id,
                                        request_ids=[r1.request_id]) == []  # fmt: skip
    ended = replace(m1, status=MatchStatus.ENDED, ended_on=TODAY,
                    end_reason=MatchEndReason.VOLUNTEER_WITHDREW, score=1.0)  # fmt: skip
    await b.store.save_matches([ended])
    assert await b.store.get_match(m1.match_id, for_update=True) == replace(ended, score=87.5)
    assert await b.store.active_matches() == [m2, m3]


async def matches_with_children_end_when_the_certificate_no_longer_counts(b: Backend) -> None:
    valid = a_volunteer(certificate_valid_until=TODAY)
    lapsed = a_volunteer(certificate_valid_until=TODAY - timedelta(days=1))
    never = a_volunteer()
    for v in (valid, lapsed, never):
        await b.store.add_volunteer(v)
    children = [a_request(kind=Skill.CHILDCARE, involves_children=True) for _ in range(4)]
    adults = a_request()
    for r in (*children, adults):
        await b.store.add_request(r)
    ids = ordered_ids(5)
    expired = [
        a_match(never, children[0], match_id=ids[3]),
        a_match(lapsed, children[1], match_id=ids[1]),
    ]
    fine = [
        a_match(valid, children[2], match_id=ids[0]),
        a_match(lapsed, adults, match_id=ids[2]),
        a_match(never, children[3], match_id=ids[4], status=MatchStatus.ENDED, ended_on=TODAY,
                end_reason=MatchEndReason.COMPLETED),
    ]  # fmt: skip
    for m in (*expired, *fine):
        await b.store.add_match(m)
    assert await b.store.expired_children_matches(TODAY, 10) == [expired[1], expired[0]]
    assert await b.store.expired_children_matches(TODAY, 1) == [expired[1]]


async def hours_helped_are_kept(b: Backend) -> None:
    volunteer, other = a_volunteer(), a_volunteer()
    await b.store.add_volunteer(volunteer)
    await b.store.add_volunteer(other)
    await b.store.add_hours(
        [HoursEntry(uuid.uuid4(), volunteer.volunteer_id, None, 9, date(2016, 11, 1), 1.5)]
    )
    sheet = [  # a sheet's lines, kept together
        HoursEntry(uuid.uuid4(), volunteer.volunteer_id, None, 9, date(2016, 11, 8), 2.25),
        HoursEntry(uuid.uuid4(), other.volunteer_id, None, 3, date(2016, 11, 8), 0.75),
        HoursEntry(uuid.uuid4(), volunteer.volunteer_id, None, 9, date(2016, 11, 9), 1.0),
    ]
    await b.store.add_hours(sheet)
    await b.store.add_hours([])  # an empty sheet keeps nothing
    assert await b.hours_of(volunteer.volunteer_id) == 4.75
    assert await b.hours_of(other.volunteer_id) == 0.75
    assert await b.hours_of(uuid.uuid4()) == 0


async def matches_are_read_together_by_id(b: Backend) -> None:
    one = a_volunteer()
    await b.store.add_volunteer(one)
    r1, r2 = a_request(), a_request()
    for r in (r1, r2):
        await b.store.add_request(r)
    m1, m2 = a_match(one, r1), a_match(one, r2)
    for m in (m1, m2):
        await b.store.add_match(m)
    unknown = uuid.uuid4()
    got = await b.store.get_matches([m2.match_id, unknown, m1.match_id, m2.match_id])
    assert got == {m1.match_id: await b.store.get_match(m1.match_id),
                   m2.match_id: await b.store.get_match(m2.match_id)}  # fmt: skip
    assert await b.store.get_matches([]) == {}


SCENARIOS: list[Callable[[Backend], Awaitable[None]]] = [
    a_volunteer_comes_back_as_registered_without_events,
    saving_a_volunteer_writes_back_only_what_may_change,
    locking_volunteers_gives_the_known_ones_by_id,
    candidates_are_who_qualifies_best_score_first_ties_by_id,
    work_with_children_needs_a_certificate_valid_that_day,
    an_initiative_is_kept_and_its_links_change,
    a_request_is_kept_once_and_its_status_changes,
    a_cases_requests_not_closed_and_named_requests_are_locked_by_id,
    requests_open_too_long_are_flagged_once,
    matches_are_kept_and_running_ones_found_by_volunteer_or_request,
    matches_with_children_end_when_the_certificate_no_longer_counts,
    hours_helped_are_kept,
    matches_are_read_together_by_id,
]


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database, min_size=1, max_size=2)
    await migrate(pool, [("runtime", RUNTIME_MIGRATIONS), ("volunteers", MIGRATIONS)])
    yield pool
    await pool.close()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_the_in_memory_volunteers_store(
    scenario: Callable[[Backend], Awaitable[None]],
) -> None:
    await scenario(Memory())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_the_volunteers_store_on_postgres(
    scenario: Callable[[Backend], Awaitable[None]], pool: asyncpg.Pool
) -> None:
    await scenario(Postgres(pool))
