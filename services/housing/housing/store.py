"""Housing's repository: the port handlers use (``HousingStore``) and its SQL adapter
(``PgHousingStore``) over a transaction's connection, or the pool for the API's reads.

The in-memory twin for unit tests (``tests/fakes/housing.py``) keeps the same promises;
``tests/contract/test_housing_store_contract.py`` runs the same scenarios against both.

Lock order, the same in every transaction so that two never wait on each other:
reservations → occupants → sites (by ``site_id``) → the runtime's ``subject_sequence``.
A site's row is locked as late as it can be: changes of its rules (capacity, status) read
it locked and save it; check-ins, check-outs and releases read it plainly and write their
change of its holding as a difference at the end (``shift_holding``), since a busy site
takes dozens of them a day and each would otherwise hold its row for a whole transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import asyncpg
from ankommen_contracts import BuildingKind, BuildingOwner, Pillar, SiteRequirement, Suitability
from ankommen_contracts.events.housing import ClosingReason, RejectionReason, ReleaseReason
from ankommen_runtime.pagination import PageRequest, fetch_page
from ankommen_runtime.store import Db
from ankommen_runtime.store import for_update as lock_clause

from .domain import (
    Flat,
    FollowUp,
    FollowUpReason,
    Holding,
    Occupant,
    Reservation,
    ReservationRequest,
    ReservationStatus,
    Resident,
    Site,
    SiteStatus,
)


class AlreadyRecorded(Exception):
    """The store holds this already: a site id taken, or a household living somewhere (a
    concurrent check-in elsewhere). Handlers answer it with a 409."""


@dataclass(frozen=True)
class Claim:
    """A reservation id claimed for the deciding transaction (or found claimed before:
    a repeat), and the site it asks for as read in the same step; None if unknown."""

    claimed: bool
    site: Site | None


class HousingStore(Protocol):
    """What housing's handlers may do with their state (the port), in one transaction.

    ``for_update`` and ``lock_…`` read what the transaction will change; on PostgreSQL they
    lock it (in the order above), so concurrent writers queue instead of losing an update;
    ``save_decision`` and ``shift_holding`` change a site's counts atomically instead.
    Objects returned are the caller's: changing one changes nothing stored until it is
    saved with the matching ``save_…``.
    """

    # -- sites ---------------------------------------------------------------------------

    async def add_site(self, site: Site) -> None:
        """Record a new site with its flats (all free); ``AlreadyRecorded`` if its id is
        taken."""
        ...

    async def get_site(self, site_id: uuid.UUID, *, for_update: bool = False) -> Site | None:
        """The site with its flats, each with the household holding it (a held
        reservation) or living in it, flats ordered by places then id; None if unknown."""
        ...

    async def get_sites(self, site_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Site]:
        """The known sites among ``site_ids`` (as ``get_site``, not locked), in ``site_id``
        order; unknown ids are left out."""
        ...

    async def save_site(self, site: Site) -> None:
        """Write back what a site's rules change: operator, capacity, blocked, reserved,
        occupied, status, closing reason and day, ``changed_at``, the rates in force. Name,
        pillar, district, suitability, building, owner and flats stay as added. Nothing for
        an unknown id."""
        ...

    async def record_site_state(self, site: Site, at: datetime) -> None:
        """Keep the site's status, capacity and blocked places from ``at`` (business time)
        on, recorded now (wall clock): what "occupancy as of" reads."""
        ...

    async def shift_holding(
        self, site_id: uuid.UUID, change: Holding, *, only_if_open: bool = False
    ) -> bool:
        """Add ``change`` to the site's reserved and occupied places in one atomic step, on
        its newest row; False, and nothing changed, if the site is unknown or, with
        ``only_if_open``, no longer open. On PostgreSQL the site's row stays locked from
        here to commit: called last, check-ins at one site queue only for their commits,
        not for each other's whole transactions."""
        ...

    # -- reservations ----------------------------------------------------------------------

    async def claim_reservation_at_site(self, request: ReservationRequest, now: datetime) -> Claim:
        """Claim the request's reservation id for this transaction (requested at ``now``),
        to be decided with ``save_decision`` before commit, and read the site it asks for
        (as ``get_site``, not locked) in the same step. Not claimed if the id was claimed
        before (a repeat: read its answer with ``get_reservation``); the site is read
        either way. One id is decided once, however many repeats are in flight."""
        ...

    async def get_reservation(
        self, reservation_id: uuid.UUID, *, for_update: bool = False
    ) -> Reservation | None:
        """The decided reservation, granted or rejected; None if unknown."""
        ...

    async def save_decision(self, reservation: Reservation) -> bool:
        """Write the decision on a claimed reservation (as ``save_reservation``). A held one
        takes its places at its site in the same atomic step, only if the reservation is
        still undecided and the site open with the places free (occupied + reserved +
        blocked + places ≤ capacity); False, and nothing changed (neither the site nor the
        reservation), if not: decide again on the site's current row. Never overbooks,
        however many transactions race for the last places. A rejection is saved as it is
        (True)."""
        ...

    async def save_reservation(self, reservation: Reservation) -> None:
        """Write a claimed reservation's decision and later changes: status, requested,
        expiry, rejection reason and free places, release time and reason, check-in time,
        flat. Its site, household, places and requirements stay as claimed."""
        ...

    async def save_reservations(self, reservations: Iterable[Reservation]) -> None:
        """``save_reservation`` for each."""
        ...

    async def lock_reservations(
        self, reservation_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, Reservation]:
        """These decided reservations, locked in ``reservation_id`` order; unknown ones are
        absent."""
        ...

    async def lock_held_of_household(self, household_id: uuid.UUID) -> list[Reservation]:
        """The household's held reservations, in ``reservation_id`` order."""
        ...

    async def claim_expired(self, now: datetime, limit: int) -> list[Reservation]:
        """Up to ``limit`` held reservations expired by ``now`` (``expires_at ≤ now``),
        oldest expiry first (then by id); on PostgreSQL, rows another transaction holds
        are skipped, so replicas sweeping at once share the work."""
        ...

    # -- occupants ---------------------------------------------------------------------------

    async def get_occupant(
        self, household_id: uuid.UUID, *, for_update: bool = False
    ) -> Occupant | None:
        """Where the household lives now; None if nowhere here."""
        ...

    async def lock_occupants(self, household_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Occupant]:
        """Where these households live now, locked in ``household_id`` order; those living
        nowhere here are absent."""
        ...

    async def move_in(self, occupant: Occupant, *, moved_from: uuid.UUID | None) -> None:
        """Record where a household lives from ``occupant.checked_in_at`` on, and begin its
        stay there. ``moved_from``: the site it lived at, whose stay ends then (relocated)
        and whose resident list its people leave. A newcomer who lives somewhere already,
        or a flat someone lives in, is ``AlreadyRecorded`` (a concurrent check-in
        elsewhere)."""
        ...

    async def move_out(
        self, household_id: uuid.UUID, site_id: uuid.UUID, at: datetime, reason: str
    ) -> None:
        """The household lives nowhere here any more: its stay ends at ``at`` with
        ``reason`` (the stay itself is kept), and its people leave the resident list of
        ``site_id``, the site it lived at (other sites' lists are untouched)."""
        ...

    # -- follow-ups ---------------------------------------------------------------------------

    async def add_follow_up(self, follow_up: FollowUp) -> None:
        """Record an exit without a next place, for staff to follow up."""
        ...

    async def get_follow_up(
        self, follow_up_id: uuid.UUID, *, for_update: bool = False
    ) -> FollowUp | None:
        """The follow-up; None if unknown."""
        ...

    async def save_follow_up(self, follow_up: FollowUp) -> None:
        """Write back when it was resolved and the staff's note."""
        ...

    # -- residents (personal data: housing's database only) ---------------------------------

    async def add_residents(self, residents: Iterable[Resident]) -> None:
        """Add people seen at the door to their site's resident list."""
        ...

    async def erase_resident(self, resident_id: uuid.UUID) -> bool:
        """Erase one person's record for good; False if there was none."""
        ...

    async def erase_residents(
        self, household_id: uuid.UUID, person_ids: Iterable[uuid.UUID]
    ) -> int:
        """Erase the named people of the household (the whole household if none are named,
        or if the list knows people by household only, as it does today); how many
        records went."""
        ...


# -- rows ----------------------------------------------------------------------------------

_SITE = (
    "site_id, name, pillar, district, operator, capacity, blocked, reserved, occupied, status,"
    " suitability, planned_opening_on, closing_reason, closes_on, building, owner, changed_at,"
    " daily_rate, monthly_fixed_cost"
)


# A site's flats, each with the household holding it (a held reservation) or living in it
# (none: free), as a column of the site's own row: one statement and one snapshot.
_FLATS = """(SELECT coalesce(array_agg((u.unit_id, u.places,
                                      coalesce(r.household_id, o.household_id))
                                     ORDER BY u.places, u.unit_id), '{}')
             FROM units u
             LEFT JOIN reservations r ON r.unit_id = u.unit_id AND r.status = 'held'
             LEFT JOIN occupants o ON o.unit_id = u.unit_id
             WHERE u.site_id = sites.site_id) AS flats"""
_SITE_AND_FLATS = f"{_SITE}, {_FLATS}"


def _site_and_flats(row: asyncpg.Record) -> Site:
    """A row of ``_SITE_AND_FLATS``."""
    site = _site(row)
    site.flats.extend(Flat(unit_id, places, holder) for unit_id, places, holder in row["flats"])
    return site


def _site(row: asyncpg.Record) -> Site:
    return Site(
        site_id=row["site_id"],
        name=row["name"],
        pillar=Pillar(row["pillar"]),
        district=row["district"],
        operator=row["operator"],
        capacity=row["capacity"],
        blocked=row["blocked"],
        reserved=row["reserved"],
        occupied=row["occupied"],
        status=SiteStatus(row["status"]),
        suitability=[Suitability(s) for s in row["suitability"]],
        planned_opening_on=row["planned_opening_on"],
        closing_reason=ClosingReason(row["closing_reason"]) if row["closing_reason"] else None,
        closes_on=row["closes_on"],
        building=BuildingKind(row["building"]),
        owner=BuildingOwner(row["owner"]),
        changed_at=row["changed_at"],
        daily_rate=row["daily_rate"],
        monthly_fixed_cost=row["monthly_fixed_cost"],
    )


_RESERVATION = (
    "reservation_id, site_id, household_id, places, requirements, status, requested_at,"
    " expires_at, rejection_reason, free_places, released_at, release_reason, checked_in_at,"
    " unit_id"
)


def _reservation(row: asyncpg.Record) -> Reservation:
    return Reservation(
        reservation_id=row["reservation_id"],
        site_id=row["site_id"],
        household_id=row["household_id"],
        places=row["places"],
        requirements=frozenset(SiteRequirement(n) for n in row["requirements"]),
        status=ReservationStatus(row["status"]),
        requested_at=row["requested_at"],
        expires_at=row["expires_at"],
        rejection_reason=(
            RejectionReason(row["rejection_reason"]) if row["rejection_reason"] else None
        ),
        free_places=row["free_places"],
        released_at=row["released_at"],
        release_reason=ReleaseReason(row["release_reason"]) if row["release_reason"] else None,
        checked_in_at=row["checked_in_at"],
        unit_id=row["unit_id"],
    )


_SAVE_RESERVATION = """
    UPDATE reservations
    SET status = $2, requested_at = $3, expires_at = $4, rejection_reason = $5,
        free_places = $6, released_at = $7, release_reason = $8, checked_in_at = $9,
        unit_id = $10
    WHERE reservation_id = $1"""


# Claim a reservation id ($1) and read the site it asks for ($2) with its flats, in one
# statement: one row, whose site columns are null if the site is unknown. The site is read
# in the statement's snapshot, which the pending row inserted beside it is not part of
# (a pending row holds no flat anyway).
_CLAIM_AT_SITE = f"""
    WITH claimed AS (
        INSERT INTO reservations (reservation_id, site_id, household_id, places, requirements,
                                  status, requested_at, expected_arrival_at)
        VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)
        ON CONFLICT (reservation_id) DO NOTHING
        RETURNING reservation_id)
    SELECT EXISTS (SELECT FROM claimed) AS claimed, s.*
    FROM (VALUES (1)) AS one
    LEFT JOIN LATERAL (SELECT {_SITE_AND_FLATS} FROM sites WHERE site_id = $2) AS s ON true"""

# A held decision ($1 … $10 as ``_SAVE_RESERVATION``) with its places: the site takes the
# places the pending row claimed, only while it is open and has them free; the decision is
# written only if it did. Both or neither, in one statement.
_SAVE_HELD = f"""
    WITH placed AS (
        UPDATE sites SET reserved = sites.reserved + r.places, updated_at = now()
        FROM reservations r
        WHERE r.reservation_id = $1 AND r.status = 'pending' AND sites.site_id = r.site_id
          AND sites.status = 'open'
          AND sites.occupied + sites.reserved + sites.blocked + r.places <= sites.capacity
        RETURNING sites.site_id)
    {_SAVE_RESERVATION.strip()} AND EXISTS (SELECT FROM placed)
    RETURNING reservation_id"""


def _reservation_args(r: Reservation) -> tuple[object, ...]:
    return (
        r.reservation_id,
        r.status.value,
        r.requested_at,
        r.expires_at,
        r.rejection_reason.value if r.rejection_reason else None,
        r.free_places,
        r.released_at,
        r.release_reason.value if r.release_reason else None,
        r.checked_in_at,
        r.unit_id,
    )


_OCCUPANT = "household_id, site_id, persons, reservation_id, checked_in_at, unit_id"
# A household's stay ends ({at}, {reason}) and begins ($2 its site, $3 persons, $4 from):
# one statement with the move in or out (``stays_one_open``: one open stay per household).
_END_STAY = """UPDATE stays SET checked_out_at = {at}, check_out_reason = {reason},
                                recorded_out_at = clock_timestamp()
               WHERE household_id = $1 AND checked_out_at IS NULL"""
_BEGIN_STAY = (
    "INSERT INTO stays (household_id, site_id, persons, checked_in_at) SELECT $1, $2, $3, $4"
)
# A newcomer and a move on ($1 household, $2 site, $3 persons, $4 from, $5 reservation,
# $6 flat; a move on also $7 the site left, $8 the old stay's end): the new stay is
# inserted once the occupant is (or the old stay has ended: it reads their count).
_MOVE_IN = f"""WITH moved_in AS (
                  INSERT INTO occupants ({_OCCUPANT}) VALUES ($1, $2, $3, $5, $4, $6)
                  RETURNING 1)
              {_BEGIN_STAY} FROM (SELECT count(*) FROM moved_in) AS done"""
_MOVE_ON = f"""WITH ended AS ({_END_STAY.format(at="$4", reason="$8")} RETURNING 1),
                   moved AS (
                      UPDATE occupants SET site_id = $2, persons = $3, reservation_id = $5,
                                           checked_in_at = $4, unit_id = $6
                      WHERE household_id = $1),
                   forgotten AS (
                      DELETE FROM residents WHERE household_id = $1 AND site_id = $7)
              {_BEGIN_STAY} FROM (SELECT count(*) FROM ended) AS done"""


def _occupant(row: asyncpg.Record) -> Occupant:
    return Occupant(
        household_id=row["household_id"],
        site_id=row["site_id"],
        persons=row["persons"],
        reservation_id=row["reservation_id"],
        checked_in_at=row["checked_in_at"],
        unit_id=row["unit_id"],
    )


_FOLLOW_UP = "follow_up_id, site_id, household_id, persons, reason, raised_at, resolved_at, note"


def _follow_up(row: asyncpg.Record) -> FollowUp:
    return FollowUp(**{**dict(row), "reason": FollowUpReason(row["reason"])})


_RESIDENT = "resident_id, site_id, household_id, family_name, given_names, recorded_at"


def _resident(row: asyncpg.Record) -> Resident:
    return Resident(**dict(row))


class PgHousingStore:
    """``HousingStore`` on PostgreSQL, over a transaction's connection (``tx.store``), or
    over the pool for the API's read-only queries (the methods below the port's)."""

    def __init__(self, db: Db) -> None:
        self.db = db

    # -- sites ---------------------------------------------------------------------------

    async def _with_flats(self, sites: list[Site]) -> list[Site]:
        """Fill in the flats of sites that have them, each with the household holding it
        (a held reservation) or living in it; a free flat has none."""
        if not sites:
            return sites
        rows = await self.db.fetch(
            """SELECT u.unit_id, u.site_id, u.places,
                      coalesce(r.household_id, o.household_id) AS household_id
               FROM units u
               LEFT JOIN reservations r ON r.unit_id = u.unit_id AND r.status = 'held'
               LEFT JOIN occupants o ON o.unit_id = u.unit_id
               WHERE u.site_id = ANY($1::uuid[])
               ORDER BY u.site_id, u.places, u.unit_id""",
            [site.site_id for site in sites],
        )
        by_site = {site.site_id: site for site in sites}
        for r in rows:
            by_site[r["site_id"]].flats.append(Flat(r["unit_id"], r["places"], r["household_id"]))
        return sites

    async def add_site(self, site: Site) -> None:
        try:
            await self.db.execute(
                f"""INSERT INTO sites ({_SITE})
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                            $16, $17, $18, $19)""",
                site.site_id,
                site.name,
                site.pillar.value,
                site.district,
                site.operator,
                site.capacity,
                site.blocked,
                site.reserved,
                site.occupied,
                site.status.value,
                [s.value for s in site.suitability],
                site.planned_opening_on,
                site.closing_reason.value if site.closing_reason else None,
                site.closes_on,
                site.building.value,
                site.owner.value,
                site.changed_at,
                site.daily_rate,
                site.monthly_fixed_cost,
            )
        except asyncpg.UniqueViolationError as exc:
            raise AlreadyRecorded(f"site {site.site_id}") from exc
        if site.flats:
            await self.db.executemany(
                "INSERT INTO units (unit_id, site_id, places) VALUES ($1, $2, $3)",
                [(f.unit_id, site.site_id, f.places) for f in site.flats],
            )

    async def save_site(self, site: Site) -> None:
        """Only for a row locked by ``get_site(for_update=True)``."""
        await self.db.execute(
            """UPDATE sites SET operator = $2, capacity = $3, blocked = $4, reserved = $5,
                                occupied = $6, status = $7, closing_reason = $8,
                                closes_on = $9, changed_at = $10, daily_rate = $11,
                                monthly_fixed_cost = $12, updated_at = now()
               WHERE site_id = $1""",
            site.site_id,
            site.operator,
            site.capacity,
            site.blocked,
            site.reserved,
            site.occupied,
            site.status.value,
            site.closing_reason.value if site.closing_reason else None,
            site.closes_on,
            site.changed_at,
            site.daily_rate,
            site.monthly_fixed_cost,
        )

    async def record_site_state(self, site: Site, at: datetime) -> None:
        await self.db.execute(
            """INSERT INTO site_history (site_id, effective_at, status, capacity, blocked)
               VALUES ($1, $2, $3, $4, $5)""",
            site.site_id,
            at,
            site.status.value,
            site.capacity,
            site.blocked,
        )

    async def get_site(self, site_id: uuid.UUID, *, for_update: bool = False) -> Site | None:
        if for_update:
            # The flats in a statement after the lock: its snapshot sees the flat that the
            # transaction we waited for has just let (the site's row and flats in one
            # statement would read them as they were before the wait).
            lock = lock_clause(for_update)
            row = await self.db.fetchrow(
                f"SELECT {_SITE} FROM sites WHERE site_id = $1{lock}", site_id
            )
            return (await self._with_flats([_site(row)]))[0] if row else None
        row = await self.db.fetchrow(
            f"SELECT {_SITE_AND_FLATS} FROM sites WHERE site_id = $1", site_id
        )
        return _site_and_flats(row) if row else None

    async def get_sites(self, site_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Site]:
        rows = await self.db.fetch(
            f"SELECT {_SITE_AND_FLATS} FROM sites WHERE site_id = ANY($1::uuid[]) ORDER BY site_id",
            sorted(set(site_ids)),
        )
        return {s.site_id: s for s in map(_site_and_flats, rows)}

    async def shift_holding(
        self, site_id: uuid.UUID, change: Holding, *, only_if_open: bool = False
    ) -> bool:
        row = await self.db.fetchrow(
            """UPDATE sites SET reserved = reserved + $2, occupied = occupied + $3,
                                updated_at = now()
               WHERE site_id = $1 AND (NOT $4 OR status = 'open')
               RETURNING site_id""",
            site_id,
            change.reserved,
            change.occupied,
            only_if_open,
        )
        return row is not None

    # -- reservations --------------------------------------------------------------------

    async def claim_reservation_at_site(self, request: ReservationRequest, now: datetime) -> Claim:
        """One statement (``_CLAIM_AT_SITE``). A concurrent claim of the same id waits here
        until the first commits, then finds it; the claimed row is 'pending' only inside
        the deciding transaction."""
        row = await self.db.fetchrow(
            _CLAIM_AT_SITE,
            request.reservation_id,
            request.site_id,
            request.household_id,
            request.places,
            sorted(n.value for n in request.requirements),
            now,
            request.expected_arrival_at,
        )
        assert row is not None  # the one row of VALUES (1)
        site = _site_and_flats(row) if row["site_id"] is not None else None
        return Claim(claimed=row["claimed"], site=site)

    async def save_decision(self, reservation: Reservation) -> bool:
        """One atomic, conditional statement (``_SAVE_HELD``): however many transactions
        race for the last places, PostgreSQL re-checks the site's condition on its newest
        row version once the row lock is theirs, so none overbooks."""
        if reservation.status is not ReservationStatus.HELD:
            await self.save_reservation(reservation)
            return True
        row = await self.db.fetchrow(_SAVE_HELD, *_reservation_args(reservation))
        return row is not None

    async def save_reservation(self, reservation: Reservation) -> None:
        await self.db.execute(_SAVE_RESERVATION, *_reservation_args(reservation))

    async def save_reservations(self, reservations: Iterable[Reservation]) -> None:
        await self.db.executemany(_SAVE_RESERVATION, [_reservation_args(r) for r in reservations])

    async def get_reservation(
        self, reservation_id: uuid.UUID, *, for_update: bool = False
    ) -> Reservation | None:
        lock = lock_clause(for_update)
        row = await self.db.fetchrow(
            f"SELECT {_RESERVATION} FROM reservations WHERE reservation_id = $1{lock}",
            reservation_id,
        )
        return _reservation(row) if row else None

    async def lock_reservations(
        self, reservation_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, Reservation]:
        rows = await self.db.fetch(
            f"""SELECT {_RESERVATION} FROM reservations WHERE reservation_id = ANY($1::uuid[])
                ORDER BY reservation_id FOR UPDATE""",
            sorted(set(reservation_ids)),
        )
        return {r["reservation_id"]: _reservation(r) for r in rows}

    async def lock_held_of_household(self, household_id: uuid.UUID) -> list[Reservation]:
        rows = await self.db.fetch(
            f"""SELECT {_RESERVATION} FROM reservations
                WHERE household_id = $1 AND status = 'held'
                ORDER BY reservation_id FOR UPDATE""",
            household_id,
        )
        return [_reservation(r) for r in rows]

    async def claim_expired(self, now: datetime, limit: int) -> list[Reservation]:
        rows = await self.db.fetch(
            f"""SELECT {_RESERVATION} FROM reservations
                WHERE status = 'held' AND expires_at <= $1
                ORDER BY expires_at, reservation_id
                LIMIT $2
                FOR UPDATE SKIP LOCKED""",
            now,
            limit,
        )
        return [_reservation(r) for r in rows]

    # -- occupants -----------------------------------------------------------------------

    async def get_occupant(
        self, household_id: uuid.UUID, *, for_update: bool = False
    ) -> Occupant | None:
        lock = lock_clause(for_update)
        row = await self.db.fetchrow(
            f"SELECT {_OCCUPANT} FROM occupants WHERE household_id = $1{lock}", household_id
        )
        return _occupant(row) if row else None

    async def lock_occupants(self, household_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Occupant]:
        rows = await self.db.fetch(
            f"""SELECT {_OCCUPANT} FROM occupants WHERE household_id = ANY($1::uuid[])
                ORDER BY household_id FOR UPDATE""",
            sorted(set(household_ids)),
        )
        return {r["household_id"]: _occupant(r) for r in rows}

    async def move_in(self, occupant: Occupant, *, moved_from: uuid.UUID | None) -> None:
        """One statement each way. A newcomer is inserted (a concurrent check-in elsewhere
        then fails on the primary key instead of silently overwriting); a move updates the
        row locked by ``get_occupant``, ends the stay at ``moved_from`` and takes the people
        off its resident list. The new stay is inserted only once the old one has ended
        (it reads the count of the ended ones): one stay per household may be open
        (``stays_one_open``)."""
        o = occupant
        row = (o.household_id, o.site_id, o.persons, o.checked_in_at, o.reservation_id, o.unit_id)
        try:
            if moved_from is None:
                await self.db.execute(_MOVE_IN, *row)
            else:
                await self.db.execute(_MOVE_ON, *row, moved_from, "relocated")
        except asyncpg.UniqueViolationError as exc:
            raise AlreadyRecorded(f"household {o.household_id} lives here") from exc

    async def move_out(
        self, household_id: uuid.UUID, site_id: uuid.UUID, at: datetime, reason: str
    ) -> None:
        await self.db.execute(
            f"""WITH gone AS (DELETE FROM occupants WHERE household_id = $1),
                     forgotten AS (
                        DELETE FROM residents WHERE household_id = $1 AND site_id = $3)
                {_END_STAY.format(at="$2", reason="$4")}""",
            household_id,
            at,
            site_id,
            reason,
        )

    # -- follow-ups (exits without a next place) -----------------------------------------

    async def add_follow_up(self, follow_up: FollowUp) -> None:
        f = follow_up
        await self.db.execute(
            f"INSERT INTO follow_ups ({_FOLLOW_UP}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            f.follow_up_id,
            f.site_id,
            f.household_id,
            f.persons,
            f.reason.value,
            f.raised_at,
            f.resolved_at,
            f.note,
        )

    async def get_follow_up(
        self, follow_up_id: uuid.UUID, *, for_update: bool = False
    ) -> FollowUp | None:
        row = await self.db.fetchrow(
            f"SELECT {_FOLLOW_UP} FROM follow_ups WHERE follow_up_id = $1"
            + lock_clause(for_update),
            follow_up_id,
        )
        return _follow_up(row) if row else None

    async def save_follow_up(self, follow_up: FollowUp) -> None:
        await self.db.execute(
            "UPDATE follow_ups SET resolved_at = $2, note = $3 WHERE follow_up_id = $1",
            follow_up.follow_up_id,
            follow_up.resolved_at,
            follow_up.note,
        )

    # -- residents as seen at the door (personal data: housing's database only) ----------

    async def add_residents(self, residents: Iterable[Resident]) -> None:
        await self.db.executemany(
            f"INSERT INTO residents ({_RESIDENT}) VALUES ($1, $2, $3, $4, $5, $6)",
            [
                (
                    r.resident_id,
                    r.site_id,
                    r.household_id,
                    r.family_name,
                    r.given_names,
                    r.recorded_at,
                )
                for r in residents
            ],
        )

    async def erase_resident(self, resident_id: uuid.UUID) -> bool:
        status = await self.db.execute("DELETE FROM residents WHERE resident_id = $1", resident_id)
        return status != "DELETE 0"

    async def erase_residents(
        self, household_id: uuid.UUID, person_ids: Iterable[uuid.UUID]
    ) -> int:
        """The list (``residents``) arrives in its own migration; until then there is
        nothing personal here to erase. A table without ``person_id`` is erased by
        household."""
        columns = {
            r["column_name"]
            for r in await self.db.fetch(
                """SELECT column_name FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = 'residents'"""
            )
        }
        if "household_id" not in columns:
            return 0
        ids = list(person_ids)
        if ids and "person_id" in columns:
            result = await self.db.execute(
                "DELETE FROM residents WHERE household_id = $1 AND person_id = ANY($2::uuid[])",
                household_id,
                ids,
            )
        else:
            result = await self.db.execute(
                "DELETE FROM residents WHERE household_id = $1", household_id
            )
        return int(result.split()[-1])

    # -- read-only queries of the API (not part of the handlers' port) -------------------

    async def list_sites(
        self,
        *,
        pillar: Pillar | None = None,
        district: int | None = None,
        status: SiteStatus | None = None,
    ) -> list[Site]:
        rows = await self.db.fetch(
            f"""SELECT {_SITE_AND_FLATS} FROM sites
                WHERE ($1::text IS NULL OR pillar = $1) AND ($2::int IS NULL OR district = $2)
                  AND ($3::text IS NULL OR status = $3)
                ORDER BY district, name, site_id""",
            pillar.value if pillar else None,
            district,
            status.value if status else None,
        )
        return [_site_and_flats(r) for r in rows]

    async def sites_in_use(self) -> list[Site]:
        rows = await self.db.fetch(
            f"SELECT {_SITE_AND_FLATS} FROM sites WHERE status IN ('open', 'closing')"
        )
        return [_site_and_flats(r) for r in rows]

    async def occupancy_as_of(self, as_of: datetime, known_at: datetime) -> list[Site]:
        """The sites in use at ``as_of`` (business time) with their places then, from what
        housing had recorded by ``known_at`` (recording time): today's knowledge about a
        past date when ``known_at`` is now, "what did we know then" when it is that date."""
        rows = await self.db.fetch(
            """WITH state AS (
                   SELECT DISTINCT ON (h.site_id) h.site_id, h.status, h.capacity, h.blocked
                   FROM site_history h
                   WHERE h.effective_at <= $1 AND h.recorded_at <= $2
                   ORDER BY h.site_id, h.effective_at DESC, h.id DESC
               ), occ AS (
                   SELECT site_id, sum(persons)::int AS occupied FROM stays
                   WHERE checked_in_at <= $1 AND recorded_in_at <= $2
                     AND NOT (checked_out_at IS NOT NULL AND checked_out_at <= $1
                              AND recorded_out_at <= $2)
                   GROUP BY site_id
               ), res AS (
                   SELECT site_id, sum(places)::int AS reserved FROM reservations
                   WHERE status IN ('held', 'checked_in', 'released')
                     AND requested_at <= $1 AND recorded_at <= $2 AND expires_at > $1
                     AND NOT coalesce(checked_in_at <= $1, false)
                     AND NOT coalesce(released_at <= $1, false)
                   GROUP BY site_id
               )
               SELECT s.site_id, s.name, s.pillar, s.district, s.operator, st.status,
                      st.capacity, st.blocked, coalesce(occ.occupied, 0) AS occupied,
                      coalesce(res.reserved, 0) AS reserved
               FROM state st JOIN sites s USING (site_id)
                    LEFT JOIN occ USING (site_id) LEFT JOIN res USING (site_id)
               WHERE st.status IN ('open', 'closing')
               ORDER BY s.site_id""",
            as_of,
            known_at,
        )
        return [
            Site(
                site_id=r["site_id"],
                name=r["name"],
                pillar=Pillar(r["pillar"]),
                district=r["district"],
                operator=r["operator"],
                capacity=r["capacity"],
                blocked=r["blocked"],
                reserved=r["reserved"],
                occupied=r["occupied"],
                status=SiteStatus(r["status"]),
            )
            for r in rows
        ]

    async def list_reservations(
        self,
        *,
        site_id: uuid.UUID | None = None,
        household_id: uuid.UUID | None = None,
        status: ReservationStatus | None = None,
        page: PageRequest,
    ) -> tuple[list[Reservation], int]:
        rows, total = await fetch_page(
            self.db,
            f"""SELECT {_RESERVATION} FROM reservations
                WHERE status <> 'pending'
                  AND ($1::uuid IS NULL OR site_id = $1)
                  AND ($2::uuid IS NULL OR household_id = $2)
                  AND ($3::text IS NULL OR status = $3)""",
            site_id,
            household_id,
            status.value if status else None,
            order_by="requested_at DESC, reservation_id",
            page=page,
        )
        return [_reservation(r) for r in rows], total

    async def list_occupants(
        self, *, site_id: uuid.UUID | None = None, household_id: uuid.UUID | None = None
    ) -> list[Occupant]:
        rows = await self.db.fetch(
            f"""SELECT {_OCCUPANT} FROM occupants
                WHERE ($1::uuid IS NULL OR site_id = $1)
                  AND ($2::uuid IS NULL OR household_id = $2)
                ORDER BY site_id, checked_in_at, household_id""",
            site_id,
            household_id,
        )
        return [_occupant(r) for r in rows]

    async def list_follow_ups(
        self, *, open_only: bool = True, site_id: uuid.UUID | None = None
    ) -> list[FollowUp]:
        rows = await self.db.fetch(
            f"""SELECT {_FOLLOW_UP} FROM follow_ups
                WHERE (NOT $1 OR resolved_at IS NULL) AND ($2::uuid IS NULL OR site_id = $2)
                ORDER BY raised_at, follow_up_id""",
            open_only,
            site_id,
        )
        return [_follow_up(r) for r in rows]

    async def list_residents(self, site_id: uuid.UUID) -> list[Resident]:
        rows = await self.db.fetch(
            f"""SELECT {_RESIDENT} FROM residents WHERE site_id = $1
                ORDER BY family_name, given_names, resident_id""",
            site_id,
        )
        return [_resident(r) for r in rows]

    async def get_resident(self, resident_id: uuid.UUID) -> Resident | None:
        row = await self.db.fetchrow(
            f"SELECT {_RESIDENT} FROM residents WHERE resident_id = $1", resident_id
        )
        return _resident(row) if row else None
