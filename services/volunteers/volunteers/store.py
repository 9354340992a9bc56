"""The volunteers service's repository: SQL for volunteers, initiatives, requests, matches
and hours, on a given connection (or the pool, for the API's read-only queries).

``VolunteersStore`` is the port the handlers use (``tx.store``); ``PgVolunteersStore`` keeps
it on PostgreSQL, the tests' ``InMemoryVolunteersStore`` in plain dicts. The read-only
queries only the API, the benchmark and seeding run are ``PgVolunteersStore``'s alone.

Lock order, the same in every transaction so two never wait on each other:
support_requests (by id) → volunteers (by id) → matches → the runtime's subject_sequence.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Protocol, TypeVar

import asyncpg
from ankommen_contracts import Skill
from ankommen_contracts.events.volunteers import MatchEndReason
from ankommen_runtime.store import Db
from ankommen_runtime.store import for_update as lock_clause

from .domain import (
    DISTRICT_NEIGHBOURING,
    DISTRICT_SAME,
    LANGUAGE_FIRST,
    LANGUAGE_OTHER,
    LOAD,
    MSO_BONUS,
    SCHEDULE,
    Contact,
    DistrictFigures,
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

T = TypeVar("T")

# Fixed bit of each skill and weekday in the *_mask columns: never renumber one (stored
# rows keep their bits); a new skill takes the next free bit.
SKILL_BITS: dict[Skill, int] = {
    Skill.TRANSLATION: 0,
    Skill.LANGUAGE_TUTORING: 1,
    Skill.HOMEWORK_HELP: 2,
    Skill.CHILDCARE: 3,
    Skill.ACCOMPANIMENT: 4,
    Skill.HOUSING_SEARCH: 5,
    Skill.JOB_SEARCH: 6,
    Skill.SPORT_AND_LEISURE: 7,
    Skill.EVERYDAY_HELP: 8,
}
WEEKDAY_BITS: dict[Weekday, int] = {day: i for i, day in enumerate(Weekday)}


def skills_mask(skills: Iterable[Skill]) -> int:
    return sum(1 << SKILL_BITS[s] for s in set(skills))


def districts_mask(districts: Iterable[int]) -> int:
    return sum(1 << d for d in set(districts))


def weekdays_mask(days: Iterable[Weekday]) -> int:
    return sum(1 << WEEKDAY_BITS[d] for d in set(days))


def match_keys(skills: Iterable[Skill], districts: Iterable[int]) -> list[int]:
    """Each (skill, district) pair as one integer, for the GIN index on ``match_keys``."""
    return sorted({SKILL_BITS[s] * 16 + d for s in set(skills) for d in set(districts)})


# -- volunteers -----------------------------------------------------------------------------

_VOLUNTEER = (
    "volunteer_id, name, email, phone, skills, languages, districts, weekdays, hours_per_week,"
    " committed_hours, mso, initiative_id, registered_on, status, paused_until, withdrawn_on,"
    " certificate_issued_on, certificate_valid_until"
)
# What matching needs, without the contact details (fewer bytes per candidate).
_CANDIDATE = (
    "volunteer_id, skills, languages, districts, weekdays, hours_per_week, committed_hours,"
    " mso, registered_on, status, certificate_valid_until"
)


def _volunteer(row: asyncpg.Record) -> Volunteer:
    return Volunteer(
        volunteer_id=row["volunteer_id"],
        contact=Contact(row["name"], row["email"], row["phone"]),
        skills=frozenset(Skill(s) for s in row["skills"]),
        languages=tuple(row["languages"]),
        districts=frozenset(row["districts"]),
        weekdays=frozenset(Weekday(d) for d in row["weekdays"]),
        hours_per_week=row["hours_per_week"],
        committed_hours=row["committed_hours"],
        mso=row["mso"],
        initiative_id=row["initiative_id"],
        registered_on=row["registered_on"],
        status=VolunteerStatus(row["status"]),
        paused_until=row["paused_until"],
        withdrawn_on=row["withdrawn_on"],
        certificate_issued_on=row["certificate_issued_on"],
        certificate_valid_until=row["certificate_valid_until"],
    )


_NO_CONTACT = Contact("")


def _candidate(row: asyncpg.Record) -> Volunteer:
    return Volunteer(
        volunteer_id=row["volunteer_id"],
        contact=_NO_CONTACT,
        skills=frozenset(Skill(s) for s in row["skills"]),
        languages=tuple(row["languages"]),
        districts=frozenset(row["districts"]),
        weekdays=frozenset(Weekday(d) for d in row["weekdays"]),
        hours_per_week=row["hours_per_week"],
        committed_hours=row["committed_hours"],
        mso=row["mso"],
        registered_on=row["registered_on"],
        status=VolunteerStatus(row["status"]),
        certificate_valid_until=row["certificate_valid_until"],
    )


def _volunteer_args(v: Volunteer) -> tuple[object, ...]:
    return (
        v.volunteer_id,
        v.contact.name,
        v.contact.email,
        v.contact.phone,
        sorted(v.skills),
        list(v.languages),
        sorted(v.districts),
        sorted(v.weekdays),
        v.hours_per_week,
        v.committed_hours,
        v.mso,
        v.initiative_id,
        v.registered_on,
        v.status.value,
        v.paused_until,
        v.withdrawn_on,
        v.certificate_issued_on,
        v.certificate_valid_until,
        skills_mask(v.skills),
        districts_mask(v.districts),
        weekdays_mask(v.weekdays),
        match_keys(v.skills, v.districts),
    )


_INSERT_VOLUNTEER = f"""
    INSERT INTO volunteers
        ({_VOLUNTEER}, skills_mask, districts_mask, weekdays_mask, match_keys)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
            $19, $20, $21, $22)"""


# -- initiatives ----------------------------------------------------------------------------

_INITIATIVE = "initiative_id, name, kind, districts, site_ids"


def _initiative(row: asyncpg.Record) -> Initiative:
    return Initiative(
        initiative_id=row["initiative_id"],
        name=row["name"],
        kind=InitiativeKind(row["kind"]),
        districts=frozenset(row["districts"]),
        site_ids=frozenset(row["site_ids"]),
    )


# -- support requests -----------------------------------------------------------------------

_REQUEST = (
    "request_id, kind, district, languages, weekdays, hours_per_week, involves_children,"
    " requested_on, source, case_id, status, flagged_overdue_on"
)


def _request(row: asyncpg.Record) -> SupportRequest:
    return SupportRequest(
        request_id=row["request_id"],
        kind=Skill(row["kind"]),
        district=row["district"],
        languages=tuple(row["languages"]),
        weekdays=frozenset(Weekday(d) for d in row["weekdays"]),
        hours_per_week=row["hours_per_week"],
        involves_children=row["involves_children"],
        requested_on=row["requested_on"],
        source=RequestSource(row["source"]),
        case_id=row["case_id"],
        status=RequestStatus(row["status"]),
        flagged_overdue_on=row["flagged_overdue_on"],
    )


# -- matches --------------------------------------------------------------------------------

_MATCH = (
    "match_id, request_id, volunteer_id, district, skill, involves_children, hours_per_week,"
    " matched_on, score, status, ended_on, end_reason"
)


def _match(row: asyncpg.Record) -> Match:
    return Match(
        match_id=row["match_id"],
        request_id=row["request_id"],
        volunteer_id=row["volunteer_id"],
        district=row["district"],
        skill=Skill(row["skill"]),
        involves_children=row["involves_children"],
        hours_per_week=row["hours_per_week"],
        matched_on=row["matched_on"],
        score=row["score"],
        status=MatchStatus(row["status"]),
        ended_on=row["ended_on"],
        end_reason=MatchEndReason(row["end_reason"]) if row["end_reason"] else None,
    )


# -- the port -------------------------------------------------------------------------------


class VolunteersStore(Protocol):
    """What the volunteers service's handlers keep and read (``tx.store``), inside their
    transaction. ``for_update`` and ``lock_*``: other writers of those rows wait until this
    transaction ends (taken in the module's lock order)."""

    async def add_volunteer(self, volunteer: Volunteer) -> None:
        """Keep a new volunteer (its raised ``events`` are not kept)."""
        ...

    async def save_volunteer(self, v: Volunteer) -> None:
        """Write back what may change of a kept volunteer: committed hours, status, pause,
        withdrawal and certificate."""
        ...

    async def get_volunteer(
        self, volunteer_id: uuid.UUID, *, for_update: bool = False
    ) -> Volunteer | None:
        """The volunteer as last saved (no events), or None."""
        ...

    async def lock_volunteers(
        self, volunteer_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, Volunteer]:
        """The kept volunteers among these ids, by id (unknown ids are left out)."""
        ...

    async def candidates(
        self, request: SupportRequest, reachable: Iterable[int], today: date, limit: int
    ) -> tuple[list[Volunteer], int]:
        """The best ``limit`` volunteers for ``request`` by the domain's score (``assess``)
        among those who meet every hard rule, reaching a district of ``reachable``; ties
        by volunteer id. And how many qualify in all. Candidates carry no contact details."""
        ...

    async def add_initiative(self, i: Initiative) -> None:
        """Keep a new initiative."""
        ...

    async def save_initiative(self, i: Initiative) -> None:
        """Write back a kept initiative's districts and sites."""
        ...

    async def get_initiative(
        self, initiative_id: uuid.UUID, *, for_update: bool = False
    ) -> Initiative | None:
        """The initiative, or None."""
        ...

    async def add_request(self, r: SupportRequest) -> bool:
        """Keep a new request; False (nothing changed) if its id is known already."""
        ...

    async def save_request(self, r: SupportRequest) -> None:
        """Write back a kept request's status and overdue flag."""
        ...

    async def get_request(
        self, request_id: uuid.UUID, *, for_update: bool = False
    ) -> SupportRequest | None:
        """The request as last saved, or None."""
        ...

    async def lock_requests_of_case(self, case_id: uuid.UUID) -> list[SupportRequest]:
        """The case's requests that are not closed, by request id."""
        ...

    async def lock_requests(
        self, request_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, SupportRequest]:
        """The kept requests among these ids, by id (unknown ids are left out)."""
        ...

    async def flag_overdue(self, opened_before: date, today: date) -> list[uuid.UUID]:
        """Flag ``today`` the open requests not flagged yet that were requested before
        ``opened_before``; the ids newly flagged (rows another transaction holds are
        skipped, not waited for)."""
        ...

    async def add_match(self, m: Match) -> None:
        """Keep a new match."""
        ...

    async def save_matches(self, matches: Iterable[Match]) -> None:
        """Write back the status and end (day, reason) of kept matches."""
        ...

    async def get_match(self, match_id: uuid.UUID, *, for_update: bool = False) -> Match | None:
        """The match, or None."""
        ...

    async def active_matches(
        self,
        *,
        volunteer_id: uuid.UUID | None = None,
        request_ids: Sequence[uuid.UUID] | None = None,
        for_update: bool = False,
    ) -> list[Match]:
        """Running matches, of this volunteer and/or of these requests if given, by match id."""
        ...

    async def expired_children_matches(self, today: date, limit: int) -> list[Match]:
        """At most ``limit`` running matches with children whose volunteer's certificate
        does not count ``today`` (none, or expired before), by match id."""
        ...

    async def get_matches(self, match_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Match]:
        """The kept matches among these ids, by id (not locked; unknown ids are left out)."""
        ...

    async def add_hours(self, entries: Sequence[HoursEntry]) -> None:
        """Keep entries of hours helped, in their order (a sheet's in one step)."""
        ...


# -- on PostgreSQL ---------------------------------------------------------------------------


class PgVolunteersStore:
    """``VolunteersStore`` on PostgreSQL, over a transaction's connection (or the pool, for
    the API's read-only queries). Lock order as the module says."""

    def __init__(self, db: Db) -> None:
        self.db = db

    async def _one(
        self, table: str, columns: str, key: str, value: uuid.UUID, for_update: bool
    ) -> asyncpg.Record | None:
        """The row of ``table`` whose ``key`` is ``value`` (``get_<thing>``), locked if asked."""
        lock = lock_clause(for_update)
        return await self.db.fetchrow(
            f"SELECT {columns} FROM {table} WHERE {key} = $1{lock}", value
        )

    async def _lock(
        self,
        table: str,
        columns: str,
        key: str,
        ids: Iterable[uuid.UUID],
        decode: Callable[[asyncpg.Record], T],
    ) -> dict[uuid.UUID, T]:
        """Lock the rows of ``table`` with these ids (``lock_<things>``), in id order, so
        two transactions locking overlapping sets queue instead of deadlocking; decoded, by
        id."""
        rows = await self.db.fetch(
            f"""SELECT {columns} FROM {table} WHERE {key} = ANY($1::uuid[])
                ORDER BY {key} FOR UPDATE""",
            sorted(set(ids)),
        )
        return {r[key]: decode(r) for r in rows}

    # -- volunteers

    async def add_volunteer(self, volunteer: Volunteer) -> None:
        """Insert; ``asyncpg.UniqueViolationError`` if the id exists."""
        await self.db.execute(_INSERT_VOLUNTEER, *_volunteer_args(volunteer))

    async def add_volunteers(self, volunteers: Sequence[Volunteer]) -> None:
        """Bulk insert (seeding, the benchmark)."""
        await self.db.executemany(_INSERT_VOLUNTEER, [_volunteer_args(v) for v in volunteers])

    async def save_volunteer(self, v: Volunteer) -> None:
        """Write back a volunteer locked by ``get_volunteer(for_update=True)``."""
        await self.db.execute(
            """UPDATE volunteers
               SET committed_hours = $2, status = $3, paused_until = $4, withdrawn_on = $5,
                   certificate_issued_on = $6, certificate_valid_until = $7
               WHERE volunteer_id = $1""",
            v.volunteer_id,
            v.committed_hours,
            v.status.value,
            v.paused_until,
            v.withdrawn_on,
            v.certificate_issued_on,
            v.certificate_valid_until,
        )

    async def get_volunteer(
        self, volunteer_id: uuid.UUID, *, for_update: bool = False
    ) -> Volunteer | None:
        row = await self._one("volunteers", _VOLUNTEER, "volunteer_id", volunteer_id, for_update)
        return _volunteer(row) if row else None

    async def lock_volunteers(
        self, volunteer_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, Volunteer]:
        return await self._lock("volunteers", _VOLUNTEER, "volunteer_id", volunteer_ids, _volunteer)

    async def list_volunteers(
        self,
        *,
        status: VolunteerStatus | None,
        district: int | None,
        skill: Skill | None,
        language: str | None,
        mso: bool | None,
        limit: int,
        offset: int,
    ) -> list[Volunteer]:
        rows = await self.db.fetch(
            f"""SELECT {_VOLUNTEER} FROM volunteers
                WHERE ($1::text IS NULL OR status = $1)
                  AND ($2::int IS NULL OR districts @> ARRAY[$2::int])
                  AND ($3::text IS NULL OR skills @> ARRAY[$3::text])
                  AND ($4::text IS NULL OR languages @> ARRAY[$4::text])
                  AND ($5::boolean IS NULL OR mso = $5)
                ORDER BY registered_on DESC, volunteer_id
                LIMIT $6 OFFSET $7""",
            status.value if status else None,
            district,
            skill.value if skill else None,
            language,
            mso,
            limit,
            offset,
        )
        return [_volunteer(r) for r in rows]

    async def candidates(
        self,
        request: SupportRequest,
        reachable: Iterable[int],
        today: date,
        limit: int,
    ) -> tuple[list[Volunteer], int]:
        """The best ``limit`` volunteers for ``request`` by the domain's score, and how many
        qualify in all.

        The hard rules are the WHERE clause (district or neighbour, skill, a common language,
        a common day, free hours, a valid certificate for work with children); the ORDER BY is
        the domain's score in the same whole hundredths (``domain.assess``: district, first
        language, skill, schedule and load shares floored, MSO), ties by volunteer id. So only
        ``limit`` rows leave the database, and the domain re-checks, scores and explains them.
        The benchmark compares the result with the domain ranking everyone (a full scan).
        """
        days = weekdays_mask(request.weekdays)
        rows = await self.db.fetch(
            f"""SELECT {_CANDIDATE}, count(*) OVER () AS qualified FROM volunteers
                WHERE status = 'active'
                  AND match_keys && $19::int[]
                  AND skills_mask & $1::int <> 0
                  AND districts_mask & $2::int <> 0
                  AND ($3::int = 0 OR weekdays_mask & $3::int <> 0)
                  AND hours_per_week - committed_hours >= $4::int
                  AND (NOT $5 OR certificate_valid_until >= $6)
                  AND languages && $7::text[]
                ORDER BY
                  CASE WHEN districts_mask & $8::int <> 0 THEN $9::int ELSE $10::int END
                  + CASE WHEN languages @> ARRAY[$11::text] THEN $12::int ELSE $13::int END
                  + CASE WHEN $3::int = 0 THEN $14::int
                         ELSE $14::int * bit_count((weekdays_mask & $3::int)::bit(7))::int
                              / $15::int
                    END
                  + $16::int * (hours_per_week - committed_hours - $4::int) / hours_per_week
                  + CASE WHEN mso THEN $17::int ELSE 0 END
                  DESC,
                  volunteer_id
                LIMIT $18::int""",
            skills_mask([request.kind]),
            districts_mask(reachable),
            days,
            request.hours_per_week,
            request.involves_children,
            today,
            list(request.languages),
            districts_mask([request.district]),
            DISTRICT_SAME,
            DISTRICT_NEIGHBOURING,
            request.languages[0],
            LANGUAGE_FIRST,
            LANGUAGE_OTHER,
            SCHEDULE,
            len(request.weekdays),
            LOAD,
            MSO_BONUS,
            limit,
            match_keys([request.kind], reachable),
        )
        return [_candidate(r) for r in rows], rows[0]["qualified"] if rows else 0

    async def all_volunteers(self) -> list[Volunteer]:
        """Every volunteer (the naive full-scan baseline of the benchmark)."""
        rows = await self.db.fetch(f"SELECT {_CANDIDATE} FROM volunteers")
        return [_candidate(r) for r in rows]

    async def expiring_certificates(
        self, *, until: date, limit: int, offset: int
    ) -> list[Volunteer]:
        """Volunteers (not withdrawn) whose certificate runs out by ``until``, soonest first."""
        rows = await self.db.fetch(
            f"""SELECT {_VOLUNTEER} FROM volunteers
                WHERE status <> 'withdrawn' AND certificate_valid_until <= $1
                ORDER BY certificate_valid_until, volunteer_id
                LIMIT $2 OFFSET $3""",
            until,
            limit,
            offset,
        )
        return [_volunteer(r) for r in rows]

    # -- initiatives

    async def add_initiative(self, i: Initiative) -> None:
        await self.db.execute(
            f"INSERT INTO initiatives ({_INITIATIVE}) VALUES ($1, $2, $3, $4, $5)",
            i.initiative_id,
            i.name,
            i.kind.value,
            sorted(i.districts),
            sorted(i.site_ids),
        )

    async def save_initiative(self, i: Initiative) -> None:
        await self.db.execute(
            "UPDATE initiatives SET districts = $2, site_ids = $3 WHERE initiative_id = $1",
            i.initiative_id,
            sorted(i.districts),
            sorted(i.site_ids),
        )

    async def get_initiative(
        self, initiative_id: uuid.UUID, *, for_update: bool = False
    ) -> Initiative | None:
        row = await self._one(
            "initiatives", _INITIATIVE, "initiative_id", initiative_id, for_update
        )
        return _initiative(row) if row else None

    async def list_initiatives(
        self, *, district: int | None, kind: InitiativeKind | None, limit: int, offset: int
    ) -> list[Initiative]:
        rows = await self.db.fetch(
            f"""SELECT {_INITIATIVE} FROM initiatives
                WHERE ($1::int IS NULL OR districts @> ARRAY[$1::int])
                  AND ($2::text IS NULL OR kind = $2)
                ORDER BY name, initiative_id LIMIT $3 OFFSET $4""",
            district,
            kind.value if kind else None,
            limit,
            offset,
        )
        return [_initiative(r) for r in rows]

    # -- support requests

    async def add_request(self, r: SupportRequest) -> bool:
        """Insert unless the id is known; False for a repeat (changes nothing)."""
        row = await self.db.fetchrow(
            f"""INSERT INTO support_requests ({_REQUEST})
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                ON CONFLICT (request_id) DO NOTHING RETURNING request_id""",
            r.request_id,
            r.kind.value,
            r.district,
            list(r.languages),
            sorted(r.weekdays),
            r.hours_per_week,
            r.involves_children,
            r.requested_on,
            r.source.value,
            r.case_id,
            r.status.value,
            r.flagged_overdue_on,
        )
        return row is not None

    async def save_request(self, r: SupportRequest) -> None:
        await self.db.execute(
            """UPDATE support_requests SET status = $2, flagged_overdue_on = $3
               WHERE request_id = $1""",
            r.request_id,
            r.status.value,
            r.flagged_overdue_on,
        )

    async def get_request(
        self, request_id: uuid.UUID, *, for_update: bool = False
    ) -> SupportRequest | None:
        row = await self._one("support_requests", _REQUEST, "request_id", request_id, for_update)
        return _request(row) if row else None

    async def lock_requests_of_case(self, case_id: uuid.UUID) -> list[SupportRequest]:
        rows = await self.db.fetch(
            f"""SELECT {_REQUEST} FROM support_requests
                WHERE case_id = $1 AND status <> 'closed' ORDER BY request_id FOR UPDATE""",
            case_id,
        )
        return [_request(r) for r in rows]

    async def lock_requests(
        self, request_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, SupportRequest]:
        return await self._lock("support_requests", _REQUEST, "request_id", request_ids, _request)

    async def list_requests(
        self,
        *,
        status: RequestStatus | None,
        district: int | None,
        overdue: bool | None,
        limit: int,
        offset: int,
    ) -> list[SupportRequest]:
        rows = await self.db.fetch(
            f"""SELECT {_REQUEST} FROM support_requests
                WHERE ($1::text IS NULL OR status = $1) AND ($2::int IS NULL OR district = $2)
                  AND ($3::boolean IS NULL
                       OR (flagged_overdue_on IS NOT NULL AND status = 'open') = $3)
                ORDER BY requested_on DESC, request_id LIMIT $4 OFFSET $5""",
            status.value if status else None,
            district,
            overdue,
            limit,
            offset,
        )
        return [_request(r) for r in rows]

    async def flag_overdue(self, opened_before: date, today: date) -> list[uuid.UUID]:
        """Flag open requests waiting since before ``opened_before``; the newly flagged ids.
        Another replica's rows are skipped, not waited for."""
        rows = await self.db.fetch(
            """UPDATE support_requests SET flagged_overdue_on = $2
               WHERE request_id IN (
                   SELECT request_id FROM support_requests
                   WHERE status = 'open' AND flagged_overdue_on IS NULL AND requested_on < $1
                   FOR UPDATE SKIP LOCKED)
               RETURNING request_id""",
            opened_before,
            today,
        )
        return [r["request_id"] for r in rows]

    # -- matches

    async def add_match(self, m: Match) -> None:
        await self.db.execute(
            f"""INSERT INTO matches ({_MATCH})
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
            m.match_id,
            m.request_id,
            m.volunteer_id,
            m.district,
            m.skill.value,
            m.involves_children,
            m.hours_per_week,
            m.matched_on,
            m.score,
            m.status.value,
            m.ended_on,
            m.end_reason.value if m.end_reason else None,
        )

    async def save_matches(self, matches: Iterable[Match]) -> None:
        await self.db.executemany(
            "UPDATE matches SET status = $2, ended_on = $3, end_reason = $4 WHERE match_id = $1",
            [
                (
                    m.match_id,
                    m.status.value,
                    m.ended_on,
                    m.end_reason.value if m.end_reason else None,
                )
                for m in matches
            ],
        )

    async def get_match(self, match_id: uuid.UUID, *, for_update: bool = False) -> Match | None:
        row = await self._one("matches", _MATCH, "match_id", match_id, for_update)
        return _match(row) if row else None

    async def active_matches(
        self,
        *,
        volunteer_id: uuid.UUID | None = None,
        request_ids: Sequence[uuid.UUID] | None = None,
        for_update: bool = False,
    ) -> list[Match]:
        lock = lock_clause(for_update)
        rows = await self.db.fetch(
            f"""SELECT {_MATCH} FROM matches
                WHERE status = 'active' AND ($1::uuid IS NULL OR volunteer_id = $1)
                  AND ($2::uuid[] IS NULL OR request_id = ANY($2::uuid[]))
                ORDER BY match_id{lock}""",
            volunteer_id,
            list(request_ids) if request_ids is not None else None,
        )
        return [_match(r) for r in rows]

    async def expired_children_matches(self, today: date, limit: int) -> list[Match]:
        """Running matches with children whose volunteer's certificate is no longer valid."""
        rows = await self.db.fetch(
            f"""SELECT {", ".join("m." + c.strip() for c in _MATCH.split(","))}
                FROM matches m JOIN volunteers v USING (volunteer_id)
                WHERE m.status = 'active' AND m.involves_children
                  AND (v.certificate_valid_until IS NULL OR v.certificate_valid_until < $1)
                ORDER BY m.match_id LIMIT $2""",
            today,
            limit,
        )
        return [_match(r) for r in rows]

    async def list_matches(
        self,
        *,
        volunteer_id: uuid.UUID | None,
        request_id: uuid.UUID | None,
        status: MatchStatus | None,
        limit: int,
        offset: int,
    ) -> list[Match]:
        rows = await self.db.fetch(
            f"""SELECT {_MATCH} FROM matches
                WHERE ($1::uuid IS NULL OR volunteer_id = $1)
                  AND ($2::uuid IS NULL OR request_id = $2)
                  AND ($3::text IS NULL OR status = $3)
                ORDER BY matched_on DESC, match_id LIMIT $4 OFFSET $5""",
            volunteer_id,
            request_id,
            status.value if status else None,
            limit,
            offset,
        )
        return [_match(r) for r in rows]

    # -- hours

    async def get_matches(self, match_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Match]:
        rows = await self.db.fetch(
            f"SELECT {_MATCH} FROM matches WHERE match_id = ANY($1::uuid[])",
            sorted(set(match_ids)),
        )
        return {r["match_id"]: _match(r) for r in rows}

    async def add_hours(self, entries: Sequence[HoursEntry]) -> None:
        # One statement for a whole sheet: a month's sheet has a line per tandem (about
        # 500 in 2016), and a round trip per line cost more than the lines themselves.
        if not entries:
            return
        await self.db.execute(
            """INSERT INTO hours (entry_id, volunteer_id, match_id, district, worked_on, hours)
               SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::integer[],
                                    $5::date[], $6::numeric[])""",
            [e.entry_id for e in entries],
            [e.volunteer_id for e in entries],
            [e.match_id for e in entries],
            [e.district for e in entries],
            [e.worked_on for e in entries],
            [e.hours for e in entries],
        )

    async def hours_of(self, volunteer_id: uuid.UUID) -> float:
        total = await self.db.fetchval(
            "SELECT coalesce(sum(hours), 0) FROM hours WHERE volunteer_id = $1", volunteer_id
        )
        return float(total)

    # -- coverage

    async def district_figures(self, today: date) -> list[DistrictFigures]:
        """Per Stadtbezirk: who reaches it, what runs and waits there, which initiatives help."""
        rows = await self.db.fetch(
            """WITH d AS (SELECT generate_series(1, 13) AS district),
               v AS (SELECT dd AS district,
                            count(*) AS active,
                            count(*) FILTER (WHERE certificate_valid_until >= $1) AS certified,
                            count(*) FILTER (WHERE mso) AS mso
                     FROM volunteers CROSS JOIN LATERAL unnest(districts) dd
                     WHERE status = 'active' GROUP BY dd),
               m AS (SELECT district, count(*) AS n FROM matches WHERE status = 'active'
                     GROUP BY 1),
               r AS (SELECT district, count(*) AS open,
                            count(*) FILTER (WHERE flagged_overdue_on IS NOT NULL) AS overdue
                     FROM support_requests WHERE status = 'open' GROUP BY 1),
               i AS (SELECT dd AS district, array_agg(DISTINCT name) AS names,
                            count(DISTINCT s) AS sites
                     FROM initiatives CROSS JOIN LATERAL unnest(districts) dd
                          LEFT JOIN LATERAL unnest(site_ids) s ON true
                     GROUP BY dd)
               SELECT d.district, coalesce(v.active, 0) AS active,
                      coalesce(v.certified, 0) AS certified,
                      coalesce(v.mso, 0) AS mso, coalesce(m.n, 0) AS matches,
                      coalesce(r.open, 0) AS open, coalesce(r.overdue, 0) AS overdue,
                      coalesce(i.names, '{}') AS names, coalesce(i.sites, 0) AS sites
               FROM d LEFT JOIN v USING (district) LEFT JOIN m USING (district)
                      LEFT JOIN r USING (district) LEFT JOIN i USING (district)
               ORDER BY d.district""",
            today,
        )
        return [
            DistrictFigures(
                district=r["district"],
                active_volunteers=r["active"],
                certified_volunteers=r["certified"],
                mso_volunteers=r["mso"],
                active_matches=r["matches"],
                open_requests=r["open"],
                overdue_requests=r["overdue"],
                initiatives=tuple(sorted(r["names"])),
                sites=r["sites"],
            )
            for r in rows
        ]
