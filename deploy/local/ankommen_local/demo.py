"""``make demo``: the five services on local Kafka and PostgreSQL, driven through their APIs.

``main`` replays Hannover 2010–2016 (the scenario of docs/scenario.md, package
``ankommen_local.scenario``). The functions below it are the earlier, shorter October 2015
demo, kept for the tests that exercise it: it replays three weeks of October 2015 in a
simulation run (docs/business-time.md): the services start with a simulated clock at
1 October 2015 and seeded ids, on the demo's
own databases (``demo_<service>``) and topics (``demo2015.*``), created afresh each run, so
the live databases are never touched and every run writes the same events. Housing opens
named Hannover sites on 1 October; each Friday the Land decides a batch of assignments for
the Monday bus; allocation places every household through the saga with housing; the
clock moves to Monday and site staff check the arrivals in. Integrationsmanagement opens
a case for every household checked in; in spring 2016 a district social worker records a
family's milestones, assesses it ready for a flat of its own, completes its move-out
(housing checks it out, its places are free again) and hands the case over to a district
structure (integration's HTTP API). Every event carries its business date
(``occurred_at``) beside the moment it was recorded. The placements, the capacity view and
the caseloads are printed and written to ``demo-output/``. With ``CI=true`` (or no
terminal) it stops every service it started and exits; at a terminal it keeps serving
until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import typer
from ankommen_runtime.auth import Role
from ankommen_runtime.local_issuer import LocalIssuer, audience_of
from ankommen_runtime.simulation_driver import CITY_STAGES, SimulationDriver
from rich.console import Console
from rich.table import Table

from .config import REPO_ROOT, SERVICES
from .supervisor import SERVICE_PORTS, ServiceProcess, service_env, start_all

console = Console()
app = typer.Typer(add_completion=False)
OUTPUT = REPO_ROOT / "demo-output"

# The demo's simulated October 2015: the clock starts on Thursday 1 October, 08:00.
DEMO_START = datetime.fromisoformat("2015-10-01T08:00:00+02:00")
FIRST_FRIDAY = datetime.fromisoformat("2015-10-02T10:00:00+02:00")
DEMO_SEED = 2015

# Synthetic sites named after public Hannover sites (data/hannover-facts.md, section 3).
SITES = [
    ("Ehem. Oststadtkrankenhaus", "notunterkunft", 4, "DRK", 800, ["families", "single_adults"]),
    ("Schulzentrum Ahlem", "notunterkunft", 11, "DRK", 200, ["single_adults"]),
    ("Deutscher Pavillon", "notunterkunft", 6, "DRK", 550, ["single_adults"]),
    ("Siloah", "notunterkunft", 10, "DRK", 240, ["families", "accessible"]),
    ("Ehem. Maritim Hotel", "notunterkunft", 1, "DRK", 550, ["families", "single_adults"]),
    ("Tresckowstraße", "wohnheim", 9, "DRK", 100, ["families", "accessible"]),
    ("Am Bahndamm", "wohnheim", 11, "Johanniter", 50, []),
    ("Karlsruher Straße", "wohnheim", 7, "European Homecare", 120, []),
    ("Steigertahlstraße", "wohnheim", 10, "Malteser", 100, ["families", "accessible"]),
    ("Hermann-Ehlers-Allee", "wohnprojekt", 11, "Fair Facility", 100, ["accessible"]),
    ("Wohnungen Vahrenwald-List", "wohnung", 2, "Stadt Hannover", 40, []),
    ("Wohnungen Linden-Limmer", "wohnung", 10, "Stadt Hannover", 36, []),
    ("Wohnprojekt Mittelfeld", "wohnprojekt", 8, "AWO", 60, ["families", "accessible"]),
]
# Stable ids: a second demo run finds its sites open (409) instead of opening copies.
NAMESPACE = uuid.UUID("6f0d8a52-7c1e-4d8e-9a51-0d7f2f3c9e11")


def demo_env(service: str, *, kafka_bootstrap: str, database_url: str, prefix: str) -> dict:
    """A service's environment in the demo's simulation run."""
    return service_env(
        service,
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=prefix,
        topic_partitions="1",  # the log order is the handling order: a repeatable run
        environment="demo",
        simulation="true",
        simulation_seed=str(DEMO_SEED),
        simulation_start=DEMO_START.isoformat(),
    )


def _start_services(
    envs: dict[str, dict[str, str]], ports: dict[str, int], log_dir: Any
) -> list[ServiceProcess]:
    procs = [
        ServiceProcess(
            name=name, port=ports[name], env=envs[name], log_path=log_dir / f"{name}.log"
        )
        for name in envs
    ]
    start_all(procs)
    for proc in procs:
        console.print(f"[green]✓[/] {proc.name:<12} ready at {proc.url}  (API: {proc.url}/docs)")
    return procs


def operations_tokens() -> dict[str, str]:
    """The scenario moves the clocks: role ``operations`` for each service."""
    issuer = LocalIssuer()
    return {name: issuer.mint([Role.OPERATIONS], audience=audience_of(name)) for name in SERVICES}


# Who the demo acts as at each service's desk (the story's social workers get their own
# tokens, bound to their Stadtbezirk).
DESK_ROLES: dict[str, list[Role]] = {
    "allocation": [Role.LAND_INTAKE, Role.ALLOCATION_STAFF],
    "housing": [Role.HOUSING_STAFF],
    "integration": [Role.ALLOCATION_STAFF, Role.COUNCIL_READER],
    "volunteers": [Role.VOLUNTEER_COORDINATOR],
    "reporting": [Role.COUNCIL_READER],
}


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def desk_headers(issuer: LocalIssuer) -> dict[str, dict[str, str]]:
    """The staff token the demo sends to each service."""
    return {
        name: _bearer(
            issuer.mint(DESK_ROLES[name], audience=audience_of(name), subject=f"demo-{name}")
        )
        for name in SERVICES
    }


def social_worker(issuer: LocalIssuer, district: int) -> dict[str, str]:
    """A social worker of Integrationsmanagement in ``district``."""
    token = issuer.mint(
        [Role.SOCIAL_WORKER],
        audience=audience_of("integration"),
        district=district,
        subject=f"demo-social-worker-{district:02d}",
    )
    return _bearer(token)


async def _open_sites(housing: httpx.AsyncClient) -> int:
    opened = 0
    for name, pillar, district, operator, capacity, suitability in SITES:
        body = {
            "site_id": str(uuid.uuid5(NAMESPACE, name)),
            "name": name,
            "pillar": pillar,
            "district": district,
            "operator": operator,
            "capacity": capacity,
            "suitability": suitability,
            "occurred_at": DEMO_START.isoformat(),
        }
        response = await housing.post("/sites", json=body)
        if response.status_code != 201:
            raise RuntimeError(f"opening {name} failed: {response.status_code} {response.text}")
        opened += 1
    return opened


WEEKS = 3
HOUSEHOLDS_PER_WEEK = 60
COUNTRIES = ["SYR", "SYR", "SYR", "IRQ", "AFG", "AFG", "ERI", "IRN", "ALB", "XXX"]


def _members(rng: random.Random, size: int) -> list[dict[str, Any]]:
    """A synthetic household: coarse attributes only, drawn from a seeded generator."""
    country = rng.choice(COUNTRIES)
    members = []
    for i in range(size):
        adult = i < min(2, size)
        members.append(
            {
                "person_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "age_band": rng.choice(["18-26", "27-49", "27-49", "50-64"])
                if adult
                else rng.choice(["0-5", "6-17"]),
                "gender": rng.choice(["female", "male"]) if size > 1 else "male",
                "country_of_origin": country,
                "unaccompanied_minor": False,
                "special_needs": ["wheelchair"] if rng.random() < 0.02 else [],
            }
        )
    return members


async def _assign_weeks(
    clients: dict[str, httpx.AsyncClient],
    driver: SimulationDriver,
    weeks: int = WEEKS,
    households_per_week: int = HOUSEHOLDS_PER_WEEK,
) -> dict[str, int]:
    """Three weeks: the Land decides on Friday for Monday's bus; arrivals are checked in
    on Monday, on the simulated clock."""
    allocation, housing = clients["allocation"], clients["housing"]
    rng = random.Random(2015)
    created = 0
    period = await allocation.post(
        "/quota-periods",
        json={
            "quota_period_id": str(uuid.uuid5(NAMESPACE, "quota 2015-Q4")),
            "starts_on": "2015-10-01",
            "ends_on": "2015-12-31",
            "expected_persons": 1950,
            "weekly_quota": 150,
        },
    )
    if period.status_code not in (200, 201):
        raise RuntimeError(f"quota period: {period.status_code} {period.text}")
    quota = period.json()["quota_period_id"]
    for week in range(weeks):
        friday = FIRST_FRIDAY + timedelta(weeks=week)
        monday = friday + timedelta(days=3)
        await driver.advance(friday)
        batch = [
            {
                "land_reference": f"NI-{monday.date().isoformat()}-{n:03d}",
                "quota_period_id": quota,
                "members": _members(rng, rng.choice([1, 1, 1, 2, 3, 4, 5])),
            }
            for n in range(households_per_week)
        ]
        response = await allocation.post(
            "/assignments/batch",
            json={
                "occurred_at": friday.isoformat(),
                "expected_arrival_at": monday.isoformat(),
                "assignments": batch,
            },
        )
        if response.status_code not in (200, 201):
            raise RuntimeError(f"batch {friday.date()}: {response.status_code} {response.text}")
        created += response.json()["created"]
        await driver.settle()
        console.print(
            f"{friday.date()}: {len(batch)} households assigned for the bus of {monday.date()}"
        )
        await driver.advance(monday + timedelta(hours=2))
        arrived = await _check_in_arrivals(housing, monday)
        await driver.settle()
        console.print(f"{monday.date()}: {arrived} households checked in")
    return {"created": created}


# Within every service's page bound (the runtime's 1000, integration's 500).
PAGE_SIZE = 500


async def _every(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paged list: the runtime's ``Page`` (``total``) or integration's
    (``next_offset``, null on the last page)."""
    items: list[dict[str, Any]] = []
    while True:
        query = {**params, "limit": PAGE_SIZE, "offset": len(items)}
        response = await client.get(path, params=query)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.text}")
        page = response.json()
        items += page["items"]
        done = len(items) >= page["total"] if "total" in page else page["next_offset"] is None
        if done or not page["items"]:
            return items


async def _check_in_arrivals(housing: httpx.AsyncClient, at: datetime) -> int:
    """Site staff check in every household whose places are held, dated ``at``."""
    held = await _every(housing, "/reservations", status="held")
    arrived = 0
    for reservation in sorted(held, key=lambda r: r["reservation_id"]):
        response = await housing.post(
            f"/reservations/{reservation['reservation_id']}/check-in",
            json={"occurred_at": at.isoformat()},
        )
        if response.status_code != 201:
            raise RuntimeError(f"check-in: {response.status_code} {response.text}")
        arrived += 1
    return arrived


async def _event_dates(allocation: httpx.AsyncClient) -> dict[str, str]:
    """The business dates the demo's households carry: October 2015, whatever today is."""
    households = await _every(allocation, "/households")
    assigned = sorted(h["assigned_at"] for h in households)
    return {"first_assignment": assigned[0], "last_assignment": assigned[-1]}


# Spring 2016: the story's family has lived in Hannover for half a year and more.
STORY_DAY = datetime.fromisoformat("2016-06-01T09:00:00+02:00")


async def _ok(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code not in (200, 201):
        raise RuntimeError(f"{what}: {response.status_code} {response.text}")
    return dict(response.json())


async def _until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 60) -> Any:
    """The first truthy value of ``check``; raises naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.3)
    raise TimeoutError(f"{what} not reached within {timeout} s")


async def _caseloads(integration: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await integration.get("/caseloads")
    if response.status_code != 200:
        raise RuntimeError(f"caseloads: {response.status_code} {response.text}")
    return list(response.json())


def _print_caseloads(loads: list[dict[str, Any]]) -> None:
    table = Table(title="Integrationsmanagement: Fallzahlen nach Team")
    for column in ("", "Fälle", "Personen", "Sozialarb.", "Pers./SozArb.", "Warnung"):
        table.add_column(column, justify="right" if column else "left")
    for t in loads:
        per_worker = t["persons_per_worker"]
        table.add_row(
            t["label"],
            str(t["cases"]),
            str(t["persons"]),
            str(t["social_workers"]),
            "–" if per_worker is None else f"{per_worker:.1f}",
            "über Grenze" if t["over_limit"] else "",
        )
    console.print(table)


async def integration_story(
    clients: dict[str, httpx.AsyncClient], driver: SimulationDriver, issuer: LocalIssuer
) -> dict[str, Any]:
    """Cases for the housed households; in spring 2016 one family's way from a communal
    home into a flat of its own (Auszugsmanagement) and on to a district structure
    (Übergabe), dated on the simulated clock."""
    allocation, integration = clients["allocation"], clients["integration"]
    summary = (await allocation.get("/placements/summary")).json()
    housed = summary["by_status"].get("housed", {}).get("households", 0)

    async def all_cases_open() -> list[dict[str, Any]] | None:
        loads = await _caseloads(integration)
        return loads if sum(t["cases"] for t in loads) >= housed else None

    await driver.settle()
    before = await _until(all_cases_open, f"a case for each of {housed} households")
    _print_caseloads(before)
    await driver.advance(STORY_DAY)
    await driver.settle()
    occupied_before = (await clients["housing"].get("/occupancy")).json()["total"]["occupied"]
    listed = await _every(integration, "/cases", status="open")
    candidates = sorted(
        (
            c
            for c in listed
            if c["site_pillar"] in ("wohnheim", "notunterkunft") and c["persons"] >= 2
        ),
        key=lambda c: (c["district"], c["case_id"]),
    )
    if not candidates:
        raise RuntimeError("no family in a communal home to move out")
    case = candidates[0]
    path, here = f"/cases/{case['case_id']}", case["district"]
    worker = social_worker(issuer, here)
    await _ok(await integration.post(f"{path}/assign", headers=worker), "assign")
    for milestone in (
        {"milestone": "language_course", "reached_on": "2015-11-02"},
        {
            "milestone": "language_level",
            "language_level": "b1",
            "persons": 2,
            "reached_on": "2016-05-02",
        },
        {
            "milestone": "residence_status",
            "residence_status": "protection_granted",
            "reached_on": "2016-03-01",
        },
        {"milestone": "kita", "reached_on": "2016-04-04"},
    ):
        await _ok(
            await integration.post(f"{path}/milestones", json=milestone, headers=worker),
            f"milestone {milestone['milestone']}",
        )
    assessed = await _ok(
        await integration.post(f"{path}/readiness", json={"independence": "high"}, headers=worker),
        "readiness",
    )
    readiness = assessed["readiness"]
    console.print(f"Wohnfähigkeit: {readiness['reason']}")
    target = 10 if here != 10 else 2
    plan = {"target_kind": "social_housing", "target_district": target}
    await _ok(await integration.post(f"{path}/move-out", json=plan, headers=worker), "move-out")
    await _ok(
        await integration.post(f"{path}/move-out/complete", json={}, headers=worker),
        "move-out complete",
    )
    await driver.settle()

    async def moved_out() -> bool:
        household = await allocation.get(f"/households/{case['household_id']}")
        return bool(household.json()["status"] == "moved_out")

    await _until(moved_out, "housing to check the family out and allocation to see it")
    console.print(
        f"{STORY_DAY.date()} Auszug: Haushalt {case['household_id']} aus Stadtbezirk "
        f"{here:02d} in eine Wohnung des städtischen Programms in Stadtbezirk {target:02d}"
    )
    there = social_worker(issuer, target)
    support = {
        "skill": "homework_help",
        "languages": ["ar", "de"],
        "hours_per_week": 2,
        "involves_children": True,
        "schedule": [{"weekday": "tue", "starts_at": "15:00", "ends_at": "16:30"}],
    }
    await _ok(
        await integration.post(f"{path}/support-requests", json=support, headers=there),
        "support request",
    )
    handover = {
        "to_structure": "stadtteilzentrum",
        "receiving_partner": f"Stadtteilzentrum im Stadtbezirk {target:02d}",
    }
    closed = await _ok(
        await integration.post(f"{path}/handover", json=handover, headers=there), "handover"
    )
    console.print(
        f"Übergabe an {handover['receiving_partner']}: Fall {closed['status']} "
        f"({closed['close_reason']})"
    )
    await driver.settle()
    after = await _caseloads(integration)
    _print_caseloads(after)
    occupied_after = (await clients["housing"].get("/occupancy")).json()["total"]["occupied"]
    return {
        "case": closed,
        "from_district": here,
        "readiness": readiness,
        "caseloads_before": before,
        "caseloads": after,
        "occupied_before": occupied_before,
        "occupied_after": occupied_after,
    }


async def scenario(
    urls: dict[str, str],
    tokens: dict[str, str],
    *,
    weeks: int = WEEKS,
    households_per_week: int = HOUSEHOLDS_PER_WEEK,
) -> dict[str, Any]:
    """Three weeks of October 2015 (and the integration story of spring 2016) through the
    running services; what it produced. A test may run fewer weeks and households."""
    issuer = LocalIssuer()
    desks = desk_headers(issuer)
    clients = {
        name: httpx.AsyncClient(base_url=url, timeout=60, headers=desks[name])
        for name, url in urls.items()
    }
    try:
        driver = SimulationDriver(clients, tokens, stages=CITY_STAGES)
        await driver.settle()
        opened = await _open_sites(clients["housing"])
        console.print(f"housing: {opened} sites opened on {DEMO_START.date()}")
        await driver.settle()
        assigned = await _assign_weeks(clients, driver, weeks, households_per_week)
        console.print(f"allocation: {assigned['created']} households assigned")
        allocation = clients["allocation"]
        summary = (await allocation.get("/placements/summary")).json()
        alerts = (await allocation.get("/alerts")).json()
        view = (await clients["reporting"].get("/views/capacity")).json()
        occupancy = (await clients["housing"].get("/occupancy")).json()["total"]
        if any(view["total"][k] != occupancy[k] for k in ("capacity", "occupied", "reserved")):
            raise RuntimeError(f"reporting shows {view['total']}, housing {occupancy}")
        dates = await _event_dates(allocation)
        integration = await integration_story(clients, driver, issuer)
    finally:
        for client in clients.values():
            await client.aclose()
    return {
        "summary": summary,
        "alerts": alerts,
        "view": view,
        "dates": dates,
        "integration": integration,
    }


@app.command()
def main(
    scenario_name: str = typer.Option(
        "hannover", "--scenario", help="Data file under ankommen_local/scenario/"
    ),
    scale: float = typer.Option(1.0, help="Volume factor (1: Hannover's own figures)"),
    start: str = typer.Option(None, "--from", help="First day (ISO), default 2010"),
    end: str = typer.Option(None, "--to", help="Last day (ISO), default 2016"),
    pace: float = typer.Option(0.0, help="Seconds per simulated week (0: full speed)"),
) -> None:
    """Replay Hannover 2010–2016 (docs/scenario.md) through freshly started services on
    databases ``demo_<service>`` and topics ``demo.*`` of this run; print the headline
    figures beside the public ones and the Integrationsmanagement story; write the views
    (CSV, JSON) to ``demo-output/``; serve at a terminal until Ctrl-C."""
    from datetime import date

    from .scenario import plan as plan_module
    from .scenario.cli import execute, interactive

    plan = plan_module.build(
        plan_module.load(scenario_name),
        scale=scale,
        start=date.fromisoformat(start) if start else None,
        end=date.fromisoformat(end) if end else None,
    )
    console.print(
        f"[bold]{plan.data['scenario']['title']}[/]: {len(plan.weeks)} weeks, "
        f"{plan.households} households ({plan.persons} persons), seed {plan.seed}"
    )
    try:
        execute(
            plan, run="demo", output=OUTPUT, ports=SERVICE_PORTS, pace=pace, serve=interactive()
        )
    except KeyboardInterrupt:
        console.print("stopped")


if __name__ == "__main__":
    app()
