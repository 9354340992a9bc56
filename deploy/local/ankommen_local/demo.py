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
clock moves to Monday and site staff check the arrivals in. Every event carries its
October 2015 date (``occurred_at``) beside the moment it was recorded. The placements and
the capacity view are printed and written to ``demo-output/``. With ``CI=true`` (or no
terminal) it stops every service it started and exits; at a terminal it keeps serving
until Ctrl-C.
"""

from __future__ import annotations

import os
import random
import sys
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import typer
from aiokafka.admin import AIOKafkaAdminClient
from ankommen_runtime.auth import Role
from ankommen_runtime.local_issuer import LocalIssuer, audience_of
from ankommen_runtime.simulation_driver import CITY_STAGES, SimulationDriver
from rich.console import Console
from rich.table import Table

from .config import REPO_ROOT, SERVICES, Settings
from .supervisor import SERVICE_PORTS, ServiceProcess, service_env

console = Console()
app = typer.Typer(add_completion=False)
OUTPUT = REPO_ROOT / "demo-output"

# The demo's simulated October 2015: the clock starts on Thursday 1 October, 08:00.
DEMO_START = datetime.fromisoformat("2015-10-01T08:00:00+02:00")
FIRST_FRIDAY = datetime.fromisoformat("2015-10-02T10:00:00+02:00")
DEMO_SEED = 2015
DEMO_PREFIX = "demo2015."

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


def _interactive() -> bool:
    return os.environ.get("CI", "").lower() not in ("1", "true") and sys.stdin.isatty()


def demo_database(service: str) -> str:
    return f"demo_{service}"


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


async def reset_demo(settings: Settings) -> dict[str, str]:
    """Fresh demo databases and no demo topics: every run replays October 2015 anew."""
    admin = await asyncpg.connect(settings.pg_admin_dsn)
    try:
        for name in SERVICES:
            db = demo_database(name)
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{db}" OWNER "{name}"')
    finally:
        await admin.close()
    kafka = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await kafka.start()
    try:
        old = [t for t in await kafka.list_topics() if t.startswith(DEMO_PREFIX)]
        if old:
            await kafka.delete_topics(old)
    finally:
        await kafka.close()
    return {
        name: f"postgresql://{name}:{name}@{settings.host}:{settings.pg_port}/{demo_database(name)}"
        for name in SERVICES
    }


def _start_services(
    envs: dict[str, dict[str, str]], ports: dict[str, int], log_dir: Any
) -> list[ServiceProcess]:
    procs = [
        ServiceProcess(
            name=name, port=ports[name], env=envs[name], log_path=log_dir / f"{name}.log"
        )
        for name in envs
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.wait_ready()
        console.print(f"[green]✓[/] {proc.name:<12} ready at {proc.url}  (API: {proc.url}/docs)")
    return procs


def operations_tokens() -> dict[str, str]:
    """The scenario moves the clocks: role ``operations`` for each service."""
    issuer = LocalIssuer()
    return {name: issuer.mint([Role.OPERATIONS], audience=audience_of(name)) for name in SERVICES}


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
    clients: dict[str, httpx.AsyncClient], driver: SimulationDriver
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
    for week in range(WEEKS):
        friday = FIRST_FRIDAY + timedelta(weeks=week)
        monday = friday + timedelta(days=3)
        await driver.advance(friday)
        batch = [
            {
                "land_reference": f"NI-{monday.date().isoformat()}-{n:03d}",
                "quota_period_id": quota,
                "members": _members(rng, rng.choice([1, 1, 1, 2, 3, 4, 5])),
            }
            for n in range(HOUSEHOLDS_PER_WEEK)
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


async def _check_in_arrivals(housing: httpx.AsyncClient, at: datetime) -> int:
    """Site staff check in every household whose places are held, dated ``at``."""
    held = await housing.get("/reservations", params={"status": "held", "limit": 10_000})
    arrived = 0
    for reservation in sorted(held.json(), key=lambda r: r["reservation_id"]):
        response = await housing.post(
            f"/reservations/{reservation['reservation_id']}/check-in",
            json={"occurred_at": at.isoformat()},
        )
        if response.status_code != 201:
            raise RuntimeError(f"check-in: {response.status_code} {response.text}")
        arrived += 1
    return arrived


def _print_placements(summary: dict[str, Any]) -> None:
    table = Table(title="Haushalte nach Stand der Unterbringung")
    for column in ("", "Haushalte", "Personen"):
        table.add_column(column, justify="right" if column else "left")
    for status, count in summary["by_status"].items():
        table.add_row(status, str(count["households"]), str(count["persons"]))
    table.add_row("Gesamt", str(summary["total"]["households"]), str(summary["total"]["persons"]))
    console.print(table)


def _print_view(view: dict) -> None:
    for title, rows in (
        ("Plätze nach Säule", view["by_pillar"]),
        ("Plätze nach Stadtbezirk", view["by_district"]),
    ):
        table = Table(title=title)
        for column in ("", "Standorte", "Kapazität", "belegt", "gesperrt", "frei"):
            table.add_column(column, justify="right" if column else "left")
        for row in [*rows, view["total"]]:
            table.add_row(
                row["label"],
                str(row["sites"]),
                str(row["capacity"]),
                str(row["occupied"]),
                str(row["blocked"]),
                str(row["free"]),
            )
        console.print(table)


async def _event_dates(allocation: httpx.AsyncClient) -> dict[str, str]:
    """The business dates the demo's households carry: October 2015, whatever today is."""
    households = (await allocation.get("/households", params={"limit": 1000})).json()
    assigned = sorted(h["assigned_at"] for h in households)
    return {"first_assignment": assigned[0], "last_assignment": assigned[-1]}


async def scenario(urls: dict[str, str], tokens: dict[str, str]) -> dict[str, Any]:
    """Three weeks of October 2015 through the running services; what it produced."""
    clients = {name: httpx.AsyncClient(base_url=url, timeout=60) for name, url in urls.items()}
    try:
        driver = SimulationDriver(clients, tokens, stages=CITY_STAGES)
        await driver.settle()
        opened = await _open_sites(clients["housing"])
        console.print(f"housing: {opened} sites opened on {DEMO_START.date()}")
        await driver.settle()
        assigned = await _assign_weeks(clients, driver)
        console.print(f"allocation: {assigned['created']} households assigned")
        allocation = clients["allocation"]
        summary = (await allocation.get("/placements/summary")).json()
        alerts = (await allocation.get("/alerts")).json()
        view = (await clients["reporting"].get("/views/capacity")).json()
        occupancy = (await clients["housing"].get("/occupancy")).json()["total"]
        if any(view["total"][k] != occupancy[k] for k in ("capacity", "occupied", "reserved")):
            raise RuntimeError(f"reporting shows {view['total']}, housing {occupancy}")
        dates = await _event_dates(allocation)
    finally:
        for client in clients.values():
            await client.aclose()
    return {"summary": summary, "alerts": alerts, "view": view, "dates": dates}


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
    from .scenario.cli import execute

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
            plan, run="demo", output=OUTPUT, ports=SERVICE_PORTS, pace=pace, serve=_interactive()
        )
    except KeyboardInterrupt:
        console.print("stopped")


if __name__ == "__main__":
    app()
