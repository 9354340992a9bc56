"""``make demo``: the five services on local Kafka and PostgreSQL, driven through their APIs.

The scenario so far: housing opens named Hannover sites; the Land announces a quota
period and sends three weekly batches of assignments (synthetic, from a fixed seed);
allocation places every household through the saga with housing, site staff check the
arrivals in, and reporting projects it all from events. Integrationsmanagement has opened
a case for every household checked in; a district social worker records milestones,
assesses a family ready for a flat of its own, completes its move-out (housing frees the
places) and hands the case over to a district structure. The placements, the capacity
view and the caseloads are printed and written to ``demo-output/``. With ``CI=true`` (or
no terminal) it stops every service it started and exits; at a terminal it keeps serving
until Ctrl-C.
A second run reuses the databases and adds nothing twice (the Land's references and the
site ids are stable).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import typer
from ankommen_runtime.auth import Role
from ankommen_runtime.local_issuer import LocalIssuer, audience_of, local_tool_headers
from rich.console import Console
from rich.table import Table

from .config import REPO_ROOT, SERVICES, Settings
from .supervisor import SERVICE_PORTS, ServiceProcess, service_env

console = Console()
app = typer.Typer(add_completion=False)
OUTPUT = REPO_ROOT / "demo-output"

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


def _issuer() -> LocalIssuer:
    """The local issuer whose keys every service of the demo trusts."""
    return LocalIssuer(Settings.from_env().state_dir).ensure()


def _start_services() -> list[ServiceProcess]:
    settings = Settings.from_env()
    bootstrap = f"{settings.host}:{settings.kafka_port}"
    procs = [
        ServiceProcess(
            name=name,
            port=SERVICE_PORTS[name],
            env=service_env(
                name,
                kafka_bootstrap=bootstrap,
                database_url=settings.service_dsn(name),
                oidc_jwks_url=_issuer().jwks_url,
            ),
            log_path=settings.state_dir / "logs" / f"{name}.log",
        )
        for name in SERVICES
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.wait_ready()
        console.print(f"[green]✓[/] {proc.name:<12} ready at {proc.url}  (API: {proc.url}/docs)")
    return procs


def _open_sites(housing: str) -> int:
    opened = 0
    with httpx.Client(base_url=housing, timeout=10, headers=local_tool_headers()) as client:
        for name, pillar, district, operator, capacity, suitability in SITES:
            body = {
                "site_id": str(uuid.uuid5(NAMESPACE, name)),
                "name": name,
                "pillar": pillar,
                "district": district,
                "operator": operator,
                "capacity": capacity,
                "suitability": suitability,
            }
            response = client.post("/sites", json=body)
            if response.status_code == 201:
                opened += 1
            elif response.status_code != 409:  # 409: open since an earlier run
                raise RuntimeError(f"opening {name} failed: {response.status_code} {response.text}")
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


def _assign_weeks(allocation: str, housing: str) -> dict[str, int]:
    """Three weekly batches from the Land; arrivals are checked in as they come."""
    rng = random.Random(2015)
    created = 0
    with httpx.Client(timeout=30, headers=local_tool_headers()) as client:
        period = client.post(
            f"{allocation}/quota-periods",
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
            monday = date(2015, 10, 5) + timedelta(weeks=week)
            batch = [
                {
                    "land_reference": f"NI-{monday.isoformat()}-{n:03d}",
                    "quota_period_id": quota,
                    "members": _members(rng, rng.choice([1, 1, 1, 2, 3, 4, 5])),
                }
                for n in range(HOUSEHOLDS_PER_WEEK)
            ]
            response = client.post(f"{allocation}/assignments/batch", json={"assignments": batch})
            if response.status_code not in (200, 201):
                raise RuntimeError(f"batch {monday}: {response.status_code} {response.text}")
            created += response.json()["created"]
            console.print(f"week of {monday}: {len(batch)} households assigned")
            _check_in_arrivals(client, allocation, housing)
    return {"created": created}


def _check_in_arrivals(client: httpx.Client, allocation: str, housing: str) -> None:
    """Site staff check in every household whose beds are reserved, until none is pending."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        held = client.get(f"{housing}/reservations", params={"status": "held", "limit": 500})
        for reservation in held.json()["items"]:
            client.post(f"{housing}/reservations/{reservation['reservation_id']}/check-in")
        summary = client.get(f"{allocation}/placements/summary").json()["by_status"]
        in_flight = sum(summary.get(s, {}).get("households", 0) for s in ("placing", "reserved"))
        if not held.json() and in_flight == 0:
            return
        time.sleep(0.3)
    raise TimeoutError("placements did not settle within 90 s")


def _print_placements(summary: dict[str, Any]) -> None:
    table = Table(title="Haushalte nach Stand der Unterbringung")
    for column in ("", "Haushalte", "Personen"):
        table.add_column(column, justify="right" if column else "left")
    for status, count in summary["by_status"].items():
        table.add_row(status, str(count["households"]), str(count["persons"]))
    table.add_row("Gesamt", str(summary["total"]["households"]), str(summary["total"]["persons"]))
    console.print(table)


def _capacity_view(reporting: str, housing: str, expected_sites: int, timeout: float = 60) -> dict:
    """Reporting's view once it has caught up with housing's own figures."""
    deadline = time.monotonic() + timeout
    view: dict = {}
    while time.monotonic() < deadline:
        view = httpx.get(
            f"{reporting}/views/capacity", timeout=10, headers=local_tool_headers()
        ).json()
        truth = httpx.get(f"{housing}/occupancy", timeout=10, headers=local_tool_headers()).json()[
            "total"
        ]
        if view["total"]["sites"] >= expected_sites and all(
            view["total"][k] == truth[k] for k in ("capacity", "occupied", "reserved")
        ):
            return view
        time.sleep(0.3)
    raise TimeoutError(f"reporting shows {view.get('total')} after {timeout}s")


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


def _wait_for_sites(allocation: str, expected: int, timeout: float = 60) -> None:
    """Allocation places from its replica of housing's sites: wait until it has them all."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sites = httpx.get(
            f"{allocation}/sites",
            params={"limit": 1000},
            timeout=10,
            headers=local_tool_headers(),
        ).json()["items"]
        if len([s for s in sites if s["status"] == "open"]) >= expected:
            return
        time.sleep(0.3)
    raise TimeoutError("allocation did not learn the sites from housing's events")


def _as(issuer: LocalIssuer, role: Role, district: int | None = None) -> dict[str, str]:
    token = issuer.mint(
        [role], audience=audience_of("integration"), district=district, subject=f"demo-{role}"
    )
    return {"authorization": f"Bearer {token}"}


def _until(check: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise TimeoutError(f"{what} not reached within {timeout} s")


def _caseloads(client: httpx.Client, issuer: LocalIssuer) -> list[dict[str, Any]]:
    response = client.get("/caseloads", headers=_as(issuer, Role.COUNCIL_READER))
    response.raise_for_status()
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


def _integration_story(urls: dict[str, str], issuer: LocalIssuer) -> dict[str, Any]:
    """Cases for the housed households; one family's way from a communal home into a flat
    of its own (Auszugsmanagement) and on to a district structure (Übergabe)."""
    today = date.today()
    with httpx.Client(base_url=urls["integration"], timeout=30) as client:
        summary = httpx.get(f"{urls['allocation']}/placements/summary", timeout=10).json()
        housed = summary["by_status"].get("housed", {}).get("households", 0)

        def all_cases_open() -> list[dict[str, Any]] | None:
            loads = _caseloads(client, issuer)
            return loads if sum(t["cases"] for t in loads) >= housed else None

        _print_caseloads(_until(all_cases_open, f"a case for each of {housed} households"))
        staff = _as(issuer, Role.ALLOCATION_STAFF)
        listed = client.get("/cases", params={"status": "open", "limit": 500}, headers=staff)
        listed.raise_for_status()
        candidates = [
            c
            for c in listed.json()["items"]
            if c["site_pillar"] in ("wohnheim", "notunterkunft") and c["persons"] >= 2
        ]
        if not candidates:
            raise RuntimeError("no family in a communal home to move out")
        case = candidates[0]
        path, here = f"/cases/{case['case_id']}", case["district"]
        worker = _as(issuer, Role.SOCIAL_WORKER, district=here)
        client.post(f"{path}/assign", headers=worker).raise_for_status()
        for milestone in (
            {"milestone": "language_course", "reached_on": str(today - timedelta(days=200))},
            {
                "milestone": "language_level",
                "language_level": "b1",
                "persons": 2,
                "reached_on": str(today - timedelta(days=30)),
            },
            {
                "milestone": "residence_status",
                "residence_status": "protection_granted",
                "reached_on": str(today - timedelta(days=60)),
            },
            {"milestone": "kita", "reached_on": str(today - timedelta(days=20))},
        ):
            response = client.post(f"{path}/milestones", json=milestone, headers=worker)
            if response.status_code not in (201, 409):  # 409: recorded in an earlier run
                raise RuntimeError(f"milestone: {response.status_code} {response.text}")
        assessment = {"independence": "high", "arrived_on": str(today - timedelta(days=240))}
        assessed = client.post(f"{path}/readiness", json=assessment, headers=worker)
        assessed.raise_for_status()
        readiness = assessed.json()["readiness"]
        console.print(f"Wohnfähigkeit: {readiness['reason']}")
        target = 10 if here != 10 else 2
        plan = {"target_kind": "social_housing", "target_district": target}
        client.post(f"{path}/move-out", json=plan, headers=worker).raise_for_status()
        moved = client.post(f"{path}/move-out/complete", json={}, headers=worker)
        moved.raise_for_status()

        def moved_out() -> bool:
            url = f"{urls['allocation']}/households/{case['household_id']}"
            return httpx.get(url, timeout=10).json()["status"] == "moved_out"

        _until(moved_out, "housing to check the family out and allocation to see it")
        console.print(
            f"Auszug: Haushalt {case['household_id']} aus Stadtbezirk {here:02d} in eine "
            f"Wohnung des städtischen Programms in Stadtbezirk {target:02d}; Plätze frei"
        )
        there = _as(issuer, Role.SOCIAL_WORKER, district=target)
        support = {
            "skill": "homework_help",
            "languages": ["ar", "de"],
            "hours_per_week": 2,
            "involves_children": True,
            "schedule": [{"weekday": "tue", "starts_at": "15:00", "ends_at": "16:30"}],
        }
        client.post(f"{path}/support-requests", json=support, headers=there).raise_for_status()
        handover = {
            "to_structure": "stadtteilzentrum",
            "receiving_partner": f"Stadtteilzentrum im Stadtbezirk {target:02d}",
        }
        closed = client.post(f"{path}/handover", json=handover, headers=there)
        closed.raise_for_status()
        console.print(
            f"Übergabe an {handover['receiving_partner']}: Fall {closed.json()['status']} "
            f"({closed.json()['close_reason']})"
        )
        loads = _caseloads(client, issuer)
        return {"case": closed.json(), "readiness": readiness, "caseloads": loads}


@app.command()
def main() -> None:
    """Run the demo scenario through the services."""
    procs: list[ServiceProcess] = []
    try:
        procs = _start_services()
        urls = {p.name: p.url for p in procs}
        opened = _open_sites(urls["housing"])
        console.print(f"housing: {opened} sites opened now, {len(SITES) - opened} already open")
        _wait_for_sites(urls["allocation"], len(SITES))
        assigned = _assign_weeks(urls["allocation"], urls["housing"])
        console.print(f"allocation: {assigned['created']} households new in this run")
        summary = httpx.get(
            f"{urls['allocation']}/placements/summary", timeout=10, headers=local_tool_headers()
        ).json()
        alerts = httpx.get(
            f"{urls['allocation']}/alerts", timeout=10, headers=local_tool_headers()
        ).json()
        _print_placements(summary)
        console.print(f"open homelessness alerts (PlacementFailed, waitlisted): {len(alerts)}")
        view = _capacity_view(urls["reporting"], urls["housing"], len(SITES))
        _print_view(view)
        integration = _integration_story(urls, _issuer())
        OUTPUT.mkdir(exist_ok=True)
        outputs = {
            "capacity.json": view,
            "placements.json": summary,
            "alerts.json": alerts,
            "integration.json": integration,
        }
        for name, content in outputs.items():
            (OUTPUT / name).write_text(json.dumps(content, indent=2, ensure_ascii=False))
        console.print(f"written: {', '.join(str(OUTPUT / n) for n in outputs)}")
        if _interactive():
            console.print(
                f"Serving. Capacity view: {urls['reporting']}/views/capacity — Ctrl-C stops."
            )
            while all(p.alive() for p in procs):
                time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopping")
    except Exception:
        for proc in procs:
            console.print(f"[red]{proc.name} log tail:[/]\n{proc.tail()}")
        raise
    finally:
        for proc in procs:
            proc.stop()


if __name__ == "__main__":
    app()
