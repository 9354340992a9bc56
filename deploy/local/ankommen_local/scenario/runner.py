"""The scenario through the running services: one plan week after another, over HTTP only.

Each week is one simulated step (docs/business-time.md): every clock moves to Monday
noon, then the week's commands go out as the city's staff would send them, each with the
token of its role, with a barrier (every service has handled everything) wherever the
next commands need the events of the last (``ScenarioRunner._week``):

- housing staff open the week's sites (named ones on their recorded day, generated ones
  where the record is silent) and start closing those due (allocation relocates their
  residents), closing them once empty;
- the Land (role ``land-intake``) sends Friday's batch of assignments for Monday's bus
  (allocation's batch API); allocation places every household through the saga;
- site staff check in every household whose places are held (arrivals, relocations);
- social workers assess readiness (integration) and allocation staff ask for a move into
  a free Wohnung or Wohnprojekt; social workers move households out into flats of their own
  (integration's move-out), or allocation staff record a departure where no case can;
- the Koordinierungsstelle registers volunteers and requests and matches them.

Nothing is written into any view: the figures are read back from the services' own
views afterwards (``figures.py``). After every step the runner checks that nobody is
without a place: no open homelessness alert and no household waitlisted, every
reservation checked in.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

from ankommen_contracts import Skill
from ankommen_runtime.auth import Role
from ankommen_runtime.clock import CITY_TZ
from ankommen_runtime.local_issuer import LocalIssuer, audience_of
from ankommen_runtime.pagination import MAX_IDS
from ankommen_runtime.simulation_driver import (
    CITY_STAGES,
    HttpAnswer,
    HttpClient,
    SimulationDriver,
)

from ..supervisor import KEEP_ALIVE_SECONDS
from .client import ServiceClient
from .plan import Plan, PlannedHousehold, SiteSpec, Week

SERVICES = ("allocation", "housing", "integration", "volunteers", "reporting")
CHECK_INS_PER_LIST = 500  # housing's limit for one list at the door
RELOCATIONS_PER_LIST = 500  # allocation's limit for one list
CASEWORK_PER_LIST = 1000  # integration's limit for one list of casework entries
MAX_MOVE_ROUNDS = 10  # chains of moves within one step (each round: check-ins, barrier)
SETTLE_TIMEOUT = 300.0  # at least; the window's first week brings its whole stock at once
SETTLE_SECONDS_PER_HOUSEHOLD = 0.1  # so a step's barrier may take this long per household
TAKEN_POLL_SECONDS = 0.01  # first pause while allocation takes the week's assessments
TAKEN_POLL_MAX_SECONDS = 0.1
NOT_APPLIED_ATTEMPTS = 5  # a command answered 503 "not-applied" is sent this often at most
BATCH_LIMIT = 1000  # allocation's batch API takes at most this many assignments
SITE_CAPACITY_MAX = 5000  # housing's largest site (places)
QUOTA_PERSONS_MAX = 100_000  # allocation's bound for a quota period's expected persons
WEEKLY_QUOTA_MAX = 10_000  # and for its weekly quota
LANGUAGES = {"SYR": "ar", "IRQ": "ar", "SDN": "ar", "AFG": "fa", "IRN": "fa", "ERI": "ti"}
SKILLS = [s.value for s in Skill]
REQUEST_HOURS = 2  # a support request's hours a week
SHEET_LIMIT = 1000  # lines of one hours sheet (volunteers' bound)
MSO_EVERY = 10  # every tenth volunteer comes through a migrant organisation (MiSO, assumed)
CERTIFICATE_AGE = timedelta(days=28)  # how old a volunteer's certificate is when shown


def month_sheet(tandems: dict[str, tuple[str, date, int]], monday: date) -> list[dict[str, Any]]:
    """The hours sheet entered in the step of ``monday`` if it is a month's first (else
    none): one line per tandem (match id -> volunteer, matched on, hours a week) that ran
    in the month before, its weekly hours for the days it ran then, in quarter hours,
    dated the month's last day."""
    if monday.day > 7:
        return []
    last = monday.replace(day=1) - timedelta(days=1)
    first = last.replace(day=1)
    lines = []
    for match_id, (volunteer_id, since, per_week) in tandems.items():
        days = (last - max(since, first)).days + 1
        hours = round(per_week * days / 7 * 4) / 4
        if days > 0 and hours > 0:
            lines.append(
                {
                    "volunteer_id": volunteer_id,
                    "match_id": match_id,
                    "hours": hours,
                    "worked_on": last.isoformat(),
                }
            )
    return lines


class Homeless(RuntimeError):
    """Someone assigned to the city had no place at the end of a simulated day."""


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, clock_time(hour, minute), tzinfo=CITY_TZ)


@dataclass
class Tokens:
    """One token per role and audience, as each member of staff would hold."""

    issuer: LocalIssuer = field(default_factory=LocalIssuer)
    cache: dict[tuple[str, str, int | None], str] = field(default_factory=dict)

    def header(self, role: Role, service: str, district: int | None = None) -> dict[str, str]:
        key = (role.value, service, district)
        if key not in self.cache:
            self.cache[key] = self.issuer.mint(
                [role],
                audience=audience_of(service),
                district=district,
                subject=f"scenario-{role.value}-{district or 'city'}",
            )
        return {"authorization": f"Bearer {self.cache[key]}"}


@dataclass
class Tally:
    """What the run sent and what came of it (the runner's own account, not a view)."""

    weeks: int = 0
    households: int = 0
    persons: int = 0
    sites_opened: int = 0
    sites_closed: int = 0
    check_ins: int = 0
    moved_out: int = 0
    departed: int = 0
    moved_on: int = 0
    milestones: int = 0
    handovers: int = 0
    volunteers: int = 0
    vetted: int = 0
    requests: int = 0
    matches: int = 0
    hours: float = 0.0
    max_step_seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)
    # per year of the steps: "steps", "seconds" (wall) and each phase's seconds, to see
    # what a quiet year's step costs beside a busy one's
    year_seconds: dict[int, dict[str, float]] = field(default_factory=dict)
    homeless_checks: int = 0
    expired_holds: int = 0
    homeless_weeks: dict[str, dict[str, int]] = field(default_factory=dict)
    close_delays: dict[str, int] = field(default_factory=dict)
    barriers: int = 0
    barrier_rounds: int = 0  # the driver's rounds of answers over all barriers
    barriers_skipped: int = 0  # steps whose clocks' answers were settled, and no site changed
    http_calls: int = 0
    retried: int = 0  # commands sent again after a 503 "nothing was changed"
    step_ends: list[float] = field(default_factory=list)  # perf_counter at each step's end
    outlook_check: dict[str, Any] | None = None  # "does the outlook see it coming?"


class ScenarioRunner:
    def __init__(
        self,
        plan: Plan,
        urls: dict[str, str],
        *,
        tokens: Tokens | None = None,
        pace: float = 0.0,
        concurrency: int = 8,
        strict: bool = False,
        on_week: Callable[[Week, Tally], None] | None = None,
    ) -> None:
        self.plan = plan
        self.urls = urls
        self.tokens = tokens or Tokens()
        self.pace = pace
        self.concurrency = concurrency
        self.strict = strict  # stop at the first step that leaves someone without a bed
        self.on_week = on_week
        self.tally = Tally()
        self.households: dict[str, str] = {}  # land reference -> household id
        self.sizes: dict[str, int] = {}
        self.living: dict[str, date] = {}  # land reference -> arrival week (placed ones)
        self.moved_on: set[str] = set()
        self.arrivals: dict[str, date] = {}
        self.closing: list[SiteSpec] = []
        self.snapshots: dict[str, Any] = {}
        self._unsettled = False  # commands sent since the last barrier
        self._step_households = 0
        self.expired: set[str] = set()  # reservations housing answered have expired
        self.part_ids: dict[str, list[str]] = {}  # a site opened in parts: their ids
        self.tandems: dict[str, tuple[str, date, int]] = {}  # match: volunteer, since, h/week
        self.watch = OutlookWatch.of(plan)
        self._year: dict[str, float] = {}  # the current step's year in tally.year_seconds

    # -- plumbing -----------------------------------------------------------------------

    async def _call(
        self,
        service: str,
        method: str,
        path: str,
        role: Role,
        *,
        district: int | None = None,
        ok: tuple[int, ...] = (200, 201, 202),
        **kwargs: Any,
    ) -> HttpAnswer:
        for attempt in range(1, NOT_APPLIED_ATTEMPTS + 1):
            response = await self.clients[service].request(
                method, path, headers=self.tokens.header(role, service, district), **kwargs
            )
            self.tally.http_calls += 1
            # A 503 that says nothing was changed (a deadlock's victim: concurrent check-ins
            # and housing's consumer lock the same sites) is asked again, as the API says;
            # one whose outcome is unknown is not, and fails the run below.
            if response.status_code != 503 or attempt == NOT_APPLIED_ATTEMPTS:
                break
            if response.json().get("outcome") != "not-applied":
                break
            self.tally.retried += 1
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
        if response.status_code not in ok:
            raise RuntimeError(
                f"{service} {method} {path}: {response.status_code} {response.text[:500]}"
            )
        return response

    async def _all(self, service: str, path: str, role: Role, **params: Any) -> list[Any]:
        items: list[Any] = []
        offset = 0
        while True:
            page = (
                await self._call(
                    service, "GET", path, role, params={**params, "limit": 1000, "offset": offset}
                )
            ).json()
            items.extend(page["items"])
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                return items

    # -- the run --------------------------------------------------------------------------

    async def run(self) -> Tally:
        self.clients: dict[str, HttpClient] = {
            # the services keep idle connections KEEP_ALIVE_SECONDS (supervisor)
            name: ServiceClient(url, timeout=120, keepalive_seconds=KEEP_ALIVE_SECONDS / 2)
            for name, url in self.urls.items()
        }
        operations = {
            name: self.tokens.header(Role.OPERATIONS, name)["authorization"].split()[1]
            for name in SERVICES
        }
        self.driver = SimulationDriver(self.clients, operations, stages=CITY_STAGES)
        try:
            await self.driver.settle()  # a round of all: the driver learns the sinks
            await self._announce_quota_periods()
            for week in self.plan.weeks:
                started = time.perf_counter()
                self._year = self.tally.year_seconds.setdefault(week.monday.year, {})
                await self._week(week)
                spent = time.perf_counter() - started
                self.tally.weeks += 1
                self.tally.max_step_seconds = max(self.tally.max_step_seconds, spent)
                self._year["steps"] = self._year.get("steps", 0) + 1
                self._year["seconds"] = self._year.get("seconds", 0.0) + spent
                self.tally.step_ends.append(time.perf_counter())
                if self.on_week:
                    self.on_week(week, self.tally)
                if self.pace:
                    await asyncio.sleep(self.pace)
            await self._settle(views=True)  # reporting too, before its views are read
        finally:
            for client in self.clients.values():
                await client.aclose()
        if self.watch is not None:
            self.tally.outlook_check = self.watch.verdict()
        return self.tally

    async def _announce_quota_periods(self) -> None:
        """The Land's Aufnahmequote, one period a year: the year's planned arrivals, and
        their even share a week as the Wochenkontingent (docs/scenario.md, Assumptions)."""
        self.quota: dict[int, str] = {}
        # the window's first week brings its stock, assigned before the window against no
        # period of the run's: the periods are the years of the other weeks' decisions
        weeks = self.plan.weeks[1:]
        for year in sorted({w.decided_on.year for w in weeks}):
            in_year = [w for w in weeks if w.decided_on.year == year]
            expected = sum(w.persons for w in in_year)
            weekly = round(expected / len(in_year))
            # allocation's bounds for a period (Aufnahmesoll ≤ 100,000, Wochenkontingent
            # ≤ 10,000): only the large bench runs reach them; the quota is reported
            # against, never enforced, so a capped one changes no placement
            expected, weekly = min(expected, QUOTA_PERSONS_MAX), min(weekly, WEEKLY_QUOTA_MAX)
            response = await self._call(
                "allocation",
                "POST",
                "/quota-periods",
                Role.LAND_INTAKE,
                json={
                    "starts_on": f"{year}-01-01",
                    "ends_on": f"{year}-12-31",
                    "expected_persons": expected,
                    "weekly_quota": weekly,
                },
            )
            self.quota[year] = response.json()["quota_period_id"]

    async def _week(self, week: Week) -> None:
        """One step, with as few barriers as the commands' dependencies allow (each barrier
        waits for every event in flight, so it is the step's main cost):

        1. the clocks move to Monday noon, then the week's sites open and close; one
           barrier after both (the sweeps' events and the sites' are independent of each
           other, and allocation needs both before it places anyone), or none when no
           site changed and the clocks' answers were settled already (most weeks: no
           sweep had anything to do);
        2. the Land's batch; a barrier (the placements: the holds to check in);
        3. the Monday check-ins, and beside them the moves on, then the move-outs, and
           the volunteers' commands beside all of them; a barrier after all of them.
           Those commands are about households that arrived weeks ago, so this week's
           arrivals' events need not be handled first. Only when a check-in moved a
           household already living here (a relocation from a closing site) the check-ins
           go first, with a barrier: allocation must know where it lives before anything
           else is asked about it;
        4. the moves those started (check-ins, each round with its barrier) until nothing
           is held; then the homeless check.
        """
        monday = week.monday
        self._step_households = len(week.households)
        quiet = await self._timed("advance", self._clocks_to(at(monday, 12)))
        if await self._timed("sites", self._sites(week)) or not quiet:
            await self._settle()  # the sweeps' events (expired holds, waitlist) and the sites
        else:
            self.tally.barriers_skipped += 1  # nothing on its way: no barrier to wait at
        if await self._timed("assign", self._assign(week)):
            await self._settle()
        held = await self._timed("check_in", self._held())
        before = self._commands()
        if self._moves(held, week) or self._leaving_on_arrival(week):
            await self._timed("check_in", self._check_in(held, monday))
            await self._settle()  # allocation must see where a moved household lives now
            await self._after_arrivals(week)
        else:
            # only this week's arrivals: nothing that follows is about them
            await asyncio.gather(
                self._timed("check_in", self._check_in(held, monday)), self._after_arrivals(week)
            )
        if self._commands() != before or self._unsettled:
            await self._settle()
        # The step's own moves: a check-in frees places elsewhere, which allocation fills
        # from the waitlist and the Notunterkünfte (new holds): until nothing is held.
        for _ in range(MAX_MOVE_ROUNDS):
            held = await self._timed("check_in", self._held())
            if not held:
                break
            await self._timed("check_in", self._check_in(held, None))
            await self._settle()
        await self._timed("homeless_check", self._nobody_homeless(monday))
        if self.watch is not None and self.watch.due(monday):
            await self._settle(views=True)
            await self._timed("outlook", self._read_outlook(monday))

    async def _clocks_to(self, to: datetime) -> bool:
        """Every clock to ``to``, stage by stage, each service running its business sweeps
        before it answers (``SimulationDriver.move_clocks``, without the barrier: the
        step's first barrier comes after the sites, and covers both); whether the answers
        settled the step by themselves (no sweep left anything on its way)."""
        moved = await self.driver.move_clocks(to, skip_sinks=True)
        self._unsettled = not moved.settled
        return moved.settled

    async def _settle(self, *, views: bool = False) -> None:
        """The barrier. Reporting (a sink: it writes no topic) is waited for only with
        ``views``: no command of the step depends on it, so its projections go on beside
        the next ones (docs/business-time.md, "The barrier")."""
        timeout = max(SETTLE_TIMEOUT, SETTLE_SECONDS_PER_HOUSEHOLD * self._step_households)
        settling = self.driver.settle(timeout=timeout, skip_sinks=not views)
        rounds = await self._timed("settle", settling)
        self.tally.barrier_rounds += rounds
        self.tally.barriers += 1
        self._unsettled = False

    def _commands(self) -> tuple[int, ...]:
        t = self.tally
        return (t.moved_on, t.moved_out, t.departed, t.volunteers, t.requests, len(self.moved_on))

    async def _timed(self, phase: str, work: Any) -> Any:
        started = time.perf_counter()
        try:
            return await work
        finally:
            spent = time.perf_counter() - started
            self.tally.phase_seconds[phase] = self.tally.phase_seconds.get(phase, 0.0) + spent
            self._year[phase] = self._year.get(phase, 0.0) + spent

    # -- sites ------------------------------------------------------------------------------

    async def _sites(self, week: Week) -> bool:
        """The week's openings and closings; whether anything changed (a command took
        effect: its events are on their way)."""
        changed = bool(week.opens or week.closes)
        for site in week.opens:
            for body in self._parts(site):
                await self._call("housing", "POST", "/sites", Role.HOUSING_STAFF, json=body)
            self.tally.sites_opened += 1
        for site in week.closes:
            assert site.closes_on is not None
            for site_id in self.part_ids.get(site.site_id, [site.site_id]):
                await self._call(
                    "housing",
                    "POST",
                    f"/sites/{site_id}/closing",
                    Role.HOUSING_STAFF,
                    json={
                        "reason": _closing_reason(site),
                        "closes_on": site.closes_on.isoformat(),
                        # dated now: the relocations it starts hold places from now on
                        "occurred_at": at(week.monday, 11).isoformat(),
                    },
                )
            self.closing.append(site)
        for site in list(self.closing):
            assert site.closes_on is not None
            if week.monday < site.closes_on:
                continue
            open_parts = self.part_ids.get(site.site_id, [site.site_id])
            for site_id in list(open_parts):
                response = await self._call(
                    "housing",
                    "POST",
                    f"/sites/{site_id}/close",
                    Role.HOUSING_STAFF,
                    ok=(200, 409),
                    json={"occurred_at": site.closes_on.isoformat()},
                )
                if response.status_code == 200:
                    open_parts.remove(site_id)  # closed; other parts may still empty out
                    changed = True  # ShelterClosed is on its way
                elif not await self._still_used(site_id):
                    # only residents still there may hold a close back, or it never happens
                    raise RuntimeError(f"closing {site.name} refused: {response.text[:300]}")
            if not open_parts:
                self.closing.remove(site)
                self.tally.sites_closed += 1
                delay = (week.monday - site.closes_on).days
                if delay > 7:
                    self.tally.close_delays[site.name] = delay
        return changed

    async def _still_used(self, site_id: str) -> bool:
        """Whether anyone lives at the site or holds places there (it cannot close yet)."""
        site = (await self._call("housing", "GET", f"/sites/{site_id}", Role.HOUSING_STAFF)).json()
        return bool(site["occupied"] or site["reserved"])

    def _parts(self, site: SiteSpec) -> list[dict[str, Any]]:
        """The commands that open ``site``: one, or at large scales (a tenfold
        Oststadtkrankenhaus has 8,000 places) parts of at most housing's largest site
        each, "(Teil 2)" and on, with ids derived from the site's; closed together."""
        body = site.open_command()
        body["occurred_at"] = site.opens_on.isoformat()  # its recorded day, ≤ the step
        count = -(-site.capacity // SITE_CAPACITY_MAX)
        if count <= 1:
            return [body]
        ids = [site.site_id] + [
            str(uuid.uuid5(uuid.UUID(site.site_id), f"part {n}")) for n in range(2, count + 1)
        ]
        self.part_ids[site.site_id] = ids
        share, extra = divmod(site.capacity, count)
        parts = [
            {
                **body,
                "site_id": site_id,
                "name": site.name if n == 1 else f"{site.name} (Teil {n})",
                "capacity": share + (1 if n <= extra else 0),
            }
            for n, site_id in enumerate(ids, start=1)
        ]
        if site.monthly_fixed_cost is not None:  # the lump sum shared by the parts' places
            for part in parts:
                part["monthly_fixed_cost"] = (
                    f"{float(site.monthly_fixed_cost) * part['capacity'] / site.capacity:.2f}"
                )
        return parts

    # -- assignments and arrivals -----------------------------------------------------------

    async def _assign(self, week: Week) -> bool:
        """The Land's batch for Monday's bus; whether there was one."""
        if not week.households:
            return False
        friday = at(week.decided_on, 10)
        quota = self.quota.get(week.decided_on.year)
        for start in range(0, len(week.households), BATCH_LIMIT):
            chunk = week.households[start : start + BATCH_LIMIT]
            response = await self._call(
                "allocation",
                "POST",
                "/assignments/batch",
                Role.LAND_INTAKE,
                json={
                    "occurred_at": friday.isoformat(),
                    "expected_arrival_at": at(week.monday, 8).isoformat(),
                    "assignments": [self._assignment(h, quota) for h in chunk],
                },
            )
            for item in response.json()["items"]:
                self.households[item["land_reference"]] = item["household_id"]
        for h in week.households:
            self.tally.households += 1
            self.tally.persons += h.size
            if not h.unaccompanied_minor:
                self.sizes[h.land_reference] = h.size
                self.living[h.land_reference] = h.arrives_on or week.monday
        return True

    @staticmethod
    def _assignment(h: PlannedHousehold, quota: str | None) -> dict[str, Any]:
        """One household of the Land's batch. A household of the window's stock carries its
        own decision and arrival, before the window (plan: ``_date_the_stock``): it counts
        in its week in the past, against no quota period of the run's."""
        assignment: dict[str, Any] = {
            "land_reference": h.land_reference,
            "quota_period_id": quota,
            "members": [m.as_member() for m in h.members],
        }
        if h.assigned_on is not None and h.arrives_on is not None:
            assignment |= {
                "quota_period_id": None,
                "occurred_at": at(h.assigned_on, 10).isoformat(),
                "expected_arrival_at": at(h.arrives_on, 8).isoformat(),
            }
        return assignment

    async def _after_arrivals(self, week: Week) -> None:
        """The moves on, then the move-outs (a household moved on does not also move out);
        the Koordinierungsstelle's week beside both: it is about no household."""

        async def households() -> None:
            # the leaving households' open cases are read beside the moves on: those open
            # and close no case (a relocation's check-in comes in a later round)
            leaving = [self.households[ref] for ref in week.exits if ref in self.households]
            _, cases = await asyncio.gather(
                self._timed("move_on", self._move_on(week)), self._open_cases(leaving)
            )
            await self._timed("exits", self._exits(week, cases))

        await asyncio.gather(households(), self._timed("volunteers", self._volunteers(week)))

    async def _held(self) -> list[dict[str, Any]]:
        """Every reservation housing holds, in a fixed order; not those it answered have
        expired (held until housing's sweep releases them at the next step: asking
        again would only hear the same answer)."""
        held = await self._all("housing", "/reservations", Role.HOUSING_STAFF, status="held")
        return sorted(
            (r for r in held if r["reservation_id"] not in self.expired),
            key=lambda r: r["reservation_id"],
        )

    def _moves(self, held: list[dict[str, Any]], week: Week) -> bool:
        """Whether a held reservation is for a household that did not come with this
        week's bus (a relocation)."""
        arriving = {self.households.get(h.land_reference) for h in week.households}
        return any(r["household_id"] not in arriving for r in held)

    def _leaving_on_arrival(self, week: Week) -> bool:
        """Whether a household is planned to leave in the week it arrives (the window's
        first week brings its stock): its case must be open before it can move out."""
        leaving = set(week.exits)
        return any(h.land_reference in leaving for h in week.households)

    async def _check_in(self, held: list[dict[str, Any]], monday: date | None) -> None:
        """Check in every held reservation: Monday's arrivals at 10:00 (``monday``), or the
        moves the step's own relocations started, at the step's time (``None``); the site
        staff's list at the door (``POST /check-ins``), in the reservations' order.

        (One request per household cost 12,701 requests of about 60 ms over the run, eight
        doors at a time, and the doors' transactions queued for the same sites' rows.)"""
        for start in range(0, len(held), CHECK_INS_PER_LIST):
            listed = held[start : start + CHECK_INS_PER_LIST]
            doors = []
            for reservation in listed:
                door: dict[str, Any] = {"reservation_id": reservation["reservation_id"]}
                if monday:
                    # at the door at 10:00, or when a move started later that morning
                    made = datetime.fromisoformat(reservation["requested_at"])
                    door["occurred_at"] = max(at(monday, 10), made).isoformat()
                doors.append(door)
            answer = await self._call(
                "housing", "POST", "/check-ins", Role.HOUSING_STAFF, json={"check_ins": doors}
            )
            for item in answer.json()["items"]:
                if item["outcome"] == "checked_in":
                    self.tally.check_ins += 1
                    continue
                # a hold that ran out before the household came: housing gives the places
                # back and allocation places it again (checked by the homeless check)
                if "expired" not in item["reason"]:
                    raise RuntimeError(f"check-in refused: {item['reason'][:300]}")
                self.tally.expired_holds += 1
                self.expired.add(item["reservation_id"])
        if held:
            self._unsettled = True

    async def _each(self, items: list[Any], work: Callable[[Any], Awaitable[None]]) -> None:
        """Staff at many doors at once: ``work`` for every item, ``concurrency`` at a time.
        Each item's own calls stay in order; what the services end up with does not depend
        on the interleaving (each command is about one household)."""
        gate = asyncio.Semaphore(self.concurrency)

        async def gated(item: Any) -> None:
            async with gate:
                await work(item)

        await asyncio.gather(*(gated(item) for item in items))

    # -- moving on and out ------------------------------------------------------------------

    async def _move_on(self, week: Week) -> None:
        """Households here half a year or more, assessed ready, into free Wohnungen and
        Wohnprojekte (allocation decides the site; a relocation, not a move-out).

        The week's candidates are assessed together (integration: each district's as one
        list of casework, ``POST /casework``), then the runner waits
        once until allocation has taken every assessment, then hands allocation the week's
        list (``POST /relocations``): allocation picks the site for each in the list's
        order, so the order decides who gets which place. (Assessing and waiting one
        household at a time cost an event's round trip per household; asking for the
        moves one request at a time, 4,121 requests of 18.5 ms in a row over the run.)"""
        occupancy = (await self._call("housing", "GET", "/occupancy", Role.HOUSING_STAFF)).json()
        free = sum(
            row["free"]
            for row in occupancy["by_pillar"]
            if row["key"] in ("wohnung", "wohnprojekt")
        )
        if free <= 0:
            return
        half_year = week.monday - timedelta(weeks=26)
        candidates: list[tuple[str, date]] = []  # as many as the free places take
        for ref, arrived in self.living.items():
            # allocation counts the stay from the assignment, also for the window's stock
            if arrived > half_year or ref in self.moved_on or ref in week.exits:
                continue
            if self.sizes[ref] > free:
                continue
            candidates.append((ref, arrived))
            free -= self.sizes[ref]
            if free <= 0:
                break
        cases = await self._open_cases([self.households[ref] for ref, _ in candidates])
        # Readiness is integration's alone: the social workers of each household's
        # Stadtbezirk assess it, a list per district; allocation relocates by the
        # ReadinessAssessed it consumes, so the moves wait until allocation has taken them.
        work: list[Casework] = []
        for ref, arrived in candidates:
            case = cases.get(self.households[ref])
            if case is None:
                continue  # no case opened yet: assessed in a later week
            entry = {"kind": "readiness", "case_id": case["case_id"], **_ready(arrived)}
            work.append(Casework(case["district"], self.households[ref], [entry]))
        assessed: dict[str, str] = {}  # household id -> assessed_on
        for household_id, answers in (await self._casework(work)).items():
            [answer] = answers
            if answer["outcome"] != "recorded":
                raise RuntimeError(f"readiness of {household_id} refused: {answer['reason']}")
            assessed[household_id] = answer["case"]["readiness"]["assessed_on"]
        await self._taken_by_allocation(assessed)
        moving = [ref for ref, _ in candidates if self.households[ref] in assessed]
        for start in range(0, len(moving), RELOCATIONS_PER_LIST):
            listed = moving[start : start + RELOCATIONS_PER_LIST]
            answer = await self._call(
                "allocation",
                "POST",
                "/relocations",
                Role.ALLOCATION_STAFF,
                json={
                    "household_ids": [self.households[ref] for ref in listed],
                    "reason": "household_request",
                    "occurred_at": at(week.monday, 11).isoformat(),
                },
            )
            self.moved_on.update(listed)  # a refused one is not asked again
            self.tally.moved_on += answer.json()["moving"]

    async def _taken_by_allocation(self, assessed: dict[str, str]) -> None:
        """Wait until allocation holds integration's assessment of every household in
        ``assessed`` (household id -> assessed_on), asking for 100 households at a time
        (not a barrier: the week's check-ins may be in flight beside the moves on, and
        their events need not be handled first)."""
        waiting = dict(assessed)
        deadline = time.monotonic() + 60
        pause = TAKEN_POLL_SECONDS
        while waiting:
            households = await self._of_households(
                "allocation", "/households", Role.ALLOCATION_STAFF, list(waiting)
            )
            for household in households:
                known = household["readiness"]
                if known and known["assessed_on"] == waiting.get(household["household_id"]):
                    del waiting[household["household_id"]]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"allocation did not take integration's readiness assessment of "
                    f"{len(waiting)} households within 60 s"
                )
            # the assessment is one hop away: ask soon, then less and less often (each
            # answer lists the households again)
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, TAKEN_POLL_MAX_SECONDS)

    async def _exits(self, week: Week, cases: dict[str, dict[str, Any]]) -> None:
        """Move-outs into flats of their own through Integrationsmanagement, each district's
        as one list of casework; where no open case can (none opened yet, or a step of its
        way out refused), allocation staff record the departure. ``cases``: the open case
        of each leaving household that has one (``_open_cases``)."""
        leaving: list[str] = []  # household ids, in the plan's order
        work: list[Casework] = []
        handovers = self.tally.moved_out  # every tenth move-out is handed over
        for ref in week.exits:
            household_id = self.households.get(ref)
            if household_id is None:
                continue
            arrived = self.living.pop(ref, None)
            self.arrivals[ref] = arrived or week.monday
            arrived_on, case = self._arrived(ref, week), cases.get(household_id)
            leaving.append(household_id)
            if case is not None:
                handovers += 1
                entries = _way_out(case, week.monday, arrived_on, handover=handovers % 10 == 1)
                work.append(Casework(case["district"], household_id, entries))
        answered = await self._casework(work)
        departing = []
        for household_id in leaving:
            answers = answered.get(household_id)
            refused = {a["kind"] for a in answers or [] if a["outcome"] == "refused"}
            if answers is None or refused & WAY_OUT_STEPS:
                departing.append(household_id)  # no case, or its way out was refused
                continue
            self.tally.moved_out += 1
            self.tally.milestones += sum(
                a["kind"] == "milestone" and a["outcome"] == "recorded" for a in answers
            )
            self.tally.handovers += sum(
                a["kind"] == "handover" and a["outcome"] == "recorded" for a in answers
            )

        async def depart(household_id: str) -> None:
            await self._call(
                "allocation",
                "POST",
                f"/households/{household_id}/departure",
                Role.ALLOCATION_STAFF,
                json={"reason": "moved_away", "occurred_at": at(week.monday, 11).isoformat()},
            )
            self.tally.departed += 1

        await self._each(departing, depart)

    async def _casework(self, work: list[Casework]) -> dict[str, list[dict[str, Any]]]:
        """Each district's social workers hand in their households' casework as lists
        (``POST /casework``, at most ``CASEWORK_PER_LIST`` entries, a household's entries
        in one list and in order), the districts side by side; the answers per household."""
        by_district: dict[int, list[Casework]] = {}
        for item in work:
            by_district.setdefault(item.district, []).append(item)
        answered: dict[str, list[dict[str, Any]]] = {}

        async def district(number: int, items: list[Casework]) -> None:
            lists: list[list[Casework]] = [[]]
            for item in items:
                if sum(len(i.entries) for i in lists[-1]) + len(item.entries) > CASEWORK_PER_LIST:
                    lists.append([])
                lists[-1].append(item)
            for listed in lists:
                response = await self._call(
                    "integration",
                    "POST",
                    "/casework",
                    Role.SOCIAL_WORKER,
                    district=number,
                    json={"entries": [e for item in listed for e in item.entries]},
                )
                answers = iter(response.json()["items"])
                for item in listed:
                    answered[item.household_id] = [next(answers) for _ in item.entries]

        await asyncio.gather(*(district(n, items) for n, items in by_district.items()))
        return answered

    def _arrived(self, ref: str, week: Week) -> date:
        """The household's arrival (the stock's before the window: its own bus)."""
        return self.arrivals.pop(ref, week.monday)

    async def _open_cases(self, household_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The open Integrationsmanagement case of each of the households that has one
        (none before its case opens), asked for many households at once."""
        cases: dict[str, dict[str, Any]] = {}
        found = await self._of_households(
            "integration", "/cases", Role.ALLOCATION_STAFF, household_ids, status="open"
        )
        for case in found:  # oldest first: the household's first open case
            cases.setdefault(case["household_id"], case)
        return cases

    async def _of_households(
        self, service: str, path: str, role: Role, household_ids: list[str], **params: Any
    ) -> list[Any]:
        """A list route's items for ``household_ids``, asked 100 households at a time
        (``household_id`` repeated), each answer in one page."""
        items: list[Any] = []
        for start in range(0, len(household_ids), MAX_IDS):
            chunk = household_ids[start : start + MAX_IDS]
            page = (
                await self._call(
                    service,
                    "GET",
                    path,
                    role,
                    params=[*params.items(), ("limit", 1000)]
                    + [("household_id", h) for h in chunk],
                )
            ).json()
            if page["total"] > len(page["items"]):
                raise RuntimeError(f"{path}: more than one page for {len(chunk)} households")
            items.extend(page["items"])
        return items

    # -- volunteers -------------------------------------------------------------------------

    async def _volunteers(self, week: Week) -> None:
        """The Koordinierungsstelle's week: the month's hours sheet (in a month's first
        step), new volunteers (those offering work with children show their extended
        police certificate), new requests, each matched at once where someone fits."""
        await self._hours_sheet(week)
        n = self.tally.volunteers
        for i in range(week.volunteers):
            skills = [SKILLS[(n + i) % len(SKILLS)], SKILLS[(n + i + 1) % len(SKILLS)]]
            response = await self._call(
                "volunteers",
                "POST",
                "/volunteers",
                Role.VOLUNTEER_COORDINATOR,
                json={
                    "name": f"Freiwillige*r {n + i + 1:05d}",
                    "skills": skills,
                    "languages": ["de", ["ar", "fa", "en", "ti"][(n + i) % 4]],
                    "districts": [((n + i) % 13) + 1, ((n + i + 5) % 13) + 1],
                    "weekdays": ["mon", "wed", "sat"],
                    "hours_per_week": 4,
                    "mso": (n + i) % MSO_EVERY == 0,
                    "registered_on": week.monday.isoformat(),
                },
            )
            self.tally.volunteers += 1
            if any(Skill(s).involves_children for s in skills):
                await self._call(
                    "volunteers",
                    "POST",
                    f"/volunteers/{response.json()['volunteer_id']}/vetting",
                    Role.VOLUNTEER_COORDINATOR,
                    json={
                        "certificate_issued_on": (week.monday - CERTIFICATE_AGE).isoformat(),
                        "vetted_on": week.monday.isoformat(),
                    },
                )
                self.tally.vetted += 1
        r = self.tally.requests
        for i in range(week.requests):
            kind = SKILLS[(r + i) % len(SKILLS)]
            response = await self._call(
                "volunteers",
                "POST",
                "/requests",
                Role.VOLUNTEER_COORDINATOR,
                json={
                    "kind": kind,
                    "district": ((r + i) % 13) + 1,
                    "languages": ["de"],
                    "hours_per_week": REQUEST_HOURS,
                    "involves_children": Skill(kind).involves_children,
                    "requested_on": week.monday.isoformat(),
                },
            )
            self.tally.requests += 1
            match = await self._call(
                "volunteers",
                "POST",
                f"/requests/{response.json()['request_id']}/matches",
                Role.VOLUNTEER_COORDINATOR,
                ok=(201, 409),
                json={},
            )
            if match.status_code == 201:
                self.tally.matches += 1
                tandem = match.json()
                self.tandems[tandem["match_id"]] = (
                    tandem["volunteer_id"],
                    week.monday,
                    REQUEST_HOURS,
                )

    async def _hours_sheet(self, week: Week) -> None:
        """In a month's first step, the office enters the last month's hours sheet."""
        lines = month_sheet(self.tandems, week.monday)
        for start in range(0, len(lines), SHEET_LIMIT):
            sheet = await self._call(
                "volunteers",
                "POST",
                "/hours",
                Role.VOLUNTEER_COORDINATOR,
                json={"lines": lines[start : start + SHEET_LIMIT]},
            )
            for item in sheet.json()["items"]:
                if item["outcome"] != "logged":
                    raise RuntimeError(f"hours of {item['volunteer_id']} refused: {item['reason']}")
                self.tally.hours += item["entry"]["hours"]

    # -- nobody homeless ---------------------------------------------------------------------

    async def _read_outlook(self, monday: date) -> None:
        """Reporting's outlook (view 9) as the council would read it at the end of this
        step, as of the step's day: when does it see the places run out?"""
        assert self.watch is not None
        view = (
            await self._call("reporting", "GET", "/internal/views/outlook", Role.COUNCIL_READER)
        ).json()
        answers = next(t for t in view["tables"] if t["key"] == "answers")["rows"]
        occupancy = (await self._call("housing", "GET", "/occupancy", Role.HOUSING_STAFF)).json()
        self.watch.readings.append(
            {
                "read_on": monday.isoformat(),
                "as_of": str(view["as_of"]),
                "free_places_now": view["notes"].get("free_places_now"),
                "free_places_housing": occupancy["total"]["free"],
                "runs_out_on": {a["scenario"]: a["runs_out_on"] for a in answers},
                "places_needed": {a["scenario"]: a["places_needed"] for a in answers},
                "intake_per_week": {a["scenario"]: a["intake_per_week"] for a in answers},
            }
        )

    async def _nobody_homeless(self, monday: date) -> None:
        """At the end of the step (and so of every day until the next one: nothing else
        happens in between), every household assigned has a place."""
        alerts = (await self._call("allocation", "GET", "/alerts", Role.ALLOCATION_STAFF)).json()
        alerts = alerts["items"] if isinstance(alerts, dict) else alerts
        summary = (
            await self._call("allocation", "GET", "/placements/summary", Role.ALLOCATION_STAFF)
        ).json()
        without = {
            status: count["persons"]
            for status, count in summary["by_status"].items()
            if status in ("waitlisted", "placing", "reserved") and count["persons"]
        }
        self.tally.homeless_checks += 1
        if alerts or without:
            self.tally.homeless_weeks[monday.isoformat()] = {
                "alerts": len(alerts),
                **without,
            }
        if (alerts or without) and self.strict:
            raise Homeless(
                f"week of {monday}: {len(alerts)} open homelessness alerts, "
                f"without a bed: {without}"
            )


@dataclass
class OutlookWatch:
    """ "Does the outlook view see it coming?" (the data file's ``[outlook_check]``).

    From ``reads_from`` every ``every_weeks`` weeks up to the shortage, the runner reads
    reporting's outlook at the end of the step. The *shortage* is the first week in which
    the city had to open emergency places because its places ran short: the plan's first
    generated Notunterkunft from ``reads_from`` on (the plan opens one whenever the places
    fall below the stock plus next week's arrivals plus the reserve; docs/scenario.md).
    The outlook *warns* at the first reading whose steady scenario (the last 8 weeks'
    intake held) sees the places run out within its horizon.
    """

    reads_from: date
    every_weeks: int
    shortage_on: date | None
    shortage_site: str | None
    readings: list[dict[str, Any]] = field(default_factory=list)

    # reporting's outlook derives the intake from the last 8 weeks of assignments: those
    # before the window's first are its stock's (assigned over the year before it, not the
    # run's intake), so readings start after
    RECENT_WEEKS = 8

    @classmethod
    def of(cls, plan: Plan) -> OutlookWatch | None:
        check = plan.data.get("outlook_check")
        if not check:
            return None
        first = plan.weeks[0].monday
        reads_from = max(
            date.fromisoformat(str(check["from"])),
            first + timedelta(weeks=cls.RECENT_WEEKS + 1),
        )
        shortage = next(
            (
                (w.monday, s.name)
                for w in plan.weeks
                if w.monday >= reads_from
                for s in w.opens
                if s.generated and s.pillar == "notunterkunft"
            ),
            (None, None),
        )
        return cls(reads_from, int(check.get("every_weeks", 1)), *shortage)

    def due(self, monday: date) -> bool:
        if monday < self.reads_from:
            return False
        if self.shortage_on is not None and monday > self.shortage_on:
            return False
        return (monday - self.reads_from).days // 7 % self.every_weeks == 0 or (
            self.shortage_on is not None and monday == self.shortage_on
        )

    def verdict(self) -> dict[str, Any]:
        """When the outlook first warned against when the places ran short: for the steady
        scenario (the headline) and for each scenario in ``by_scenario``."""
        scenarios = sorted({k for r in self.readings for k in r["runs_out_on"]})
        by_scenario = {name: self._warning(name) for name in scenarios}
        steady = by_scenario.get("steady") or self._warning("steady")
        return {
            "reads_from": self.reads_from.isoformat(),
            "every_weeks": self.every_weeks,
            "shortage_on": self.shortage_on.isoformat() if self.shortage_on else None,
            "shortage_site": self.shortage_site,
            "first_warning_read_on": steady["first_warning_read_on"],
            "first_warning_predicted_run_out_on": steady["predicted_run_out_on"],
            "first_warning_under_rising_intake_read_on": (
                by_scenario.get("rising", {}).get("first_warning_read_on")
            ),
            "warned_before_shortage": steady["warned_before_shortage"],
            "lead_weeks": steady["lead_weeks"],
            # how far the first warning's run-out date lay after the actual shortage
            # (negative: before it)
            "predicted_weeks_after_shortage": steady["predicted_weeks_after_shortage"],
            "by_scenario": by_scenario,
            "readings": self.readings,
        }

    def _warning(self, scenario: str) -> dict[str, Any]:
        """The first reading whose ``scenario`` saw the places run short, judged against
        the actual shortage."""
        warning = next(
            (r for r in self.readings if r["runs_out_on"].get(scenario) is not None), None
        )
        predicted = (
            date.fromisoformat(warning["runs_out_on"][scenario]) if warning is not None else None
        )
        read_on = date.fromisoformat(warning["read_on"]) if warning is not None else None
        lead = late_by = None
        if read_on is not None and predicted is not None and self.shortage_on is not None:
            lead = (self.shortage_on - read_on).days // 7
            late_by = (predicted - self.shortage_on).days // 7
        return {
            "first_warning_read_on": read_on.isoformat() if read_on else None,
            "predicted_run_out_on": predicted.isoformat() if predicted else None,
            "warned_before_shortage": bool(
                read_on and self.shortage_on and read_on < self.shortage_on
            ),
            "lead_weeks": lead,
            "predicted_weeks_after_shortage": late_by,
        }


def _closing_reason(site: SiteSpec) -> str:
    if site.building in ("school_sports_hall", "club_sports_hall", "trade_fair_hall"):
        return "building_needed"
    if site.pillar == "notunterkunft":
        return "emergency_dissolution"
    return "lease_ended"


@dataclass(frozen=True)
class Casework:
    """One household's casework entries, for the social workers of its ``district``."""

    district: int
    household_id: str
    entries: list[dict[str, Any]]


WAY_OUT_STEPS = {"assign", "readiness", "move_out", "move_out_completed"}
"""A household whose entry of one of these kinds is refused has not moved out."""


def _ready(arrived: date) -> dict[str, Any]:
    """The social worker's assessment the plan assumes: ready for a flat of its own."""
    return {
        "independence": "high",
        "german": "b1",
        "residence_prospects": "good",
        "arrived_on": arrived.isoformat(),
    }


def _way_out(
    case: dict[str, Any], monday: date, arrived: date, *, handover: bool
) -> list[dict[str, Any]]:
    """A household's way out into a flat of its own in its district, as casework entries:
    its social worker (if none yet), language and residence milestones, readiness, the
    move-out planned and completed on Monday, and (``handover``) the district's
    Stadtteilzentrum taking over."""
    district = case["district"]
    entries: list[dict[str, Any]] = []
    if case["social_worker"] is None:
        entries.append({"kind": "assign"})
    entries += [
        {"kind": "milestone", "milestone": "language_level", "language_level": "b1",
         "reached_on": monday.isoformat()},
        {"kind": "milestone", "milestone": "residence_status",
         "residence_status": "protection_granted", "reached_on": monday.isoformat()},
        {"kind": "readiness", **_ready(arrived)},
        {"kind": "move_out", "target_kind": "own_flat", "target_district": district,
         "planned_on": monday.isoformat()},
        {"kind": "move_out_completed", "moved_on": monday.isoformat()},
    ]  # fmt: skip
    if handover:
        entries.append(
            {
                "kind": "handover",
                "to_structure": "stadtteilzentrum",
                "receiving_partner": f"Stadtteilzentrum Stadtbezirk {district}",
                "handed_over_on": monday.isoformat(),
            }
        )
    return [{**entry, "case_id": case["case_id"]} for entry in entries]
