"""The Hannover scenario, short, through the five real services (processes on real Kafka
and PostgreSQL): autumn 2015 at a fifth of the city's volume, judged against the public
record's figures and tolerance from the data file (docs/scenario.md); the files the run
leaves in its output folder (views, the interim report, the 13 district reports, fetched
from reporting); and "rising again", short and scaled: does reporting's outlook see the
shortage coming?"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from ankommen_contracts.common import DISTRICT_NAMES
from ankommen_local.config import SERVICES
from ankommen_local.infra import Endpoints
from ankommen_local.scenario import plan as plan_module
from ankommen_local.scenario.cli import execute
from ankommen_local.scenario.runner import Tally
from ankommen_local.util import free_port

# A run of weeks through five services: minutes on a busy 2-core machine, more than the
# default timeout of 300 s.
pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(1800)]

WINDOW = (date(2015, 9, 28), date(2015, 11, 15))  # the peak: Möbel Boss, Deutscher Pavillon
SCALE = 0.2  # a fifth of Hannover: the same weeks and sites, fewer households
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


# Known defect (issue 20, open): at the end of this run reporting's capacity view counts
# 833 occupied places where housing counts 790 (seeded, so every run). Strict: the day the
# two agree, this marker must go.
@pytest.mark.xfail(
    strict=True,
    reason="issue 20: reporting's capacity view (as of its business day) and housing's "
    "occupancy disagree at the end of the scenario (833 vs 790 occupied)",
)
def test_autumn_2015_reproduces_the_public_residents_with_nobody_homeless(
    autumn_2015: Run,
) -> None:
    plan, result, tally = autumn_2015.plan, autumn_2015.result, autumn_2015.tally
    by_id = {f.id: f for f in result["figures"]}
    for target in ("residents_2015_10", "residents_2015_11_09"):
        figure = by_id[target]
        assert figure.ok, f"{target}: {figure.measured:.0f} vs {figure.public:.0f} ({figure.rule})"
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
