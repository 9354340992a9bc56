"""The Hannover scenario, short, through the five real services (processes on real Kafka
and PostgreSQL): autumn 2015 at a fifth of the city's volume, judged against the public
record's figures and tolerance from the data file (docs/scenario.md); the files the run
leaves in its output folder (views, the interim report, the 13 district reports, fetched
from reporting); and "rising again", short and scaled: does reporting's outlook see the
shortage coming?"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from ankommen_contracts.common import DISTRICT_NAMES
from ankommen_local.config import SERVICES, Settings
from ankommen_local.infra import Endpoints
from ankommen_local.scenario import plan as plan_module
from ankommen_local.scenario.cli import execute, fresh_run, start_services
from ankommen_local.scenario.runner import Tally, Tokens
from ankommen_local.util import free_port
from ankommen_runtime.auth import Role
from ankommen_runtime.clock import CITY_TZ
from ankommen_runtime.simulation_driver import CITY_STAGES, SimulationDriver
from reporting.domain.facts import REPORTED

# A run of weeks through five services: minutes on a busy 2-core machine, more than the
# default timeout of 300 s.
pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(1800)]

# The peak: Möbel Boss, Deutscher Pavillon. A window's first week brings its whole stock,
# and only the emergency sites that stock needs: the sites of 15 Oct 2015 depend on how
# much history the window has. From 21 Sep the plan has the whole run's 35 sites on that
# day (from 28 Sep: 34, one generated Notunterkunft fewer, outside 36 ± 5 %).
WINDOW = (date(2015, 9, 21), date(2015, 11, 15))
SCALE = 0.2  # a fifth of Hannover: the same weeks and sites, fewer households
SMALL_RUN = 12  # commands to each service in the small form of the reporting defect
VIEWS = (
    "residents",
    "assignments",
    "capacity",
    "emergency",
    "move_outs",
    "integration",
    "volunteers",
    "demographics",
    "outlook",
    "costs",
    "halls",
)


@dataclass(frozen=True)
class Run:
    plan: plan_module.Plan
    result: dict[str, Any]
    tally: Tally
    output: Path


def _run(infra: Endpoints, plan: plan_module.Plan, output: Path, *, reports: bool = True) -> Run:
    ports = {name: free_port() for name in SERVICES}
    name = f"scn{uuid.uuid4().hex[:8]}"
    result, tally, _ = execute(
        plan, run=name, output=output, ports=ports, progress=False, reports=reports, infra=infra
    )
    return Run(plan, result, tally, output)


@pytest.fixture(scope="module")
def autumn_2015(infra: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Run:
    data = plan_module.load("hannover")
    plan = plan_module.build(data, scale=SCALE, start=WINDOW[0], end=WINDOW[1])
    return _run(infra, plan, tmp_path_factory.mktemp("autumn-2015"))


def test_autumn_2015_reproduces_the_public_residents_with_nobody_homeless(
    autumn_2015: Run,
) -> None:
    plan, result, tally = autumn_2015.plan, autumn_2015.result, autumn_2015.tally
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
    output = autumn_2015.output
    assert (output / "scenario-figures.csv").read_text().startswith("id,on,public,measured")
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
    dsns = asyncio.run(fresh_run(infra, run))
    start = datetime(2015, 10, 5, 8, tzinfo=CITY_TZ)
    procs = start_services(settings, infra, dsns, run, start, seed=2015, ports=ports)
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


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))


def test_the_run_writes_reportings_views_and_reports_to_its_output_folder(
    autumn_2015: Run,
) -> None:
    output = autumn_2015.output
    for key in VIEWS:
        published = json.loads((output / "views" / f"{key}.json").read_text())
        internal = json.loads((output / "views" / "internal" / f"{key}.json").read_text())
        assert published["key"] == internal["key"] == key
        assert published["tables"], f"view {key} has no tables"
        last_step = autumn_2015.plan.weeks[-1].monday.isoformat()
        assert published["as_of"] >= last_step, f"view {key} is as of {published['as_of']}"
        lines = (output / "views" / f"{key}.csv").read_text().splitlines()
        assert len(lines) >= 2, f"views/{key}.csv has no rows"
    residents = json.loads((output / "views" / "internal" / "capacity.json").read_text())
    assert any(t["rows"] for t in residents["tables"]), "the capacity view is empty"

    report = (output / "zwischenbilanz.html").read_text()
    assert "Zwischenbilanz und Ausblick" in report
    assert "Ankommen – unterstützen – miteinander leben" in report
    pdf = (output / "zwischenbilanz.pdf").read_bytes()
    assert pdf.startswith(b"%PDF"), "the interim report is not a PDF"
    assert _pages(pdf) >= 2, "the interim report's PDF has fewer than two pages"

    districts = output / "stadtbezirke"
    pages = sorted(districts.glob("stadtbezirk-*.html"))
    pdfs = sorted(districts.glob("stadtbezirk-*.pdf"))
    assert len(pages) == len(pdfs) == 13, (len(pages), len(pdfs))
    for number, name in DISTRICT_NAMES.items():
        page = next(p for p in pages if p.name.startswith(f"stadtbezirk-{number:02d}-"))
        assert f"Stadtbezirk {number:02d} {name}" in page.read_text(), page.name
        printed = page.with_suffix(".pdf").read_bytes()
        assert printed.startswith(b"%PDF"), page.with_suffix(".pdf")
        assert _pages(printed) >= 1, page.with_suffix(".pdf")
    assert "<svg" in (output / "dashboard.html").read_text(), "the dashboard has no chart"


RISING_WINDOW = (date(2017, 6, 1), date(2017, 10, 1))
RISING_SCALE = 0.1


def test_rising_again_the_outlook_warns_before_the_city_must_open_emergency_places(
    infra: Endpoints, tmp_path: Path
) -> None:
    data = plan_module.load("rising_again")
    plan = plan_module.build(data, scale=RISING_SCALE, start=RISING_WINDOW[0], end=RISING_WINDOW[1])
    run = _run(infra, plan, tmp_path, reports=False)

    check = json.loads((tmp_path / "outlook-check.json").read_text())
    assert check == run.tally.outlook_check
    assert check["shortage_on"] is not None, "the places never ran short in the window"
    assert check["readings"], "the outlook was never read"
    assert all(r["as_of"] == r["read_on"] for r in check["readings"]), check["readings"]
    assert check["warned_before_shortage"], (
        f"the outlook first warned on {check['first_warning_read_on']}, the places ran "
        f"short on {check['shortage_on']}: {check['readings']}"
    )
    assert check["lead_weeks"] >= 1
    # and dates it: the first warning's run-out lies within four weeks of the shortage,
    # for the steady intake and for the trend (an agreed closing and the operating
    # reserve are in the outlook; docs/scenario.md, "Other scenarios")
    for scenario in ("steady", "trend"):
        judged = check["by_scenario"][scenario]
        assert judged["warned_before_shortage"], (scenario, judged)
        assert abs(judged["predicted_weeks_after_shortage"]) <= 4, (scenario, judged)
