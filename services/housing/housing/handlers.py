"""Housing's handlers: thin, one per command and per consumed event; rules live in ``domain``.

Commands open their own unit of work; event handlers run in the consumer's transaction
(``tx``), next to the inbox row that makes a redelivery change nothing. Every handler is
also safe to run against a state it already produced (a repeated reservation id, a cancel
of a released reservation), because the same request can arrive as a new event.

State is reached only through ``tx.store`` (the ``HousingStore`` port): ``PgHousingStore``
in the service, ``InMemoryHousingStore`` in the unit tests; no handler touches a connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Self

from ankommen_contracts import (
    MAX_HOUSEHOLD,
    BuildingKind,
    BuildingOwner,
    District,
    Envelope,
    Pillar,
    PublicText,
    SiteRequirement,
    Suitability,
    UniqueList,
)
from ankommen_contracts.events.allocation import (
    PlacementCancelled,
    PlacementDecided,
    RefugeeDeparted,
)
from ankommen_contracts.events.housing import (
    CapacityChangeReason,
    CheckOutReason,
    ClosingReason,
    ReleaseReason,
    daily_rate_field,
    monthly_fixed_cost_field,
)
from ankommen_contracts.events.integration import ErasureRequested, MoveOutCompleted
from ankommen_runtime import Conflict, NotFound, Tx, Uow, commands
from ankommen_runtime.clock import BusinessTime, occurred
from ankommen_runtime.consumer import EventHandler, Subscription
from ankommen_runtime.logging import get_logger
from ankommen_runtime.store import found
from pydantic import Field, field_validator, model_validator

from .domain import (
    MAX_CAPACITY,
    FollowUp,
    Holding,
    Occupant,
    Reservation,
    ReservationRequest,
    ReservationStatus,
    Resident,
    Site,
)
from .store import AlreadyRecorded, HousingStore

log = get_logger(__name__)

MAX_CHECK_INS = 500  # a list at the door: a bus, or a closing site's residents


class Command(commands.Command):
    """Unknown fields are refused and JSON types checked (422 naming the field)."""


class Dated(Command):
    """A command that records something that happened in the world, and when."""

    occurred_at: BusinessTime | None = Field(
        default=None,
        description="When it happened (business time): an ISO instant with its offset, or a "
        "date (00:00 in Hannover); default now. Not in the future (422); not before what "
        "is recorded already for the same site or stay (409).",
    )


# -- sites ---------------------------------------------------------------------------------


class _SiteFields(Dated):
    """What opening and planning a site both state; each adds its operator, places and
    suitability with its own wording."""

    name: PublicText = Field(min_length=1, max_length=200, description="Public name of the site")
    pillar: Pillar
    district: District
    site_id: uuid.UUID | None = Field(
        default=None, description="Optional id chosen by the caller; a repeat is a conflict"
    )
    building: BuildingKind = Field(
        default=BuildingKind.OTHER,
        description="Kind of building (halls and tents are mass shelters; decides the "
        "dissolution order)",
    )
    owner: BuildingOwner = Field(
        default=BuildingOwner.CITY, description="Whose building it is (whom it goes back to)"
    )
    closes_on: date | None = Field(
        default=None, description="Day the city must give the building up, if agreed"
    )
    flats: list[Annotated[int, Field(ge=1, le=MAX_HOUSEHOLD)]] = Field(
        default_factory=list,
        max_length=MAX_CAPACITY,
        description="Places of each flat (Wohnung) of the site, each let to one household; "
        "they must add up to the capacity. Empty: shared rooms",
    )

    @model_validator(mode="after")
    def _flats_hold_the_capacity(self) -> Self:
        places = getattr(self, "capacity", None)
        if self.flats and sum(self.flats) != places:
            raise ValueError(f"flats hold {sum(self.flats)} places, not the capacity {places}")
        return self


class Rates(Command):
    """What the city pays for a site (Kostentabelle), as its events carry it; neither is
    required."""

    daily_rate: Decimal | None = daily_rate_field(
        "Euros per occupied place and day (Tagessatz); null: none agreed"
    )
    monthly_fixed_cost: Decimal | None = monthly_fixed_cost_field()


class OpenSite(_SiteFields, Rates):
    """Open a site (Unterkunft) that takes occupants from now on, paid at its rates from
    its opening day."""

    operator: PublicText = Field(min_length=1, max_length=200, description="Operator (Betreiber)")
    capacity: int = Field(ge=1, le=MAX_CAPACITY, description="Places (Plätze)")
    suitability: UniqueList[Suitability] = Field(
        default_factory=list, description="Whom the site suits; empty: nothing special"
    )


class PlanSite(_SiteFields):
    """Plan a site (in Planung, im Bau): counted in plans, takes nobody yet."""

    operator: PublicText | None = Field(
        default=None, min_length=1, max_length=200, description="Operator, if chosen"
    )
    capacity: int = Field(ge=1, le=MAX_CAPACITY, description="Places planned")
    planned_opening_on: date | None = Field(default=None, description="Planned opening day")
    suitability: UniqueList[Suitability] = Field(
        default_factory=list, description="Whom the site will suit; empty: nothing special"
    )


class OpenPlannedSite(Dated, Rates):
    """Open a planned site; name the operator here if the plan had none, and its rates."""

    operator: PublicText | None = Field(default=None, min_length=1, max_length=200)
    capacity: int | None = Field(
        default=None, ge=1, le=MAX_CAPACITY, description="Final places, if not as planned"
    )


class ChangeCapacity(Dated):
    """Set a site's capacity (Kapazität) to a new total."""

    capacity: int = Field(ge=0, le=MAX_CAPACITY, description="New total of places")
    reason: CapacityChangeReason | None = Field(
        default=None,
        description="expanded, reduced, dissolving or correction; by default "
        "expanded or reduced, following the change",
    )

    @field_validator("reason")
    @classmethod
    def _not_blocking(cls, reason: CapacityChangeReason | None) -> CapacityChangeReason | None:
        if reason in (CapacityChangeReason.PLACES_BLOCKED, CapacityChangeReason.PLACES_RELEASED):
            raise ValueError(f"{reason.value} is set by /block and /unblock")
        return reason


class Places(Dated):
    """A number of places to block (sperren) or release (freigeben)."""

    places: int = Field(ge=1, le=MAX_CAPACITY)


class StartClosing(Dated):
    """Begin closing a site (Auflösung): no new occupants; residents are relocated."""

    reason: ClosingReason
    closes_on: date | None = Field(default=None, description="Planned closing day, if set")


class CloseSite(Dated):
    """Close a site (empty and closing, or a plan dropped)."""


_SITE_FIELDS = {"occurred_at"}


async def _new_site(uow: Uow[HousingStore], site: Site, at: datetime) -> Site:
    site.changed_at = at
    try:
        async with uow() as tx:
            await tx.store.add_site(site)
            await tx.store.record_site_state(site, at)
            tx.publish(*site.events, at=at)
    except AlreadyRecorded as exc:
        raise Conflict(f"site {site.site_id} exists already") from exc
    return site


async def open_site(uow: Uow[HousingStore], command: OpenSite) -> Site:
    at = occurred(command.occurred_at, uow.clock)
    return await _new_site(uow, Site.open_new(**command.model_dump(exclude=_SITE_FIELDS)), at)


async def plan_site(uow: Uow[HousingStore], command: PlanSite) -> Site:
    at = occurred(command.occurred_at, uow.clock)
    return await _new_site(uow, Site.plan(**command.model_dump(exclude=_SITE_FIELDS)), at)


async def _change_site(
    uow: Uow[HousingStore], site_id: uuid.UUID, command: Dated, change: Callable[[Site], Any]
) -> Site:
    """Lock the site, apply a domain rule at the command's date, save it with the events it
    raised and the state it reached from then on.

    Correction rule: a change dated before the site's latest recorded change is refused
    (409); the site's history is kept in order, never rewritten behind later facts.
    """
    at = occurred(command.occurred_at, uow.clock)
    async with uow() as tx:
        site = found(await tx.store.get_site(site_id, for_update=True), f"site {site_id}")
        if site.changed_at is not None and at < site.changed_at:
            raise Conflict(
                f"occurred_at {at.isoformat()} is before the latest recorded change of site "
                f"{site_id} ({site.changed_at.isoformat()}); correct that change first"
            )
        change(site)
        site.changed_at = at
        await tx.store.save_site(site)
        await tx.store.record_site_state(site, at)
        tx.publish(*site.events, at=at)
    return site


async def open_planned_site(
    uow: Uow[HousingStore], site_id: uuid.UUID, command: OpenPlannedSite
) -> Site:
    return await _change_site(
        uow,
        site_id,
        command,
        lambda s: s.open(
            operator=command.operator,
            capacity=command.capacity,
            daily_rate=command.daily_rate,
            monthly_fixed_cost=command.monthly_fixed_cost,
        ),
    )


class ChangeRates(Dated, Rates):
    """New rates for a site in use (a new agreement), in force from ``valid_from``; both
    are stated, a rate left out ends."""

    valid_from: date = Field(description="First day the rates apply (Hannover's calendar)")


async def change_rates(uow: Uow[HousingStore], site_id: uuid.UUID, command: ChangeRates) -> Site:
    return await _change_site(
        uow,
        site_id,
        command,
        lambda s: s.change_rates(
            command.daily_rate, command.monthly_fixed_cost, command.valid_from
        ),
    )


async def change_capacity(
    uow: Uow[HousingStore], site_id: uuid.UUID, command: ChangeCapacity
) -> Site:
    return await _change_site(
        uow, site_id, command, lambda s: s.change_capacity(command.capacity, command.reason)
    )


async def block_places(uow: Uow[HousingStore], site_id: uuid.UUID, command: Places) -> Site:
    return await _change_site(uow, site_id, command, lambda s: s.block(command.places))


async def release_blocked_places(
    uow: Uow[HousingStore], site_id: uuid.UUID, command: Places
) -> Site:
    return await _change_site(uow, site_id, command, lambda s: s.release_blocked(command.places))


async def start_closing(uow: Uow[HousingStore], site_id: uuid.UUID, command: StartClosing) -> Site:
    return await _change_site(
        uow, site_id, command, lambda s: s.start_closing(command.reason, command.closes_on)
    )


class ClosingDate(Dated):
    """The day the city must give the building up (agreed with its owner), or none."""

    closes_on: date | None


async def set_closing_date(
    uow: Uow[HousingStore], site_id: uuid.UUID, command: ClosingDate
) -> Site:
    return await _change_site(
        uow, site_id, command, lambda s: s.set_closing_date(command.closes_on)
    )


async def close_site(
    uow: Uow[HousingStore], site_id: uuid.UUID, command: CloseSite | None = None
) -> Site:
    return await _change_site(uow, site_id, command or CloseSite(), lambda s: s.close())


# -- reservations --------------------------------------------------------------------------


class ReserveBeds(Dated):
    """Reserve places at a site for one household (what PlacementDecided asks, over HTTP)."""

    reservation_id: uuid.UUID = Field(
        description="Chosen by the caller; the idempotency key: a repeat gets the same answer"
    )
    site_id: uuid.UUID
    household_id: uuid.UUID
    places: int = Field(ge=1, le=MAX_HOUSEHOLD, description="Places: the whole household")
    requirements: UniqueList[SiteRequirement] = Field(
        default_factory=list,
        description="What the site must be for the household (protection rules), as in "
        "PlacementDecided",
    )
    expected_arrival_at: BusinessTime | None = Field(
        default=None,
        description="When the household is expected; the places are held until then plus "
        "the city's grace period (rule 1: never a length the caller chooses). Default: now",
    )

    def request(self, grace: timedelta) -> ReservationRequest:
        return ReservationRequest(
            reservation_id=self.reservation_id,
            site_id=self.site_id,
            household_id=self.household_id,
            places=self.places,
            requirements=frozenset(self.requirements),
            expected_arrival_at=self.expected_arrival_at,
            grace=grace,
        )


async def reserve(
    tx: Tx[HousingStore], request: ReservationRequest, now: datetime
) -> tuple[Reservation, bool]:
    """Reserve or reject, once per reservation id: the logic of HTTP and PlacementDecided.

    Returns the reservation and whether it had been decided before; a repeat publishes the
    recorded answer again (same figures) and reserves nothing.
    """
    store = tx.store
    held_from = tx.clock.now()  # the hold's grace runs from now, however old the request
    claim = await store.claim_reservation_at_site(request, now)
    if not claim.claimed:
        recorded = await store.get_reservation(request.reservation_id)
        assert recorded is not None
        tx.publish(recorded.outcome(), at=now)
        return recorded, True
    site = claim.site
    if site is None:
        reservation = Reservation.for_unknown_site(request, now)
        await store.save_decision(reservation)  # a rejection: saved as it is
        tx.publish(reservation.outcome(), at=now)
        return reservation, False
    if site.flats:
        # A flat is let to one household: decide on the locked row, so two requests
        # never pick the same free flat (the unique index would refuse the second).
        site = await store.get_site(request.site_id, for_update=True)
        assert site is not None
    # The domain decides on a plain read; the store's atomic, conditional
    # ``save_decision`` makes it true (places and decision together) or changes nothing.
    reservation = site.reserve(request, now, held_from=held_from)
    if not await store.save_decision(reservation):
        # Lost the race for the last places: decide again on the locked, current row.
        site = await store.get_site(request.site_id, for_update=True)
        assert site is not None
        reservation = site.reserve(request, now, held_from=held_from)
        if not await store.save_decision(reservation):
            raise RuntimeError(f"site {site.site_id} refused places the locked row had")
    tx.publish(*site.events, at=now)
    return reservation, False


async def request_reservation(
    uow: Uow[HousingStore], command: ReserveBeds, grace: timedelta
) -> Reservation:
    request = command.request(grace)
    at = occurred(command.occurred_at, uow.clock)
    async with uow() as tx:
        reservation, repeated = await reserve(tx, request, at)
        if repeated and not reservation.answers(request):
            # Raised inside the unit of work: the re-published answer is rolled back too.
            raise Conflict(
                f"reservation {request.reservation_id} was requested before for household "
                f"{reservation.household_id}, {reservation.places} places at site "
                f"{reservation.site_id}; use a new reservation_id"
            )
    return reservation


def holdings(sites: Mapping[uuid.UUID, Site]) -> dict[uuid.UUID, Holding]:
    """Each site's holding as read, before the domain changes it (see ``shift_holdings``)."""
    return {site_id: site.holding for site_id, site in sites.items()}


async def shift_holdings(
    store: HousingStore,
    sites: Mapping[uuid.UUID, Site],
    before: Mapping[uuid.UUID, Holding],
    *,
    arriving_at: Collection[uuid.UUID] = (),
) -> None:
    """Write what check-ins, check-outs and releases changed at each site, as differences,
    in ``site_id`` order (the store's lock order): the last writes of their transaction, so
    a site's row is locked only from here to commit. The domain decided on a plain read;
    the sites households are ``arriving_at`` must still be open when their rows are
    written (409 if one stopped taking occupants meanwhile)."""
    for site_id in sorted(sites):
        change = sites[site_id].holding - before[site_id]
        if not change:
            continue
        if not await store.shift_holding(site_id, change, only_if_open=site_id in arriving_at):
            raise Conflict(f"site {site_id} stopped taking new occupants meanwhile")


class SeenAtTheDoor(Command):
    """One person as the operator saw them at the check-in (names as on the papers).

    Kept only in housing's database for the site's resident list; never in an event or a
    log; erasable per person.
    """

    family_name: str = Field(min_length=1, max_length=200)
    given_names: str = Field(min_length=1, max_length=200)


class CheckIn(Dated):
    """The household arrived and moved in at the site's door (Einzug)."""

    residents: list[SeenAtTheDoor] = Field(
        default_factory=list,
        max_length=MAX_HOUSEHOLD,
        description="The persons who arrived, as the operator saw them at the door",
    )


class DoorCheckIn(CheckIn):
    """One household of a check-in list: its reservation, when and who came."""

    reservation_id: uuid.UUID


class CheckInList(Command):
    """The households at the door, e.g. Monday's bus (Einzugsliste): checked in one after
    another, in the list's order, each as the single check-in would be."""

    check_ins: list[DoorCheckIn] = Field(min_length=1, max_length=MAX_CHECK_INS)

    @model_validator(mode="after")
    def _distinct_reservations(self) -> Self:
        ids = [c.reservation_id for c in self.check_ins]
        twice = sorted({str(i) for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"check_ins: reservation_id {', '.join(twice)} appears twice")
        return self


class ListFailed(Conflict):
    """A check-in of a list failed half-way (a concurrent transaction got there first):
    the whole list is refused, nothing of it written (409)."""


@dataclass(frozen=True)
class CheckInOutcome:
    """What became of one check-in of a list: the household's ``occupant`` record, or
    ``refused`` with the error the single check-in raises (404 or 409)."""

    reservation_id: uuid.UUID
    occupant: Occupant | None = None
    refused: NotFound | Conflict | None = None


async def check_in(
    uow: Uow[HousingStore], reservation_id: uuid.UUID, command: CheckIn | None = None
) -> Occupant:
    """Turn a held reservation into occupancy at the command's date; a household living
    elsewhere moves out there. 409 if dated before the reservation or the current stay.

    The residents seen at the door go into the site's resident list; at the site the
    household left, its residents are forgotten.
    """
    door = DoorCheckIn(reservation_id=reservation_id, **dict(command or CheckIn()))
    [outcome] = await check_in_list(uow, CheckInList(check_ins=[door]))
    if outcome.refused is not None:
        raise outcome.refused
    assert outcome.occupant is not None
    return outcome.occupant


async def check_in_list(uow: Uow[HousingStore], command: CheckInList) -> list[CheckInOutcome]:
    """Check in a list of households in one transaction, each as ``check_in`` checks in
    one, in the list's order; one whose check-in is refused is refused alone (no write of
    its own), the others go on. The whole list fails (409, nothing written) only where the
    single check-in would have failed half-way: a household checked in elsewhere by a
    concurrent transaction, or a site that stopped taking occupants meanwhile."""
    async with uow() as tx:
        store = tx.store
        # rows locked in id order, so two lists that share a household wait for each other;
        # the list's rows in one statement each, not one round trip per household
        locked = await store.lock_reservations(c.reservation_id for c in command.check_ins)
        reservations = {c.reservation_id: locked.get(c.reservation_id) for c in command.check_ins}
        living = await store.lock_occupants(r.household_id for r in locked.values())
        homes = {r.household_id: living.get(r.household_id) for r in locked.values()}
        sites = await store.get_sites(
            [r.site_id for r in locked.values()] + [home.site_id for home in living.values()]
        )
        before = holdings(sites)
        outcomes: list[CheckInOutcome] = []
        for door in command.check_ins:
            try:
                occupant = await _check_in_one(tx, door, reservations, homes, sites)
            except ListFailed:
                raise
            except (NotFound, Conflict) as refused:
                outcomes.append(CheckInOutcome(door.reservation_id, refused=refused))
                continue
            outcomes.append(CheckInOutcome(door.reservation_id, occupant=occupant))
        arriving = {o.occupant.site_id for o in outcomes if o.occupant is not None}
        await shift_holdings(store, sites, before, arriving_at=arriving)
    return outcomes


async def _check_in_one(
    tx: Tx[HousingStore],
    door: DoorCheckIn,
    reservations: Mapping[uuid.UUID, Reservation | None],
    homes: dict[uuid.UUID, Occupant | None],
    sites: Mapping[uuid.UUID, Site],
) -> Occupant:
    """One check-in of a list on the rows the list locked: refused (NotFound, Conflict)
    before anything of it is written; ``homes`` follows the household to its new site."""
    now = occurred(door.occurred_at, tx.clock)
    reservation = found(reservations[door.reservation_id], f"reservation {door.reservation_id}")
    site = sites.get(reservation.site_id)
    if site is None:  # a rejection for an unknown site: nowhere to check in
        raise Conflict(f"reservation {door.reservation_id} was rejected (unknown_site)")
    home = homes.get(reservation.household_id)
    home_site = sites[home.site_id] if home else None
    if len(door.residents) > reservation.places:
        raise Conflict(f"{len(door.residents)} residents recorded for {reservation.places} places")
    seen_at = (len(home_site.events) if home_site else 0, len(site.events))
    occupant = site.check_in(reservation, now, home=home, home_site=home_site)
    store = tx.store
    try:
        await store.move_in(occupant, moved_from=home.site_id if home else None)
    except AlreadyRecorded as exc:
        raise ListFailed(
            f"household {occupant.household_id} was checked in elsewhere at the same moment"
        ) from exc
    await store.save_reservation(reservation)
    await store.add_residents(
        [
            Resident(
                uuid.uuid4(), site.site_id, occupant.household_id, p.family_name, p.given_names, now
            )
            for p in door.residents
        ],
    )
    homes[occupant.household_id] = occupant
    if home_site is not None:
        tx.publish(*home_site.events[seen_at[0] :], at=now)  # out of the old place first
    tx.publish(*site.events[seen_at[1] :], at=now)
    return occupant


class CheckOut(Dated):
    """A household leaves a site (Auszug)."""

    household_id: uuid.UUID
    reason: CheckOutReason


async def check_out(
    uow: Uow[HousingStore], site_id: uuid.UUID, command: CheckOut
) -> tuple[Occupant, FollowUp | None]:
    """A household leaves at the command's date; an exit with no next place raises a
    follow-up for staff."""
    at = occurred(command.occurred_at, uow.clock)
    async with uow() as tx:
        home = await tx.store.get_occupant(command.household_id, for_update=True)
        sites = await tx.store.get_sites([site_id])
        if site_id not in sites:
            raise NotFound(f"no site {site_id}")
        if home is None or home.site_id != site_id:
            raise NotFound(f"household {command.household_id} does not live at site {site_id}")
        before, site = holdings(sites), sites[site_id]
        follow_up = site.check_out(home, command.reason, at)
        await tx.store.move_out(home.household_id, site_id, at, command.reason.value)
        if follow_up is not None:
            await tx.store.add_follow_up(follow_up)
        await shift_holdings(tx.store, sites, before)
        tx.publish(*site.events, at=at)
    return home, follow_up


class ResolveFollowUp(Command):
    """Staff record what became of a household that left with no next place."""

    note: str = Field(
        min_length=1,
        max_length=2000,
        description="What was done (e.g. placed elsewhere, back from the institution); "
        "stays in housing's database",
    )


async def resolve_follow_up(
    uow: Uow[HousingStore], follow_up_id: uuid.UUID, command: ResolveFollowUp
) -> FollowUp:
    async with uow() as tx:
        follow_up = found(
            await tx.store.get_follow_up(follow_up_id, for_update=True), f"follow-up {follow_up_id}"
        )
        follow_up.resolve(command.note, uow.clock.now())
        await tx.store.save_follow_up(follow_up)
    return follow_up


async def erase_resident(uow: Uow[HousingStore], resident_id: uuid.UUID) -> None:
    """Erase one person's names from the resident list (Löschung)."""
    async with uow() as tx:
        if not await tx.store.erase_resident(resident_id):
            raise NotFound(f"no resident {resident_id}")


async def release_expired(uow: Uow[HousingStore], *, now: datetime, limit: int) -> int:
    """Release up to ``limit`` held reservations past their expiry at ``now`` (the business
    clock), in order of expiry; how many were released. Each release happened when its
    hold ran out (``expires_at``), and its event says so, however late the sweep runs."""
    async with uow() as tx:
        expired = await tx.store.claim_expired(now, limit)
        if not expired:
            return 0
        sites = await tx.store.get_sites({r.site_id for r in expired})
        before = holdings(sites)
        for reservation in expired:
            assert reservation.expires_at is not None
            site = sites[reservation.site_id]
            site.release(reservation, ReleaseReason.EXPIRED, reservation.expires_at)
            tx.publish(*site.events, at=reservation.expires_at)
            site.events.clear()
        await tx.store.save_reservations(expired)
        await shift_holdings(tx.store, sites, before)
    return len(expired)


# -- events from allocation ----------------------------------------------------------------


def on_placement_decided(grace: timedelta) -> EventHandler:
    """PlacementDecided → BedReserved or ReservationRejected, through ``reserve``."""

    async def placement_decided(tx: Tx[HousingStore], event: Envelope[Any]) -> None:
        data: PlacementDecided = event.data
        request = ReservationRequest(
            reservation_id=data.reservation_id,
            site_id=data.site_id,
            household_id=data.household_id,
            places=data.places,
            requirements=frozenset(data.requirements),
            expected_arrival_at=data.expected_arrival_at,
            grace=grace,
        )
        # The decision's business time, not the moment it is handled.
        reservation, repeated = await reserve(tx, request, tx.now())
        if repeated and not reservation.answers(request):
            # An event cannot be refused: answer with what the id got, and say so.
            log.warning(
                "reservation id reused for a different request; recorded answer sent again",
                reservation_id=str(data.reservation_id),
            )

    return placement_decided


async def on_placement_cancelled(tx: Tx[HousingStore], event: Envelope[Any]) -> None:
    """PlacementCancelled → ReservationReleased(cancelled); nothing if not held any more."""
    data: PlacementCancelled = event.data
    reservation = await tx.store.get_reservation(data.reservation_id, for_update=True)
    if reservation is None or reservation.status is not ReservationStatus.HELD:
        log.info(
            "placement cancelled; no held reservation to release",
            reservation_id=str(data.reservation_id),
            status=reservation.status.value if reservation else None,
        )
        return
    sites = await tx.store.get_sites([reservation.site_id])
    before, site = holdings(sites), sites[reservation.site_id]
    site.release(reservation, ReleaseReason.CANCELLED, tx.now())
    await tx.store.save_reservation(reservation)
    await shift_holdings(tx.store, sites, before)
    tx.publish(*site.events)


async def on_refugee_departed(tx: Tx[HousingStore], event: Envelope[Any]) -> None:
    """RefugeeDeparted → held places released (departed), the household checked out (departed)."""
    data: RefugeeDeparted = event.data
    now, store = tx.now(), tx.store
    held = await store.lock_held_of_household(data.household_id)
    home = await store.get_occupant(data.household_id, for_update=True)
    if not held and home is None:
        return  # nothing here (any more): a repeat, or the household never had a place
    sites = await store.get_sites([*(r.site_id for r in held), *([home.site_id] if home else [])])
    before = holdings(sites)
    for reservation in held:
        sites[reservation.site_id].release(reservation, ReleaseReason.DEPARTED, now)
    if home is not None:
        if data.site_id is not None and data.site_id != home.site_id:
            log.warning(
                "departed household lived elsewhere than allocation knew; checked out there",
                household_id=str(data.household_id),
                site_id=str(home.site_id),
            )
        # Correction rule for events (which cannot be refused): a departure dated before
        # the check-in here ends the stay at its check-in, and says so.
        at = max(now, home.checked_in_at)
        if at != now:
            log.warning(
                "departure dated before the check-in; stay ended at the check-in",
                household_id=str(data.household_id),
            )
        sites[home.site_id].check_out(home, CheckOutReason.DEPARTED, at)
        await store.move_out(home.household_id, home.site_id, at, CheckOutReason.DEPARTED.value)
    await store.save_reservations(held)
    await shift_holdings(store, sites, before)
    for site in sites.values():
        tx.publish(*site.events)


def allocation_handlers(grace: timedelta) -> dict[str, EventHandler]:
    """What housing does with ``allocation.events``; other types are ignored and counted."""
    return {
        "PlacementDecided": on_placement_decided(grace),
        "PlacementCancelled": on_placement_cancelled,
        "RefugeeDeparted": on_refugee_departed,
    }


# -- events from integration ---------------------------------------------------------------


async def on_move_out_completed(tx: Tx[HousingStore], event: Envelope[Any]) -> None:
    """MoveOutCompleted → OccupantCheckedOut(moved_out): the household left municipal
    accommodation for a tenancy of its own, so its places are free again (and allocation
    gives them to the waitlist). Nothing if it lives here no more (a repeat)."""
    data: MoveOutCompleted = event.data
    home = await tx.store.get_occupant(data.household_id, for_update=True)
    if home is None:
        log.info("moved-out household lives at no site", household_id=str(data.household_id))
        return
    if home.site_id != data.from_site_id:
        log.warning(
            "moved-out household lived elsewhere than integration knew; checked out there",
            household_id=str(data.household_id),
            site_id=str(home.site_id),
        )
    sites = await tx.store.get_sites([home.site_id])
    before, site = holdings(sites), sites[home.site_id]
    # Events cannot be refused: a move-out dated before the check-in ends the stay there.
    at = max(tx.now(), home.checked_in_at)
    site.check_out(home, CheckOutReason.MOVED_OUT, at)
    await tx.store.move_out(home.household_id, home.site_id, at, CheckOutReason.MOVED_OUT.value)
    await shift_holdings(tx.store, sites, before)
    tx.publish(*site.events, at=at)


async def on_erasure_requested(tx: Tx[HousingStore], event: Envelope[Any]) -> None:
    """ErasureRequested → the people's rows leave housing's resident list (``residents``,
    if this database has one yet); occupancy counts stay, they carry no personal data."""
    data: ErasureRequested = event.data
    erased = await tx.store.erase_residents(data.household_id, data.person_ids)
    log.info(
        "residents erased",
        erasure_id=str(data.erasure_id),
        household_id=str(data.household_id),
        rows=erased,
    )


INTEGRATION_HANDLERS: dict[str, EventHandler] = {
    "MoveOutCompleted": on_move_out_completed,
    "ErasureRequested": on_erasure_requested,
}


def subscriptions(settings: Any) -> list[Subscription]:
    """What housing consumes (the handler-map convention): allocation's requests, held until
    the expected arrival plus ``reservation_grace_seconds`` (rule 1); integration's
    move-outs and erasures."""
    grace = timedelta(seconds=settings.reservation_grace_seconds)
    return [
        Subscription("allocation", allocation_handlers(grace)),
        Subscription("integration", INTEGRATION_HANDLERS),
    ]
