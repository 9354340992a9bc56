"""The fold: facts up to a business day, replayed in business-time order into one ledger.

``Ledger.fold(facts, as_of=day)`` keeps the facts whose business time (``occurred_at`` in
Hannover's calendar) is on or before ``day`` (and, with ``known_at``, were recorded by
then: "what did we know on that date"), sorts them by business time (ties by subject and
sequence, then event id) and applies each. The order facts arrived in does not matter,
and a fact seen twice is applied once (keyed by ``event_id``), so the ledger is the same
for any interleaving of topics and any redelivery.

``History`` holds facts in that order, each event once, so a reader that keeps one
between views (``readmodel``) folds a prefix of it instead of filtering and sorting every
fact again for each day asked for.

The ledger keeps dated changes (occupancy deltas per site and day, assignments per day,
…), so every view can be asked for any period up to the as-of day. Rules of the city
(what counts as a resident, a free place, a sports hall) live here and in ``views``,
once: the live API, the rebuild and the benchmark all use them.
"""

from __future__ import annotations

import uuid
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import islice
from typing import Any

from ankommen_contracts import Pillar
from ankommen_runtime.clock import local_date, start_of_day

from .facts import Fact

HALL_WORDS = ("sporthalle", "turnhalle", "schule", "schulzentrum", "gymnasium")
"""For a site whose kind of building housing did not record (``BuildingKind.OTHER``), an
emergency site is a sports hall or school if its public name says so or it closed because
the building was needed back (``ClosingReason.BUILDING_NEEDED``: returned to schools and
clubs)."""
HALL_KINDS = ("school_sports_hall", "club_sports_hall")
"""Kinds of building (``BuildingKind``) that are sports halls of schools and clubs."""


def _building(data: object) -> str | None:
    """The kind of building a site event records (``ShelterPlanned``/``ShelterOpened``)."""
    kind = getattr(data, "building", None)
    return str(getattr(kind, "value", kind)) if kind is not None else None


def fold_order(fact: Fact) -> tuple[datetime, str, int, uuid.UUID]:
    """The order facts are applied in: business time, ties by subject, sequence, event."""
    return (fact.occurred_at, fact.subject, fact.sequence, fact.event_id)


SORT_ALL_ABOVE = 1_000
"""More facts than this (or a twentieth of the history) at once are sorted in with the
rest: one sort that merges two sorted runs beats that many insertions into a long list."""


def _in_fold_order(facts: Iterable[Fact]) -> list[Fact]:
    unique = {f.event_id: f for f in facts}
    return sorted(unique.values(), key=fold_order)


class History:
    """Facts in fold order, each event once: the later of two facts of one event wins.

    ``add`` keeps the order as facts arrive: a few are put in place (most come after the
    last, in business time), many at once are sorted in with the rest.
    """

    def __init__(self, facts: Iterable[Fact] = ()) -> None:
        self._facts = _in_fold_order(facts)

    def __len__(self) -> int:
        return len(self._facts)

    def add(self, facts: Sequence[Fact]) -> None:
        if len(facts) > max(SORT_ALL_ABOVE, len(self._facts) // 20):
            self._facts = _in_fold_order([*self._facts, *facts])
            return
        for fact in facts:
            key = fold_order(fact)
            if not self._facts or key > fold_order(self._facts[-1]):
                self._facts.append(fact)
                continue
            at = bisect_left(self._facts, key, key=fold_order)
            if at < len(self._facts) and self._facts[at].event_id == fact.event_id:
                # The same event again: its envelope, so its key, never changes.
                self._facts[at] = fact
            else:
                self._facts.insert(at, fact)

    def until(self, as_of: date | None) -> Iterator[Fact]:
        """The facts on or before ``as_of`` in Hannover's calendar (all for ``None``), in
        fold order."""
        if as_of is None:
            return iter(self._facts)
        next_day = (start_of_day(as_of + timedelta(days=1)),)
        return islice(self._facts, bisect_left(self._facts, next_day, key=fold_order))


@dataclass
class Rate:
    valid_from: date
    daily_rate: Decimal | None
    monthly_fixed_cost: Decimal | None


@dataclass
class Site:
    """A site (Unterkunft) as reporting knows it on the as-of day."""

    site_id: uuid.UUID
    name: str
    pillar: Pillar
    district: int
    operator: str | None
    capacity: int = 0
    blocked: int = 0
    status: str = "planned"  # planned | open | closing | closed
    planned_capacity: int = 0
    planned_opening_on: date | None = None
    opened_on: date | None = None
    closing_on: date | None = None  # the agreed day the building is given up, if any
    closing_reason: str | None = None
    closed_on: date | None = None
    kind: str | None = None
    rates: list[Rate] = field(default_factory=list)
    # Persons per business day (Einzug +, Auszug -): residents at the end of a day are
    # the sum up to it; a person occupies a place on each day from check-in to the day
    # before check-out (place-days, as the operators bill them).
    occupancy: dict[date, int] = field(default_factory=lambda: defaultdict(int))
    reserved: int = 0
    last_sequence: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in ("open", "closing")

    @property
    def occupied(self) -> int:
        return max(sum(self.occupancy.values()), 0)

    @property
    def free(self) -> int:
        return max(self.capacity - self.blocked - self.occupied - self.reserved, 0)

    @property
    def is_hall(self) -> bool:
        """A sports hall or school used as an emergency site: by its kind of building,
        else by ``HALL_WORDS``."""
        if self.kind is not None and self.kind != "other":
            return self.kind in HALL_KINDS
        if self.pillar is not Pillar.NOTUNTERKUNFT:
            return False
        lowered = self.name.lower()
        return self.closing_reason == "building_needed" or any(w in lowered for w in HALL_WORDS)

    def rate_on(self, day: date) -> Rate | None:
        """The rate in force on ``day``: the latest ``valid_from`` not after it."""
        current = None
        for rate in self.rates:  # sorted by valid_from
            if rate.valid_from <= day:
                current = rate
        return current


@dataclass
class Stay:
    """A household's stay at a site: check-in to check-out (length of stay, per pillar)."""

    household_id: uuid.UUID
    site_id: uuid.UUID
    persons: int
    checked_in: date
    checked_out: date | None = None
    reason: str | None = None


@dataclass
class Household:
    """An assigned household: coarse attributes of its members, never a name."""

    household_id: uuid.UUID
    assigned_on: date
    persons: int
    members: list[Any]
    quota_period_id: uuid.UUID | None


@dataclass
class QuotaPeriod:
    starts_on: date
    ends_on: date
    weekly_quota: int
    expected_persons: int


@dataclass
class Case:
    """An Integrationsmanagement case."""

    case_id: uuid.UUID
    household_id: uuid.UUID
    district: int
    opened_on: date
    closed_on: date | None = None
    close_reason: str | None = None
    handed_over_on: date | None = None
    handed_to: str | None = None
    handed_district: int | None = None


@dataclass
class MoveOut:
    """A move out of the city's accommodation (Auszug in eigenen Wohnraum)."""

    case_id: uuid.UUID
    from_site_id: uuid.UUID
    on: date
    target_kind: str
    target_district: int | None
    persons: int
    completed: bool


@dataclass
class Volunteer:
    volunteer_id: uuid.UUID
    districts: list[int]
    mso: bool
    registered_on: date
    vetted_on: date | None = None
    vetted_until: date | None = None


@dataclass
class Match:
    match_id: uuid.UUID
    volunteer_id: uuid.UUID
    request_id: uuid.UUID
    district: int
    started_on: date
    ended_on: date | None = None


@dataclass
class SupportRequest:
    request_id: uuid.UUID
    case_id: uuid.UUID
    district: int
    requested_on: date
    skill: str


@dataclass
class Ledger:
    """Everything the views need, as of one business day."""

    as_of: date | None
    first_day: date | None = None
    sites_since: date | None = None
    """The first business day a site is known: the places' time series start there (the
    assignments' may start earlier: a city's stock assigned before its first record)."""
    sites: dict[uuid.UUID, Site] = field(default_factory=dict)
    reservations: dict[uuid.UUID, tuple[uuid.UUID, int, bool]] = field(default_factory=dict)
    # Reservations dated before their site opened (housing takes a back-dated request):
    # their places count at the site from when it exists (``_site``), by site.
    reserved_ahead: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    stays: dict[tuple[uuid.UUID, uuid.UUID], list[Stay]] = field(default_factory=dict)
    households: dict[uuid.UUID, Household] = field(default_factory=dict)
    quota_periods: dict[uuid.UUID, QuotaPeriod] = field(default_factory=dict)
    failed_placements: list[tuple[date, int]] = field(default_factory=list)
    relocations: list[tuple[date, uuid.UUID, uuid.UUID]] = field(default_factory=list)
    departures: list[tuple[date, int]] = field(default_factory=list)
    cases: dict[uuid.UUID, Case] = field(default_factory=dict)
    milestones: list[tuple[date, int, str, int]] = field(default_factory=list)
    move_outs: dict[tuple[uuid.UUID, uuid.UUID], MoveOut] = field(default_factory=dict)
    volunteers: dict[uuid.UUID, Volunteer] = field(default_factory=dict)
    matches: dict[uuid.UUID, Match] = field(default_factory=dict)
    hours: list[tuple[date, int, float]] = field(default_factory=list)
    requests: dict[uuid.UUID, SupportRequest] = field(default_factory=dict)
    facts: int = 0

    @classmethod
    def fold(
        cls,
        facts: Iterable[Fact],
        *,
        as_of: date | None = None,
        known_at: datetime | None = None,
    ) -> Ledger:
        """The ledger of every fact on or before ``as_of`` (recorded by ``known_at``)."""
        return cls.fold_history(History(facts), as_of=as_of, known_at=known_at)

    @classmethod
    def fold_history(
        cls, history: History, *, as_of: date | None = None, known_at: datetime | None = None
    ) -> Ledger:
        """``fold`` of facts already in a ``History``."""
        ledger = cls(as_of=as_of)
        for fact in history.until(as_of):
            if known_at is None or fact.recorded_at <= known_at:
                ledger.apply(fact)
        return ledger

    def apply(self, fact: Fact) -> None:
        day = local_date(fact.occurred_at)
        if self.first_day is None or day < self.first_day:
            self.first_day = day
        self.facts += 1
        handler = getattr(self, f"_on_{fact.type}", None)
        if handler is not None:
            handler(fact, fact.data, day)

    # -- housing -------------------------------------------------------------------------

    def _site(self, d: Any, day: date) -> Site:
        """The site ``d`` (a planning or opening) is about, new if not known before: with the
        places of its reservations still held that were dated before it existed."""
        site = self.sites.get(d.site_id)
        if site is None:
            site = self.sites[d.site_id] = Site(d.site_id, d.name, d.pillar, d.district, d.operator)
            if self.sites_since is None or day < self.sites_since:
                self.sites_since = day
            for reservation_id in self.reserved_ahead.pop(d.site_id, ()):
                _, places, held = self.reservations[reservation_id]
                site.reserved += places if held else 0
        return site

    def _on_ShelterPlanned(self, fact: Fact, d: Any, day: date) -> None:
        site = self._site(d, day)
        site.name, site.pillar, site.district = d.name, d.pillar, d.district
        site.operator = d.operator or site.operator
        site.planned_capacity = d.planned_capacity
        site.closing_on = d.closes_on
        site.planned_opening_on = d.planned_opening_on
        site.kind = _building(d) or site.kind

    def _on_ShelterOpened(self, fact: Fact, d: Any, day: date) -> None:
        site = self._site(d, day)
        site.name, site.pillar, site.district, site.operator = (
            d.name,
            d.pillar,
            d.district,
            d.operator,
        )
        site.capacity = d.capacity
        site.status = "open"
        site.opened_on = day
        site.closing_on = d.closes_on
        site.kind = _building(d) or site.kind
        if d.daily_rate is not None or d.monthly_fixed_cost is not None:
            self._rate(site, Rate(day, d.daily_rate, d.monthly_fixed_cost))

    def _on_ShelterRateChanged(self, fact: Fact, d: Any, day: date) -> None:
        site = self.sites.get(d.site_id)
        if site is not None:
            self._rate(site, Rate(d.valid_from, d.daily_rate, d.monthly_fixed_cost))

    @staticmethod
    def _rate(site: Site, rate: Rate) -> None:
        site.rates = sorted(
            [r for r in site.rates if r.valid_from != rate.valid_from] + [rate],
            key=lambda r: r.valid_from,
        )

    def _on_ShelterCapacityChanged(self, fact: Fact, d: Any, day: date) -> None:
        site = self.sites.get(d.site_id)
        if site is not None:
            site.capacity, site.blocked = d.capacity, d.blocked_places

    def _on_ShelterClosing(self, fact: Fact, d: Any, day: date) -> None:
        site = self.sites.get(d.site_id)
        if site is not None:
            site.status = "closing"
            site.closing_on = d.closes_on
            site.closing_reason = d.reason.value

    def _on_ShelterClosingDateSet(self, fact: Fact, d: Any, day: date) -> None:
        site = self.sites.get(d.site_id)
        if site is not None:
            site.closing_on = d.closes_on

    def _on_ShelterClosed(self, fact: Fact, d: Any, day: date) -> None:
        site = self.sites.get(d.site_id)
        if site is not None:
            site.status = "closed"
            site.closed_on = day

    def _on_BedReserved(self, fact: Fact, d: Any, day: date) -> None:
        # Housing answers a repeated request with the recorded BedReserved again (a new
        # event): the reservation id, not the event, is counted once.
        if d.reservation_id in self.reservations:
            return
        self.reservations[d.reservation_id] = (d.site_id, d.places, True)
        site = self.sites.get(d.site_id)
        if site is not None:
            site.reserved += d.places
        else:  # dated before its site opened: counted there from its opening
            self.reserved_ahead.setdefault(d.site_id, []).append(d.reservation_id)

    def _close_reservation(self, reservation_id: uuid.UUID | None) -> None:
        held = self.reservations.get(reservation_id) if reservation_id else None
        if held is None or not held[2]:
            return
        site_id, places, _ = held
        self.reservations[reservation_id] = (site_id, places, False)  # type: ignore[index]
        site = self.sites.get(site_id)
        if site is not None:
            site.reserved = max(site.reserved - places, 0)

    def _on_ReservationReleased(self, fact: Fact, d: Any, day: date) -> None:
        self._close_reservation(d.reservation_id)

    def _on_OccupantCheckedIn(self, fact: Fact, d: Any, day: date) -> None:
        self._close_reservation(d.reservation_id)
        site = self.sites.get(d.site_id)
        if site is None:
            return
        site.occupancy[day] += d.persons
        self.stays.setdefault((d.household_id, d.site_id), []).append(
            Stay(d.household_id, d.site_id, d.persons, day)
        )

    def _on_OccupantCheckedOut(self, fact: Fact, d: Any, day: date) -> None:
        site = self.sites.get(d.site_id)
        if site is None:
            return
        site.occupancy[day] -= d.persons
        for stay in self.stays.get((d.household_id, d.site_id), ()):
            if stay.checked_out is None:
                stay.checked_out, stay.reason = day, d.reason.value
                break

    # -- allocation ----------------------------------------------------------------------

    def _on_QuotaPeriodAnnounced(self, fact: Fact, d: Any, day: date) -> None:
        self.quota_periods[d.quota_period_id] = QuotaPeriod(
            d.starts_on, d.ends_on, d.weekly_quota, d.expected_persons
        )

    def _on_RefugeeAssigned(self, fact: Fact, d: Any, day: date) -> None:
        self.households[d.household_id] = Household(
            d.household_id, day, d.household_size, list(d.members), d.quota_period_id
        )

    def _on_PlacementFailed(self, fact: Fact, d: Any, day: date) -> None:
        self.failed_placements.append((day, d.persons))

    def _on_RefugeeRelocated(self, fact: Fact, d: Any, day: date) -> None:
        self.relocations.append((day, d.from_site_id, d.to_site_id))

    def _on_RefugeeDeparted(self, fact: Fact, d: Any, day: date) -> None:
        self.departures.append((day, d.persons))

    # -- integration ---------------------------------------------------------------------

    def _on_CaseOpened(self, fact: Fact, d: Any, day: date) -> None:
        self.cases[d.case_id] = Case(d.case_id, d.household_id, d.district, day)

    def _on_MilestoneReached(self, fact: Fact, d: Any, day: date) -> None:
        case = self.cases.get(d.case_id)
        district = case.district if case else 0
        self.milestones.append((d.reached_on, district, d.milestone.value, d.persons))

    def _move_out(self, d: Any, day: date, *, completed: bool) -> None:
        key = (d.case_id, d.from_site_id)
        household = self.households.get(d.household_id)
        stays = self.stays.get((d.household_id, d.from_site_id))
        persons = stays[-1].persons if stays else household.persons if household else 1
        seen = self.move_outs.get(key)
        if seen is not None and seen.completed and not completed:
            return
        on = day if completed else (getattr(d, "planned_on", None) or day)
        self.move_outs[key] = MoveOut(
            d.case_id,
            d.from_site_id,
            on,
            d.target_kind.value,
            d.target_district,
            persons,
            completed,
        )

    def _on_MoveOutPlanned(self, fact: Fact, d: Any, day: date) -> None:
        self._move_out(d, day, completed=False)

    def _on_MoveOutCompleted(self, fact: Fact, d: Any, day: date) -> None:
        self._move_out(d, day, completed=True)

    def _on_CaseHandedOver(self, fact: Fact, d: Any, day: date) -> None:
        case = self.cases.get(d.case_id)
        if case is not None:
            case.handed_over_on, case.handed_to = day, d.to_structure.value
            case.handed_district = d.district

    def _on_CaseClosed(self, fact: Fact, d: Any, day: date) -> None:
        case = self.cases.get(d.case_id)
        if case is not None:
            case.closed_on, case.close_reason = day, d.reason.value

    def _on_SupportRequested(self, fact: Fact, d: Any, day: date) -> None:
        self.requests[d.request_id] = SupportRequest(
            d.request_id, d.case_id, d.district, day, d.skill.value
        )

    # -- volunteers ----------------------------------------------------------------------

    def _on_VolunteerRegistered(self, fact: Fact, d: Any, day: date) -> None:
        self.volunteers[d.volunteer_id] = Volunteer(d.volunteer_id, list(d.districts), d.mso, day)

    def _on_VolunteerVetted(self, fact: Fact, d: Any, day: date) -> None:
        volunteer = self.volunteers.get(d.volunteer_id)
        if volunteer is not None:
            volunteer.vetted_on, volunteer.vetted_until = day, d.certificate_valid_until

    def _on_VolunteerMatched(self, fact: Fact, d: Any, day: date) -> None:
        self.matches[d.match_id] = Match(d.match_id, d.volunteer_id, d.request_id, d.district, day)

    def _on_MatchEnded(self, fact: Fact, d: Any, day: date) -> None:
        match = self.matches.get(d.match_id)
        if match is not None:
            match.ended_on = day

    def _on_VolunteerHoursLogged(self, fact: Fact, d: Any, day: date) -> None:
        self.hours.append((d.worked_on, d.district, d.hours))

    # -- derived -------------------------------------------------------------------------

    def last_day(self) -> date:
        """The as-of day, or the last business day the facts reach."""
        if self.as_of is not None:
            return self.as_of
        days = [day for s in self.sites.values() for day in s.occupancy]
        days += [h.assigned_on for h in self.households.values()]
        return max(days, default=self.first_day or date(2016, 1, 1))
