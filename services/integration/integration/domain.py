"""Integrationsmanagement's model: cases, milestones, readiness, move-outs, handovers. Pure.

A ``Case`` follows one household from its first check-in in municipal accommodation until
it is handed over to the district structures, moves away or the case ends otherwise. It
is counselled by the Integrationsmanagement team of its Stadtbezirk and follows the
household: a relocation into another district moves it to that district's team, and so
does a move-out into a flat of the household's own there. Each rule records the events it
raises in ``events``; handlers publish them in the same transaction as the change.

Readiness for a flat (Wohnfähigkeit) is assessed here and nowhere else: the rule below
decides which pillar a household is ready for and whether it may move out into a tenancy
of its own, and ``ReadinessAssessed`` tells allocation, which places by it.

Personal details (names, dates of birth, contact) are ``Person`` rows of this service's
database only: no event or log line carries them. Erasing them leaves the pseudonymous
case, its milestones and every count as they were.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from ankommen_contracts import Pillar, Skill, district_label
from ankommen_contracts.envelope import EventData
from ankommen_contracts.events.integration import (
    CaseClosed,
    CaseCloseReason,
    CaseHandedOver,
    CaseOpened,
    CaseTransferReason,
    CaseTransferred,
    DistrictStructure,
    ErasureReason,
    ErasureRequested,
    FocusArea,
    GermanLevel,
    Independence,
    LanguageLevel,
    Milestone,
    MilestoneReached,
    MoveOutCompleted,
    MoveOutPlanned,
    MoveOutTarget,
    ReadinessAssessed,
    ResidenceProspects,
    ResidenceStatus,
    SupportRequested,
    TimeSlot,
)
from ankommen_runtime.errors import Conflict, Unprocessable

INITIAL_FOCUS = (FocusArea.HOUSING, FocusArea.LANGUAGE, FocusArea.EVERYDAY_SKILLS)
"""Handlungsfelder of a new case: arriving, the first tasks are housing, German, daily life."""

DEFAULT_CASELOAD_LIMIT = 50
"""Persons per social worker before a warning: the city's staffing rule of Dec 2014
(1 worker per 50 residents, hannover-facts §8)."""

# Below these lengths of stay a household counts as a new arrival whatever else is known.
WOHNPROJEKT_AFTER_MONTHS = 3
WOHNUNG_AFTER_MONTHS = 6


_CITY_TZ = ZoneInfo("Europe/Berlin")  # the runtime's CITY_TZ; the domain imports no runtime
_LEVELS = list(LanguageLevel)


class Invalid(Unprocessable):
    """A command's value contradicts another or the case: HTTP 422 naming the field, in
    the shape of FastAPI's own validation errors."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(("body", field), message)


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


# -- teams ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Team:
    """The Integrationsmanagement team of one Stadtbezirk and its staffing."""

    team_id: str
    district: int
    social_workers: int

    @property
    def label(self) -> str:
        return f"Integrationsmanagement {district_label(self.district)}"


@dataclass(frozen=True)
class Teams:
    """One team per Stadtbezirk (configuration data, ``teams.json``)."""

    by_district: Mapping[int, Team]

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Teams:
        teams = [
            Team(str(t["team_id"]), int(t["district"]), int(t["social_workers"]))
            for t in data["teams"]
        ]
        by_district = {t.district: t for t in teams}
        if sorted(by_district) != list(range(1, 14)) or len(teams) != 13:
            raise ValueError("teams: exactly one team for each of the 13 Stadtbezirke")
        if len({t.team_id for t in teams}) != 13 or any(t.social_workers < 0 for t in teams):
            raise ValueError("teams: team ids must be distinct and staffing not negative")
        return cls(by_district)

    def of(self, district: int) -> Team:
        return self.by_district[district]

    def by_id(self, team_id: str) -> Team | None:
        return next((t for t in self.by_district.values() if t.team_id == team_id), None)

    def __iter__(self) -> Any:
        return iter(sorted(self.by_district.values(), key=lambda t: t.district))


# -- where a household lives ---------------------------------------------------------------


@dataclass(frozen=True)
class SiteRef:
    """A site as integration knows it from housing's events: where it is, which pillar."""

    site_id: uuid.UUID
    district: int
    pillar: Pillar


# -- readiness -----------------------------------------------------------------------------

_GERMAN_RANK = {level: i for i, level in enumerate(GermanLevel)}
_GERMAN_OF_LEVEL = {
    LanguageLevel.A1: GermanLevel.A1,
    LanguageLevel.A2: GermanLevel.A2,
    LanguageLevel.B1: GermanLevel.B1,
    LanguageLevel.B2: GermanLevel.B2_PLUS,
    LanguageLevel.C1: GermanLevel.B2_PLUS,
}
_PROSPECTS_OF_STATUS = {
    ResidenceStatus.PROTECTION_GRANTED: ResidenceProspects.GOOD,
    ResidenceStatus.IN_PROCEDURE: ResidenceProspects.UNCLEAR,
    ResidenceStatus.TOLERATED: ResidenceProspects.POOR,
    ResidenceStatus.REJECTED: ResidenceProspects.POOR,
}


def german_of(level: LanguageLevel | None) -> GermanLevel:
    """The coarse German level placement uses, from the best level recorded."""
    return GermanLevel.NONE if level is None else _GERMAN_OF_LEVEL[level]


def prospects_of(status: ResidenceStatus | None) -> ResidenceProspects:
    """Bleibeperspektive from the residence status: granted good, a Duldung or a rejection
    poor, anything else unclear."""
    return ResidenceProspects.UNCLEAR if status is None else _PROSPECTS_OF_STATUS[status]


def months_between(start: date, end: date) -> int:
    """Whole months (of 30 days) between two days; never negative."""
    return max((end - start).days // 30, 0)


@dataclass(frozen=True)
class ReadinessPolicy:
    """What the council could decide differently about readiness: the city's settings.

    Passed into the rule (never read from the environment here); the service builds it
    from ``IntegrationSettings.readiness`` (``ANKOMMEN_READINESS``) and
    services/integration/README.md documents each default.
    """

    # A misspelt setting is refused when the settings are read, never taken as a default.
    __pydantic_config__: ClassVar[dict[str, str]] = {"extra": "forbid"}

    # Whether residence prospects (Bleibeperspektive) count for readiness, i.e. for the
    # housing standard a household is offered. Hannover's default: yes. A tenancy of the
    # household's own needs protection granted either way: nobody signs a lease without
    # a residence title.
    prospects_affect_standard: bool = True
    # Lengths of stay below which a household counts as a new arrival for each pillar.
    wohnprojekt_after_months: int = WOHNPROJEKT_AFTER_MONTHS
    wohnung_after_months: int = WOHNUNG_AFTER_MONTHS

    def __post_init__(self) -> None:
        if not 0 <= self.wohnprojekt_after_months <= self.wohnung_after_months <= 120:
            raise ValueError(
                "readiness: 0 <= wohnprojekt_after_months <= wohnung_after_months <= 120"
            )


DEFAULT_READINESS_POLICY = ReadinessPolicy()


@dataclass(frozen=True)
class Readiness:
    """An assessment of which housing a household is ready for (Wohnfähigkeit)."""

    ready_for: Pillar
    ready_for_own_tenancy: bool
    independence: Independence
    german: GermanLevel
    residence_prospects: ResidenceProspects
    assessed_on: date
    reason: str


def assess_readiness(
    independence: Independence,
    german: GermanLevel,
    prospects: ResidenceProspects,
    residence_status: ResidenceStatus | None,
    months: int,
    on: date,
    policy: ReadinessPolicy = DEFAULT_READINESS_POLICY,
) -> Readiness:
    """The most independent regular pillar a household is ready for, and why in words.

    Wohnung: 6+ months here, high independence, German A2+, good residence prospects.
    Wohnprojekt: 3+ months, at least some independence, German A1+, prospects not poor.
    Anyone else, and every new arrival, stays in a Wohnheim with 24/7 care. The months and
    whether residence prospects count are the city's settings (``ReadinessPolicy``). A
    tenancy of its own (Auszug) needs what a Wohnung needs and protection granted:
    without a residence title nobody signs or finances a lease.
    """
    stay = f"{months} months in Hannover"
    prospects_count = policy.prospects_affect_standard

    def readiness(pillar: Pillar, reason: str, own: bool = False) -> Readiness:
        return Readiness(pillar, own, independence, german, prospects, on, reason)

    if months < policy.wohnprojekt_after_months:
        return readiness(Pillar.WOHNHEIM, f"new arrival ({stay})")
    not_for_flat = [
        text
        for missing, text in (
            (
                months < policy.wohnung_after_months,
                f"under {policy.wohnung_after_months} months here",
            ),
            (independence is not Independence.HIGH, "independence not yet high"),
            (_GERMAN_RANK[german] < _GERMAN_RANK[GermanLevel.A2], "German below A2"),
            (
                prospects_count and prospects is not ResidenceProspects.GOOD,
                "residence prospects not good",
            ),
        )
        if missing
    ]
    if not not_for_flat:
        own = residence_status is ResidenceStatus.PROTECTION_GRANTED
        tenancy = "and for a tenancy of its own" if own else "not yet for a tenancy of its own"
        return readiness(
            Pillar.WOHNUNG,
            f"ready for a Wohnung {tenancy} ({stay}, {independence.value} independence, "
            f"German {german.value.upper()}, {prospects.value} residence prospects)",
            own,
        )
    not_for_project = [
        text
        for missing, text in (
            (independence is Independence.LOW, "independence low"),
            (german is GermanLevel.NONE, "no German yet"),
            (
                prospects_count and prospects is ResidenceProspects.POOR,
                "residence prospects poor",
            ),
        )
        if missing
    ]
    if not not_for_project:
        return readiness(
            Pillar.WOHNPROJEKT,
            f"ready for a Wohnprojekt, not yet for a Wohnung ({', '.join(not_for_flat)})",
        )
    return readiness(
        Pillar.WOHNHEIM, f"not yet ready for a Wohnprojekt ({', '.join(not_for_project)})"
    )


# -- parts of a case -----------------------------------------------------------------------


@dataclass(frozen=True)
class MilestoneRecord:
    """A milestone as recorded (Meilenstein), with its business date."""

    milestone_id: uuid.UUID
    case_id: uuid.UUID
    milestone: Milestone
    reached_on: date
    persons: int
    language_level: LanguageLevel | None = None
    residence_status: ResidenceStatus | None = None

    def same_as(self, other: MilestoneRecord) -> bool:
        return (
            self.milestone,
            self.reached_on,
            self.language_level,
            self.residence_status,
        ) == (other.milestone, other.reached_on, other.language_level, other.residence_status)


@dataclass(frozen=True)
class MoveOut:
    """A move out of municipal accommodation into a tenancy of the household's own."""

    target_kind: MoveOutTarget
    target_district: int | None
    from_site_id: uuid.UUID
    planned_on: date | None
    completed_on: date | None = None


MOVE_OUT_TARGETS = frozenset(
    {
        MoveOutTarget.SOCIAL_HOUSING,  # a flat from the city's programme (Belegrecht)
        MoveOutTarget.OWN_FLAT,  # the free market
        MoveOutTarget.SHARED_FLAT,
        MoveOutTarget.FAMILY_OR_FRIENDS,
        MoveOutTarget.OTHER_MUNICIPALITY,
        MoveOutTarget.OTHER,
    }
)


@dataclass(frozen=True)
class Handover:
    """The handover to a district structure (Übergabe in die Regelstrukturen)."""

    structure: DistrictStructure
    receiving_partner: str
    district: int
    handed_over_on: date


@dataclass(frozen=True)
class SupportRequest:
    """A need a volunteer can meet; only what the volunteers service needs leaves here."""

    request_id: uuid.UUID
    case_id: uuid.UUID
    skill: Skill
    district: int
    languages: tuple[str, ...]
    involves_children: bool
    hours_per_week: int
    schedule: tuple[TimeSlot, ...]
    requested_on: date


@dataclass(frozen=True)
class Person:
    """A household member's personal details: this service's database only, never events."""

    person_id: uuid.UUID
    case_id: uuid.UUID
    household_id: uuid.UUID
    given_name: str
    family_name: str
    date_of_birth: date | None = None
    phone: str | None = None
    email: str | None = None


# -- the case ------------------------------------------------------------------------------


@dataclass
class Case:
    """An Integrationsmanagement case: one household, counselled in one Stadtbezirk."""

    case_id: uuid.UUID
    household_id: uuid.UUID
    persons: int
    district: int
    team_id: str
    opened_on: date
    status: CaseStatus = CaseStatus.OPEN
    site_id: uuid.UUID | None = None
    site_pillar: Pillar | None = None
    site_since: datetime | None = None
    social_worker: str | None = None
    language_level: LanguageLevel | None = None
    residence_status: ResidenceStatus | None = None
    readiness: Readiness | None = None
    move_out: MoveOut | None = None
    handover: Handover | None = None
    closed_on: date | None = None
    close_reason: CaseCloseReason | None = None
    details_erased_on: date | None = None
    events: list[EventData] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def open_for(
        cls, household_id: uuid.UUID, persons: int, site: SiteRef, team: Team, at: datetime
    ) -> Case:
        """A household checked in: its case opens with the team of the site's district."""
        on = _local(at)
        case = cls(
            case_id=uuid.uuid4(),
            household_id=household_id,
            persons=persons,
            district=site.district,
            team_id=team.team_id,
            opened_on=on,
            site_id=site.site_id,
            site_pillar=site.pillar,
            site_since=at,
        )
        case.events.append(
            CaseOpened(
                case_id=case.case_id,
                household_id=household_id,
                district=site.district,
                site_id=site.site_id,
                focus_areas=list(INITIAL_FOCUS),
                persons=persons,
                opened_on=on,
            )
        )
        return case

    def as_saved(self) -> Case:
        """A copy as a store keeps it: without the raised events, untouched by later
        changes of this one (the values a case holds are frozen or replaced, never
        changed in place)."""
        return replace(self, events=[])

    @property
    def is_open(self) -> bool:
        return self.status is CaseStatus.OPEN

    @property
    def in_municipal_housing(self) -> bool:
        return self.site_id is not None

    def _require_open(self) -> None:
        if not self.is_open:
            raise Conflict(f"case {self.case_id} is closed ({self.close_reason})")

    # -- following the household -----------------------------------------------------------

    def moved_in(self, site: SiteRef, persons: int, team: Team, at: datetime) -> bool:
        """The household checked in at ``site`` (a relocation, also into a city-rented
        Wohnung: that is no move-out). Stale or repeated check-ins change nothing. A
        relocation checks the household out of the old site at the very moment it checks
        in at the new one (one business time), and the two events may arrive in either
        order: a check-in at the moment of the last change still counts."""
        if not self.is_open or (self.site_since is not None and at < self.site_since):
            return False
        if self.site_id == site.site_id:
            return False
        self.site_id, self.site_pillar, self.site_since = site.site_id, site.pillar, at
        self.persons = persons
        if site.district != self.district:
            self._transfer(site.district, team, CaseTransferReason.RELOCATED, _local(at))
        return True

    def left_site(self, site_id: uuid.UUID, at: datetime) -> bool:
        """The household was checked out of ``site_id``; only if it still lived there."""
        if self.site_id != site_id or (self.site_since is not None and at < self.site_since):
            return False
        self.site_id, self.site_pillar, self.site_since = None, None, at
        return True

    def _transfer(self, district: int, team: Team, reason: CaseTransferReason, on: date) -> None:
        self.events.append(
            CaseTransferred(
                case_id=self.case_id,
                household_id=self.household_id,
                from_district=self.district,
                to_district=district,
                site_id=self.site_id,
                reason=reason,
                transferred_on=on,
            )
        )
        # A new team decides who counsels the household there.
        self.district, self.team_id, self.social_worker = district, team.team_id, None

    def departed(self, at: datetime) -> bool:
        """The household left the city's care (Abgang): the case closes."""
        if not self.is_open:
            return False
        self.site_id = self.site_pillar = None
        self._close(CaseCloseReason.MOVED_AWAY, _local(at))
        return True

    # -- counselling -----------------------------------------------------------------------

    def assign(self, social_worker: str) -> None:
        self._require_open()
        self.social_worker = social_worker

    def record_milestone(
        self, milestone: MilestoneRecord, recorded: Iterable[MilestoneRecord], today: date
    ) -> None:
        self._require_open()
        if milestone.reached_on > today:
            raise Invalid("reached_on", f"reached_on {milestone.reached_on} is in the future")
        if milestone.reached_on < self.opened_on - timedelta(days=3650):
            raise Invalid("reached_on", f"reached_on {milestone.reached_on} is implausibly early")
        if milestone.persons > self.persons:
            raise Invalid(
                "persons", f"persons {milestone.persons} exceeds the household's {self.persons}"
            )
        if any(milestone.same_as(r) for r in recorded):
            raise Conflict(
                f"{milestone.milestone.value} on {milestone.reached_on} is recorded already"
            )
        earlier = [r for r in recorded if r.milestone is milestone.milestone]
        newest = all(r.reached_on <= milestone.reached_on for r in earlier)
        if milestone.language_level is not None:
            best = self.language_level
            if best is None or _LEVELS.index(milestone.language_level) > _LEVELS.index(best):
                self.language_level = milestone.language_level
        if milestone.residence_status is not None and newest:
            self.residence_status = milestone.residence_status  # the latest change counts
        self.events.append(
            MilestoneReached(
                case_id=self.case_id,
                household_id=self.household_id,
                milestone=milestone.milestone,
                reached_on=milestone.reached_on,
                persons=milestone.persons,
                language_level=milestone.language_level,
                residence_status=milestone.residence_status,
            )
        )

    def assess(
        self,
        independence: Independence,
        today: date,
        german: GermanLevel | None = None,
        prospects: ResidenceProspects | None = None,
        arrived_on: date | None = None,
        policy: ReadinessPolicy = DEFAULT_READINESS_POLICY,
    ) -> Readiness:
        """Assess readiness by the city's ``policy``; German and prospects follow the
        milestones unless given. The stay counts from the case's opening, or from an earlier
        arrival in Hannover the social worker knows of (e.g. before Integrationsmanagement
        began in 2015)."""
        self._require_open()
        if arrived_on is not None and arrived_on > today:
            raise Invalid("arrived_on", f"arrived_on {arrived_on} is in the future")
        since = min(self.opened_on, arrived_on or self.opened_on)
        readiness = assess_readiness(
            independence,
            german or german_of(self.language_level),
            prospects or prospects_of(self.residence_status),
            self.residence_status,
            months_between(since, today),
            today,
            policy,
        )
        self.readiness = readiness
        self.events.append(
            ReadinessAssessed(
                case_id=self.case_id,
                household_id=self.household_id,
                ready_for=readiness.ready_for,
                ready_for_own_tenancy=readiness.ready_for_own_tenancy,
                independence=readiness.independence,
                german=readiness.german,
                residence_prospects=readiness.residence_prospects,
                assessed_on=readiness.assessed_on,
                reason=readiness.reason,
            )
        )
        return readiness

    @property
    def ready_to_move_out(self) -> bool:
        """Listed for its team: assessed ready for a tenancy, still in city accommodation."""
        return (
            self.is_open
            and self.in_municipal_housing
            and self.readiness is not None
            and self.readiness.ready_for_own_tenancy
            and (self.move_out is None or self.move_out.completed_on is None)
        )

    # -- Auszugsmanagement -----------------------------------------------------------------

    def plan_move_out(
        self, target_kind: MoveOutTarget, target_district: int | None, planned_on: date | None
    ) -> None:
        """Plan a move into a tenancy of the household's own (replaces an earlier plan)."""
        self._require_open()
        if target_kind not in MOVE_OUT_TARGETS:
            raise Invalid("target_kind", f"target_kind {target_kind.value} is not a move-out")
        if self.site_id is None:
            raise Conflict(f"case {self.case_id}: the household lives in no municipal site")
        if self.readiness is None or not self.readiness.ready_for_own_tenancy:
            why = self.readiness.reason if self.readiness else "readiness not assessed yet"
            raise Conflict(f"household not assessed ready for a tenancy of its own: {why}")
        self.move_out = MoveOut(target_kind, target_district, self.site_id, planned_on)
        self.events.append(
            MoveOutPlanned(
                case_id=self.case_id,
                household_id=self.household_id,
                from_site_id=self.site_id,
                target_kind=target_kind,
                target_district=target_district,
                planned_on=planned_on,
            )
        )

    def complete_move_out(self, moved_on: date, today: date, teams: Teams) -> None:
        """The household moved out: housing frees its places on MoveOutCompleted; the case
        follows it to the target district's team, or closes if it left the city."""
        self._require_open()
        plan = self.move_out
        if plan is None or plan.completed_on is not None:
            raise Conflict(f"case {self.case_id} has no planned move-out")
        if self.site_id != plan.from_site_id:
            raise Conflict(
                f"the household moved to site {self.site_id} since the move-out was planned "
                f"from {plan.from_site_id}; plan it again"
            )
        if moved_on > today:
            raise Invalid("moved_on", f"moved_on {moved_on} is in the future")
        self.events.append(
            MoveOutCompleted(
                case_id=self.case_id,
                household_id=self.household_id,
                from_site_id=plan.from_site_id,
                target_kind=plan.target_kind,
                target_district=plan.target_district,
                moved_on=moved_on,
            )
        )
        self.move_out = MoveOut(
            plan.target_kind, plan.target_district, plan.from_site_id, plan.planned_on, moved_on
        )
        self.site_id = self.site_pillar = None
        if plan.target_district is None:
            self._close(CaseCloseReason.MOVED_AWAY, moved_on)
        elif plan.target_district != self.district:
            target = plan.target_district
            self._transfer(target, teams.of(target), CaseTransferReason.MOVED_OUT, moved_on)

    # -- the end of a case -----------------------------------------------------------------

    def hand_over(
        self, structure: DistrictStructure, receiving_partner: str, district: int, on: date
    ) -> None:
        """Hand over to a district structure, naming the partner: handed over, then closed."""
        self._require_open()
        if on < self.opened_on:
            raise Invalid(
                "handed_over_on",
                f"handed_over_on {on} is before the case opened on {self.opened_on}",
            )
        self.handover = Handover(structure, receiving_partner, district, on)
        self.events.append(
            CaseHandedOver(
                case_id=self.case_id,
                household_id=self.household_id,
                to_structure=structure,
                district=district,
                receiving_partner=receiving_partner,
                handed_over_on=on,
            )
        )
        self._close(CaseCloseReason.HANDED_OVER, on)

    def close(self, reason: CaseCloseReason, on: date) -> None:
        self._require_open()
        if reason in (CaseCloseReason.HANDED_OVER, CaseCloseReason.MOVED_AWAY):
            raise Invalid("reason", f"{reason.value}: use the handover or the move-out")
        if on < self.opened_on:
            raise Invalid(
                "closed_on", f"closed_on {on} is before the case opened on {self.opened_on}"
            )
        self._close(reason, on)

    def _close(self, reason: CaseCloseReason, on: date) -> None:
        self.status, self.closed_on, self.close_reason = CaseStatus.CLOSED, on, reason
        self.events.append(CaseClosed(case_id=self.case_id, reason=reason, closed_on=on))

    # -- volunteers and personal details ---------------------------------------------------

    def request_support(self, request: SupportRequest) -> None:
        self._require_open()
        self.events.append(
            SupportRequested(
                case_id=self.case_id,
                request_id=request.request_id,
                district=request.district,
                languages=list(request.languages),
                skill=request.skill,
                involves_children=request.involves_children,
                hours_per_week=request.hours_per_week,
                schedule=list(request.schedule),
            )
        )

    def due_for_erasure(self, today: date, retention: timedelta) -> bool:
        """Closed longer than the retention period, personal details not erased yet."""
        return (
            self.closed_on is not None
            and self.details_erased_on is None
            and self.closed_on + retention <= today
        )


@dataclass(frozen=True)
class ErasureReceipt:
    """What an erasure request did here; the other services follow ErasureRequested."""

    erasure_id: uuid.UUID
    household_id: uuid.UUID
    erased_here: int


def erasure(
    household_id: uuid.UUID,
    person_ids: Iterable[uuid.UUID],
    reason: ErasureReason,
    on: date,
) -> ErasureRequested:
    """One request that every service holding personal details of these people obeys."""
    return ErasureRequested(
        erasure_id=uuid.uuid4(),
        household_id=household_id,
        person_ids=sorted(set(person_ids)),
        reason=reason,
        requested_on=on,
    )


# -- caseloads -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """Open cases and the persons in them, of a team or one social worker."""

    cases: int
    persons: int


@dataclass(frozen=True)
class WorkerLoad:
    social_worker: str
    cases: int
    persons: int
    over_limit: bool


@dataclass(frozen=True)
class TeamLoad:
    """Fallzahlen of a team: cases, persons, staffing and load per social worker."""

    team_id: str
    district: int
    label: str
    social_workers: int
    cases: int
    persons: int
    unassigned_cases: int
    persons_per_worker: float | None
    limit: int
    over_limit: bool
    workers: list[WorkerLoad]


def caseloads(
    teams: Teams, loads: Mapping[tuple[str, str | None], Load], limit: int
) -> list[TeamLoad]:
    """Each team's load by ``(team_id, social worker or None)``; a warning above ``limit``
    persons per social worker (for the team: persons over its staffing)."""
    result = []
    for team in teams:
        mine = {worker: load for (tid, worker), load in loads.items() if tid == team.team_id}
        cases = sum(load.cases for load in mine.values())
        persons = sum(load.persons for load in mine.values())
        per_worker = persons / team.social_workers if team.social_workers else None
        unstaffed = team.social_workers == 0 and cases > 0
        workers = [
            WorkerLoad(worker, load.cases, load.persons, load.persons > limit)
            for worker, load in sorted(mine.items(), key=lambda kv: kv[0] or "")
            if worker is not None
        ]
        result.append(
            TeamLoad(
                team_id=team.team_id,
                district=team.district,
                label=team.label,
                social_workers=team.social_workers,
                cases=cases,
                persons=persons,
                unassigned_cases=mine[None].cases if None in mine else 0,
                persons_per_worker=round(per_worker, 1) if per_worker is not None else None,
                limit=limit,
                over_limit=unstaffed or (per_worker is not None and per_worker > limit),
                workers=workers,
            )
        )
    return result


def _local(at: datetime) -> date:
    """The Hannover day of an instant (the check-in's, the departure's)."""
    return at.astimezone(_CITY_TZ).date()
