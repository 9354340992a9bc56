"""The scenario through the running services: one plan week after another, over HTTP only.

Each week is one simulated step (docs/business-time.md): every clock moves to Monday
noon, the barrier waits until every service has handled everything, then the week's
commands go out as the city's staff would send them, each with the token of its role:

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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

import httpx
from ankommen_runtime.auth import Role
from ankommen_runtime.clock import CITY_TZ
from ankommen_runtime.local_issuer import LocalIssuer, audience_of
from ankommen_runtime.simulation_driver import CITY_STAGES, SimulationDriver

from .plan import Plan, SiteSpec, Week

SERVICES = ("allocation", "housing", "integration", "volunteers", "reporting")
MAX_MOVE_ROUNDS = 10  # chains of moves within one step (each round: check-ins, barrier)
BATCH_LIMIT = 1000  # allocation's batch API takes at most this many assignments
LANGUAGES = {"SYR": "ar", "IRQ": "ar", "SDN": "ar", "AFG": "fa", "IRN": "fa", "ERI": "ti"}
SKILLS = ["translation", "language_tutoring", "accompaniment", "everyday_help", "job_search"]


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
    requests: int = 0
    matches: int = 0
    max_step_seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)
    homeless_checks: int = 0
    expired_holds: int = 0
    homeless_weeks: dict[str, dict[str, int]] = field(default_factory=dict)
    close_delays: dict[str, int] = field(default_factory=dict)


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
    ) -> httpx.Response:
        response = await self.clients[service].request(
            method, path, headers=self.tokens.header(role, service, district), **kwargs
        )
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
        self.clients = {
            # uvicorn drops idle keep-alive connections after 5 s; reusing one it is closing
            # fails with ReadError, so idle connections are let go after 1 s here
            name: httpx.AsyncClient(
                base_url=url, timeout=120, limits=httpx.Limits(keepalive_expiry=1.0)
            )
            for name, url in self.urls.items()
        }
        operations = {
            name: self.tokens.header(Role.OPERATIONS, name)["authorization"].split()[1]
            for name in SERVICES
        }
        self.driver = SimulationDriver(self.clients, operations, stages=CITY_STAGES)
        try:
            await self.driver.settle()
            await self._announce_quota_periods()
            for week in self.plan.weeks:
                started = time.perf_counter()
                await self._week(week)
                self.tally.weeks += 1
                self.tally.max_step_seconds = max(
                    self.tally.max_step_seconds, time.perf_counter() - started
                )
                if self.on_week:
                    self.on_week(week, self.tally)
                if self.pace:
                    await asyncio.sleep(self.pace)
        finally:
            for client in self.clients.values():
                await client.aclose()
        return self.tally

    async def _announce_quota_periods(self) -> None:
        """The Land's Aufnahmequote, one period a year (the weekly quota: the peak rate)."""
        self.quota: dict[int, str] = {}
        years = sorted(
            {w.monday.year for w in self.plan.weeks} | {self.plan.weeks[0].decided_on.year}
        )
        for year in years:
            in_year = [w for w in self.plan.weeks if w.decided_on.year == year]
            expected = sum(w.persons for w in in_year)
            weekly = max((w.persons for w in in_year), default=0)
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
        monday = week.monday
        await self._timed("advance", self.driver.advance(at(monday, 12)))
        if await self._timed("sites", self._sites(week)):
            await self._timed("settle", self.driver.settle())  # allocation needs the sites
        await self._timed("assign", self._assign(week))
        await self._timed("settle", self.driver.settle())
        await self._timed("check_in", self._check_in(monday))
        await self._timed("settle", self.driver.settle())
        before = self._commands()
        await self._timed("move_on", self._move_on(week))
        await self._timed("exits", self._exits(week))
        await self._timed("volunteers", self._volunteers(week))
        if self._commands() != before:  # a quiet week sends nothing more: no barrier
            await self._timed("settle", self.driver.settle())
        # The step's own moves: a check-in frees places elsewhere, which allocation fills
        # from the waitlist and the Notunterkünfte (new holds): until nothing is held.
        for _ in range(MAX_MOVE_ROUNDS):
            if not await self._timed("check_in", self._check_in(None)):
                break
            await self._timed("settle", self.driver.settle())
        await self._timed("homeless_check", self._nobody_homeless(monday))

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

    # -- sites ------------------------------------------------------------------------------

    async def _sites(self, week: Week) -> bool:
        """The week's openings and closings; whether anything changed."""
        changed = bool(week.opens or week.closes)
        for site in week.opens:
            body = site.open_command()
            body["occurred_at"] = site.opens_on.isoformat()  # its recorded day, ≤ the step
            await self._call("housing", "POST", "/sites", Role.HOUSING_STAFF, json=body)
            self.tally.sites_opened += 1
        for site in week.closes:
            assert site.closes_on is not None
            await self._call(
                "housing",
                "POST",
                f"/sites/{site.site_id}/closing",
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
            response = await self._call(
                "housing",
                "POST",
                f"/sites/{site.site_id}/close",
                Role.HOUSING_STAFF,
                ok=(200, 409),
                json={"occurred_at": site.closes_on.isoformat()},
            )
            if response.status_code == 200:
                self.closing.remove(site)
                self.tally.sites_closed += 1
                changed = True
                delay = (week.monday - site.closes_on).days
                if delay > 7:
                    self.tally.close_delays[site.name] = delay
        return changed

    # -- assignments and arrivals -----------------------------------------------------------

    async def _assign(self, week: Week) -> None:
        if not week.households:
            return
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
                    "assignments": [
                        {
                            "land_reference": h.land_reference,
                            "quota_period_id": quota,
                            "members": [m.as_member() for m in h.members],
                        }
                        for h in chunk
                    ],
                },
            )
            for item in response.json()["items"]:
                self.households[item["land_reference"]] = item["household_id"]
        for h in week.households:
            self.tally.households += 1
            self.tally.persons += h.size
            if not h.unaccompanied_minor:
                self.sizes[h.land_reference] = h.size
                self.living[h.land_reference] = week.monday

    async def _check_in(self, monday: date | None) -> int:
        """Check in every held reservation: Monday's arrivals at 10:00 (``monday``), or the
        moves the step's own relocations started, at the step's time (``None``)."""
        held = await self._all("housing", "/reservations", Role.HOUSING_STAFF, status="held")

        async def one(reservation: dict[str, Any]) -> None:
            body = {}
            if monday:
                # at the door at 10:00, or when a move started later that morning
                made = datetime.fromisoformat(reservation["requested_at"])
                body = {"occurred_at": max(at(monday, 10), made).isoformat()}
            response = await self._call(
                "housing",
                "POST",
                f"/reservations/{reservation['reservation_id']}/check-in",
                Role.HOUSING_STAFF,
                ok=(201, 409),
                json=body,
            )
            if response.status_code == 409:
                # a hold that ran out before the household came: housing gives the places
                # back and allocation places it again (checked by the homeless check)
                if "expired" not in response.text:
                    raise RuntimeError(f"check-in refused: {response.text[:300]}")
                self.tally.expired_holds += 1
                return
            self.tally.check_ins += 1

        await self._each(sorted(held, key=lambda r: r["reservation_id"]), one)
        return len(held)

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
        Wohnprojekte (allocation decides the site; a relocation, not a move-out)."""
        occupancy = (await self._call("housing", "GET", "/occupancy", Role.HOUSING_STAFF)).json()
        free = sum(
            row["free"]
            for row in occupancy["by_pillar"]
            if row["key"] in ("wohnung", "wohnprojekt")
        )
        if free <= 0:
            return
        half_year = week.monday - timedelta(weeks=26)
        for ref, arrived in list(self.living.items()):
            if free <= 0:
                break
            # allocation counts the stay from the assignment, also for the window's stock
            if arrived > half_year or ref in self.moved_on or ref in week.exits:
                continue
            size = self.sizes[ref]
            if size > free:
                continue
            household_id = self.households[ref]
            # Readiness is integration's alone: the social worker of the household's
            # Stadtbezirk assesses it; allocation relocates by the ReadinessAssessed it
            # consumes, so the move waits until allocation has taken the assessment.
            cases = (
                await self._call(
                    "integration",
                    "GET",
                    "/cases",
                    Role.ALLOCATION_STAFF,
                    params={"household_id": household_id, "status": "open"},
                )
            ).json()["items"]
            if not cases:
                continue  # no case opened yet: assessed in a later week
            assessed = (
                await self._call(
                    "integration",
                    "POST",
                    f"/cases/{cases[0]['case_id']}/readiness",
                    Role.SOCIAL_WORKER,
                    district=cases[0]["district"],
                    json={
                        "independence": "high",
                        "german": "b1",
                        "residence_prospects": "good",
                        "arrived_on": arrived.isoformat(),
                    },
                )
            ).json()["readiness"]
            deadline = time.monotonic() + 60
            while True:
                known = (
                    await self._call(
                        "allocation", "GET", f"/households/{household_id}", Role.ALLOCATION_STAFF
                    )
                ).json()["readiness"]
                if known and known["assessed_on"] == assessed["assessed_on"]:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"allocation did not take integration's readiness assessment of "
                        f"household {household_id} ({assessed['ready_for']}) within 60 s"
                    )
                await asyncio.sleep(0.1)
            response = await self._call(
                "allocation",
                "POST",
                f"/households/{household_id}/relocation",
                Role.ALLOCATION_STAFF,
                ok=(202, 409),
                json={
                    "reason": "household_request",
                    "occurred_at": at(week.monday, 11).isoformat(),
                },
            )
            self.moved_on.add(ref)
            if response.status_code == 202:
                self.tally.moved_on += 1
                free -= size

    async def _exits(self, week: Week) -> None:
        """Move-outs into flats of their own through Integrationsmanagement; where no open
        case can (none opened yet), allocation staff record the departure."""

        async def one(ref: str) -> None:
            household_id = self.households.get(ref)
            if household_id is None:
                return
            arrived = self.living.pop(ref, None)
            self.arrivals[ref] = arrived or week.monday
            if not await self._move_out(household_id, week.monday, self._arrived(ref, week)):
                await self._call(
                    "allocation",
                    "POST",
                    f"/households/{household_id}/departure",
                    Role.ALLOCATION_STAFF,
                    json={"reason": "moved_away", "occurred_at": at(week.monday, 11).isoformat()},
                )
                self.tally.departed += 1

        await self._each(list(week.exits), one)

    def _arrived(self, ref: str, week: Week) -> date:
        """The household's arrival; the stock of the window's first week arrived before
        the window (a year before, assumed)."""
        arrived = self.arrivals.pop(ref, week.monday)
        if arrived == self.plan.weeks[0].monday:
            return arrived - timedelta(days=365)
        return arrived

    async def _move_out(self, household_id: str, monday: date, arrived: date) -> bool:
        found = (
            await self._call(
                "integration",
                "GET",
                "/cases",
                Role.ALLOCATION_STAFF,
                params={"household_id": household_id, "status": "open"},
            )
        ).json()["items"]
        if not found:
            return False
        case = found[0]
        district = case["district"]
        path = f"/cases/{case['case_id']}"

        async def step(suffix: str, body: dict[str, Any]) -> bool:
            response = await self._call(
                "integration",
                "POST",
                path + suffix,
                Role.SOCIAL_WORKER,
                district=district,
                ok=(200, 201, 409),
                json=body,
            )
            return response.status_code != 409

        if case["social_worker"] is None and not await step("/assign", {}):
            return False
        for milestone in (
            {"milestone": "language_level", "language_level": "b1"},
            {"milestone": "residence_status", "residence_status": "protection_granted"},
        ):
            if await step("/milestones", {**milestone, "reached_on": monday.isoformat()}):
                self.tally.milestones += 1
        if not await step(
            "/readiness",
            {
                "independence": "high",
                "german": "b1",
                "residence_prospects": "good",
                "arrived_on": arrived.isoformat(),
            },
        ):
            return False
        if not await step(
            "/move-out",
            {
                "target_kind": "own_flat",
                "target_district": district,
                "planned_on": monday.isoformat(),
            },
        ):
            return False
        if not await step("/move-out/complete", {"moved_on": monday.isoformat()}):
            return False
        self.tally.moved_out += 1
        # every tenth: the district's structures take over
        if self.tally.moved_out % 10 == 1 and await step(
            "/handover",
            {
                "to_structure": "stadtteilzentrum",
                "receiving_partner": f"Stadtteilzentrum Stadtbezirk {district}",
                "handed_over_on": monday.isoformat(),
            },
        ):
            self.tally.handovers += 1
        return True

    # -- volunteers -------------------------------------------------------------------------

    async def _volunteers(self, week: Week) -> None:
        n = self.tally.volunteers
        for i in range(week.volunteers):
            await self._call(
                "volunteers",
                "POST",
                "/volunteers",
                Role.VOLUNTEER_COORDINATOR,
                json={
                    "name": f"Freiwillige*r {n + i + 1:05d}",
                    "skills": [SKILLS[(n + i) % len(SKILLS)], SKILLS[(n + i + 1) % len(SKILLS)]],
                    "languages": ["de", ["ar", "fa", "en", "ti"][(n + i) % 4]],
                    "districts": [((n + i) % 13) + 1, ((n + i + 5) % 13) + 1],
                    "weekdays": ["mon", "wed", "sat"],
                    "hours_per_week": 4,
                    "registered_on": week.monday.isoformat(),
                },
            )
            self.tally.volunteers += 1
        r = self.tally.requests
        for i in range(week.requests):
            response = await self._call(
                "volunteers",
                "POST",
                "/requests",
                Role.VOLUNTEER_COORDINATOR,
                json={
                    "kind": SKILLS[(r + i) % len(SKILLS)],
                    "district": ((r + i) % 13) + 1,
                    "languages": ["de"],
                    "hours_per_week": 2,
                    "involves_children": False,
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

    # -- nobody homeless ---------------------------------------------------------------------

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


def _closing_reason(site: SiteSpec) -> str:
    if site.building in ("school_sports_hall", "club_sports_hall", "trade_fair_hall"):
        return "building_needed"
    if site.pillar == "notunterkunft":
        return "emergency_dissolution"
    return "lease_ended"
