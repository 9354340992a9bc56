"""The Hannover scenario, short, through the five real services (processes on real Kafka
and PostgreSQL): autumn 2015 at a fifth of the city's volume, judged against the public
record's figures and tolerance from the data file (docs/scenario.md); the files the run
leaves in its output folder (views, the interim report, the 13 district reports, fetched
from reporting); and "rising again", short and scaled: does reporting's outlook see the
shortage coming?"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from ankommen_local.config import SERVICES
from ankommen_local.infra import Endpoints
from ankommen_local.scenario import plan as plan_module
from ankommen_local.scenario.cli import execute
from ankommen_local.scenario.runner import Tally
from ankommen_local.util import free_port

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
