"""The Hannover scenario, short, through the five real services (processes on real Kafka
and PostgreSQL): autumn 2015 at a fifth of the city's volume, judged against the public
record's figures and tolerance from the data file (docs/scenario.md)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from ankommen_local.config import SERVICES, Settings
from ankommen_local.infra import Endpoints
from ankommen_local.scenario import plan as plan_module
from ankommen_local.scenario.cli import execute, fresh_run, start_services
from ankommen_local.scenario.runner import Tokens
from ankommen_local.util import free_port
from ankommen_runtime.auth import Role
from ankommen_runtime.clock import CITY_TZ
from ankommen_runtime.simulation_driver import CITY_STAGES, SimulationDriver
from reporting.domain.facts import REPORTED

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

WINDOW = (date(2015, 9, 28), date(2015, 11, 15))  # the peak: Möbel Boss, Deutscher Pavillon
SCALE = 0.2  # a fifth of Hannover: the same weeks and sites, fewer households
SMALL_RUN = 12  # commands to each service in the small form of the reporting defect


def test_autumn_2015_reproduces_the_public_residents_with_nobody_homeless(
    infra: Endpoints, tmp_path: Path
) -> None:
    data = plan_module.load("hannover")
    plan = plan_module.build(data, scale=SCALE, start=WINDOW[0], end=WINDOW[1])
    ports = {name: free_port() for name in SERVICES}
    run = f"scn{uuid.uuid4().hex[:8]}"

    result, tally, _ = execute(plan, run=run, output=tmp_path, ports=ports, progress=False)

    by_id = {f.id: f for f in result["figures"]}
    # every target of the window, each read from reporting's views (docs/scenario.md)
    assert set(by_id) == {
        "residents_2015_10",
        "sites_2015_10",
        "residents_2015_11_09",
        "peak_week",
        "named_sites_open",
        "nobody_homeless",
    }
    missed = [
        f"{f.id}: {f.measured:g} vs {f.public:g} ({f.rule})" for f in by_id.values() if not f.ok
    ]
    assert not missed, missed
    assert by_id["nobody_homeless"].measured == 0
    assert tally.homeless_checks == len(plan.weeks), "a step ended without the homeless check"
    assert tally.households == plan.households, "not every planned assignment went out"
    assert tally.moved_out > 0, "no household moved out through Integrationsmanagement"
    assert tally.handovers > 0, "no case handed over to a district structure"
    assert result["reporting_matches_housing"], result["reporting_mismatch"]
    assert (tmp_path / "scenario-figures.csv").read_text().startswith("id,on,public,measured")
    opened = {s.name for w in plan.weeks for s in w.opens}
    assert {"Deutscher Pavillon", "Ehem. Möbel Boss, Alter Flughafen"} <= opened


def test_reporting_keeps_every_event_of_services_seeded_alike(
    infra: Endpoints,
) -> None:
    """The defect of issue 20 in small form: five service processes in one simulation run
    share the seed. Each service's ids must still be its own: when housing's n-th command
    and volunteers' n-th command made events with the same id, reporting (which keys its
    facts by event id across every topic) kept one and dropped the other as a redelivery,
    so its capacity view and housing's occupancy drifted apart."""
    ports = {name: free_port() for name in SERVICES}
    run = f"scs{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env()
    dsns = asyncio.run(fresh_run(settings, run))
    start = datetime(2015, 10, 5, 8, tzinfo=CITY_TZ)
    procs = start_services(settings, dsns, run, start, seed=2015, ports=ports)
    try:
        asyncio.run(_open_sites_and_register_volunteers({p.name: p.url for p in procs}, dsns))
    finally:
        for proc in procs:
            proc.stop()


async def _open_sites_and_register_volunteers(urls: dict[str, str], dsns: dict[str, str]) -> None:
    tokens = Tokens()
    clients = {name: httpx.AsyncClient(base_url=url, timeout=60) for name, url in urls.items()}
    operations = {
        name: tokens.header(Role.OPERATIONS, name)["authorization"].split()[1] for name in urls
    }
    driver = SimulationDriver(clients, operations, stages=CITY_STAGES)
    try:
        await driver.settle()
        await driver.advance(datetime(2015, 10, 5, 12, tzinfo=CITY_TZ))
        for n in range(SMALL_RUN):
            # the same number of commands to each service, in the same order
            site = {
                "site_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{dsns['housing']}/{n}")),
                "name": f"Notunterkunft {n}",
                "pillar": "notunterkunft",
                "district": n % 13 + 1,
                "operator": "DRK",
                "capacity": 50 + n,
                "building": "modules",
                "owner": "city",
                "suitability": ["families", "accessible"],
                "occurred_at": "2015-10-05",
            }
            opened = await clients["housing"].post(
                "/sites", json=site, headers=tokens.header(Role.HOUSING_STAFF, "housing")
            )
            assert opened.status_code == 201, opened.text
            volunteer = {
                "name": f"Freiwillige*r {n}",
                "skills": ["translation"],
                "languages": ["de"],
                "districts": [n % 13 + 1],
                "weekdays": ["mon"],
                "hours_per_week": 2,
                "registered_on": "2015-10-05",
            }
            registered = await clients["volunteers"].post(
                "/volunteers",
                json=volunteer,
                headers=tokens.header(Role.VOLUNTEER_COORDINATOR, "volunteers"),
            )
            assert registered.status_code == 201, registered.text
        await driver.settle()
        published: dict[str, set[str]] = {}
        for source in ("housing", "volunteers"):
            conn = await asyncpg.connect(dsns[source])
            try:
                rows = await conn.fetch("SELECT event_id, type FROM outbox")
            finally:
                await conn.close()
            published[source] = {str(r["event_id"]) for r in rows if r["type"] in REPORTED[source]}
        assert len(published["housing"]) >= SMALL_RUN
        assert len(published["volunteers"]) >= SMALL_RUN
        shared = published["housing"] & published["volunteers"]
        assert not shared, f"{len(shared)} event ids made by both housing and volunteers"
        conn = await asyncpg.connect(dsns["reporting"])
        try:
            kept = {
                (r["source"], str(r["event_id"]))
                for r in await conn.fetch("SELECT source, event_id FROM fact")
            }
        finally:
            await conn.close()
        for source, ids in published.items():
            missing = ids - {i for s, i in kept if s == source}
            assert not missing, f"reporting dropped {len(missing)} of {source}'s events"
        capacity = await clients["reporting"].get(
            "/views/capacity", headers=tokens.header(Role.COUNCIL_READER, "reporting")
        )
        occupancy = await clients["housing"].get(
            "/occupancy", headers=tokens.header(Role.HOUSING_STAFF, "housing")
        )
        assert capacity.status_code == occupancy.status_code == 200
        for key in ("sites", "capacity", "occupied"):
            assert capacity.json()["total"][key] == occupancy.json()["total"][key], key
        assert occupancy.json()["total"]["sites"] == SMALL_RUN
    finally:
        for client in clients.values():
            await client.aclose()
