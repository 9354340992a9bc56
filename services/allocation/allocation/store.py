"""Allocation's repository: SQL for households, quota periods and the site replica.

``AllocationStore`` is the port the handlers use (``tx.store``); ``PgAllocationStore`` is
its PostgreSQL implementation, over the unit of work's connection, or over the pool for
the API's read-only queries (which only it offers). The in-memory twin for unit tests is
``tests/fakes/allocation.py``; ``tests/contract/test_allocation_store_contract.py`` runs
the same scenarios against both.
Every household that a transaction changes is locked first (``FOR UPDATE``), so two
replicas, or a command and a consumer, never change one household at the same time.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any, Protocol

import asyncpg
from ankommen_contracts import BuildingKind, Pillar, Suitability
from ankommen_contracts.events.allocation import (
    PlacementDecided,
    QuotaPeriodAnnounced,
    RelocationReason,
)
from ankommen_contracts.events.housing import (
    BedReserved,
    OccupantCheckedIn,
    OccupantCheckedOut,
    ReservationReleased,
    ShelterCapacityChanged,
    ShelterOpened,
    ShelterPlanned,
    Unit,
)
from ankommen_runtime.pagination import PageRequest, fetch_page
from ankommen_runtime.store import Db, ReadAhead
from ankommen_runtime.store import for_update as lock_clause
from pydantic import TypeAdapter

from .domain import (
    DEFAULT_POLICY,
    UNASSESSED_PILLAR,
    Board,
    EmergencyResident,
    HistoryEntry,
    Home,
    Household,
    HouseholdStatus,
    IntakeMember,
    Placement,
    PlacementPolicy,
    Readiness,
    SiteOption,
    SiteStatus,
    dissolution_key,
    shelter_dissolution_key,
)

_MEMBERS = TypeAdapter(list[IntakeMember])
_BUILDINGS = {b.value: b for b in BuildingKind}
_PILLARS = {p.value: p for p in Pillar}
# Living in a Notunterkunft with no move under way: the predicate of the partial index
# households_in_emergency, written as it is there so the planner can use it.
_IN_EMERGENCY = "status = 'housed' AND site_pillar = 'notunterkunft' AND pending IS NULL"
_RESIDENT = "household_id, checked_in_at, vulnerable, persons, ready_for, site_id"

# The shelters with residents, one index probe each (a loose index scan), with what
# orders them and how many residents each has, counted up to ``$1`` (an index-only count
# that stops there); an unknown site is an "other" building with no closing date.
_RESIDENT_SHELTERS = f"""WITH RECURSIVE resident_sites(site_id) AS (
            (SELECT site_id FROM households WHERE {_IN_EMERGENCY}
             ORDER BY site_id LIMIT 1)
            UNION ALL
            SELECT (SELECT h.site_id FROM households h
                    WHERE {_IN_EMERGENCY} AND h.site_id > r.site_id
                    ORDER BY h.site_id LIMIT 1)
            FROM resident_sites r WHERE r.site_id IS NOT NULL
        )
        SELECT r.site_id, s.closes_on, coalesce(s.building, 'other') AS building,
               (SELECT count(*) FROM (SELECT 1 FROM households h
                                      WHERE {_IN_EMERGENCY} AND h.site_id = r.site_id
                                      LIMIT $1) c) AS residents
        FROM resident_sites r LEFT JOIN sites s ON s.site_id = r.site_id
        WHERE r.site_id IS NOT NULL"""


@cache
def _first_residents(whole: int, last: int, vulnerable_first: bool) -> str:
    """Every resident of ``whole`` shelters (at most ``$1`` each), and of ``last`` more
    shelters the first so many (the next parameter) in the order of shelters of one key:
    the vulnerable first if the policy says so, then the longest stay (then by id). The
    shelters' ids follow, the whole ones first.

    One branch per shelter (and kind, for the last ones), each in the order of the index
    ``households_in_emergency`` and with a limit, so no plan reads more than that limit
    of a branch. Without it the planner's estimate decided: at a hundred times Hannover
    (112,523 residents in 50 shelters, 5 Dec 2026) it switched to a parallel scan of every
    branch and one sort, 170–400 ms a call instead of 1–4 ms, on every freeing event."""
    limits = ["$1"] * bool(whole) + [f"${1 + bool(whole)}"] * bool(last)
    site = 1 + len(limits)  # the first shelter's parameter
    parts = [
        f"""(SELECT {_RESIDENT} FROM households
             WHERE {_IN_EMERGENCY} AND site_id = ${site + i}
             ORDER BY vulnerable, checked_in_at, household_id LIMIT $1)"""
        for i in range(whole)
    ]
    if last:
        branches = [
            f"""(SELECT {_RESIDENT} FROM households
                 WHERE {_IN_EMERGENCY} AND site_id = ${site + whole + i} AND vulnerable = {v}
                 ORDER BY checked_in_at, household_id LIMIT {limits[-1]})"""
            for i in range(last)
            for v in ("true", "false")
        ]
        vulnerable = "vulnerable DESC, " if vulnerable_first else ""
        parts.append(
            f"""(SELECT * FROM ({" UNION ALL ".join(branches)}) first
                 ORDER BY {vulnerable}checked_in_at, household_id LIMIT {limits[-1]})"""
        )
    return " UNION ALL ".join(parts)


# ---------------------------------------------------------------------------------------
# Quota periods
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuotaPeriod:
    quota_period_id: uuid.UUID
    starts_on: date
    ends_on: date
    expected_persons: int
    weekly_quota: int
    announced_at: datetime
    assigned_households: int = 0
    assigned_persons: int = 0  # against the quota: unaccompanied minors counted apart
    unaccompanied_minors: int = 0  # referred to youth welfare, not counted against it


_QUOTA_COLUMNS = "quota_period_id, starts_on, ends_on, expected_persons, weekly_quota, announced_at"


# ---------------------------------------------------------------------------------------
# Households
# ---------------------------------------------------------------------------------------

_HOUSEHOLD_COLUMNS = """household_id, land_reference, quota_period_id, members, assigned_at,
    status, site_id, site_pillar, site_district, checked_in_at, pending, decided_at,
    reserved_until, relocation_reason, tried_site_ids, cancelled_reservation_ids, attempts,
    waitlisted_since, ready_for, ready_for_own_tenancy, readiness_assessed_on,
    readiness_reason, expected_arrival_at"""


def _household(row: asyncpg.Record) -> Household:
    home = (
        Home(row["site_id"], Pillar(row["site_pillar"]), row["site_district"], row["checked_in_at"])
        if row["site_id"] is not None
        else None
    )
    readiness = (
        Readiness(
            Pillar(row["ready_for"]),
            row["ready_for_own_tenancy"],
            row["readiness_assessed_on"],
            row["readiness_reason"],
        )
        if row["ready_for"] is not None
        else None
    )
    return Household(
        household_id=row["household_id"],
        land_reference=row["land_reference"],
        quota_period_id=row["quota_period_id"],
        members=tuple(_MEMBERS.validate_json(row["members"])),
        assigned_at=row["assigned_at"],
        status=HouseholdStatus(row["status"]),
        home=home,
        placement=Placement(
            PlacementDecided.model_validate_json(row["pending"]),
            decided_at=row["decided_at"],
            reserved_until=row["reserved_until"],
        )
        if row["pending"]
        else None,
        relocation_reason=RelocationReason(row["relocation_reason"])
        if row["relocation_reason"]
        else None,
        tried_site_ids=list(row["tried_site_ids"]),
        cancelled_reservation_ids=list(row["cancelled_reservation_ids"]),
        attempts=row["attempts"],
        waitlisted_since=row["waitlisted_since"],
        readiness=readiness,
        expected_arrival_at=row["expected_arrival_at"],
    )


def _mutable(h: Household) -> tuple[Any, ...]:
    """The columns a transition may change, in the order of ``_MUTABLE``."""
    r = h.readiness
    return (
        h.status.value,
        h.home.site_id if h.home else None,
        h.home.pillar.value if h.home else None,
        h.home.district if h.home else None,
        h.home.checked_in_at if h.home else None,
        h.placement.request.model_dump_json() if h.placement else None,
        h.placement.decided_at if h.placement else None,
        h.placement.reserved_until if h.placement else None,
        h.relocation_reason.value if h.relocation_reason else None,
        h.tried_site_ids,
        h.cancelled_reservation_ids,
        h.attempts,
        h.waitlisted_since,
        r.ready_for.value if r else None,
        r.ready_for_own_tenancy if r else None,
        r.assessed_on if r else None,
        r.reason if r else None,
        h.expected_arrival_at,
    )


_MUTABLE = """status, site_id, site_pillar, site_district, checked_in_at, pending, decided_at,
    reserved_until, relocation_reason, tried_site_ids, cancelled_reservation_ids, attempts,
    waitlisted_since, ready_for, ready_for_own_tenancy, readiness_assessed_on,
    readiness_reason, expected_arrival_at"""
_COLUMNS = [c.strip() for c in _MUTABLE.split(",")]
_MUTABLE_PARAMS = ", ".join(f"${i}" for i in range(8, 8 + len(_COLUMNS)))
_SET = ", ".join(f"{c} = ${i}" for i, c in enumerate(_COLUMNS, start=2))
# When a new request goes out (the pending one changes), the wall clock's moment is kept
# for the saga's technical timeout; business time (decided_at) is never used for it.
_PENDING = f"${2 + _COLUMNS.index('pending')}::jsonb"
_SENT = f"""request_sent_at = CASE WHEN {_PENDING} IS NULL THEN NULL
    WHEN households.pending IS DISTINCT FROM {_PENDING} THEN clock_timestamp()
    ELSE households.request_sent_at END,
    request_resends = CASE WHEN households.pending IS DISTINCT FROM {_PENDING} THEN 0
    ELSE households.request_resends END"""


def _history_columns(entries: Sequence[HistoryEntry]) -> tuple[list[Any], ...]:
    """Lines of a household's story as the columns ``_append_history`` unnests."""
    return (
        [e.at for e in entries],
        [e.kind for e in entries],
        [e.site_id for e in entries],
        [e.reservation_id for e in entries],
        [e.attempt for e in entries],
        [e.reason for e in entries],
    )


def _append_history(household: str, first: int) -> str:
    """``INSERT`` of the lines given as ``_history_columns`` from parameter ``$first`` on,
    for the household of the CTE ``household`` (none if it has no row): in their order,
    as the ids that ``history`` sorts by are drawn."""
    return f"""INSERT INTO placement_history (household_id, at, kind, site_id, reservation_id,
                                               attempt, reason)
        SELECT {household}.household_id, e.at, e.kind, e.site_id, e.reservation_id,
               e.attempt, e.reason
        FROM {household}, unnest(${first}::timestamptz[], ${first + 1}::text[],
                                 ${first + 2}::uuid[], ${first + 3}::uuid[],
                                 ${first + 4}::integer[], ${first + 5}::text[])
             WITH ORDINALITY AS e(at, kind, site_id, reservation_id, attempt, reason, n)
        ORDER BY e.n"""


_INSERT_HOUSEHOLD = f"""WITH inserted AS (
        INSERT INTO households (household_id, land_reference, request, quota_period_id,
                                members, persons, special_needs, {_MUTABLE}, assigned_at,
                                minors_referred, vulnerable, request_sent_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, {_MUTABLE_PARAMS}, ${8 + len(_COLUMNS)},
                ${9 + len(_COLUMNS)}, ${10 + len(_COLUMNS)},
                CASE WHEN ${8 + _COLUMNS.index("pending")}::jsonb IS NULL THEN NULL
                     ELSE clock_timestamp() END)
        ON CONFLICT (land_reference) DO NOTHING RETURNING household_id
    ), noted AS ({_append_history("inserted", 11 + len(_COLUMNS))})
    SELECT household_id FROM inserted"""

_SAVED = f"UPDATE households SET {_SET}, {_SENT}, updated_at = now() WHERE household_id = $1"
# The lines of history a save notes, for the household of the CTE ``saved``.
_NOTED = _append_history("saved", 2 + len(_COLUMNS))
_SAVE_HOUSEHOLD = f"WITH saved AS ({_SAVED} RETURNING household_id) {_NOTED}"
# The parameters of a household's save: $1 to $SAVE_PARAMS (``_save_args``); a replica's
# change saved with it in one statement numbers its own from the next one on.
_SAVE_PARAMS = 1 + len(_COLUMNS) + 6


def _save_args(h: Household) -> tuple[Any, ...]:
    return (h.household_id, *_mutable(h), *_history_columns(h.history))


def _after_save(sql: str) -> str:
    """``sql`` with its parameters $1, $2, … renumbered to follow a household's save."""
    return re.sub(r"\$(\d+)", lambda m: f"${int(m.group(1)) + _SAVE_PARAMS}", sql)


@dataclass(frozen=True)
class Waiting:
    """A waitlisted household and its open PlacementFailed alert."""

    household_id: uuid.UUID
    persons: int
    special_needs: list[str]
    waitlisted_since: datetime
    site_id: uuid.UUID | None  # the closing site it still lives in, if any
    reason: str


# ---------------------------------------------------------------------------------------
# The site replica, folded from housing.events
# ---------------------------------------------------------------------------------------

_SITE_COLUMNS = (
    "site_id, name, pillar, district, suitability, status, capacity, blocked, reserved, occupied,"
    " building, closes_on"
)


@dataclass(frozen=True)
class SiteRow:
    site_id: uuid.UUID
    name: str
    pillar: Pillar
    district: int
    suitability: list[str]
    status: SiteStatus
    capacity: int
    blocked: int
    reserved: int
    occupied: int
    building: BuildingKind
    closes_on: date | None
    requested: int  # places of allocation's own requests housing has not answered yet
    free_units: list[int] | None  # flats: places of each flat nobody rents; else None

    @property
    def free(self) -> int:
        return self.capacity - self.blocked - self.reserved - self.occupied - self.requested


# Places allocation asked for and housing has not answered count as taken: without them,
# every decision of one batch would pick the same "most free" site and most be rejected.
_SITES_WITH_REQUESTS = f"""
    SELECT {", ".join("s." + c.strip() for c in _SITE_COLUMNS.split(","))},
           coalesce(r.requested, 0) AS requested,
           (SELECT count(*) FROM site_units u WHERE u.site_id = s.site_id) AS all_units,
           (SELECT array_agg(u.places ORDER BY u.places) FROM site_units u
            WHERE u.site_id = s.site_id
              AND NOT EXISTS (SELECT 1 FROM site_reservations sr
                              WHERE sr.unit_id = u.unit_id AND sr.state = 'held')
              AND NOT EXISTS (SELECT 1 FROM site_occupants so
                              WHERE so.unit_id = u.unit_id)) AS free_units
    FROM sites s
    LEFT JOIN (SELECT pending_site_id, sum(persons) AS requested FROM households
               WHERE pending IS NOT NULL AND reserved_until IS NULL
               GROUP BY pending_site_id) r ON r.pending_site_id = s.site_id"""


def _site_row(row: asyncpg.Record) -> SiteRow:
    fields = {k: v for k, v in dict(row).items() if k != "all_units"}
    return SiteRow(
        **{
            **fields,
            "pillar": Pillar(row["pillar"]),
            "status": SiteStatus(row["status"]),
            "suitability": list(row["suitability"]),
            "building": BuildingKind(row["building"]),
            # A site with flats: the free ones (none free: an empty list); else None.
            "free_units": list(row["free_units"] or []) if row["all_units"] else None,
        }
    )


def _option(site: SiteRow) -> SiteOption:
    return SiteOption(
        site_id=site.site_id,
        name=site.name,
        pillar=site.pillar,
        district=site.district,
        suitability=frozenset(Suitability(s) for s in site.suitability),
        status=site.status,
        free=site.free,
        building=site.building,
        closes_on=site.closes_on,
        free_units=tuple(site.free_units) if site.free_units is not None else None,
    )


class AllocationStore(Protocol):
    """What allocation's handlers need of their data (the port): households, quota periods
    and the replica of housing's sites. ``PgAllocationStore`` keeps it on PostgreSQL; every
    method runs inside the handler's transaction, so a failed one leaves nothing behind.

    Households come back as fresh ``Household`` objects (no events, no history pending);
    a change reaches the store only through ``save_household``."""

    # -- quota periods (Aufnahmequote) --------------------------------------------------

    async def add_quota_period(self, event: QuotaPeriodAnnounced, at: datetime) -> bool:
        """Record the announced period (``at``: business time); False, and nothing changed,
        if a period with this id exists already."""
        ...

    async def known_quota_periods(self, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Those of ``ids`` that are recorded periods."""
        ...

    async def list_quota_periods(
        self, quota_period_id: uuid.UUID | None = None
    ) -> list[QuotaPeriod]:
        """Every period (or only the one named; none if unknown), ordered by ``starts_on``
        then id, with what was assigned against it: households with someone to place,
        their persons, and the unaccompanied minors referred to youth welfare apart."""
        ...

    # -- households ---------------------------------------------------------------------

    async def insert_household(self, h: Household, request: dict[str, Any]) -> bool:
        """Register a new household with the assignment as received (``request``) and the
        lines its transitions noted (``h.history``); False, and nothing changed, if its
        ``land_reference`` is registered already. A household inserted with a pending
        request counts as sent now (wall clock, for the timeout)."""
        ...

    async def save_household(self, h: Household) -> None:
        """Keep what a transition may change (status, home, placement, relocation, tries,
        waitlist, readiness, expected arrival) and append the lines it noted to the
        household's story (``h.history``, in order); the identity, members and assignment
        stay. When the pending request changes, it counts as sent now (wall clock); without
        one, as never sent. An unregistered household: nothing changes."""
        ...

    async def assignments_by_reference(
        self, references: Sequence[str]
    ) -> dict[str, tuple[uuid.UUID, dict[str, Any], HouseholdStatus]]:
        """Households registered for these Land references: id, the assignment as received,
        status; references not registered are absent."""
        ...

    async def get_household(
        self, household_id: uuid.UUID, *, for_update: bool = False
    ) -> Household | None:
        """The household, or None; ``for_update`` locks it until the transaction ends."""
        ...

    async def prefetch_households(self, household_ids: Sequence[uuid.UUID]) -> None:
        """Lock these households (in id order) and read them now, so that the next
        ``get_household(…, for_update=True)`` of each in this transaction answers without a
        round trip: the same answer it would have read, however the transaction changes
        households meanwhile (a consumed batch's ``prefetch``)."""
        ...

    async def lock_at_site(self, site_id: uuid.UUID) -> list[Household]:
        """Everyone living at the site or with a request for places there (pending or
        held), locked, oldest assignment first (then by id)."""
        ...

    async def lock_waitlist(self, limit: int) -> list[Household]:
        """At most ``limit`` households to place again, locked, skipping any another
        transaction holds: waitlisted ones by ``waitlisted_since`` first, then those whose
        relocation from a closing site is pending, by ``checked_in_at`` (then by id)."""
        ...

    async def emergency_residents(
        self, policy: PlacementPolicy, limit: int
    ) -> list[EmergencyResident]:
        """Households housed in a Notunterkunft with no request pending, with their
        shelter's closing date and building (``other`` if the site is unknown), their
        persons and the pillar their placement starts from (``UNASSESSED_PILLAR`` until
        integration assessed them): the first ``limit`` in the dissolution order
        (``dissolution_key`` under ``policy``)."""
        ...

    async def lock_households(
        self, household_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, Household]:
        """These households by id, locked; unknown ones, and those another transaction
        holds, are absent."""
        ...

    async def lock_overdue(
        self, heard: datetime, timeout: timedelta, doublings: int, limit: int
    ) -> list[Household]:
        """At most ``limit`` households whose request housing has not answered (pending,
        not held) and that went out (wall clock) more than ``timeout`` before ``heard``,
        the timeout doubled for each time the request was re-sent (``doublings`` times at
        most), locked, the longest unanswered first."""
        ...

    async def mark_sent(self, household_ids: Sequence[uuid.UUID]) -> None:
        """The requests of these households went out again now (wall clock): one re-send
        more for each."""
        ...

    async def erase_intake(self, household_id: uuid.UUID) -> bool:
        """Replace the Land's reference, in the household and in the assignment as
        received, by ``erased-<household_id>``; True if the household is known. A later
        assignment with the old reference is then a new one."""
        ...

    # -- the replica of housing's sites -------------------------------------------------

    async def load_board(self, policy: PlacementPolicy = DEFAULT_POLICY) -> Board:
        """Open sites with allocation's estimate of their free places (capacity less
        blocked, reserved, occupied and the places of requests housing has not answered;
        for flats, the flats nobody holds or lives in), deciding by ``policy``."""
        ...

    async def site_option(self, site_id: uuid.UUID) -> SiteOption | None:
        """One site as ``load_board`` sees it, whatever its status; None if unknown."""
        ...

    async def site_planned(self, d: ShelterPlanned, sequence: int) -> None:
        """A planned site (and its flats): new, or updated while still planned by a later
        ``sequence``; an older or repeated event changes nothing."""
        ...

    async def site_opened(self, d: ShelterOpened, sequence: int) -> None:
        """An open site (and its flats): new, or updated by a later ``sequence``; the
        places reserved and occupied stay."""
        ...

    async def capacity_changed(self, d: ShelterCapacityChanged, sequence: int) -> None:
        """New capacity and blocked places, if ``sequence`` is later than the site's."""
        ...

    async def site_status(self, site_id: uuid.UUID, status: SiteStatus, sequence: int) -> None:
        """The site's status, if ``sequence`` is later than the site's."""
        ...

    async def closing_date(self, site_id: uuid.UUID, closes_on: date | None, sequence: int) -> None:
        """The site's closing date, unless ``sequence`` is older than the site's (the same
        one applies: a closing event sets the status and the date)."""
        ...

    async def reservation_held(self, d: BedReserved, *, then_save: Household | None = None) -> bool:
        """Count the reservation's places as reserved at its site; False, and nothing
        changed, if this reservation was seen before. ``then_save``: the household's
        transition on the event, saved as ``save_household`` would in the same step, only
        if the reservation was new (a repeat changes nothing)."""
        ...

    async def reservation_released(self, d: ReservationReleased) -> None:
        """A held reservation's places are no longer reserved; otherwise nothing changes."""
        ...

    async def occupant_checked_in(
        self, d: OccupantCheckedIn, *, then_save: Household | None = None
    ) -> None:
        """The household lives at the site now: its held reservation (if named) no longer
        reserves places, its persons occupy them; a repeat changes nothing. ``then_save``:
        the household's transition on the event, saved as ``save_household`` would, in the
        same step."""
        ...

    async def occupant_checked_out(self, d: OccupantCheckedOut) -> None:
        """The household no longer occupies places at the site; a repeat changes nothing."""
        ...


# The members (a JSON array) without their special needs, in their order.
_WITHOUT_NEEDS = """(SELECT coalesce(jsonb_agg(m.member - 'special_needs' ORDER BY m.n), '[]')
                    FROM jsonb_array_elements({members}) WITH ORDINALITY AS m(member, n))"""


# Applies what the CTE ``changed`` (site_id, reserved, occupied) returned to the replica's
# counts, never below zero, as the statement's tail or a CTE of its own: a check-in,
# check-out or reservation is one round trip instead of two to four.
_ADJUST_SITES = """UPDATE sites AS s
    SET reserved = greatest(s.reserved + c.reserved, 0),
        occupied = greatest(s.occupied + c.occupied, 0), updated_at = now()
    FROM (SELECT site_id, sum(reserved) AS reserved, sum(occupied) AS occupied
          FROM changed GROUP BY site_id) AS c
    WHERE s.site_id = c.site_id"""


# A reservation housing holds, counted once (places reserved at its site).
_HELD = """INSERT INTO site_reservations (reservation_id, site_id, household_id, places, state,
                                       unit_id)
    VALUES ($1, $2, $3, $4, 'held', $5) ON CONFLICT (reservation_id) DO NOTHING
    RETURNING site_id, places AS reserved, 0 AS occupied"""
_RESERVATION_HELD = f"""WITH changed AS ({_HELD}), adjusted AS ({_ADJUST_SITES})
    SELECT EXISTS (SELECT FROM changed)"""
_RESERVATION_HELD_THEN_SAVED = f"""WITH changed AS ({_after_save(_HELD)}),
        adjusted AS ({_ADJUST_SITES}),
        saved AS ({_SAVED} AND EXISTS (SELECT FROM changed) RETURNING household_id),
        noted AS ({_NOTED})
    SELECT EXISTS (SELECT FROM changed)"""

# A check-in: the held reservation it names ends, the household's persons occupy places.
_MOVED_IN = """checked_in AS (
        UPDATE site_reservations SET state = 'checked_in'
        WHERE reservation_id = $5 AND state = 'held'
        RETURNING site_id, -places AS reserved, 0 AS occupied),
    moved_in AS (
        INSERT INTO site_occupants (site_id, household_id, persons, unit_id)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (site_id, household_id) DO NOTHING
        RETURNING site_id, 0 AS reserved, persons AS occupied),
    changed AS (SELECT * FROM checked_in UNION ALL SELECT * FROM moved_in)"""
_CHECKED_IN = f"WITH {_MOVED_IN} {_ADJUST_SITES}"
_CHECKED_IN_THEN_SAVED = f"""WITH {_after_save(_MOVED_IN)},
        adjusted AS ({_ADJUST_SITES}),
        saved AS ({_SAVED} RETURNING household_id)
    {_NOTED}"""


class PgAllocationStore:
    """``AllocationStore`` on PostgreSQL, plus the API's read-only queries; ``db`` is a
    transaction's connection or, for reads, the pool."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self._ahead: ReadAhead[uuid.UUID, Household] = ReadAhead()

    # -- quota periods (Aufnahmequote) --------------------------------------------------

    async def add_quota_period(self, event: QuotaPeriodAnnounced, at: datetime) -> bool:
        """Insert the period; False if its id exists already."""
        row = await self.db.fetchrow(
            f"""INSERT INTO quota_periods ({_QUOTA_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (quota_period_id) DO NOTHING RETURNING quota_period_id""",
            event.quota_period_id,
            event.starts_on,
            event.ends_on,
            event.expected_persons,
            event.weekly_quota,
            at,
        )
        return row is not None

    async def known_quota_periods(self, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        rows = await self.db.fetch(
            "SELECT quota_period_id FROM quota_periods WHERE quota_period_id = ANY($1::uuid[])", ids
        )
        return {r["quota_period_id"] for r in rows}

    async def list_quota_periods(
        self, quota_period_id: uuid.UUID | None = None
    ) -> list[QuotaPeriod]:
        """Periods (all, or one) with the households and persons assigned against them so far."""
        rows = await self.db.fetch(
            f"""SELECT {", ".join("q." + c.strip() for c in _QUOTA_COLUMNS.split(","))},
                       count(h.household_id) FILTER (WHERE h.persons > 0) AS assigned_households,
                       coalesce(sum(h.persons), 0) AS assigned_persons,
                       coalesce(sum(h.minors_referred), 0) AS unaccompanied_minors
                FROM quota_periods q LEFT JOIN households h USING (quota_period_id)
                WHERE $1::uuid IS NULL OR q.quota_period_id = $1
                GROUP BY q.quota_period_id ORDER BY q.starts_on, q.quota_period_id""",
            quota_period_id,
        )
        return [QuotaPeriod(**dict(r)) for r in rows]

    async def weekly_assignments(self) -> dict[uuid.UUID, list[tuple[date, int]]]:
        """Persons assigned per quota week, per quota period: the ISO week (starting Monday)
        of the Land's decision in Hannover's calendar (business time, not when it was entered)."""
        rows = await self.db.fetch(
            """SELECT quota_period_id,
                      date_trunc('week', assigned_at AT TIME ZONE 'Europe/Berlin')::date AS week,
                      sum(persons) AS persons
               FROM households WHERE quota_period_id IS NOT NULL AND persons > 0
               GROUP BY 1, 2 ORDER BY 1, 2"""
        )
        weeks: dict[uuid.UUID, list[tuple[date, int]]] = {}
        for r in rows:
            weeks.setdefault(r["quota_period_id"], []).append((r["week"], r["persons"]))
        return weeks

    # -- households ---------------------------------------------------------------------

    async def insert_household(self, h: Household, request: dict[str, Any]) -> bool:
        """Insert a new household and its story so far; False if its land_reference exists
        (a concurrent repeat).

        ``ON CONFLICT DO NOTHING`` waits for a concurrent insert of the same reference, so two
        identical requests at once still create one household.
        """
        self._ahead.forget([h.household_id])
        row = await self.db.fetchrow(
            _INSERT_HOUSEHOLD,
            h.household_id,
            h.land_reference,
            json.dumps(request),
            h.quota_period_id,
            _MEMBERS.dump_json(list(h.members)).decode(),
            h.persons,
            [n.value for n in h.special_needs],
            *_mutable(h),
            h.assigned_at,
            len(h.referred),
            h.vulnerable,
            *_history_columns(h.history),
        )
        return row is not None

    async def save_household(self, h: Household) -> None:
        # One statement for the row and its new lines of history: a transition is saved
        # at nearly every event, and each round trip costs more than the work it carries.
        self._ahead.forget([h.household_id])
        await self.db.execute(_SAVE_HOUSEHOLD, *_save_args(h))

    async def assignments_by_reference(
        self, references: Sequence[str]
    ) -> dict[str, tuple[uuid.UUID, dict[str, Any], HouseholdStatus]]:
        """Households already registered for these Land references: id, request, status."""
        rows = await self.db.fetch(
            """SELECT land_reference, household_id, request, status FROM households
               WHERE land_reference = ANY($1::text[])""",
            list(references),
        )
        return {
            r["land_reference"]: (
                r["household_id"],
                json.loads(r["request"]),
                HouseholdStatus(r["status"]),
            )
            for r in rows
        }

    async def lock_at_site(self, site_id: uuid.UUID) -> list[Household]:
        """Everyone living at a site or holding or requesting places there, oldest first."""
        rows = await self.db.fetch(
            f"""SELECT {_HOUSEHOLD_COLUMNS} FROM households
                WHERE site_id = $1 OR pending_site_id = $1
                ORDER BY assigned_at, household_id FOR UPDATE""",
            site_id,
        )
        return [_household(r) for r in rows]

    async def lock_waitlist(self, limit: int) -> list[Household]:
        """The oldest waitlisted households that no other transaction is working on; then
        residents of closing sites whose relocation is pending (they still have a bed)."""
        rows = await self.db.fetch(
            f"""SELECT {_HOUSEHOLD_COLUMNS} FROM households
                WHERE status IN ('waitlisted', 'relocation_pending')
                ORDER BY status = 'relocation_pending', waitlisted_since, checked_in_at,
                         household_id
                LIMIT $1 FOR UPDATE SKIP LOCKED""",
            limit,
        )
        return [_household(r) for r in rows]

    async def emergency_residents(
        self, policy: PlacementPolicy, limit: int
    ) -> list[EmergencyResident]:
        """Households living in Notunterkünfte with no move under way, the first ``limit``
        in the dissolution order: what ``may_find_room`` needs. Two statements whatever
        the number of shelters.

        The first finds the shelters with residents and counts each one's (up to
        ``limit`` and one: enough to tell). In the domain's order of shelters
        (``shelter_dissolution_key``) that says which shelters are taken whole and which
        key's shelters hold the last ones of the ``limit``. The second reads every
        resident of the former and the first of the latter (PostgreSQL merges each
        shelter's residents as the index ``households_in_emergency`` holds them), so a
        freeing event reads at most ``limit`` residents and counts at most ``limit`` and
        one a shelter. At a hundred times Hannover one query that sorted all residents
        took 0.75 s an event (33,000 residents). Asking key by key, and kind by kind where
        the vulnerable go first, took a statement each: up to 19 a call (4.8 ms) when the
        shelters of late 2016, each closing on its own day, had few residents. The store
        contract holds the whole order equal to ``dissolution_key``."""
        sites = await self.db.fetch(_RESIDENT_SHELTERS, limit + 1)
        shelters: dict[tuple[bool, date, int], list[asyncpg.Record]] = {}
        for site in sites:
            key = shelter_dissolution_key(site["closes_on"], _BUILDINGS[site["building"]], policy)
            shelters.setdefault(key, []).append(site)
        whole: list[uuid.UUID] = []
        last: list[uuid.UUID] = []  # the shelters of the key the limit ends in
        left = limit
        for key in sorted(shelters):
            of_key = [site["site_id"] for site in shelters[key]]
            residents = sum(site["residents"] for site in shelters[key])
            if residents > left:
                last = of_key
                break
            whole += of_key
            left -= residents
            if not left:
                break
        if not whole and not last:
            return []
        limits = [limit] * bool(whole) + [left] * bool(last)
        rows = await self.db.fetch(
            _first_residents(len(whole), len(last), policy.vulnerable_first),
            *limits,
            *whole,
            *last,
        )
        at = {site["site_id"]: site for site in sites}
        found = [
            EmergencyResident(
                r["household_id"],
                r["checked_in_at"],
                r["vulnerable"],
                at[r["site_id"]]["closes_on"],
                _BUILDINGS[at[r["site_id"]]["building"]],
                r["persons"],
                _PILLARS[r["ready_for"] or UNASSESSED_PILLAR],
            )
            for r in rows
        ]
        return sorted(found, key=lambda r: dissolution_key(r, policy))[:limit]

    async def lock_households(
        self, household_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, Household]:
        """Lock these households (in id order, skipping any another transaction holds)."""
        rows = await self.db.fetch(
            f"""SELECT {_HOUSEHOLD_COLUMNS} FROM households WHERE household_id = ANY($1::uuid[])
                ORDER BY household_id FOR UPDATE SKIP LOCKED""",
            list(household_ids),
        )
        return {r["household_id"]: _household(r) for r in rows}

    async def lock_overdue(
        self, heard: datetime, timeout: timedelta, doublings: int, limit: int
    ) -> list[Household]:
        """Households whose request housing has not answered in time (``heard`` and the
        timeout, doubled per re-send, on the wall clock)."""
        # The first condition alone is the partial index's range; the second the doubling.
        rows = await self.db.fetch(
            f"""SELECT {_HOUSEHOLD_COLUMNS} FROM households
                WHERE pending IS NOT NULL AND reserved_until IS NULL
                  AND request_sent_at < $1::timestamptz - $2::interval
                  AND request_sent_at
                      < $1::timestamptz - $2::interval * power(2, least(request_resends, $3))
                ORDER BY request_sent_at LIMIT $4 FOR UPDATE SKIP LOCKED""",
            heard,
            timeout,
            doublings,
            limit,
        )
        return [_household(r) for r in rows]

    async def mark_sent(self, household_ids: Sequence[uuid.UUID]) -> None:
        """The requests of these households went out again now (wall clock)."""
        self._ahead.forget(household_ids)
        await self.db.execute(
            """UPDATE households
               SET request_sent_at = clock_timestamp(), request_resends = request_resends + 1
               WHERE household_id = ANY($1)""",
            list(household_ids),
        )

    async def get_household(
        self, household_id: uuid.UUID, *, for_update: bool = False
    ) -> Household | None:
        if for_update:
            read, household = self._ahead.take(household_id)
            if read:
                return household
        row = await self.db.fetchrow(
            f"SELECT {_HOUSEHOLD_COLUMNS} FROM households WHERE household_id = $1"
            + lock_clause(for_update),
            household_id,
        )
        return _household(row) if row else None

    async def prefetch_households(self, household_ids: Sequence[uuid.UUID]) -> None:
        ids = sorted(set(household_ids))
        rows = await self.db.fetch(
            f"""SELECT {_HOUSEHOLD_COLUMNS} FROM households WHERE household_id = ANY($1::uuid[])
                ORDER BY household_id FOR UPDATE""",
            ids,
        )
        read = {r["household_id"]: _household(r) for r in rows}
        self._ahead.fill({household_id: read.get(household_id) for household_id in ids})

    async def list_households(
        self,
        *,
        status: HouseholdStatus | None,
        household_ids: Sequence[uuid.UUID] | None = None,
        page: PageRequest,
    ) -> tuple[list[Household], int]:
        rows, total = await fetch_page(
            self.db,
            f"""SELECT {_HOUSEHOLD_COLUMNS} FROM households
                WHERE ($1::text IS NULL OR status = $1)
                  AND ($2::uuid[] IS NULL OR household_id = ANY($2))""",
            status.value if status else None,
            household_ids,
            order_by="assigned_at, household_id",
            page=page,
        )
        return [_household(r) for r in rows], total

    async def history(self, household_id: uuid.UUID) -> list[HistoryEntry]:
        rows = await self.db.fetch(
            """SELECT at, kind, reason, site_id, reservation_id, attempt FROM placement_history
               WHERE household_id = $1 ORDER BY id""",
            household_id,
        )
        return [HistoryEntry(**dict(r)) for r in rows]

    async def waitlist(self) -> list[Waiting]:
        """Waitlisted households, oldest first, each with the reason of its alert."""
        rows = await self.db.fetch(
            """SELECT h.household_id, h.persons, h.special_needs, h.waitlisted_since, h.site_id,
                      coalesce(f.reason, '') AS reason
               FROM households h
               LEFT JOIN LATERAL (SELECT reason FROM placement_history p
                                  WHERE p.household_id = h.household_id AND p.kind = 'failed'
                                  ORDER BY p.id DESC LIMIT 1) f ON true
               WHERE h.status = 'waitlisted'
               ORDER BY h.waitlisted_since, h.household_id"""
        )
        return [Waiting(**{**dict(r), "special_needs": list(r["special_needs"])}) for r in rows]

    async def youth_welfare(self) -> list[asyncpg.Record]:
        """Assignments with minors referred to youth welfare (``persons``: the minors), also
        those whose adults the city placed."""
        return await self.db.fetch(
            """SELECT household_id, minors_referred AS persons, assigned_at, quota_period_id,
                      persons AS placed_persons
               FROM households WHERE minors_referred > 0 ORDER BY assigned_at, household_id"""
        )

    async def status_counts(self) -> list[asyncpg.Record]:
        """Households and persons by status, and by the pillar they live in (if any)."""
        return await self.db.fetch(
            # A household of unaccompanied minors only counts its minors under youth_welfare;
            # minors referred from a household the city places are counted apart (/youth-welfare).
            """SELECT status, site_pillar, count(*) AS households,
                      sum(CASE WHEN status = 'youth_welfare' THEN minors_referred ELSE persons END)
                          AS persons
               FROM households GROUP BY status, site_pillar ORDER BY status, site_pillar"""
        )

    # -- the replica of housing's sites -------------------------------------------------

    async def load_board(self, policy: PlacementPolicy = DEFAULT_POLICY) -> Board:
        """Open sites with allocation's estimate of their free places: the policy's candidates,
        decided by the city's ``policy``."""
        rows = await self.db.fetch(_SITES_WITH_REQUESTS + " WHERE s.status = 'open'")
        return Board((_option(_site_row(r)) for r in rows), policy)

    async def site_option(self, site_id: uuid.UUID) -> SiteOption | None:
        row = await self.db.fetchrow(_SITES_WITH_REQUESTS + " WHERE s.site_id = $1", site_id)
        return _option(_site_row(row)) if row else None

    async def list_sites(self) -> list[SiteRow]:
        rows = await self.db.fetch(_SITES_WITH_REQUESTS + " ORDER BY s.pillar, s.district, s.name")
        return [_site_row(r) for r in rows]

    async def site_planned(self, d: ShelterPlanned, sequence: int) -> None:
        await self.db.execute(
            """INSERT INTO sites (site_id, name, pillar, district, suitability, status, capacity,
                                  last_sequence, building, closes_on)
               VALUES ($1, $2, $3, $4, $5, 'planned', $6, $7, $8, $9)
               ON CONFLICT (site_id) DO UPDATE SET
                   name = EXCLUDED.name, pillar = EXCLUDED.pillar, district = EXCLUDED.district,
                   suitability = EXCLUDED.suitability, capacity = EXCLUDED.capacity,
                   building = EXCLUDED.building, closes_on = EXCLUDED.closes_on,
                   last_sequence = EXCLUDED.last_sequence, updated_at = now()
               WHERE sites.last_sequence < EXCLUDED.last_sequence AND sites.status = 'planned'""",
            d.site_id,
            d.name,
            d.pillar.value,
            d.district,
            [s.value for s in d.suitability],
            d.planned_capacity,
            sequence,
            d.building.value,
            d.closes_on,
        )
        await self._units(d.site_id, d.units)

    async def site_opened(self, d: ShelterOpened, sequence: int) -> None:
        # The sequence guard makes the upsert safe against stale redeliveries.
        await self.db.execute(
            """INSERT INTO sites (site_id, name, pillar, district, suitability, status, capacity,
                                  last_sequence, building, closes_on)
               VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8, $9)
               ON CONFLICT (site_id) DO UPDATE SET
                   name = EXCLUDED.name, pillar = EXCLUDED.pillar, district = EXCLUDED.district,
                   suitability = EXCLUDED.suitability, capacity = EXCLUDED.capacity,
                   building = EXCLUDED.building, closes_on = EXCLUDED.closes_on,
                   status = 'open', last_sequence = EXCLUDED.last_sequence, updated_at = now()
               WHERE sites.last_sequence < EXCLUDED.last_sequence""",
            d.site_id,
            d.name,
            d.pillar.value,
            d.district,
            [s.value for s in d.suitability],
            d.capacity,
            sequence,
            d.building.value,
            d.closes_on,
        )
        await self._units(d.site_id, d.units)

    async def _units(self, site_id: uuid.UUID, units: Sequence[Unit]) -> None:
        """A site's flats as housing declared them (idempotent: a repeat changes nothing)."""
        if units:
            await self.db.executemany(
                """INSERT INTO site_units (unit_id, site_id, places) VALUES ($1, $2, $3)
                   ON CONFLICT (unit_id) DO NOTHING""",
                [(u.unit_id, site_id, u.places) for u in units],
            )

    async def closing_date(self, site_id: uuid.UUID, closes_on: date | None, sequence: int) -> None:
        """The site's closing date; an older event than the last folded one changes nothing."""
        await self.db.execute(
            """UPDATE sites SET closes_on = $2, last_sequence = greatest(last_sequence, $3),
                                updated_at = now()
               WHERE site_id = $1 AND last_sequence <= $3""",
            site_id,
            closes_on,
            sequence,
        )

    async def capacity_changed(self, d: ShelterCapacityChanged, sequence: int) -> None:
        await self.db.execute(
            """UPDATE sites SET capacity = $2, blocked = $3, last_sequence = $4, updated_at = now()
               WHERE site_id = $1 AND last_sequence < $4""",
            d.site_id,
            d.capacity,
            d.blocked_places,
            sequence,
        )

    async def site_status(self, site_id: uuid.UUID, status: SiteStatus, sequence: int) -> None:
        await self.db.execute(
            """UPDATE sites SET status = $2, last_sequence = $3, updated_at = now()
               WHERE site_id = $1 AND last_sequence < $3""",
            site_id,
            status.value,
            sequence,
        )

    async def reservation_held(self, d: BedReserved, *, then_save: Household | None = None) -> bool:
        """Count a reservation once; False if it was seen before (housing answered a repeat).
        With ``then_save`` one statement: the count, and the household saved only if the
        count was new."""
        args = (d.reservation_id, d.site_id, d.household_id, d.places, d.unit_id)
        if then_save is None:
            held: bool = await self.db.fetchval(_RESERVATION_HELD, *args)
            return held
        self._ahead.forget([then_save.household_id])
        held = await self.db.fetchval(_RESERVATION_HELD_THEN_SAVED, *_save_args(then_save), *args)
        return held

    async def reservation_released(self, d: ReservationReleased) -> None:
        await self.db.execute(
            f"""WITH changed AS (
                    UPDATE site_reservations SET state = 'released'
                    WHERE reservation_id = $1 AND state = 'held'
                    RETURNING site_id, -places AS reserved, 0 AS occupied)
                {_ADJUST_SITES}""",
            d.reservation_id,
        )

    async def occupant_checked_in(
        self, d: OccupantCheckedIn, *, then_save: Household | None = None
    ) -> None:
        args = (d.site_id, d.household_id, d.persons, d.unit_id, d.reservation_id)
        if then_save is None:
            await self.db.execute(_CHECKED_IN, *args)
            return
        self._ahead.forget([then_save.household_id])
        await self.db.execute(_CHECKED_IN_THEN_SAVED, *_save_args(then_save), *args)

    async def occupant_checked_out(self, d: OccupantCheckedOut) -> None:
        await self.db.execute(
            f"""WITH changed AS (
                    DELETE FROM site_occupants WHERE site_id = $1 AND household_id = $2
                    RETURNING site_id, 0 AS reserved, -persons AS occupied)
                {_ADJUST_SITES}""",
            d.site_id,
            d.household_id,
        )

    async def erase_intake(self, household_id: uuid.UUID) -> bool:
        """Replace the Land's file reference by ``erased-<household_id>`` (column and the
        assignment as received) and drop the members' special needs (health data) wherever
        they are kept; True if the household is known here. A later assignment with the old
        reference is then a new one: nothing links it to the erased household. Without its
        needs, later placements of the household no longer derive site requirements from
        them (the composition's still hold)."""
        self._ahead.forget([household_id])
        result = await self.db.execute(
            f"""UPDATE households
               SET land_reference = 'erased-' || household_id::text,
                   request = jsonb_set(
                       jsonb_set(request, '{{land_reference}}',
                                 to_jsonb('erased-' || household_id::text)),
                       '{{members}}', {_WITHOUT_NEEDS.format(members="request -> 'members'")}),
                   members = {_WITHOUT_NEEDS.format(members="members")},
                   special_needs = '{{}}',
                   updated_at = now()
               WHERE household_id = $1""",
            household_id,
        )
        return result.endswith(" 1")
