"""Integration's SQL, by the runtime's store convention (``get_``/``lock_``, ``Db``).

``IntegrationStore`` is the port the handlers use (``tx.store``); ``PgIntegrationStore`` keeps
it on PostgreSQL, the tests' ``InMemoryIntegrationStore`` in plain dicts. The read-only
queries only the API runs (lists, caseloads) are ``PgIntegrationStore``'s alone.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, Protocol

import asyncpg
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
from ankommen_runtime.pagination import PageRequest, fetch_page
from ankommen_runtime.store import Db, ReadAhead
from ankommen_runtime.store import for_update as lock_clause

from .domain import (
    Case,
    CaseStatus,
    Handover,
    Load,
    MilestoneRecord,
    MoveOut,
    Person,
    Readiness,
    SiteRef,
    SupportRequest,
)

# -- row mappers ---------------------------------------------------------------------------

_CASE = (
    "case_id, household_id, persons, district, team_id, opened_on, status, site_id,"
    " site_pillar, site_since, social_worker, language_level, residence_status, readiness,"
    " move_out, handover, closed_on, close_reason, details_erased_on"
)


def _opt(kind: Any, value: Any) -> Any:
    return kind(value) if value is not None else None


def _site_ref(row: asyncpg.Record) -> SiteRef:
    return SiteRef(row["site_id"], row["district"], Pillar(row["pillar"]))


def _case(row: asyncpg.Record) -> Case:
    readiness = move_out = handover = None
    if row["readiness"] is not None:
        r = json.loads(row["readiness"])
        readiness = Readiness(
            ready_for=Pillar(r["ready_for"]),
            ready_for_own_tenancy=r["ready_for_own_tenancy"],
            independence=Independence(r["independence"]),
            german=GermanLevel(r["german"]),
            residence_prospects=ResidenceProspects(r["residence_prospects"]),
            assessed_on=date.fromisoformat(r["assessed_on"]),
            reason=r["reason"],
        )
    if row["move_out"] is not None:
        m = json.loads(row["move_out"])
        move_out = MoveOut(
            target_kind=MoveOutTarget(m["target_kind"]),
            target_district=m["target_district"],
            from_site_id=uuid.UUID(m["from_site_id"]),
            planned_on=_opt(date.fromisoformat, m["planned_on"]),
            completed_on=_opt(date.fromisoformat, m["completed_on"]),
        )
    if row["handover"] is not None:
        h = json.loads(row["handover"])
        handover = Handover(
            structure=DistrictStructure(h["structure"]),
            receiving_partner=h["receiving_partner"],
            district=h["district"],
            handed_over_on=date.fromisoformat(h["handed_over_on"]),
        )
    return Case(
        case_id=row["case_id"],
        household_id=row["household_id"],
        persons=row["persons"],
        district=row["district"],
        team_id=row["team_id"],
        opened_on=row["opened_on"],
        status=CaseStatus(row["status"]),
        site_id=row["site_id"],
        site_pillar=_opt(Pillar, row["site_pillar"]),
        site_since=row["site_since"],
        social_worker=row["social_worker"],
        language_level=_opt(LanguageLevel, row["language_level"]),
        residence_status=_opt(ResidenceStatus, row["residence_status"]),
        readiness=readiness,
        move_out=move_out,
        handover=handover,
        closed_on=row["closed_on"],
        close_reason=_opt(CaseCloseReason, row["close_reason"]),
        details_erased_on=row["details_erased_on"],
    )


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps({k: _plain(v) for k, v in value.__dict__.items()})


def _plain(value: Any) -> Any:
    if isinstance(value, (date, uuid.UUID)):
        return str(value)
    return value.value if hasattr(value, "value") else value


def _case_args(c: Case) -> tuple[Any, ...]:
    return (
        c.case_id,
        c.household_id,
        c.persons,
        c.district,
        c.team_id,
        c.opened_on,
        c.status.value,
        c.site_id,
        _plain(c.site_pillar),
        c.site_since,
        c.social_worker,
        _plain(c.language_level),
        _plain(c.residence_status),
        _json(c.readiness),
        _json(c.move_out),
        _json(c.handover),
        c.closed_on,
        _plain(c.close_reason),
        c.details_erased_on,
    )


_MILESTONE = (
    "milestone_id, case_id, milestone, reached_on, persons, language_level, residence_status"
)


def _milestone(row: asyncpg.Record) -> MilestoneRecord:
    return MilestoneRecord(
        milestone_id=row["milestone_id"],
        case_id=row["case_id"],
        milestone=Milestone(row["milestone"]),
        reached_on=row["reached_on"],
        persons=row["persons"],
        language_level=_opt(LanguageLevel, row["language_level"]),
        residence_status=_opt(ResidenceStatus, row["residence_status"]),
    )


def _milestone_args(m: MilestoneRecord) -> tuple[Any, ...]:
    return (
        m.milestone_id,
        m.case_id,
        m.milestone.value,
        m.reached_on,
        m.persons,
        _plain(m.language_level),
        _plain(m.residence_status),
    )


_ADD_MILESTONE = f"INSERT INTO milestones ({_MILESTONE}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
_SAVE_CASE = """UPDATE cases SET persons = $3, district = $4, team_id = $5, opened_on = $6,
                    status = $7, site_id = $8, site_pillar = $9, site_since = $10,
                    social_worker = $11, language_level = $12, residence_status = $13,
                    readiness = $14, move_out = $15, handover = $16, closed_on = $17,
                    close_reason = $18, details_erased_on = $19, updated_at = now()
                WHERE case_id = $1 AND household_id = $2"""


def _support_request(r: asyncpg.Record) -> SupportRequest:
    return SupportRequest(
        request_id=r["request_id"],
        case_id=r["case_id"],
        skill=Skill(r["skill"]),
        district=r["district"],
        languages=tuple(r["languages"]),
        involves_children=r["involves_children"],
        hours_per_week=r["hours_per_week"],
        schedule=tuple(
            TimeSlot(weekday=Weekday(s["weekday"]), starts_at=s["starts_at"], ends_at=s["ends_at"])
            for s in json.loads(r["schedule"])
        ),
        requested_on=r["requested_on"],
    )


_PERSON = "person_id, case_id, household_id, given_name, family_name, date_of_birth, phone, email"


# -- the port ------------------------------------------------------------------------------


class CaseRecords(Protocol):
    """What a command's rule reads and writes of its case (``IntegrationStore`` has it; a
    casework list's rules see ``CasesInHand``)."""

    async def get_case(self, case_id: uuid.UUID, *, for_update: bool = False) -> Case | None: ...

    async def save_case(self, case: Case) -> None: ...

    async def list_milestones(self, case_id: uuid.UUID) -> list[MilestoneRecord]: ...

    async def add_milestone(self, m: MilestoneRecord) -> None: ...


class IntegrationStore(Protocol):
    """What integration's handlers keep and read (``tx.store``), inside their transaction."""

    async def save_site(self, site: SiteRef) -> None:
        """Remember a site's district and pillar; a site seen again is overwritten."""
        ...

    async def get_site(self, site_id: uuid.UUID) -> SiteRef | None:
        """The site, or None if integration never heard of it."""
        ...

    async def add_case(self, case: Case) -> None:
        """Keep a new case (its raised ``events`` are not kept). At most one case of a
        household is open at a time: the caller checks ``get_open_case_of`` first."""
        ...

    async def save_case(self, case: Case) -> None:
        """Overwrite a kept case (matched by case and household) with this one; its raised
        ``events`` are not kept. A case never added stays unknown."""
        ...

    async def get_case(self, case_id: uuid.UUID, *, for_update: bool = False) -> Case | None:
        """The case as last saved (no events), or None. ``for_update``: other writers of
        this case wait until this transaction ends."""
        ...

    async def get_cases(
        self, case_ids: Iterable[uuid.UUID], *, for_update: bool = False
    ) -> dict[uuid.UUID, Case]:
        """The kept cases among ``case_ids`` (no events), by id; ``for_update`` locks them
        in the order of their ids (two lists of overlapping cases queue, never deadlock)."""
        ...

    async def save_cases(self, cases: Sequence[Case]) -> None:
        """``save_case`` for each, in one round trip."""
        ...

    async def get_open_case_of(
        self, household_id: uuid.UUID, *, for_update: bool = False
    ) -> Case | None:
        """The household's open case, or None if it has none open."""
        ...

    async def prefetch_cases_and_sites(
        self, household_ids: Sequence[uuid.UUID], site_ids: Sequence[uuid.UUID]
    ) -> None:
        """Lock the open cases of these households and read them and these sites now, so
        that the next ``get_open_case_of(…, for_update=True)`` of each household and every
        ``get_site`` of these sites in this transaction answer without a round trip: the
        same answers they would have read, whatever the transaction writes meanwhile (a
        consumed batch's ``prefetch``)."""
        ...

    async def get_latest_case_of(self, household_id: uuid.UUID) -> Case | None:
        """The household's open case, else its most recently opened one (ties: the
        smallest case id); None if it never had a case."""
        ...

    async def claim_due_for_erasure(self, before: date, limit: int) -> list[Case]:
        """At most ``limit`` closed cases not yet erased, closed on or before ``before``,
        oldest closing first (ties: by case id); cases another transaction holds are
        skipped, not waited for."""
        ...

    async def add_milestone(self, m: MilestoneRecord) -> None:
        """Keep a milestone of a kept case."""
        ...

    async def list_milestones(self, case_id: uuid.UUID) -> list[MilestoneRecord]:
        """The case's milestones, by the day reached, then in the order recorded."""
        ...

    async def add_milestones(self, records: Sequence[MilestoneRecord]) -> None:
        """``add_milestone`` for each, in this order, in one round trip."""
        ...

    async def list_milestones_of(
        self, case_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, list[MilestoneRecord]]:
        """``list_milestones`` of each case, in one round trip (an empty list for a case
        with none)."""
        ...

    async def add_support_request(self, r: SupportRequest) -> None:
        """Keep a support request of a kept case."""
        ...

    async def add_person(self, p: Person) -> bool:
        """Keep a household member's personal details; False (nothing kept) if a person
        with this id is recorded already."""
        ...

    async def erase_people(
        self,
        household_id: uuid.UUID,
        person_ids: Iterable[uuid.UUID] = (),
        *,
        case_id: uuid.UUID | None = None,
    ) -> list[uuid.UUID]:
        """Delete the personal details of these people of the household (all of it if
        none are named; only of ``case_id`` if given); the ids deleted, sorted."""
        ...

    async def mark_erased(self, household_id: uuid.UUID, on: date) -> None:
        """The household's closed cases with no personal details left and not marked yet
        count as erased ``on`` that day (``details_erased_on``)."""
        ...

    async def record_erasure(
        self,
        erasure_id: uuid.UUID,
        household_id: uuid.UUID,
        person_ids: list[uuid.UUID],
        reason: str,
        on: date,
        erased: int,
        by: str | None,
    ) -> None:
        """Keep the record of an erasure (who asked, when, how many details went)."""
        ...


# -- a casework list's cases in hand ----------------------------------------------------------


class CasesInHand:
    """The cases of one casework list, held for the list's entries (the store they see).

    A list of hundreds of entries about a few cases each (a way out is six) read, locked
    and wrote each case once per entry, and read its milestones once per milestone: here
    the list's cases are read and locked together in the order of their ids (``take``,
    one statement, and one for their milestones), each entry changes its case as the
    entry before left it, and ``write`` keeps what changed at the end (one round trip for
    the cases, one for the milestones).

    It answers as the transaction's store would: ``get_case`` hands out a copy of the case
    as last saved, without events, so an entry refused half-way (raising before
    ``save_case``) leaves its case as it was, and an entry publishes only its own events.
    Only the cases taken are known: ``get_case`` of another is None.
    """

    def __init__(self, store: IntegrationStore) -> None:
        self.store = store
        self._cases: dict[uuid.UUID, Case] = {}
        self._milestones: dict[uuid.UUID, list[MilestoneRecord]] = {}
        self._changed: dict[uuid.UUID, Case] = {}
        self._new_milestones: list[MilestoneRecord] = []

    async def take(
        self, case_ids: Iterable[uuid.UUID], with_milestones: Iterable[uuid.UUID] = ()
    ) -> None:
        """Lock and read the cases, and the milestones of ``with_milestones``."""
        self._cases = await self.store.get_cases(case_ids, for_update=True)
        wanted = sorted(set(with_milestones) & self._cases.keys())
        self._milestones = await self.store.list_milestones_of(wanted) if wanted else {}

    async def get_case(self, case_id: uuid.UUID, *, for_update: bool = False) -> Case | None:
        case = self._cases.get(case_id)
        return case.as_saved() if case is not None else None

    async def save_case(self, case: Case) -> None:
        kept = self._cases.get(case.case_id)
        if kept is not None and kept.household_id == case.household_id:
            self._cases[case.case_id] = self._changed[case.case_id] = case.as_saved()

    async def _recorded(self, case_id: uuid.UUID) -> list[MilestoneRecord]:
        """The case's milestones in the order recorded; read when first asked if not taken."""
        if case_id not in self._milestones:
            self._milestones[case_id] = await self.store.list_milestones(case_id)
        return self._milestones[case_id]

    async def list_milestones(self, case_id: uuid.UUID) -> list[MilestoneRecord]:
        # by the day reached, then in the order recorded (a stable sort)
        return sorted(await self._recorded(case_id), key=lambda m: m.reached_on)

    async def add_milestone(self, m: MilestoneRecord) -> None:
        (await self._recorded(m.case_id)).append(m)
        self._new_milestones.append(m)

    async def write(self) -> None:
        """Keep the changed cases and the new milestones (inside the transaction)."""
        if self._changed:
            await self.store.save_cases([self._changed[k] for k in sorted(self._changed)])
        if self._new_milestones:
            await self.store.add_milestones(self._new_milestones)
        self._changed, self._new_milestones = {}, []


# -- on PostgreSQL -------------------------------------------------------------------------


class PgIntegrationStore:
    """``IntegrationStore`` on PostgreSQL, over a transaction's connection (or the pool,
    for the API's read-only queries)."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self._open_cases: ReadAhead[uuid.UUID, Case] = ReadAhead()  # by household
        self._sites: ReadAhead[uuid.UUID, SiteRef] = ReadAhead(once=False)

    async def prefetch_cases_and_sites(
        self, household_ids: Sequence[uuid.UUID], site_ids: Sequence[uuid.UUID]
    ) -> None:
        households = sorted(set(household_ids))
        cases = await self.db.fetch(
            f"""SELECT {_CASE} FROM cases WHERE household_id = ANY($1::uuid[]) AND status = 'open'
                ORDER BY case_id FOR UPDATE""",
            households,
        )
        open_case = {r["household_id"]: _case(r) for r in cases}
        self._open_cases.fill({h: open_case.get(h) for h in households})
        sites = sorted(set(site_ids))
        # a batch of check-outs and departures only has no site to read
        rows = (
            await self.db.fetch(
                "SELECT site_id, district, pillar FROM sites WHERE site_id = ANY($1::uuid[])",
                sites,
            )
            if sites
            else []
        )
        known = {r["site_id"]: _site_ref(r) for r in rows}
        self._sites.fill({site_id: known.get(site_id) for site_id in sites})

    # -- sites

    async def save_site(self, site: SiteRef) -> None:
        self._sites.forget([site.site_id])
        await self.db.execute(
            """INSERT INTO sites (site_id, district, pillar) VALUES ($1, $2, $3)
               ON CONFLICT (site_id) DO UPDATE SET district = $2, pillar = $3""",
            site.site_id,
            site.district,
            site.pillar.value,
        )

    async def get_site(self, site_id: uuid.UUID) -> SiteRef | None:
        read, site = self._sites.take(site_id)
        if read:
            return site
        row = await self.db.fetchrow(
            "SELECT site_id, district, pillar FROM sites WHERE site_id = $1", site_id
        )
        return _site_ref(row) if row else None

    # -- cases

    async def add_case(self, case: Case) -> None:
        self._open_cases.forget([case.household_id])
        placeholders = ", ".join(f"${i}" for i in range(1, 20))
        await self.db.execute(
            f"INSERT INTO cases ({_CASE}) VALUES ({placeholders})", *_case_args(case)
        )

    async def save_case(self, case: Case) -> None:
        self._open_cases.forget([case.household_id])
        await self.db.execute(_SAVE_CASE, *_case_args(case))

    async def save_cases(self, cases: Sequence[Case]) -> None:
        self._open_cases.forget([c.household_id for c in cases])
        await self.db.executemany(_SAVE_CASE, [_case_args(c) for c in cases])

    async def get_case(self, case_id: uuid.UUID, *, for_update: bool = False) -> Case | None:
        lock = lock_clause(for_update)
        row = await self.db.fetchrow(f"SELECT {_CASE} FROM cases WHERE case_id = $1{lock}", case_id)
        return _case(row) if row else None

    async def get_cases(
        self, case_ids: Iterable[uuid.UUID], *, for_update: bool = False
    ) -> dict[uuid.UUID, Case]:
        rows = await self.db.fetch(
            f"""SELECT {_CASE} FROM cases WHERE case_id = ANY($1::uuid[])
                ORDER BY case_id{lock_clause(for_update)}""",
            sorted(set(case_ids)),
        )
        return {r["case_id"]: _case(r) for r in rows}

    async def get_open_case_of(
        self, household_id: uuid.UUID, *, for_update: bool = False
    ) -> Case | None:
        if for_update:
            read, case = self._open_cases.take(household_id)
            if read:
                return case
        lock = lock_clause(for_update)
        row = await self.db.fetchrow(
            f"SELECT {_CASE} FROM cases WHERE household_id = $1 AND status = 'open'{lock}",
            household_id,
        )
        return _case(row) if row else None

    async def get_latest_case_of(self, household_id: uuid.UUID) -> Case | None:
        row = await self.db.fetchrow(
            f"""SELECT {_CASE} FROM cases WHERE household_id = $1
                ORDER BY (status = 'open') DESC, opened_on DESC, case_id LIMIT 1""",
            household_id,
        )
        return _case(row) if row else None

    async def list_cases(
        self,
        *,
        district: int | None,
        status: CaseStatus | None,
        household_ids: Sequence[uuid.UUID] | None,
        social_worker: str | None,
        ready_to_move_out: bool,
        page: PageRequest,
    ) -> tuple[list[Case], int]:
        """One page of the cases matching the filter (of any of ``household_ids``), oldest
        first, and how many match."""
        rows, total = await fetch_page(
            self.db,
            f"""SELECT {_CASE} FROM cases
                WHERE ($1::int IS NULL OR district = $1) AND ($2::text IS NULL OR status = $2)
                  AND ($3::uuid[] IS NULL OR household_id = ANY($3))
                  AND ($4::text IS NULL OR social_worker = $4)
                  AND (NOT $5 OR (status = 'open' AND site_id IS NOT NULL
                      AND (readiness ->> 'ready_for_own_tenancy')::boolean
                      AND (move_out IS NULL OR move_out ->> 'completed_on' IS NULL)))""",
            district,
            status.value if status else None,
            household_ids,
            social_worker,
            ready_to_move_out,
            order_by="opened_on, case_id",
            page=page,
        )
        return [_case(r) for r in rows], total

    async def open_loads(self) -> dict[tuple[str, str | None], Load]:
        """Open cases and their persons per team and social worker (None: unassigned)."""
        rows = await self.db.fetch(
            """SELECT team_id, social_worker, count(*) AS cases, sum(persons) AS persons
               FROM cases WHERE status = 'open' GROUP BY team_id, social_worker"""
        )
        return {(r["team_id"], r["social_worker"]): Load(r["cases"], r["persons"]) for r in rows}

    async def claim_due_for_erasure(self, before: date, limit: int) -> list[Case]:
        rows = await self.db.fetch(
            f"""SELECT {_CASE} FROM cases
                WHERE status = 'closed' AND details_erased_on IS NULL AND closed_on <= $1
                ORDER BY closed_on, case_id LIMIT $2 FOR UPDATE SKIP LOCKED""",
            before,
            limit,
        )
        return [_case(r) for r in rows]

    # -- milestones

    async def add_milestone(self, m: MilestoneRecord) -> None:
        await self.db.execute(_ADD_MILESTONE, *_milestone_args(m))

    async def add_milestones(self, records: Sequence[MilestoneRecord]) -> None:
        await self.db.executemany(_ADD_MILESTONE, [_milestone_args(m) for m in records])

    async def list_milestones(self, case_id: uuid.UUID) -> list[MilestoneRecord]:
        return (await self.list_milestones_of([case_id]))[case_id]

    async def list_milestones_of(
        self, case_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, list[MilestoneRecord]]:
        of: dict[uuid.UUID, list[MilestoneRecord]] = {case_id: [] for case_id in case_ids}
        rows = await self.db.fetch(
            f"""SELECT {_MILESTONE} FROM milestones WHERE case_id = ANY($1::uuid[])
                ORDER BY case_id, reached_on, recorded_at, milestone_id""",
            list(of),
        )
        for r in rows:
            of[r["case_id"]].append(_milestone(r))
        return of

    # -- support requests

    async def add_support_request(self, r: SupportRequest) -> None:
        await self.db.execute(
            """INSERT INTO support_requests (request_id, case_id, skill, district, languages,
                   involves_children, hours_per_week, schedule, requested_on)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
            r.request_id,
            r.case_id,
            r.skill.value,
            r.district,
            list(r.languages),
            r.involves_children,
            r.hours_per_week,
            json.dumps([s.model_dump(mode="json") for s in r.schedule]),
            r.requested_on,
        )

    async def list_support_requests(self, case_id: uuid.UUID) -> list[SupportRequest]:
        """The case's support requests, oldest first."""
        rows = await self.db.fetch(
            "SELECT * FROM support_requests WHERE case_id = $1 ORDER BY requested_on, request_id",
            case_id,
        )
        return [_support_request(r) for r in rows]

    # -- personal details

    async def add_person(self, p: Person) -> bool:
        added = await self.db.fetchval(
            f"""INSERT INTO people ({_PERSON}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                ON CONFLICT (person_id) DO NOTHING RETURNING person_id""",
            p.person_id,
            p.case_id,
            p.household_id,
            p.given_name,
            p.family_name,
            p.date_of_birth,
            p.phone,
            p.email,
        )
        return added is not None

    async def list_people(self, case_id: uuid.UUID) -> list[Person]:
        """The personal details recorded for the case, by family name."""
        rows = await self.db.fetch(
            f"SELECT {_PERSON} FROM people WHERE case_id = $1 ORDER BY family_name, person_id",
            case_id,
        )
        return [Person(**dict(r)) for r in rows]

    async def erase_people(
        self,
        household_id: uuid.UUID,
        person_ids: Iterable[uuid.UUID] = (),
        *,
        case_id: uuid.UUID | None = None,
    ) -> list[uuid.UUID]:
        rows = await self.db.fetch(
            """DELETE FROM people WHERE household_id = $1
                 AND (cardinality($2::uuid[]) = 0 OR person_id = ANY($2::uuid[]))
                 AND ($3::uuid IS NULL OR case_id = $3)
               RETURNING person_id""",
            household_id,
            list(person_ids),
            case_id,
        )
        return sorted(r["person_id"] for r in rows)

    async def mark_erased(self, household_id: uuid.UUID, on: date) -> None:
        self._open_cases.forget([household_id])
        await self.db.execute(
            """UPDATE cases SET details_erased_on = $2, updated_at = now()
               WHERE household_id = $1 AND status = 'closed' AND details_erased_on IS NULL
                 AND NOT EXISTS (SELECT 1 FROM people p WHERE p.case_id = cases.case_id)""",
            household_id,
            on,
        )

    async def record_erasure(
        self,
        erasure_id: uuid.UUID,
        household_id: uuid.UUID,
        person_ids: list[uuid.UUID],
        reason: str,
        on: date,
        erased: int,
        by: str | None,
    ) -> None:
        await self.db.execute(
            """INSERT INTO erasures (erasure_id, household_id, person_ids, reason,
                                     requested_on, erased, requested_by)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            erasure_id,
            household_id,
            person_ids,
            reason,
            on,
            erased,
            by,
        )
