"""Allocation's model: households assigned by the Land and where they should live. Pure: no I/O.

Allocation decides *where* a household should go; housing, the only authority on places,
confirms or rejects (docs/placement-saga.md). A ``Household`` is the aggregate of that
saga: it guards its own transitions and records the events it raises in ``events`` and
what happened, in words for staff, in ``history`` (cosmicpython's aggregate; the unit of
work writes the events to the outbox in the same transaction).

The placement policy (``choose_site``) is a pure function of the household's needs and
allocation's estimate of the sites (``Board``), and every decision says which rule chose it.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from ankommen_contracts import DISTRICT_NAMES, Pillar, SpecialNeed, Suitability
from ankommen_contracts.envelope import EventData
from ankommen_contracts.events.allocation import (
    DepartureReason,
    Member,
    PlacementCancelled,
    PlacementDecided,
    PlacementFailed,
    RefugeeAssigned,
    RefugeeDeparted,
    RefugeeRelocated,
    RelocationReason,
    RelocationRequested,
)
from ankommen_contracts.events.housing import CheckOutReason, RejectionReason, ReleaseReason
from ankommen_runtime.errors import Conflict

MAX_ATTEMPTS = 1000  # PlacementDecided.attempt's upper bound in the contract
MAX_REASON = 500  # the contract's limit on every `reason` text


class HouseholdStatus(StrEnum):
    """Where a household stands in the placement saga."""

    PLACING = "placing"  # no bed yet; PlacementDecided sent, waiting for housing's answer
    RESERVED = "reserved"  # no bed yet; housing holds the places, waiting for the check-in
    HOUSED = "housed"  # lives at a site; a relocation may be under way (``pending``)
    WAITLISTED = "waitlisted"  # nothing fits: PlacementFailed raised, retried as places free
    YOUTH_WELFARE = "youth_welfare"  # unaccompanied minors: Jugendhilfe, not a site
    MOVED_OUT = "moved_out"  # left the city's accommodation (Auszug into an own flat)
    DEPARTED = "departed"  # left the city's care (RefugeeDeparted)


class SiteStatus(StrEnum):
    """A site's lifecycle as housing reports it."""

    PLANNED = "planned"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


# ---------------------------------------------------------------------------------------
# Readiness: which regular pillar a household is ready for
# ---------------------------------------------------------------------------------------


class Independence(StrEnum):
    """How independently the household manages everyday life (social workers' estimate)."""

    LOW = "low"
    SOME = "some"
    HIGH = "high"


class GermanLevel(StrEnum):
    """German of the household's best speaker, coarse CEFR level."""

    NONE = "none"
    A1 = "a1"
    A2 = "a2"
    B1 = "b1"
    B2_PLUS = "b2_plus"


class ResidenceProspects(StrEnum):
    """Prospects of staying (Bleibeperspektive), coarse."""

    GOOD = "good"
    UNCLEAR = "unclear"
    POOR = "poor"


_INDEPENDENCE_RANK = {level: i for i, level in enumerate(Independence)}
_GERMAN_RANK = {level: i for i, level in enumerate(GermanLevel)}

# Below these lengths of stay a household counts as a new arrival whatever else is known.
WOHNPROJEKT_AFTER_MONTHS = 3
WOHNUNG_AFTER_MONTHS = 6


@dataclass(frozen=True)
class Readiness:
    """Coarse attributes recorded by staff; with the length of stay they decide the pillar."""

    independence: Independence
    german: GermanLevel
    residence_prospects: ResidenceProspects


def months_since(start: datetime, now: datetime) -> int:
    """Whole months (of 30 days) between two moments; never negative."""
    return max((now - start).days // 30, 0)


def ready_for(readiness: Readiness | None, months: int) -> tuple[Pillar, str]:
    """The most independent regular pillar the household is ready for, and why in words.

    Wohnung: 6+ months here, high independence, German A2+, good residence prospects.
    Wohnprojekt: 3+ months, at least some independence, German A1+, prospects not poor.
    Anyone else, and every new arrival, starts in a Wohnheim with 24/7 care.
    """
    stay = f"{months} months in Hannover"
    if months < WOHNPROJEKT_AFTER_MONTHS:
        return Pillar.WOHNHEIM, f"new arrival ({stay})"
    if readiness is None:
        return Pillar.WOHNHEIM, f"{stay}, readiness not assessed yet"
    r = readiness
    not_for_flat = [
        text
        for missing, text in (
            (months < WOHNUNG_AFTER_MONTHS, f"under {WOHNUNG_AFTER_MONTHS} months here"),
            (r.independence is not Independence.HIGH, "independence not yet high"),
            (_GERMAN_RANK[r.german] < _GERMAN_RANK[GermanLevel.A2], "German below A2"),
            (r.residence_prospects is not ResidenceProspects.GOOD, "residence prospects not good"),
        )
        if missing
    ]
    if not not_for_flat:
        return Pillar.WOHNUNG, (
            f"ready for a Wohnung ({stay}, {r.independence.value} independence, "
            f"German {_german(r.german)}, {r.residence_prospects.value} residence prospects)"
        )
    not_for_project = [
        text
        for missing, text in (
            (_INDEPENDENCE_RANK[r.independence] < 1, "independence low"),
            (r.german is GermanLevel.NONE, "no German yet"),
            (r.residence_prospects is ResidenceProspects.POOR, "residence prospects poor"),
        )
        if missing
    ]
    if not not_for_project:
        return Pillar.WOHNPROJEKT, (
            f"ready for a Wohnprojekt, not yet for a Wohnung ({', '.join(not_for_flat)})"
        )
    return Pillar.WOHNHEIM, f"not yet ready for a Wohnprojekt ({', '.join(not_for_project)})"


def _german(level: GermanLevel) -> str:
    return "B2 or better" if level is GermanLevel.B2_PLUS else level.value.upper()


# ---------------------------------------------------------------------------------------
# Sites as allocation sees them, and the placement policy
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteOption:
    """A site in allocation's replica; ``free`` is an estimate (housing has the truth)."""

    site_id: uuid.UUID
    name: str
    pillar: Pillar
    district: int
    suitability: frozenset[Suitability]
    status: SiteStatus
    free: int


class Board:
    """The sites one transaction chooses from; decisions hold places so the next one sees it."""

    def __init__(self, sites: Iterable[SiteOption] = ()) -> None:
        self._sites = {s.site_id: s for s in sites}

    def sites(self) -> list[SiteOption]:
        return list(self._sites.values())

    def get(self, site_id: uuid.UUID) -> SiteOption | None:
        return self._sites.get(site_id)

    def hold(self, site_id: uuid.UUID, places: int) -> None:
        site = self._sites.get(site_id)
        if site is not None:
            self._sites[site_id] = replace(site, free=site.free - places)

    def has_free(self, *, regular_only: bool = False) -> bool:
        """Any open site with a free place (a cheap test before looking for takers)."""
        return any(
            s.free > 0
            and s.status is SiteStatus.OPEN
            and not (regular_only and s.pillar is Pillar.NOTUNTERKUNFT)
            for s in self._sites.values()
        )


REGULAR_ORDER: dict[Pillar, tuple[Pillar, ...]] = {
    # New arrivals and anyone not ready for more start with 24/7 care.
    Pillar.WOHNHEIM: (Pillar.WOHNHEIM, Pillar.WOHNPROJEKT, Pillar.WOHNUNG),
    # Ready for shared housing but not a flat: a Wohnheim suits better than a flat.
    Pillar.WOHNPROJEKT: (Pillar.WOHNPROJEKT, Pillar.WOHNHEIM, Pillar.WOHNUNG),
    Pillar.WOHNUNG: (Pillar.WOHNUNG, Pillar.WOHNPROJEKT, Pillar.WOHNHEIM),
}
SINGULAR = {
    Pillar.WOHNHEIM: "Wohnheim",
    Pillar.WOHNPROJEKT: "Wohnprojekt",
    Pillar.WOHNUNG: "Wohnung",
    Pillar.NOTUNTERKUNFT: "Notunterkunft",
}
PLURAL = {
    Pillar.WOHNHEIM: "Wohnheime",
    Pillar.WOHNPROJEKT: "Wohnprojekte",
    Pillar.WOHNUNG: "Wohnungen",
    Pillar.NOTUNTERKUNFT: "Notunterkünfte",
}
# Special needs a site must declare a suitability for; others (medical, family) are not
# declared by sites, so they cannot exclude one (family only prefers family sites).
REQUIRED_SUITABILITY: dict[SpecialNeed, Suitability] = {
    SpecialNeed.WHEELCHAIR: Suitability.ACCESSIBLE,
    SpecialNeed.REDUCED_MOBILITY: Suitability.ACCESSIBLE,
    SpecialNeed.WOMEN_ONLY: Suitability.WOMEN_ONLY,
}


@dataclass(frozen=True)
class Need:
    """What a placement must satisfy: the whole household, its needs, its readiness."""

    persons: int
    special_needs: frozenset[SpecialNeed]
    ready_for: Pillar
    assessment: str  # why that pillar, in words (from ``ready_for``)
    allow_emergency: bool = True  # relocations never move anyone *into* a Notunterkunft


@dataclass(frozen=True)
class Choice:
    site: SiteOption
    reason: str


@dataclass(frozen=True)
class NoFit:
    reason: str


def unfit(site: SiteOption, need: Need) -> str | None:
    """Why a site cannot take the household, or None if it can (free places aside)."""
    if site.status is not SiteStatus.OPEN:
        return "closing" if site.status is SiteStatus.CLOSING else "not open"
    if Suitability.MINORS in site.suitability:
        return "for unaccompanied minors (Jugendhilfe)"
    for need_ in sorted(need.special_needs):
        required = REQUIRED_SUITABILITY.get(need_)
        if required is not None and required not in site.suitability:
            return f"not {required.value.replace('_', '-')}"
    if (
        Suitability.WOMEN_ONLY in site.suitability
        and SpecialNeed.WOMEN_ONLY not in need.special_needs
    ):
        return "women-only"
    if site.pillar is Pillar.NOTUNTERKUNFT and not need.allow_emergency:
        return "a Notunterkunft (relocations go to regular places)"
    if site.free < need.persons:
        return f"fewer than {need.persons} free places"
    return None


def choose_site(
    need: Need, sites: Iterable[SiteOption], *, exclude: Set[uuid.UUID] = frozenset()
) -> Choice | NoFit:
    """The placement policy. Households stay together: one site with room for everyone.

    1. Regular pillars first, in the order of the household's readiness (new arrivals:
       Wohnheime; ready households: Wohnprojekte or Wohnungen first).
    2. Notunterkünfte only when no regular place fits.
    3. Within a pillar the site with the most free places (a family-suitable one first for
       a household that needs a family unit).
    Special needs exclude sites that do not declare the matching suitability, and a
    women-only site takes only households that need one.
    """
    fitting: list[SiteOption] = []
    why_not: Counter[str] = Counter()
    for site in sites:
        problem = "already tried in this round" if site.site_id in exclude else unfit(site, need)
        if problem is None:
            fitting.append(site)
        else:
            why_not[problem] += 1
    order = REGULAR_ORDER[need.ready_for]
    if need.allow_emergency:
        order = (*order, Pillar.NOTUNTERKUNFT)
    family = SpecialNeed.FAMILY in need.special_needs
    for rank, pillar in enumerate(order):
        candidates = [s for s in fitting if s.pillar is pillar]
        if not candidates:
            continue
        best = min(
            candidates,
            key=lambda s: (
                family and Suitability.FAMILIES not in s.suitability,
                -s.free,
                s.name,
                str(s.site_id),
            ),
        )
        return Choice(best, _decision_reason(need, best, order[:rank], candidates))
    return NoFit(_no_fit_reason(need, why_not))


def _decision_reason(
    need: Need, site: SiteOption, skipped: Sequence[Pillar], candidates: Sequence[SiteOption]
) -> str:
    first = REGULAR_ORDER[need.ready_for][0]
    if not skipped:
        rule = f"{need.assessment}: {PLURAL[first]} first"
    elif site.pillar is Pillar.NOTUNTERKUNFT:
        rule = (
            f"{need.assessment}; no regular place (Wohnheim, Wohnprojekt, Wohnung) fits "
            f"{_persons(need.persons)}: a Notunterkunft only because nothing else is free"
        )
    else:
        none_fit = ", ".join(SINGULAR[p] for p in skipped)
        rule = (
            f"{need.assessment}: {PLURAL[first]} first, but no {none_fit} place fits "
            f"{_persons(need.persons)}; next regular pillar {PLURAL[site.pillar]}"
        )
    if len(candidates) == 1:
        within = f"the only fitting {SINGULAR[site.pillar]} ({site.free} free)"
    else:
        within = (
            f"most free places of {len(candidates)} fitting {PLURAL[site.pillar]} "
            f"({site.free} free)"
        )
    if SpecialNeed.FAMILY in need.special_needs and Suitability.FAMILIES in site.suitability:
        within += ", suited for families"
    parts = [f"{site.name} ({SINGULAR[site.pillar]}, {_district(site.district)})", rule, within]
    met = sorted(
        f"{REQUIRED_SUITABILITY[n].value.replace('_', '-')} ({n.value})"
        for n in need.special_needs
        if n in REQUIRED_SUITABILITY
    )
    if met:
        parts.append("needs met: " + ", ".join(met))
    return _clip(": ".join(parts[:2]) + "; " + "; ".join(parts[2:]))


def _no_fit_reason(need: Need, why_not: Counter[str]) -> str:
    needs = f" with needs {', '.join(sorted(n.value for n in need.special_needs))}"
    head = f"No open site fits {_persons(need.persons)}{needs if need.special_needs else ''}"
    if not why_not:
        return _clip(f"{head}: no open site is known")
    detail = ", ".join(f"{n} {_sites(n)} {why}" for why, n in why_not.most_common())
    return _clip(f"{head}: {detail}")


def _persons(n: int) -> str:
    return "1 person" if n == 1 else f"{n} persons"


def _sites(n: int) -> str:
    return "site" if n == 1 else "sites"


def _district(number: int) -> str:
    return f"Stadtbezirk {number:02d} {DISTRICT_NAMES.get(number, '')}".rstrip()


def _clip(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


# ---------------------------------------------------------------------------------------
# The household aggregate
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Home:
    """The site a household lives at now."""

    site_id: uuid.UUID
    pillar: Pillar
    district: int
    checked_in_at: datetime


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a household's story, in words for staff."""

    at: datetime
    kind: str
    reason: str
    site_id: uuid.UUID | None = None
    reservation_id: uuid.UUID | None = None
    attempt: int | None = None


# A relocation for these reasons cannot be given up: the household has to leave its site.
MUST_MOVE = frozenset({RelocationReason.SITE_CLOSING})


@dataclass
class Household:
    """A household assigned by the Land; placed together, at one site, or waitlisted."""

    household_id: uuid.UUID
    land_reference: str
    members: tuple[Member, ...]
    assigned_at: datetime
    status: HouseholdStatus
    quota_period_id: uuid.UUID | None = None
    home: Home | None = None
    # The request in flight, exactly as sent; ``reserved_until`` is set once housing
    # granted it (BedReserved), so an unanswered request has ``reserved_until is None``.
    pending: PlacementDecided | None = None
    decided_at: datetime | None = None
    reserved_until: datetime | None = None
    relocation_reason: RelocationReason | None = None
    tried_site_ids: list[uuid.UUID] = field(default_factory=list)
    cancelled_reservation_ids: list[uuid.UUID] = field(default_factory=list)
    attempts: int = 0
    # Set by the first PlacementFailed of a waiting spell; kept while a retry is in flight,
    # so a household that fails again goes back to its old place in the queue.
    waitlisted_since: datetime | None = None
    readiness: Readiness | None = None
    events: list[EventData] = field(default_factory=list, repr=False, compare=False)
    history: list[HistoryEntry] = field(default_factory=list, repr=False, compare=False)

    # -- facts --------------------------------------------------------------------------

    @property
    def persons(self) -> int:
        return len(self.members)

    @property
    def special_needs(self) -> list[SpecialNeed]:
        """Every need of any member, in a fixed order: the household is placed together."""
        needs = {n for m in self.members for n in m.special_needs}
        return [n for n in SpecialNeed if n in needs]

    @property
    def unaccompanied_minors(self) -> bool:
        """Only unaccompanied minors: youth welfare's responsibility, not a site's."""
        return all(m.unaccompanied_minor for m in self.members)

    @property
    def must_move(self) -> bool:
        return self.relocation_reason in MUST_MOVE

    def need(self, now: datetime) -> Need:
        pillar, assessment = ready_for(self.readiness, months_since(self.assigned_at, now))
        relocating = self.home is not None
        return Need(
            persons=self.persons,
            special_needs=frozenset(self.special_needs),
            ready_for=pillar,
            assessment=assessment,
            allow_emergency=not relocating or self.must_move,
        )

    # -- commands -----------------------------------------------------------------------

    @classmethod
    def assign(
        cls,
        *,
        land_reference: str,
        land_reference_pseudonym: str,
        members: Sequence[Member],
        quota_period_id: uuid.UUID | None,
        board: Board,
        now: datetime,
        household_id: uuid.UUID | None = None,
    ) -> Household:
        """Register the Land's assignment and start its placement (or route to Jugendhilfe)."""
        household = cls(
            household_id=household_id or uuid.uuid4(),
            land_reference=land_reference,
            members=tuple(members),
            assigned_at=now,
            status=HouseholdStatus.PLACING,
            quota_period_id=quota_period_id,
        )
        household.events.append(
            RefugeeAssigned(
                household_id=household.household_id,
                land_reference_pseudonym=land_reference_pseudonym,
                quota_period_id=quota_period_id,
                household_size=household.persons,
                members=list(members),
            )
        )
        household._note(now, "assigned", f"assigned by the Land: {_persons(household.persons)}")
        if household.unaccompanied_minors:
            household.status = HouseholdStatus.YOUTH_WELFARE
            household._note(
                now,
                "youth_welfare",
                "unaccompanied minors: routed to youth welfare (Jugendhilfe), no site placement",
            )
        else:
            household._place(board, now)
        return household

    def record_readiness(self, readiness: Readiness, now: datetime) -> None:
        if self.status is HouseholdStatus.DEPARTED:
            raise Conflict(f"household {self.household_id} has departed")
        self.readiness = readiness
        _, assessment = ready_for(readiness, months_since(self.assigned_at, now))
        self._note(now, "readiness", f"readiness recorded: {assessment}")

    def request_relocation(self, reason: RelocationReason, board: Board, now: datetime) -> None:
        """Staff ask to move a housed household; refused if it cannot move now."""
        if self.status is not HouseholdStatus.HOUSED or self.home is None:
            raise Conflict(
                f"household {self.household_id} is {self.status.value}: only a housed "
                "household can be relocated"
            )
        if self.pending is not None:
            raise Conflict(f"household {self.household_id} is being relocated already")
        if not self._start_relocation(reason, board, now):
            raise Conflict(
                f"no other site fits household {self.household_id} now; it stays where it is"
            )

    def depart(self, reason: DepartureReason, now: datetime) -> None:
        """The household left the city's care; a reservation in flight is cancelled."""
        if self.status is HouseholdStatus.DEPARTED:
            raise Conflict(f"household {self.household_id} has departed already")
        if self.pending is not None:
            self._cancel(
                self.pending.site_id, self.pending.reservation_id, "household departed", now
            )
        self.events.append(
            RefugeeDeparted(
                household_id=self.household_id,
                site_id=self.home.site_id if self.home else None,
                reason=reason,
                persons=self.persons,
            )
        )
        self._note(now, "departed", f"left the city's care: {reason.value}", self._home_id())
        self._settle(HouseholdStatus.DEPARTED, home=None)

    # -- the saga: housing's answers ----------------------------------------------------

    def reservation_confirmed(
        self, site_id: uuid.UUID, reservation_id: uuid.UUID, expires_at: datetime, now: datetime
    ) -> None:
        """BedReserved: the awaited reservation is held; any other one is handed back."""
        if self._awaits(reservation_id):
            if self.reserved_until is None:
                if self.home is None:
                    self.status = HouseholdStatus.RESERVED
                self.reserved_until = expires_at
                self.waitlisted_since = None
                self._note(now, "reserved", "housing reserved the places", site_id, reservation_id)
            return
        if reservation_id in self.cancelled_reservation_ids:
            return  # compensated already
        # Housing holds places this household no longer wants: the saga's compensation.
        why = (
            f"household is {self.status.value}"
            if self.pending is None
            else "household awaits another reservation"
        )
        self._cancel(site_id, reservation_id, f"reservation no longer wanted: {why}", now)

    def reservation_rejected(
        self,
        site_id: uuid.UUID,
        reservation_id: uuid.UUID,
        reason: RejectionReason,
        free_places: int | None,
        board: Board,
        now: datetime,
    ) -> None:
        """ReservationRejected: try the next candidate, or waitlist (an alert) if none fits."""
        if not (self._awaits(reservation_id) and self.reserved_until is None):
            return  # an answer to a request this household no longer waits for
        free = "unknown" if free_places is None else str(free_places)
        self._note(
            now,
            "rejected",
            f"housing rejected the reservation: {reason.value} (free places then: {free})",
            site_id,
            reservation_id,
        )
        self.pending = None
        self._place(board, now)

    def reservation_released(
        self, reservation_id: uuid.UUID, reason: ReleaseReason, board: Board, now: datetime
    ) -> None:
        """ReservationReleased(expired) of the current reservation: place again."""
        if reason is not ReleaseReason.EXPIRED or not self._awaits(reservation_id):
            return  # released because we asked (cancelled, departed): nothing left to do
        assert self.pending is not None
        self._note(
            now,
            "expired",
            "reservation expired before the check-in; placing again",
            self.pending.site_id,
            reservation_id,
        )
        self.pending = None
        self.tried_site_ids = []  # a new round: the site was right, only the arrival was late
        self._place(board, now)

    def checked_in(
        self,
        site: SiteOption | None,
        reservation_id: uuid.UUID | None,
        at: datetime,
        now: datetime,
    ) -> None:
        """OccupantCheckedIn: housed; a household that lived elsewhere was relocated."""
        if reservation_id is not None and self._awaits(reservation_id):
            decided = self.pending
            assert decided is not None
            if self.home is not None and self.home.site_id != decided.site_id:
                self.events.append(
                    RefugeeRelocated(
                        household_id=self.household_id,
                        from_site_id=self.home.site_id,
                        to_site_id=decided.site_id,
                        reservation_id=reservation_id,
                        to_pillar=decided.pillar,
                        to_district=decided.district,
                    )
                )
                self._note(now, "relocated", "moved from its former site", self.home.site_id)
            home = Home(decided.site_id, decided.pillar, decided.district, at)
            self._note(
                now,
                "housed",
                f"checked in ({SINGULAR[decided.pillar]})",
                home.site_id,
                reservation_id,
            )
            self._settle(HouseholdStatus.HOUSED, home=home)
        elif (
            reservation_id is None
            and site is not None
            and self.status is HouseholdStatus.WAITLISTED
            and self.home is None
        ):
            # Staff housed a waitlisted household directly: its alert is closed.
            home = Home(site.site_id, site.pillar, site.district, at)
            self._note(now, "housed", "checked in directly by staff", site.site_id)
            self._settle(HouseholdStatus.HOUSED, home=home)

    def checked_out(self, site_id: uuid.UUID, reason: CheckOutReason, now: datetime) -> None:
        """OccupantCheckedOut: a household that moved out no longer needs a place."""
        if self.home is None or self.home.site_id != site_id:
            return
        if reason in (CheckOutReason.RELOCATED, CheckOutReason.DEPARTED):
            return  # RefugeeRelocated / RefugeeDeparted recorded that already
        if self.pending is not None:
            self._cancel(
                self.pending.site_id, self.pending.reservation_id, "household moved out", now
            )
        self._note(now, "moved_out", f"checked out: {reason.value}", site_id)
        self._settle(HouseholdStatus.MOVED_OUT, home=None)

    def site_closing(self, site_id: uuid.UUID, board: Board, now: datetime) -> None:
        """ShelterClosing: whoever lives or holds places there has to go elsewhere."""
        pending = self.pending
        if pending is not None and pending.site_id == site_id and self.reserved_until is not None:
            self._cancel(site_id, pending.reservation_id, "site is closing", now)
            self.pending = None
            if self.home is None:
                self._request(RelocationReason.SITE_CLOSING, site_id, now)
            self._place(board, now)
            return
        if self.home is None or self.home.site_id != site_id:
            return  # a request in flight there is rejected by housing and moves on by itself
        if self.pending is not None:
            # Already moving elsewhere; now the move must not be given up.
            self.relocation_reason = RelocationReason.SITE_CLOSING
            self._note(
                now, "must_move", "its site is closing: the move is no longer optional", site_id
            )
            return
        if self.status is HouseholdStatus.HOUSED:
            self._request(RelocationReason.SITE_CLOSING, site_id, now)
            self.tried_site_ids = []
            self._place(board, now)

    # -- places appeared, or time passed ------------------------------------------------

    def retry_from_waitlist(self, board: Board, now: datetime) -> bool:
        """Places appeared: a waitlisted household gets a PlacementDecided if one fits now."""
        if self.status is not HouseholdStatus.WAITLISTED:
            return False
        choice = choose_site(self.need(now), board.sites(), exclude=self._excluded([]))
        if isinstance(choice, NoFit):
            return False  # still nothing: the open alert stands, no new one
        self.tried_site_ids = []  # a new round
        self._decide(choice, board, now, prefix="from the waitlist: ")
        return True

    def relocate_from_emergency(self, board: Board, now: datetime) -> bool:
        """Move a household out of a Notunterkunft into a free regular place, if one fits."""
        if (
            self.status is not HouseholdStatus.HOUSED
            or self.pending is not None
            or self.home is None
            or self.home.pillar is not Pillar.NOTUNTERKUNFT
        ):
            return False
        return self._start_relocation(RelocationReason.EMERGENCY_DISSOLUTION, board, now)

    def resend(self, now: datetime) -> bool:
        """No answer in time: send the *same* request again (same reservation_id)."""
        if self.pending is None or self.reserved_until is not None:
            return False
        self.events.append(self.pending)
        self.decided_at = now
        self._note(
            now,
            "resent",
            "no answer from housing in time: request sent again",
            self.pending.site_id,
            self.pending.reservation_id,
            self.pending.attempt,
        )
        return True

    # -- internals ----------------------------------------------------------------------

    def _awaits(self, reservation_id: uuid.UUID) -> bool:
        return self.pending is not None and self.pending.reservation_id == reservation_id

    def _home_id(self) -> uuid.UUID | None:
        return self.home.site_id if self.home else None

    def _excluded(self, tried: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        excluded = set(tried)
        if self.home is not None:
            excluded.add(self.home.site_id)  # a relocation must change the site
        return excluded

    def _start_relocation(self, reason: RelocationReason, board: Board, now: datetime) -> bool:
        assert self.home is not None
        previous, self.relocation_reason = self.relocation_reason, reason
        choice = choose_site(self.need(now), board.sites(), exclude=self._excluded([]))
        if isinstance(choice, NoFit):
            self.relocation_reason = previous
            return False
        self._request(reason, self.home.site_id, now)
        self.tried_site_ids = []
        self._decide(choice, board, now)
        return True

    def _request(self, reason: RelocationReason, from_site_id: uuid.UUID, now: datetime) -> None:
        self.relocation_reason = reason
        self.events.append(
            RelocationRequested(
                household_id=self.household_id, from_site_id=from_site_id, reason=reason
            )
        )
        self._note(
            now, "relocation_requested", f"relocation requested: {reason.value}", from_site_id
        )

    def _place(self, board: Board, now: datetime) -> None:
        """One step of a placement round: decide for the best untried site, or give up."""
        choice = choose_site(
            self.need(now), board.sites(), exclude=self._excluded(self.tried_site_ids)
        )
        if isinstance(choice, NoFit):
            self._no_place(choice.reason, now)
        elif self.attempts >= MAX_ATTEMPTS:
            self._no_place(f"gave up after {MAX_ATTEMPTS} attempts", now)
        else:
            self._decide(choice, board, now)

    def _decide(self, choice: Choice, board: Board, now: datetime, prefix: str = "") -> None:
        site = choice.site
        self.attempts += 1
        self.pending = PlacementDecided(
            household_id=self.household_id,
            site_id=site.site_id,
            reservation_id=uuid.uuid4(),  # new for every attempt; housing's idempotency key
            places=self.persons,
            special_needs=self.special_needs,
            pillar=site.pillar,
            district=site.district,
            reason=_clip(prefix + choice.reason),
            attempt=self.attempts,
        )
        # Whoever has a bed keeps it (and the status) until the check-in at the new site.
        self.status = HouseholdStatus.PLACING if self.home is None else HouseholdStatus.HOUSED
        self.decided_at = now
        self.reserved_until = None
        self.tried_site_ids.append(site.site_id)
        board.hold(site.site_id, self.persons)
        self.events.append(self.pending)
        self._note(
            now,
            "decided",
            self.pending.reason,
            site.site_id,
            self.pending.reservation_id,
            self.attempts,
        )

    def _no_place(self, reason: str, now: datetime) -> None:
        self.pending = None
        self.decided_at = None
        self.reserved_until = None
        if self.home is not None and not self.must_move:
            # It still has its bed: give the move up; nobody becomes homeless.
            self._note(
                now, "relocation_abandoned", f"stays at its site: {reason}", self.home.site_id
            )
            self.relocation_reason = None
            self.tried_site_ids = []
            self.status = HouseholdStatus.HOUSED
            return
        self.status = HouseholdStatus.WAITLISTED
        if self.waitlisted_since is None:
            self.waitlisted_since = now
            self.events.append(
                PlacementFailed(
                    household_id=self.household_id,
                    reason=_clip(f"{reason}; waitlisted"),
                    waitlisted=True,
                    persons=self.persons,
                )
            )
            self._note(now, "failed", f"{reason}; waitlisted (homelessness alert)")
        else:
            self._note(now, "waitlisted", f"{reason}; back on the waitlist")

    def _cancel(
        self, site_id: uuid.UUID, reservation_id: uuid.UUID, reason: str, now: datetime
    ) -> None:
        self.events.append(
            PlacementCancelled(
                household_id=self.household_id,
                site_id=site_id,
                reservation_id=reservation_id,
                reason=reason,
            )
        )
        self.cancelled_reservation_ids.append(reservation_id)
        self._note(now, "cancelled", reason, site_id, reservation_id)

    def _settle(self, status: HouseholdStatus, *, home: Home | None) -> None:
        """End of a saga: no request in flight, no round, no relocation, no waiting."""
        self.status = status
        self.home = home
        self.pending = None
        self.decided_at = None
        self.reserved_until = None
        self.relocation_reason = None
        self.tried_site_ids = []
        self.waitlisted_since = None

    def _note(
        self,
        at: datetime,
        kind: str,
        reason: str,
        site_id: uuid.UUID | None = None,
        reservation_id: uuid.UUID | None = None,
        attempt: int | None = None,
    ) -> None:
        self.history.append(HistoryEntry(at, kind, reason, site_id, reservation_id, attempt))
