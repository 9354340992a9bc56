"""The Hannover scenario, short, through the five real services (processes on real Kafka
and PostgreSQL): autumn 2015 at a fifth of the city's volume, judged against the public
record's figures and tolerance from the data file (docs/scenario.md)."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest
from ankommen_local.config import SERVICES
from ankommen_local.infra import Endpoints
from ankommen_local.scenario import plan as plan_module
from ankommen_local.scenario.cli import execute
from ankommen_local.util import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

WINDOW = (date(2015, 9, 28), date(2015, 11, 15))  # the peak: Möbel Boss, Deutscher Pavillon
SCALE = 0.2  # a fifth of Hannover: the same weeks and sites, fewer households


# Known defect (issue 20, open): at the end of this run reporting's capacity view counts
# 833 occupied places where housing counts 790 (seeded, so every run). Strict: the day the
# two agree, this marker must go.
@pytest.mark.xfail(
    strict=True,
    reason="issue 20: reporting's capacity view (as of its business day) and housing's "
    "occupancy disagree at the end of the scenario (833 vs 790 occupied)",
)
def test_autumn_2015_reproduces_the_public_residents_with_nobody_homeless(
    infra: Endpoints, tmp_path: Path
) -> None:
    data = plan_module.load("hannover")
    plan = plan_module.build(data, scale=SCALE, start=WINDOW[0], end=WINDOW[1])
    ports = {name: free_port() for name in SERVICES}
    run = f"scn{uuid.uuid4().hex[:8]}"

    result, tally, _ = execute(plan, run=run, output=tmp_path, ports=ports, progress=False)

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
    assert (tmp_path / "scenario-figures.csv").read_text().startswith("id,on,public,measured")
    opened = {s.name for w in plan.weeks for s in w.opens}
    assert {"Deutscher Pavillon", "Ehem. Möbel Boss, Alter Flughafen"} <= opened
