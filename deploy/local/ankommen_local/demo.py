"""``make demo``: the five services on local Kafka and PostgreSQL, driven through their APIs.

Today's scenario is the walking skeleton's: housing opens named Hannover sites over HTTP,
reporting projects them from ``ShelterOpened`` events, and the capacity view is printed
and written to ``demo-output/``. With ``CI=true`` (or no terminal) it stops every service
it started and exits; at a terminal it keeps serving until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid

import httpx
import typer
from rich.console import Console
from rich.table import Table

from .config import REPO_ROOT, SERVICES, Settings
from .supervisor import SERVICE_PORTS, ServiceProcess, service_env

console = Console()
app = typer.Typer(add_completion=False)
OUTPUT = REPO_ROOT / "demo-output"

# Synthetic sites named after public Hannover sites (data/hannover-facts.md, section 3).
SITES = [
    ("Ehem. Oststadtkrankenhaus", "notunterkunft", 4, "DRK", 800),
    ("Schulzentrum Ahlem", "notunterkunft", 11, "DRK", 200),
    ("Deutscher Pavillon", "notunterkunft", 6, "DRK", 550),
    ("Siloah", "notunterkunft", 10, "DRK", 240),
    ("Ehem. Maritim Hotel", "notunterkunft", 1, "DRK", 550),
    ("Tresckowstraße", "wohnheim", 9, "DRK", 100),
    ("Am Bahndamm", "wohnheim", 11, "Johanniter", 50),
    ("Karlsruher Straße", "wohnheim", 7, "European Homecare", 120),
    ("Steigertahlstraße", "wohnheim", 10, "Malteser", 100),
    ("Hermann-Ehlers-Allee", "wohnprojekt", 11, "Fair Facility", 100),
    ("Wohnungen Vahrenwald-List", "wohnung", 2, "Stadt Hannover", 40),
    ("Wohnungen Linden-Limmer", "wohnung", 10, "Stadt Hannover", 36),
]
# Stable ids: a second demo run finds its sites open (409) instead of opening copies.
NAMESPACE = uuid.UUID("6f0d8a52-7c1e-4d8e-9a51-0d7f2f3c9e11")


def _interactive() -> bool:
    return os.environ.get("CI", "").lower() not in ("1", "true") and sys.stdin.isatty()


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
                database_url=f"postgresql://{name}:{name}@{settings.host}:{settings.pg_port}/{name}",
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
    with httpx.Client(base_url=housing, timeout=10) as client:
        for name, pillar, district, operator, capacity in SITES:
            body = {
                "site_id": str(uuid.uuid5(NAMESPACE, name)),
                "name": name,
                "pillar": pillar,
                "district": district,
                "operator": operator,
                "capacity": capacity,
            }
            response = client.post("/sites", json=body)
            if response.status_code == 201:
                opened += 1
            elif response.status_code != 409:  # 409: open since an earlier run
                raise RuntimeError(f"opening {name} failed: {response.status_code} {response.text}")
    return opened


def _capacity_view(reporting: str, expected_sites: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    view: dict = {}
    while time.monotonic() < deadline:
        view = httpx.get(f"{reporting}/views/capacity", timeout=10).json()
        if view["total"]["sites"] >= expected_sites:
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


@app.command()
def main() -> None:
    """Run the demo scenario through the services."""
    procs: list[ServiceProcess] = []
    try:
        procs = _start_services()
        urls = {p.name: p.url for p in procs}
        opened = _open_sites(urls["housing"])
        console.print(f"housing: {opened} sites opened now, {len(SITES) - opened} already open")
        view = _capacity_view(urls["reporting"], len(SITES))
        _print_view(view)
        OUTPUT.mkdir(exist_ok=True)
        (OUTPUT / "capacity.json").write_text(json.dumps(view, indent=2, ensure_ascii=False))
        console.print(f"written: {OUTPUT / 'capacity.json'}")
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
