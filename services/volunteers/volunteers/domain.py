"""The Koordinierungsstelle Flüchtlingshilfe's model: volunteers, vetting, support requests,
matches, initiatives, and the explained ranking. Pure: no I/O.

Aggregates record the events they raise in ``events`` (as housing's ``Site`` does); the
unit of work writes them to the outbox on commit. The business date (``today``) always
comes in from the caller, who reads it from the runtime's clock.

Contact details (name, e-mail, phone) live on the volunteer here and in this service's
database only; no event carries them.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from ankommen_contracts import DISTRICT_NAMES, Skill
from ankommen_contracts.envelope import EventData
from ankommen_contracts.events.volunteers import (
    MatchEnded,
    MatchEndReason,
    VolunteerHoursLogged,
    VolunteerMatched,
    VolunteerRegistered,
    VolunteerVetted,
)
from ankommen_runtime.errors import Conflict

DISTRICTS = frozenset(DISTRICT_NAMES)
MAX_HOURS_PER_WEEK = 40


class Weekday(StrEnum):
    """A day of the week a volunteer can help or a request needs help (Wochentag)."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


class VolunteerStatus(StrEnum):
    """active → paused → active …; withdrawn is final (the offer was taken back)."""

    ACTIVE = "active"
    PAUSED = "paused"
    WITHDRAWN = "withdrawn"


class RequestStatus(StrEnum):
    """open → matched → closed; a match that ends early opens the request again."""

    OPEN = "open"
    MATCHED = "matched"
    CLOSED = "closed"


class RequestSource(StrEnum):
    INTEGRATION = "integration"  # SupportRequested from Integrationsmanagement
    COORDINATOR = "coordinator"  # entered by the Koordinierungsstelle


class MatchStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class InitiativeKind(StrEnum):
    """Who organises volunteers besides the city."""

    SUPPORT_CIRCLE = "support_circle"  # Unterstützerkreis at a site or in a quarter
    MSO = "mso"  # Migrantenselbstorganisation
    WELFARE_ASSOCIATION = "welfare_association"  # Wohlfahrtsverband
    FAITH_COMMUNITY = "faith_community"  # Kirchen-, Moschee-, Synagogengemeinde
    OTHER = "other"


class Exclusion(StrEnum):
    """Why a volunteer is not proposed for a request (every reason is a hard rule)."""

    NOT_ACTIVE = "not_active"  # paused or withdrawn
    SKILL = "skill"  # does not offer the kind of support
    LANGUAGE = "language"  # no language in common with the request
    DISTRICT = "district"  # reaches neither the district nor a neighbouring one
    SCHEDULE = "schedule"  # none of the request's days
    LOAD = "load"  # would go over the stated weekly hours
    NO_CERTIFICATE = "no_certificate"  # work with children, no extended police certificate
    CERTIFICATE_EXPIRED = "certificate_expired"  # work with children, certificate expired


# -- the neighbourhood of the Stadtbezirke --------------------------------------------------


@dataclass(frozen=True)
class Neighbourhood:
    """Which Stadtbezirke border on which (data, see ``districts.json``)."""

    neighbours: Mapping[int, frozenset[int]]

    @classmethod
    def of_pairs(cls, pairs: Iterable[tuple[int, int]]) -> Neighbourhood:
        found: dict[int, set[int]] = {d: set() for d in DISTRICTS}
        for a, b in pairs:
            if a not in DISTRICTS or b not in DISTRICTS or a == b:
                raise ValueError(f"({a}, {b}) is not a pair of two Stadtbezirke 1-13")
            found[a].add(b)
            found[b].add(a)
        return cls({d: frozenset(n) for d, n in found.items()})

    def of(self, district: int) -> frozenset[int]:
        return self.neighbours.get(district, frozenset())

    def reachable(self, district: int) -> frozenset[int]:
        """The district and its neighbours: where a volunteer may come from."""
        return self.of(district) | {district}


# -- volunteers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    """Who the volunteer is and how to reach them: stays in this service, never in events."""

    name: str
    email: str | None = None
    phone: str | None = None


@dataclass
class Volunteer:
    """An Ehrenamtliche*r and their offer: what, where, when and how much."""

    volunteer_id: uuid.UUID
    contact: Contact
    skills: frozenset[Skill]
    languages: tuple[str, ...]
    districts: frozenset[int]
    weekdays: frozenset[Weekday]
    hours_per_week: int
    registered_on: date
    mso: bool = False
    initiative_id: uuid.UUID | None = None
    status: VolunteerStatus = VolunteerStatus.ACTIVE
    paused_until: date | None = None
    withdrawn_on: date | None = None
    certificate_issued_on: date | None = None
    certificate_valid_until: date | None = None
    committed_hours: int = 0
    events: list[EventData] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def register(
        cls,
        *,
        volunteer_id: uuid.UUID,
        contact: Contact,
        skills: Iterable[Skill],
        languages: Sequence[str],
        districts: Iterable[int],
        weekdays: Iterable[Weekday],
        hours_per_week: int,
        registered_on: date,
        mso: bool = False,
        initiative_id: uuid.UUID | None = None,
    ) -> Volunteer:
        volunteer = cls(
            volunteer_id=volunteer_id,
            contact=contact,
            skills=frozenset(skills),
            languages=tuple(languages),
            districts=frozenset(districts),
            weekdays=frozenset(weekdays),
            hours_per_week=hours_per_week,
            registered_on=registered_on,
            mso=mso,
            initiative_id=initiative_id,
        )
        if not volunteer.skills or not volunteer.languages or not volunteer.districts:
            raise Conflict("a volunteer offers at least one skill, language and district")
        if not volunteer.weekdays:
            raise Conflict("a volunteer names at least one weekday they can help on")
        if not volunteer.districts <= DISTRICTS:
            raise Conflict(f"unknown Stadtbezirk in {sorted(volunteer.districts)}")
        volunteer.events.append(
            VolunteerRegistered(
                volunteer_id=volunteer_id,
                districts=sorted(volunteer.districts),
                languages=list(volunteer.languages),
                skills=sorted(volunteer.skills),
                hours_per_week=hours_per_week,
                mso=mso,
                registered_on=registered_on,
            )
        )
        return volunteer

    @property
    def free_hours(self) -> int:
        return self.hours_per_week - self.committed_hours

    def certified_on(self, day: date) -> bool:
        """Does the extended police certificate count on ``day``?"""
        return self.certificate_valid_until is not None and day <= self.certificate_valid_until

    def _not_withdrawn(self) -> None:
        if self.status is VolunteerStatus.WITHDRAWN:
            raise Conflict(f"volunteer {self.volunteer_id} withdrew on {self.withdrawn_on}")

    def pause(self, until: date | None) -> None:
        """Not proposed for new requests until resumed; running matches go on."""
        self._not_withdrawn()
        self.status = VolunteerStatus.PAUSED
        self.paused_until = until

    def resume(self) -> None:
        self._not_withdrawn()
        self.status = VolunteerStatus.ACTIVE
        self.paused_until = None

    def withdraw(self, on: date, matches: Iterable[Match]) -> None:
        """The offer is taken back; every running match ends (volunteer_withdrew)."""
        self._not_withdrawn()
        self.status = VolunteerStatus.WITHDRAWN
        self.withdrawn_on = on
        self.paused_until = None
        for match in matches:
            self.end(match, MatchEndReason.VOLUNTEER_WITHDREW, on)

    def vet(
        self,
        *,
        issued_on: date,
        vetted_on: date,
        validity: timedelta,
        max_age_at_vetting: timedelta,
    ) -> None:
        """Record an extended police certificate (erweitertes Führungszeugnis) shown on
        ``vetted_on``; it counts until ``issued_on + validity``."""
        self._not_withdrawn()
        if issued_on > vetted_on:
            raise Conflict(f"certificate issued on {issued_on}, after it was shown ({vetted_on})")
        if vetted_on - issued_on > max_age_at_vetting:
            raise Conflict(
                f"certificate issued on {issued_on} was older than "
                f"{max_age_at_vetting.days} days when shown on {vetted_on}; ask for a new one"
            )
        if self.certificate_issued_on is not None and issued_on < self.certificate_issued_on:
            raise Conflict(
                f"a newer certificate (issued {self.certificate_issued_on}) is on record already"
            )
        self.certificate_issued_on = issued_on
        self.certificate_valid_until = issued_on + validity
        self.events.append(
            VolunteerVetted(
                volunteer_id=self.volunteer_id,
                certificate_valid_until=self.certificate_valid_until,
                certificate_issued_on=issued_on,
                vetted_on=vetted_on,
            )
        )

    def take(self, request: SupportRequest, assessment: Assessment, on: date) -> Match:
        """Take on a request this volunteer was assessed eligible for (VolunteerMatched)."""
        if assessment.exclusion is not None:
            raise Conflict(
                f"volunteer {self.volunteer_id} cannot take request {request.request_id}: "
                f"{assessment.explanation}"
            )
        if request.status is not RequestStatus.OPEN:
            raise Conflict(f"request {request.request_id} is {request.status.value}, not open")
        if on < request.requested_on:
            raise Conflict(f"matched_on {on} is before the request ({request.requested_on})")
        match = Match(
            match_id=uuid.uuid4(),
            request_id=request.request_id,
            volunteer_id=self.volunteer_id,
            district=request.district,
            skill=request.kind,
            involves_children=request.involves_children,
            hours_per_week=request.hours_per_week,
            matched_on=on,
            score=assessment.score,
        )
        self.committed_hours += request.hours_per_week
        request.status = RequestStatus.MATCHED
        self.events.append(
            VolunteerMatched(
                volunteer_id=self.volunteer_id,
                match_id=match.match_id,
                request_id=request.request_id,
                district=request.district,
                skill=request.kind,
                involves_children=request.involves_children,
                matched_on=on,
            )
        )
        return match

    def end(
        self,
        match: Match,
        reason: MatchEndReason,
        on: date,
        request: SupportRequest | None = None,
    ) -> None:
        """End a running match (MatchEnded). The request closes when the support is done or
        no longer wanted, and opens again for anyone else otherwise."""
        if match.volunteer_id != self.volunteer_id:
            raise Conflict(f"match {match.match_id} is not volunteer {self.volunteer_id}'s")
        if match.status is MatchStatus.ENDED:
            raise Conflict(f"match {match.match_id} ended on {match.ended_on} already")
        if on < match.matched_on:
            raise Conflict(f"ended_on {on} is before the match began ({match.matched_on})")
        match.status = MatchStatus.ENDED
        match.ended_on = on
        match.end_reason = reason
        self.committed_hours = max(0, self.committed_hours - match.hours_per_week)
        if request is not None:
            request.status = (
                RequestStatus.CLOSED
                if reason in (MatchEndReason.COMPLETED, MatchEndReason.REQUEST_WITHDRAWN)
                else RequestStatus.OPEN
            )
        self.events.append(
            MatchEnded(
                volunteer_id=self.volunteer_id,
                match_id=match.match_id,
                request_id=match.request_id,
                reason=reason,
                ended_on=on,
            )
        )

    def log_hours(
        self, *, hours: float, worked_on: date, today: date, match: Match | None, district: int
    ) -> HoursEntry:
        """Time spent helping (VolunteerHoursLogged), on a match or as general help."""
        if worked_on > today:
            raise Conflict(f"worked_on {worked_on} is in the future (today is {today})")
        if worked_on < self.registered_on:
            raise Conflict(f"worked_on {worked_on} is before registration ({self.registered_on})")
        if match is not None:
            if match.volunteer_id != self.volunteer_id:
                raise Conflict(f"match {match.match_id} is not volunteer {self.volunteer_id}'s")
            if worked_on < match.matched_on or (match.ended_on and worked_on > match.ended_on):
                raise Conflict(
                    f"worked_on {worked_on} is outside match {match.match_id} "
                    f"({match.matched_on} – {match.ended_on or 'running'})"
                )
            district = match.district
        entry = HoursEntry(
            entry_id=uuid.uuid4(),
            volunteer_id=self.volunteer_id,
            match_id=match.match_id if match else None,
            district=district,
            worked_on=worked_on,
            hours=hours,
        )
        self.events.append(
            VolunteerHoursLogged(
                volunteer_id=self.volunteer_id,
                match_id=entry.match_id,
                district=district,
                worked_on=worked_on,
                hours=hours,
            )
        )
        return entry


@dataclass(frozen=True)
class HoursEntry:
    entry_id: uuid.UUID
    volunteer_id: uuid.UUID
    match_id: uuid.UUID | None
    district: int
    worked_on: date
    hours: float


# -- support requests and matches ----------------------------------------------------------


@dataclass
class SupportRequest:
    """A need for volunteer support (Unterstützungsbedarf): no case or household data, only
    what matching needs. ``weekdays`` empty: any day suits."""

    request_id: uuid.UUID
    kind: Skill
    district: int
    languages: tuple[str, ...]
    hours_per_week: int
    involves_children: bool
    requested_on: date
    source: RequestSource
    weekdays: frozenset[Weekday] = frozenset()
    case_id: uuid.UUID | None = None  # pseudonymous: to withdraw requests of a closed case
    status: RequestStatus = RequestStatus.OPEN
    flagged_overdue_on: date | None = None

    def __post_init__(self) -> None:
        if self.kind.involves_children and not self.involves_children:
            raise Conflict(f"{self.kind.value} is work with children: involves_children is true")
        if self.district not in DISTRICTS:
            raise Conflict(f"unknown Stadtbezirk {self.district}")
        if not self.languages:
            raise Conflict("a request names at least one language")

    def open_days(self, today: date) -> int:
        return (today - self.requested_on).days

    def overdue(self, today: date, after: timedelta) -> bool:
        """Open longer than ``after``: the coordinators must look at it (flagged)."""
        return self.status is RequestStatus.OPEN and today - self.requested_on > after


@dataclass
class Match:
    """A volunteer helping with one request (Vermittlung)."""

    match_id: uuid.UUID
    request_id: uuid.UUID
    volunteer_id: uuid.UUID
    district: int
    skill: Skill
    involves_children: bool
    hours_per_week: int
    matched_on: date
    score: float
    status: MatchStatus = MatchStatus.ACTIVE
    ended_on: date | None = None
    end_reason: MatchEndReason | None = None


# -- initiatives and coverage --------------------------------------------------------------


@dataclass
class Initiative:
    """A support circle, MSO or other group, linked to the districts and sites it helps in."""

    initiative_id: uuid.UUID
    name: str
    kind: InitiativeKind
    districts: frozenset[int]
    site_ids: frozenset[uuid.UUID] = frozenset()

    @property
    def mso(self) -> bool:
        return self.kind is InitiativeKind.MSO

    def link(self, districts: Iterable[int], site_ids: Iterable[uuid.UUID]) -> None:
        districts = frozenset(districts)
        if not districts <= DISTRICTS:
            raise Conflict(f"unknown Stadtbezirk in {sorted(districts)}")
        self.districts = districts
        self.site_ids = frozenset(site_ids)


@dataclass(frozen=True)
class DistrictFigures:
    """What a coverage row is made of, per Stadtbezirk (counted by the store)."""

    district: int
    active_volunteers: int = 0
    certified_volunteers: int = 0
    mso_volunteers: int = 0
    active_matches: int = 0
    open_requests: int = 0
    overdue_requests: int = 0
    initiatives: tuple[str, ...] = ()
    sites: int = 0


@dataclass(frozen=True)
class CoverageRow:
    figures: DistrictFigures
    name: str
    nobody_helps: bool
    gaps: tuple[str, ...]


def coverage(figures: Iterable[DistrictFigures]) -> list[CoverageRow]:
    """Who helps where, and where nobody does: one row for each of the 13 Stadtbezirke."""
    by_district = {f.district: f for f in figures}
    rows = []
    for district in sorted(DISTRICTS):
        f = by_district.get(district, DistrictFigures(district))
        gaps = []
        if f.active_volunteers == 0:
            gaps.append("no active volunteer reaches this district")
        if not f.initiatives:
            gaps.append("no initiative is linked to this district")
        if f.open_requests and f.active_volunteers == 0:
            gaps.append(f"{f.open_requests} open requests and nobody to take them")
        if f.overdue_requests:
            gaps.append(f"{f.overdue_requests} requests open too long")
        if f.certified_volunteers == 0:
            gaps.append("nobody vetted for work with children")
        rows.append(
            CoverageRow(
                figures=f,
                name=DISTRICT_NAMES[district],
                nobody_helps=f.active_volunteers == 0 and not f.initiatives,
                gaps=tuple(gaps),
            )
        )
    return rows


# -- ranking --------------------------------------------------------------------------------

# Points of each component, in hundredths of a point; the sum is the score. Whole numbers
# (fractions floored), so the store can pre-rank candidates with exactly the same
# arithmetic in SQL (``store.candidates``) and both orders agree to the last place.
DISTRICT_SAME = 4000
DISTRICT_NEIGHBOURING = 2000
LANGUAGE_FIRST = 2500
LANGUAGE_OTHER = 1500
SKILL = 1500
SCHEDULE = 1000  # times the share of the request's days the volunteer is free on
LOAD = 1000  # times the share of the weekly hours still free after the match
MSO_BONUS = 500


@dataclass(frozen=True)
class ScoreComponent:
    """One reason for a score: what counted, how much (hundredths of a point), and why."""

    name: str
    hundredths: int
    detail: str

    @property
    def points(self) -> float:
        return self.hundredths / 100


@dataclass(frozen=True)
class Assessment:
    """A volunteer measured against a request: an exclusion, or a score with its reasons."""

    volunteer_id: uuid.UUID
    exclusion: Exclusion | None
    hundredths: int
    components: tuple[ScoreComponent, ...]
    explanation: str

    @property
    def score(self) -> float:
        return self.hundredths / 100

    @property
    def eligible(self) -> bool:
        return self.exclusion is None


def _excluded(volunteer: Volunteer, why: Exclusion, detail: str) -> Assessment:
    return Assessment(volunteer.volunteer_id, why, 0, (), detail)


def assess(
    volunteer: Volunteer, request: SupportRequest, neighbourhood: Neighbourhood, today: date
) -> Assessment:
    """Is ``volunteer`` eligible for ``request``, and how well do they fit? Hard rules first
    (any failing one excludes, with its reason); then every component that scored."""
    if volunteer.status is not VolunteerStatus.ACTIVE:
        return _excluded(volunteer, Exclusion.NOT_ACTIVE, f"volunteer is {volunteer.status.value}")
    if request.involves_children:
        # Kinderschutz (§ 72a SGB VIII): never propose anyone without a valid certificate.
        if volunteer.certificate_valid_until is None:
            return _excluded(
                volunteer,
                Exclusion.NO_CERTIFICATE,
                "work with children needs an extended police certificate; none on record",
            )
        if not volunteer.certified_on(today):
            return _excluded(
                volunteer,
                Exclusion.CERTIFICATE_EXPIRED,
                f"work with children; the certificate expired on "
                f"{volunteer.certificate_valid_until}",
            )
    if request.kind not in volunteer.skills:
        return _excluded(volunteer, Exclusion.SKILL, f"does not offer {request.kind.value}")
    common = [lang for lang in request.languages if lang in volunteer.languages]
    if not common:
        return _excluded(
            volunteer,
            Exclusion.LANGUAGE,
            f"speaks none of {', '.join(request.languages)}",
        )
    if request.district in volunteer.districts:
        district = ScoreComponent(
            "district",
            DISTRICT_SAME,
            f"helps in {request.district:02d} {DISTRICT_NAMES[request.district]}",
        )
    else:
        near = sorted(volunteer.districts & neighbourhood.of(request.district))
        if not near:
            return _excluded(
                volunteer,
                Exclusion.DISTRICT,
                f"reaches neither {request.district:02d} {DISTRICT_NAMES[request.district]} "
                "nor a neighbouring Stadtbezirk",
            )
        district = ScoreComponent(
            "district",
            DISTRICT_NEIGHBOURING,
            "helps in the neighbouring " + ", ".join(f"{d:02d} {DISTRICT_NAMES[d]}" for d in near),
        )
    if request.weekdays:
        days = request.weekdays & volunteer.weekdays
        if not days:
            return _excluded(volunteer, Exclusion.SCHEDULE, "free on none of the request's days")
        schedule = ScoreComponent(
            "schedule",
            SCHEDULE * len(days) // len(request.weekdays),
            f"free on {len(days)} of the {len(request.weekdays)} days needed "
            f"({', '.join(d.value for d in Weekday if d in days)})",
        )
    else:
        schedule = ScoreComponent("schedule", SCHEDULE, "the request suits any day")
    free_after = volunteer.free_hours - request.hours_per_week
    if free_after < 0:
        return _excluded(
            volunteer,
            Exclusion.LOAD,
            f"{volunteer.free_hours} of {volunteer.hours_per_week} weekly hours free, "
            f"{request.hours_per_week} needed",
        )
    load = ScoreComponent(
        "load",
        LOAD * free_after // volunteer.hours_per_week,
        f"{free_after} of {volunteer.hours_per_week} weekly hours still free after this",
    )
    first = common[0] == request.languages[0]
    language = ScoreComponent(
        "language",
        LANGUAGE_FIRST if first else LANGUAGE_OTHER,
        f"speaks {common[0]}"
        + (" (the request's first language)" if first else f", not {request.languages[0]}"),
    )
    skill = ScoreComponent("skill", SKILL, f"offers {request.kind.value}")
    components = [district, language, skill, schedule, load]
    if request.involves_children:
        components.append(
            ScoreComponent(
                "vetting",
                0,
                f"certificate valid until {volunteer.certificate_valid_until}",
            )
        )
    if volunteer.mso:
        components.append(
            ScoreComponent("mso", MSO_BONUS, "comes through a migrant self-organisation (MSO)")
        )
    return Assessment(
        volunteer.volunteer_id,
        None,
        sum(c.hundredths for c in components),
        tuple(components),
        "; ".join(f"{c.name} +{c.points:g}: {c.detail}" for c in components),
    )


@dataclass(frozen=True)
class Ranking:
    """Proposals best first, and how many volunteers each rule excluded."""

    proposals: tuple[Assessment, ...]
    considered: int
    excluded: Mapping[Exclusion, int]


def rank(
    request: SupportRequest,
    volunteers: Iterable[Volunteer],
    neighbourhood: Neighbourhood,
    today: date,
    limit: int = 10,
) -> Ranking:
    """Rank volunteers for a request: highest score first, ties by volunteer id (stable
    across runs). Only eligible volunteers are proposed; the others are counted by reason."""
    eligible: list[Assessment] = []
    excluded: Counter[Exclusion] = Counter()
    considered = 0
    for volunteer in volunteers:
        considered += 1
        assessment = assess(volunteer, request, neighbourhood, today)
        if assessment.exclusion is None:
            eligible.append(assessment)
        else:
            excluded[assessment.exclusion] += 1
    eligible.sort(key=lambda a: (-a.hundredths, a.volunteer_id))
    return Ranking(tuple(eligible[:limit]), considered, dict(excluded))
