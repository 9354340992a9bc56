"""The Household aggregate: one household's placement saga. Pure: no I/O.

Allocation decides *where* a household should go; housing, the only authority on places,
confirms or rejects (docs/placement-saga.md). A ``Household`` guards its own transitions
and records the events it raises in ``events`` and what happened, in words for staff, in
``history`` (cosmicpython's aggregate; the unit of work writes the events to the outbox in
the same transaction).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from ankommen_contracts import (
    AgeBand,
    Pillar,
    SiteRequirement,
    SpecialNeed,
    UniqueList,
    site_requirements,
)
from ankommen_contracts.envelope import EventData
from ankommen_contracts.events.allocation import (
    DepartureReason,
    Member,
    MinorReferredToYouthWelfare,
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
from ankommen_runtime.ids import new_id
from pydantic import Field

from .policy import (
    DEFAULT_POLICY,
    SINGULAR,
    Board,
    Choice,
    Need,
    NoFit,
    PlacementPolicy,
    SiteOption,
    clip,
    persons_text,
)
from .readiness import Readiness, placement_pillar

MAX_ATTEMPTS = 1000  # PlacementDecided.attempt's upper bound in the contract


class IntakeMember(Member):
    """A person as the Land's assignment states them: allocation's intake data.

    The event's coarse attributes plus the special needs placement must respect. Needs
    such as ``medical`` are health data (Art. 9 GDPR): they stay in allocation's
    database; events carry the household's site requirements instead (``published``).
    """

    special_needs: UniqueList[SpecialNeed] = Field(
        default_factory=list, max_length=len(SpecialNeed), description="May be empty"
    )

    def published(self) -> Member:
        """The member as events carry them: no needs."""
        return Member.model_validate(self.model_dump(exclude={"special_needs"}))


class HouseholdStatus(StrEnum):
    """Where a household stands in the placement saga."""

    PLACING = "placing"  # no bed yet; PlacementDecided sent, waiting for housing's answer
    RESERVED = "reserved"  # no bed yet; housing holds the places, waiting for the check-in
    HOUSED = "housed"  # lives at a site; a relocation may be under way (``placement``)
    # Lives at a closing site and still has its bed there, but no other place fits yet:
    # retried as places free; not a homelessness alert.
    RELOCATION_PENDING = "relocation_pending"
    # Left its site for a stay in an institution or another reason with no next place:
    # housing raised a follow-up for staff.
    AWAY = "away"
    WAITLISTED = "waitlisted"  # nothing fits: PlacementFailed raised, retried as places free
    # The hold ran out before the household arrived: places released, a task for staff;
    # never placed elsewhere by itself (rule 1). Staff confirm the arrival or the departure.
    ARRIVAL_OVERDUE = "arrival_overdue"
    YOUTH_WELFARE = "youth_welfare"  # unaccompanied minors: Jugendhilfe, not a site
    MOVED_OUT = "moved_out"  # left the city's accommodation (Auszug into an own flat)
    DEPARTED = "departed"  # left the city's care (RefugeeDeparted)


@dataclass(frozen=True)
class Placement:
    """The placement in flight: the request exactly as sent, when, and housing's hold.

    One value, replaced as a whole: decided (``reserved_until`` None, waiting for housing),
    then held (``reserved_until`` set by BedReserved), then gone (checked in, rejected,
    expired, cancelled). Nothing about it is ever reset field by field.
    """

    request: PlacementDecided
    decided_at: datetime
    reserved_until: datetime | None = None

    @property
    def site_id(self) -> uuid.UUID:
        return self.request.site_id

    @property
    def reservation_id(self) -> uuid.UUID:
        return self.request.reservation_id

    @property
    def held(self) -> bool:
        """Housing reserved the places (BedReserved); else the request is unanswered."""
        return self.reserved_until is not None

    def hold(self, until: datetime) -> Placement:
        return replace(self, reserved_until=until)


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
    members: tuple[IntakeMember, ...]
    assigned_at: datetime
    status: HouseholdStatus
    quota_period_id: uuid.UUID | None = None
    # When the Land said the household would arrive; None: on the decision itself.
    expected_arrival_at: datetime | None = None
    home: Home | None = None
    placement: Placement | None = None
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
    def pending(self) -> PlacementDecided | None:
        """The request in flight, exactly as sent, if any."""
        return self.placement.request if self.placement else None

    @property
    def decided_at(self) -> datetime | None:
        return self.placement.decided_at if self.placement else None

    @property
    def reserved_until(self) -> datetime | None:
        return self.placement.reserved_until if self.placement else None

    @property
    def referred(self) -> tuple[IntakeMember, ...]:
        """Unaccompanied minors: referred to youth welfare one by one (§42a SGB VIII)."""
        return tuple(m for m in self.members if m.unaccompanied_minor)

    @property
    def placed_members(self) -> tuple[IntakeMember, ...]:
        """Who the city places: everyone but the minors referred to youth welfare."""
        return tuple(m for m in self.members if not m.unaccompanied_minor)

    @property
    def persons(self) -> int:
        """Persons to place together (the household without referred minors)."""
        return len(self.placed_members)

    @property
    def size(self) -> int:
        """Everyone in the Land's assignment, referred minors included."""
        return len(self.members)

    @property
    def quota_persons(self) -> int:
        """Persons counted against the asylum quota: unaccompanied minors are counted apart."""
        return self.persons

    @property
    def special_needs(self) -> list[SpecialNeed]:
        """Every need of any placed member, in a fixed order: the household stays together."""
        needs = {n for m in self.placed_members for n in m.special_needs}
        return [n for n in SpecialNeed if n in needs]

    @property
    def requirements(self) -> list[SiteRequirement]:
        """What a site must be for this household (protection rules), in a fixed order,
        by the contract's one rule (``site_requirements``): from the placed members' needs
        and from who lives together. Events carry these, never the needs."""
        return site_requirements(
            self.special_needs, [(m.age_band, m.gender) for m in self.placed_members]
        )

    @property
    def vulnerable(self) -> bool:
        """Children, special needs or 65+: moves first when a shelter is dissolved."""
        return any(
            m.age_band.is_minor or m.special_needs or m.age_band is AgeBand.AGE_65_PLUS
            for m in self.placed_members
        )

    @property
    def unaccompanied_minors(self) -> bool:
        """Only unaccompanied minors: youth welfare's responsibility, not a site's."""
        return not self.placed_members

    @property
    def must_move(self) -> bool:
        return self.relocation_reason in MUST_MOVE

    @property
    def arrival(self) -> datetime:
        """When the household is (or was) expected in the city."""
        return self.expected_arrival_at or self.assigned_at

    @property
    def last_recorded_at(self) -> datetime:
        """The latest business time recorded for this household's stay so far."""
        times = [self.assigned_at]
        if self.home is not None:
            times.append(self.home.checked_in_at)
        return max(times)

    def _not_before_recorded(self, at: datetime, what: str) -> None:
        """A command dated before the stay's recorded facts is refused (409), never reordered."""
        recorded = self.last_recorded_at
        if at < recorded:
            raise Conflict(
                f"{what} dated {at.isoformat()} is before what is recorded for household "
                f"{self.household_id} ({recorded.isoformat()}); correct the earlier record first"
            )

    def need(self, policy: PlacementPolicy = DEFAULT_POLICY) -> Need:
        """What a placement must satisfy; the pillar is integration's latest assessment."""
        pillar, assessment = placement_pillar(self.readiness)
        relocating = self.home is not None
        return Need(
            persons=self.persons,
            special_needs=frozenset(self.special_needs),
            ready_for=pillar,
            assessment=assessment,
            allow_emergency=not relocating or self.must_move,
            requirements=frozenset(self.requirements),
            home_district=self.home.district if self.home else None,
            policy=policy,
        )

    # -- commands -----------------------------------------------------------------------

    @classmethod
    def assign(
        cls,
        *,
        land_reference: str,
        land_reference_pseudonym: str,
        members: Sequence[IntakeMember],
        quota_period_id: uuid.UUID | None,
        board: Board,
        now: datetime,
        expected_arrival_at: datetime | None = None,
        household_id: uuid.UUID | None = None,
    ) -> Household:
        """Register the Land's assignment, decided at ``now`` (business time), and start
        its placement (or route to Jugendhilfe)."""
        if expected_arrival_at is not None and expected_arrival_at < now:
            expected_arrival_at = now  # an arrival before the decision is the decision
        household = cls(
            household_id=household_id or new_id(),
            land_reference=land_reference,
            members=tuple(members),
            assigned_at=now,
            status=HouseholdStatus.PLACING,
            quota_period_id=quota_period_id,
            expected_arrival_at=expected_arrival_at,
        )
        household.events.append(
            RefugeeAssigned(
                household_id=household.household_id,
                land_reference_pseudonym=land_reference_pseudonym,
                quota_period_id=quota_period_id,
                household_size=household.size,
                members=[m.published() for m in members],
                requirements=household.requirements,
                expected_arrival_at=household.arrival,
            )
        )
        household._note(now, "assigned", f"assigned by the Land: {persons_text(household.size)}")
        household._refer_minors(now)
        if household.unaccompanied_minors:
            household.status = HouseholdStatus.YOUTH_WELFARE
            household._note(
                now,
                "youth_welfare",
                "unaccompanied minors only: youth welfare (Jugendhilfe), no site placement",
            )
        else:
            household._place(board, now)
        return household

    def _refer_minors(self, now: datetime) -> None:
        """Decided per person: every minor without a parent or guardian goes to youth
        welfare, even when an adult (a sibling) of the same assignment travels with them."""
        with_adult = any(not m.age_band.is_minor for m in self.members)
        for minor in self.referred:
            self.events.append(
                MinorReferredToYouthWelfare(
                    household_id=self.household_id,
                    person_id=minor.person_id,
                    age_band=minor.age_band,
                    gender=minor.gender,
                    country_of_origin=minor.country_of_origin,
                    travels_with_adult=with_adult,
                    quota_period_id=self.quota_period_id,
                )
            )
        if self.referred and self.placed_members:
            self._note(
                now,
                "youth_welfare",
                f"{persons_text(len(self.referred))} under 18 without a parent or guardian "
                "referred to youth welfare (§42a SGB VIII), counted apart from the quota; "
                f"the other {persons_text(self.persons)} placed as a household",
            )

    def readiness_assessed(self, readiness: Readiness, now: datetime) -> bool:
        """ReadinessAssessed (integration): later placements and relocations start from its
        ``ready_for``. A fact from another service, never refused: an older assessment
        arriving late, or one for a household that departed, changes nothing (False)."""
        if self.status is HouseholdStatus.DEPARTED or not readiness.supersedes(self.readiness):
            return False
        self.readiness = readiness
        _, assessment = placement_pillar(readiness)
        self._note(now, "readiness", clip(f"{assessment} ({readiness.reason})"))
        return True

    def request_relocation(self, reason: RelocationReason, board: Board, now: datetime) -> None:
        """Staff ask to move a housed household; refused if it cannot move now."""
        if self.status is not HouseholdStatus.HOUSED or self.home is None:
            raise Conflict(
                f"household {self.household_id} is {self.status.value}: only a housed "
                "household can be relocated"
            )
        if self.pending is not None:
            raise Conflict(f"household {self.household_id} is being relocated already")
        self._not_before_recorded(now, "the relocation")
        if not self._start_relocation(reason, board, now):
            raise Conflict(
                f"no other site fits household {self.household_id} now; it stays where it is"
            )

    def depart(self, reason: DepartureReason, now: datetime) -> None:
        """The household left the city's care; a reservation in flight is cancelled."""
        if self.status is HouseholdStatus.DEPARTED:
            raise Conflict(f"household {self.household_id} has departed already")
        self._not_before_recorded(now, "the departure")
        if self.pending is not None:
            self._cancel(
                self.pending.site_id, self.pending.reservation_id, "household departed", now
            )
        self.events.append(
            RefugeeDeparted(
                household_id=self.household_id,
                site_id=self.home.site_id if self.home else None,
                reason=reason,
                persons=self.persons or self.size,
            )
        )
        self._note(now, "departed", f"left the city's care: {reason.value}", self._home_id())
        self._settle(HouseholdStatus.DEPARTED, home=None)

    # -- the saga: housing's answers ----------------------------------------------------

    def reservation_confirmed(
        self, site_id: uuid.UUID, reservation_id: uuid.UUID, expires_at: datetime, now: datetime
    ) -> None:
        """BedReserved: the awaited reservation is held; any other one is handed back."""
        if self.placement is not None and self._awaits(reservation_id):
            if not self.placement.held:
                if self.home is None:
                    self.status = HouseholdStatus.RESERVED
                self.placement = self.placement.hold(expires_at)
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
        if not (self._awaits(reservation_id) and self.reserved_until is None):  # unanswered
            return  # an answer to a request this household no longer waits for
        free = "unknown" if free_places is None else str(free_places)
        self._note(
            now,
            "rejected",
            f"housing rejected the reservation: {reason.value} (free places then: {free})",
            site_id,
            reservation_id,
        )
        self.placement = None
        self._place(board, now)

    def reservation_released(
        self, reservation_id: uuid.UUID, reason: ReleaseReason, board: Board, now: datetime
    ) -> None:
        """ReservationReleased(expired) of the current reservation: the hold ran to the
        expected arrival plus the grace and nobody came (rule 1).

        A household that was to move in: its places are gone and staff get a task
        (``ARRIVAL_OVERDUE``); it keeps its place in the queue (its assignment date) and
        is never placed elsewhere by itself. A household that lives somewhere keeps its
        bed: only the move lapses.
        """
        if reason is not ReleaseReason.EXPIRED or not self._awaits(reservation_id):
            return  # released because we asked (cancelled, departed): nothing left to do
        assert self.pending is not None
        site_id = self.pending.site_id
        self.placement = None
        self.tried_site_ids = []
        if self.home is not None:
            self._note(
                now,
                "expired",
                "the move's hold expired; stays at its site",
                site_id,
                reservation_id,
            )
            self.relocation_reason = None
            return
        self.status = HouseholdStatus.ARRIVAL_OVERDUE
        self._note(
            now,
            "task",
            f"did not arrive by {self.arrival.isoformat()} plus the grace period: places "
            "released; staff: confirm the arrival (new expected date) or record the departure",
            site_id,
            reservation_id,
        )

    def confirm_arrival(self, expected_at: datetime, board: Board, now: datetime) -> None:
        """Staff close the task of an overdue household: it is (or will be) here at
        ``expected_at``; it is placed again, in its old place in the queue."""
        if self.status is not HouseholdStatus.ARRIVAL_OVERDUE:
            raise Conflict(
                f"household {self.household_id} is {self.status.value}: only an overdue "
                "arrival is confirmed"
            )
        self._not_before_recorded(now, "the arrival confirmation")
        self.expected_arrival_at = max(expected_at, now)
        self._note(now, "arrival_confirmed", f"arrival expected {self.arrival.isoformat()}")
        self.status = HouseholdStatus.PLACING
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
            and self.status
            in (HouseholdStatus.WAITLISTED, HouseholdStatus.AWAY, HouseholdStatus.ARRIVAL_OVERDUE)
            and self.home is None
        ):
            # Staff housed a waitlisted (or returning) household directly: alert closed.
            home = Home(site.site_id, site.pillar, site.district, at)
            self._note(now, "housed", "checked in directly by staff", site.site_id)
            self._settle(HouseholdStatus.HOUSED, home=home)

    def checked_out(
        self, site_id: uuid.UUID, reason: CheckOutReason, board: Board, now: datetime
    ) -> None:
        """OccupantCheckedOut: every exit has a next place or an alert.

        Moved out (own flat): no place needed. House ban (Hausverbot): placed again at
        another site at once (or waitlisted with an alert). A stay in an institution or
        another reason: away, with housing's follow-up for staff; the reason stays coarse.
        """
        if self.home is None or self.home.site_id != site_id:
            return
        if reason in (CheckOutReason.RELOCATED, CheckOutReason.DEPARTED):
            return  # RefugeeRelocated / RefugeeDeparted recorded that already
        if self.pending is not None:
            self._cancel(
                self.pending.site_id, self.pending.reservation_id, "household left its site", now
            )
        if reason is CheckOutReason.MOVED_OUT:
            self._note(now, "moved_out", f"checked out: {reason.value}", site_id)
            self._settle(HouseholdStatus.MOVED_OUT, home=None)
            return
        if reason is CheckOutReason.HOUSE_BAN:
            self._note(now, "house_ban", "checked out (house ban): needs another site", site_id)
            self._settle(HouseholdStatus.PLACING, home=None)
            self.tried_site_ids = [site_id]  # never back to the site that banned it
            self._place(board, now)
            return
        self._note(
            now,
            "away",
            f"checked out ({reason.value}) with no next place: housing's follow-up for staff",
            site_id,
        )
        self._settle(HouseholdStatus.AWAY, home=None)

    def site_closing(self, site_id: uuid.UUID, board: Board, now: datetime) -> None:
        """ShelterClosing: whoever lives or holds places there has to go elsewhere."""
        pending = self.pending
        if pending is not None and pending.site_id == site_id and self.reserved_until is not None:
            # Places held there, nobody living there yet: a new placement, no relocation
            # (RelocationRequested is only for households living at the site).
            self._cancel(site_id, pending.reservation_id, "site is closing", now)
            self.placement = None
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
        """Places appeared: a waitlisted household (or one whose site is closing and that
        still waits for another place) gets a PlacementDecided if one fits now."""
        if self.status not in (HouseholdStatus.WAITLISTED, HouseholdStatus.RELOCATION_PENDING):
            return False
        choice = board.choose(self.need(board.policy), exclude=self._excluded([]))
        if isinstance(choice, NoFit):
            return False  # still nothing: the open alert (or pending relocation) stands
        self.tried_site_ids = []  # a new round
        prefix = (
            "from the waitlist: "
            if self.status is HouseholdStatus.WAITLISTED
            else "relocation pending: "
        )
        self._decide(choice, board, now, prefix=prefix)
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
        if self.placement is None or self.placement.held:
            return False
        # A technical resend: the decision's business time stays; the store stamps when
        # the request was sent (wall clock) for the next timeout.
        request = self.placement.request
        self.events.append(request)
        self._note(
            now,
            "resent",
            "no answer from housing in time: request sent again",
            request.site_id,
            request.reservation_id,
            request.attempt,
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
        choice = board.choose(self.need(board.policy), exclude=self._excluded([]))
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
        choice = board.choose(self.need(board.policy), exclude=self._excluded(self.tried_site_ids))
        if isinstance(choice, NoFit):
            self._no_place(choice.reason, now)
        elif self.attempts >= MAX_ATTEMPTS:
            self._no_place(f"gave up after {MAX_ATTEMPTS} attempts", now)
        else:
            self._decide(choice, board, now)

    def _decide(self, choice: Choice, board: Board, now: datetime, prefix: str = "") -> None:
        site = choice.site
        self.attempts += 1
        # Housing holds the places until the arrival plus its grace: a household already in
        # the city (waitlisted, or moving between sites) arrives at the decision itself.
        arrival = now if self.home is not None else max(self.arrival, now)
        request = PlacementDecided(
            household_id=self.household_id,
            site_id=site.site_id,
            reservation_id=new_id(),  # new for every attempt; housing's idempotency key
            places=self.persons,
            requirements=self.requirements,
            pillar=site.pillar,
            district=site.district,
            reason=clip(prefix + choice.reason),
            attempt=self.attempts,
            for_review=choice.for_review,
            expected_arrival_at=arrival,
        )
        self.placement = Placement(request, decided_at=now)
        # Whoever has a bed keeps it (and the status) until the check-in at the new site.
        self.status = HouseholdStatus.PLACING if self.home is None else HouseholdStatus.HOUSED
        self.tried_site_ids.append(site.site_id)
        board.hold(site.site_id, self.persons)
        self.events.append(request)
        self._note(
            now, "decided", request.reason, site.site_id, request.reservation_id, self.attempts
        )

    def _no_place(self, reason: str, now: datetime) -> None:
        self.placement = None
        if self.home is not None and not self.must_move:
            # It still has its bed: give the move up; nobody becomes homeless.
            self._note(
                now, "relocation_abandoned", f"stays at its site: {reason}", self.home.site_id
            )
            self.relocation_reason = None
            self.tried_site_ids = []
            self.status = HouseholdStatus.HOUSED
            return
        if self.home is not None:
            # Its site is closing but its bed is still there: relocation pending, retried as
            # places free; not a homelessness alert.
            if self.status is not HouseholdStatus.RELOCATION_PENDING:
                self._note(
                    now,
                    "relocation_pending",
                    f"its site is closing; no other place yet: {reason}",
                    self.home.site_id,
                )
            self.tried_site_ids = []
            self.status = HouseholdStatus.RELOCATION_PENDING
            return
        self.status = HouseholdStatus.WAITLISTED
        if self.waitlisted_since is None:
            self.waitlisted_since = now
            self.events.append(
                PlacementFailed(
                    household_id=self.household_id,
                    reason=clip(f"{reason}; waitlisted"),
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
        self.placement = None
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
