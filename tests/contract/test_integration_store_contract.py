"""The in-memory integration store keeps ``IntegrationStore``'s promises: the same scenarios
run against ``InMemoryIntegrationStore`` and ``PgIntegrationStore`` on a fresh database with
integration's migrations (that half is marked integration by its ``database`` fixture)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import integration
import pytest
from ankommen_contracts import Pillar, Skill
from ankommen_contracts.events.integration import (
    CaseCloseReason,
    DistrictStructure,
    GermanLevel,
    Independence,
    LanguageLevel,
    Milestone,
    MoveOutTarget,
    ResidenceProspects,
    ResidenceStatus,
    TimeSlot,
    Weekday,
)
from ankommen_runtime.db import RUNTIME_MIGRATIONS, create_pool, migrate
from fakes.integration import InMemoryIntegrationStore
from integration.domain import (
    Case,
    CaseStatus,
    Handover,
    MilestoneRecord,
    MoveOut,
    Person,
    Readiness,
    SiteRef,
    SupportRequest,
)
from integration.store import CasesInHand, IntegrationStore, PgIntegrationStore

MIGRATIONS = Path(integration.__file__).parent / "migrations"
DAY = date(2016, 3, 14)


class Backend(Protocol):
    store: IntegrationStore

    async def support_requests(self, case_id: uuid.UUID) -> list[SupportRequest]: ...
    async def people(self, case_id: uuid.UUID) -> list[Person]: ...
    async def erasures(
        self,
    ) -> list[tuple[uuid.UUID, list[uuid.UUID], str, date, int, str | None]]: ...


class Memory:
    def __init__(self) -> None:
        self.store = InMemoryIntegrationStore()

    async def support_requests(self, case_id: uuid.UUID) -> list[SupportRequest]:
        return [r for r in self.store.support_requests if r.case_id == case_id]

    async def people(self, case_id: uuid.UUID) -> list[Person]:
        return [p for p in self.store.people.values() if p.case_id == case_id]

    async def erasures(self) -> list[tuple[uuid.UUID, list[uuid.UUID], str, date, int, str | None]]:
        return [
            (e.household_id, e.person_ids, e.reason, e.on, e.erased, e.by)
            for e in self.store.erasures
        ]


@dataclass
class Postgres:
    pool: asyncpg.Pool

    def __post_init__(self) -> None:
        self.store = PgIntegrationStore(self.pool)

    async def support_requests(self, case_id: uuid.UUID) -> list[SupportRequest]:
        return await self.store.list_support_requests(case_id)

    async def people(self, case_id: uuid.UUID) -> list[Person]:
        return await self.store.list_people(case_id)

    async def erasures(self) -> list[tuple[uuid.UUID, list[uuid.UUID], str, date, int, str | None]]:
        rows = await self.pool.fetch(
            """SELECT household_id, person_ids, reason, requested_on, erased, requested_by
               FROM erasures ORDER BY recorded_at, erasure_id"""
        )
        return [tuple(r.values()) for r in rows]  # type: ignore[misc]


def a_case(household: uuid.UUID | None = None, **fields: Any) -> Case:
    return Case(
        case_id=fields.pop("case_id", uuid.uuid4()),
        household_id=household or uuid.uuid4(),
        persons=fields.pop("persons", 3),
        district=fields.pop("district", 9),
        team_id=fields.pop("team_id", "im-ricklingen"),
        opened_on=fields.pop("opened_on", DAY),
        **fields,
    )


def closed(case: Case, on: date) -> Case:
    return replace(case, status=CaseStatus.CLOSED, closed_on=on,
                   close_reason=CaseCloseReason.GOALS_REACHED)  # fmt: skip


def a_person(case: Case, family_name: str = "Haddad") -> Person:
    return Person(uuid.uuid4(), case.case_id, case.household_id, "Amal", family_name,
                  date(1990, 5, 1), "0511 123456", "amal@example.org")  # fmt: skip


async def a_site_is_remembered_and_a_later_word_overwrites_it(b: Backend) -> None:
    site_id = uuid.uuid4()
    assert await b.store.get_site(site_id) is None
    await b.store.save_site(SiteRef(site_id, 9, Pillar.WOHNHEIM))
    await b.store.save_site(SiteRef(site_id, 3, Pillar.WOHNPROJEKT))
    assert await b.store.get_site(site_id) == SiteRef(site_id, 3, Pillar.WOHNPROJEKT)


async def a_case_comes_back_as_saved_without_its_events(b: Backend) -> None:
    site = uuid.uuid4()
    case = a_case(
        site_id=site,
        site_pillar=Pillar.WOHNHEIM,
        site_since=datetime(2016, 3, 14, 8, 0, tzinfo=UTC),
        social_worker="staff-7f3a",
        language_level=LanguageLevel.B1,
        residence_status=ResidenceStatus.PROTECTION_GRANTED,
        readiness=Readiness(Pillar.WOHNUNG, True, Independence.HIGH, GermanLevel.B1,
                            ResidenceProspects.GOOD, DAY, "ready for a flat"),
        move_out=MoveOut(MoveOutTarget.SOCIAL_HOUSING, 3, site, date(2016, 4, 1)),
        handover=Handover(DistrictStructure.STADTTEILZENTRUM, "Stadtteilzentrum Ricklingen",
                          9, DAY),
    )  # fmt: skip
    case.events.append(object())  # type: ignore[arg-type]
    assert await b.store.get_case(case.case_id) is None, "not found before it is added"
    await b.store.add_case(case)
    got = await b.store.get_case(case.case_id, for_update=True)
    assert got == case
    assert got is not None
    assert got.events == []


async def saving_overwrites_a_kept_case_and_never_adds_one(b: Backend) -> None:
    case = a_case()
    await b.store.save_case(case)
    assert await b.store.get_case(case.case_id) is None, "saving an unknown case adds nothing"
    await b.store.add_case(case)
    case.social_worker = "staff-1"
    case.persons = 5
    assert (await b.store.get_case(case.case_id)) != case, "a change is not kept unsaved"
    await b.store.save_case(case)
    assert await b.store.get_case(case.case_id) == case


async def the_open_case_of_a_household_is_found_and_a_closed_one_is_not(b: Backend) -> None:
    household = uuid.uuid4()
    assert await b.store.get_open_case_of(household) is None
    old = closed(a_case(household, opened_on=date(2015, 1, 5)), date(2015, 6, 1))
    await b.store.add_case(old)
    assert await b.store.get_open_case_of(household) is None
    current = a_case(household)
    await b.store.add_case(current)
    await b.store.add_case(a_case())  # another household's
    assert await b.store.get_open_case_of(household, for_update=True) == current


async def open_cases_and_sites_read_ahead_answer_as_the_database_would(b: Backend) -> None:
    """``prefetch_cases_and_sites`` (a consumed batch's) changes no answer, also after the
    transaction wrote the rows another way; a case is handed out once, a site as often as
    asked."""
    moved, opened_later, closing = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    kept_site, renamed_site, new_site = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await b.store.save_site(SiteRef(kept_site, 9, Pillar.WOHNHEIM))
    await b.store.save_site(SiteRef(renamed_site, 3, Pillar.WOHNHEIM))
    case, ending = a_case(moved), a_case(closing)
    await b.store.add_case(case)
    await b.store.add_case(ending)
    await b.store.prefetch_cases_and_sites(
        [moved, opened_later, closing], [kept_site, renamed_site, new_site]
    )
    await b.store.save_site(SiteRef(renamed_site, 5, Pillar.WOHNPROJEKT))
    await b.store.save_site(SiteRef(new_site, 1, Pillar.WOHNUNG))
    later = a_case(opened_later)
    await b.store.add_case(later)
    await b.store.save_case(closed(ending, DAY))
    for _ in range(2):
        assert await b.store.get_site(kept_site) == SiteRef(kept_site, 9, Pillar.WOHNHEIM)
    assert await b.store.get_site(renamed_site) == SiteRef(renamed_site, 5, Pillar.WOHNPROJEKT)
    assert await b.store.get_site(new_site) == SiteRef(new_site, 1, Pillar.WOHNUNG)
    assert await b.store.get_open_case_of(opened_later, for_update=True) == later
    assert await b.store.get_open_case_of(closing, for_update=True) is None
    taken = await b.store.get_open_case_of(moved, for_update=True)
    assert taken == case
    assert taken is not None
    taken.persons = 7  # changed by its taker, not saved: the next reader reads the row
    assert await b.store.get_open_case_of(moved, for_update=True) == case


async def the_latest_case_is_the_open_one_else_the_last_opened(b: Backend) -> None:
    household = uuid.uuid4()
    assert await b.store.get_latest_case_of(household) is None
    first = closed(a_case(household, opened_on=date(2015, 1, 5)), date(2015, 3, 1))
    later = closed(a_case(household, opened_on=date(2015, 9, 1)), date(2015, 12, 1))
    await b.store.add_case(later)
    await b.store.add_case(first)
    assert await b.store.get_latest_case_of(household) == later
    same_day = sorted(
        (closed(a_case(household, opened_on=date(2016, 1, 4)), date(2016, 2, 1)) for _ in "ab"),
        key=lambda c: c.case_id,
    )
    for case in reversed(same_day):
        await b.store.add_case(case)
    assert await b.store.get_latest_case_of(household) == same_day[0], "ties: smallest id"
    still_open = a_case(household, opened_on=date(2014, 1, 1))
    await b.store.add_case(still_open)
    assert await b.store.get_latest_case_of(household) == still_open


async def closed_cases_past_retention_are_claimed_oldest_first_up_to_the_limit(
    b: Backend,
) -> None:
    before = date(2016, 1, 1)
    assert await b.store.claim_due_for_erasure(before, 10) == []
    due = [closed(a_case(), date(2015, m, 1)) for m in (6, 2, 11)]
    on_the_day = closed(a_case(), before)
    too_young = closed(a_case(), date(2016, 1, 2))
    erased = replace(closed(a_case(), date(2015, 1, 1)), details_erased_on=date(2015, 12, 1))
    for case in [*due, on_the_day, too_young, erased, a_case()]:
        await b.store.add_case(case)
    claimed = await b.store.claim_due_for_erasure(before, 10)
    assert [c.closed_on for c in claimed] == [
        date(2015, 2, 1), date(2015, 6, 1), date(2015, 11, 1), before
    ]  # fmt: skip
    assert [c.case_id for c in await b.store.claim_due_for_erasure(before, 2)] == [
        c.case_id for c in claimed[:2]
    ]


async def milestones_come_by_day_reached_then_in_the_order_recorded(b: Backend) -> None:
    case, other = a_case(), a_case()
    await b.store.add_case(case)
    await b.store.add_case(other)
    assert await b.store.list_milestones(case.case_id) == []

    def m(on: date, kind: Milestone = Milestone.SCHOOL, **more: Any) -> MilestoneRecord:
        return MilestoneRecord(uuid.uuid4(), case.case_id, kind, on, 1, **more)

    late = m(date(2016, 3, 1), Milestone.LANGUAGE_LEVEL, language_level=LanguageLevel.A2)
    early = m(date(2016, 1, 10), Milestone.RESIDENCE_STATUS,
              residence_status=ResidenceStatus.TOLERATED)  # fmt: skip
    first_same_day, second_same_day = m(date(2016, 2, 1)), m(date(2016, 2, 1), Milestone.KITA)
    for record in (late, first_same_day, early, second_same_day):
        await b.store.add_milestone(record)
    await b.store.add_milestone(replace(m(DAY), case_id=other.case_id))
    assert await b.store.list_milestones(case.case_id) == [
        early, first_same_day, second_same_day, late
    ]  # fmt: skip


async def cases_are_read_and_saved_together_as_one_by_one(b: Backend) -> None:
    first, second, never_added = a_case(), a_case(), a_case()
    for case in (first, second):
        case.events.append(object())  # type: ignore[arg-type]
        await b.store.add_case(case)
    got = await b.store.get_cases([second.case_id, never_added.case_id, first.case_id] * 2,
                                  for_update=True)  # fmt: skip
    assert got == {first.case_id: first, second.case_id: second}
    assert [c.events for c in got.values()] == [[], []]
    assert await b.store.get_cases([]) == {}
    first.social_worker, second.persons = "staff-2", 1
    await b.store.save_cases([first, second, never_added])
    assert await b.store.get_case(first.case_id) == first
    assert await b.store.get_case(second.case_id) == second
    assert await b.store.get_case(never_added.case_id) is None, "saving adds no case"


async def milestones_of_several_cases_come_each_in_its_order(b: Backend) -> None:
    case, other, none = a_case(), a_case(), a_case()
    for c in (case, other, none):
        await b.store.add_case(c)

    def m(of: Case, on: date, kind: Milestone = Milestone.SCHOOL) -> MilestoneRecord:
        return MilestoneRecord(uuid.uuid4(), of.case_id, kind, on, 1)

    late, early, theirs = m(case, date(2016, 3, 1)), m(case, DAY), m(other, DAY, Milestone.KITA)
    await b.store.add_milestones([late, theirs, early])
    await b.store.add_milestones([])
    assert await b.store.list_milestones_of([none.case_id, case.case_id, other.case_id]) == {
        none.case_id: [], case.case_id: [late, early], other.case_id: [theirs]
    }  # fmt: skip
    for c in (case, other, none):
        assert (await b.store.list_milestones_of([c.case_id]))[c.case_id] == (
            await b.store.list_milestones(c.case_id)
        )


async def a_casework_lists_cases_in_hand_answer_as_the_store_would(b: Backend) -> None:
    case, other, untaken = a_case(), a_case(), a_case()
    for c in (case, other, untaken):
        await b.store.add_case(c)
    early = MilestoneRecord(uuid.uuid4(), case.case_id, Milestone.SCHOOL, date(2016, 1, 4), 1)
    await b.store.add_milestone(early)
    in_hand = CasesInHand(b.store)
    await in_hand.take([other.case_id, case.case_id, uuid.uuid4()], with_milestones=[case.case_id])
    assert await in_hand.get_case(untaken.case_id) is None, "only the cases taken are known"

    changed = await in_hand.get_case(case.case_id, for_update=True)
    assert changed == case
    assert changed is not None
    changed.social_worker = "staff-9"
    changed.events.append(object())  # type: ignore[arg-type]
    await in_hand.save_case(changed)
    again = await in_hand.get_case(case.case_id)
    assert again == changed, "the next entry sees the case as the one before left it"
    assert again is not None
    assert again.events == [], "and does not publish the events of the one before"
    half_way = await in_hand.get_case(other.case_id)
    assert half_way is not None
    half_way.persons = 1  # refused before it was saved: nothing of it stays
    assert await in_hand.get_case(other.case_id) == other

    late = MilestoneRecord(uuid.uuid4(), case.case_id, Milestone.KITA, date(2016, 3, 1), 1)
    mid = MilestoneRecord(uuid.uuid4(), case.case_id, Milestone.KITA, date(2016, 2, 1), 1)
    await in_hand.add_milestone(late)
    await in_hand.add_milestone(mid)
    theirs = MilestoneRecord(uuid.uuid4(), other.case_id, Milestone.KITA, DAY, 1)
    await in_hand.add_milestone(theirs)  # milestones not taken: read when first asked
    assert await in_hand.list_milestones(case.case_id) == [early, mid, late]
    assert await b.store.get_case(case.case_id) == case, "nothing is written before write()"
    assert await b.store.list_milestones(case.case_id) == [early]

    await in_hand.write()
    assert await b.store.get_case(case.case_id) == changed
    assert await b.store.get_case(other.case_id) == other
    assert await b.store.list_milestones(case.case_id) == [early, mid, late]
    assert await b.store.list_milestones(other.case_id) == [theirs]


async def a_support_request_is_kept_with_its_schedule(b: Backend) -> None:
    case = a_case()
    await b.store.add_case(case)
    request = SupportRequest(
        uuid.uuid4(), case.case_id, Skill.LANGUAGE_TUTORING, 9, ("ar", "de"), False, 2,
        (TimeSlot(weekday=Weekday.TUESDAY, starts_at="15:00", ends_at="16:30"),), DAY,
    )  # fmt: skip
    await b.store.add_support_request(request)
    assert await b.support_requests(case.case_id) == [request]


async def a_person_is_kept_once_and_a_second_with_the_same_id_is_refused(b: Backend) -> None:
    case = a_case()
    await b.store.add_case(case)
    person = a_person(case)
    assert await b.store.add_person(person) is True
    assert await b.store.add_person(replace(person, given_name="Other")) is False
    assert await b.people(case.case_id) == [person]


async def erasure_deletes_the_people_named_or_the_whole_household(b: Backend) -> None:
    household = uuid.uuid4()
    old = closed(a_case(household, opened_on=date(2015, 1, 5)), date(2015, 6, 1))
    current = a_case(household)
    stranger = a_case()
    for case in (old, current, stranger):
        await b.store.add_case(case)
    old_people = [a_person(old, n) for n in ("A", "B")]
    now_people = [a_person(current, n) for n in ("C", "D", "E")]
    theirs = a_person(stranger)
    for p in (*old_people, *now_people, theirs):
        await b.store.add_person(p)
    assert await b.store.erase_people(uuid.uuid4()) == [], "an unknown household: nothing"
    assert await b.store.erase_people(household, [theirs.person_id]) == [], "not of it"
    named = [now_people[2].person_id, now_people[0].person_id]
    assert await b.store.erase_people(household, named) == sorted(named)
    assert await b.people(current.case_id) == [now_people[1]]
    assert await b.store.erase_people(household, case_id=old.case_id) == sorted(
        p.person_id for p in old_people
    )
    assert await b.store.erase_people(household) == [now_people[1].person_id]
    assert await b.people(stranger.case_id) == [theirs]


async def only_closed_cases_without_details_left_count_as_erased(b: Backend) -> None:
    household = uuid.uuid4()
    bare = closed(a_case(household, opened_on=date(2015, 1, 5)), date(2015, 3, 1))
    with_people = closed(a_case(household, opened_on=date(2015, 4, 1)), date(2015, 6, 1))
    marked = replace(
        closed(a_case(household, opened_on=date(2015, 7, 1)), date(2015, 8, 1)),
        details_erased_on=date(2015, 9, 1),
    )
    still_open = a_case(household)
    elsewhere = closed(a_case(), date(2015, 3, 1))
    for case in (bare, with_people, marked, still_open, elsewhere):
        await b.store.add_case(case)
    await b.store.add_person(a_person(with_people))
    await b.store.mark_erased(household, DAY)
    erased_on = {
        c.case_id: (await b.store.get_case(c.case_id)).details_erased_on  # type: ignore[union-attr]
        for c in (bare, with_people, marked, still_open, elsewhere)
    }
    assert erased_on == {
        bare.case_id: DAY,
        with_people.case_id: None,
        marked.case_id: date(2015, 9, 1),
        still_open.case_id: None,
        elsewhere.case_id: None,
    }


async def an_erasure_is_recorded_with_who_asked(b: Backend) -> None:
    household, person = uuid.uuid4(), uuid.uuid4()
    await b.store.record_erasure(uuid.uuid4(), household, [person], "requested", DAY, 1, "dpo-1")
    await b.store.record_erasure(uuid.uuid4(), household, [], "retention", DAY, 0, None)
    assert await b.erasures() == [
        (household, [person], "requested", DAY, 1, "dpo-1"),
        (household, [], "retention", DAY, 0, None),
    ]


SCENARIOS: list[Callable[[Backend], Awaitable[None]]] = [
    a_site_is_remembered_and_a_later_word_overwrites_it,
    a_case_comes_back_as_saved_without_its_events,
    saving_overwrites_a_kept_case_and_never_adds_one,
    the_open_case_of_a_household_is_found_and_a_closed_one_is_not,
    the_latest_case_is_the_open_one_else_the_last_opened,
    open_cases_and_sites_read_ahead_answer_as_the_database_would,
    closed_cases_past_retention_are_claimed_oldest_first_up_to_the_limit,
    milestones_come_by_day_reached_then_in_the_order_recorded,
    cases_are_read_and_saved_together_as_one_by_one,
    milestones_of_several_cases_come_each_in_its_order,
    a_casework_lists_cases_in_hand_answer_as_the_store_would,
    a_support_request_is_kept_with_its_schedule,
    a_person_is_kept_once_and_a_second_with_the_same_id_is_refused,
    erasure_deletes_the_people_named_or_the_whole_household,
    only_closed_cases_without_details_left_count_as_erased,
    an_erasure_is_recorded_with_who_asked,
]


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database, min_size=1, max_size=2)
    await migrate(pool, [("runtime", RUNTIME_MIGRATIONS), ("integration", MIGRATIONS)])
    yield pool
    await pool.close()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_the_in_memory_integration_store(
    scenario: Callable[[Backend], Awaitable[None]],
) -> None:
    await scenario(Memory())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_the_integration_store_on_postgres(
    scenario: Callable[[Backend], Awaitable[None]], pool: asyncpg.Pool
) -> None:
    await scenario(Postgres(pool))
