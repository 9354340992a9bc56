"""Scenario: the whole Hannover history 2010–2016 through the five services (issue 20).

The same run as ``make scenario``: fresh databases and topics, the five services as
processes in simulation mode, the plan of ``ankommen_local/scenario/hannover.toml`` week
by week through their HTTP APIs, then the headline figures from their views. The budget
of issue 20 is the whole run in at most 120 s on a 2-core machine; the figure is what
this machine took, reported whether or not it meets it. ``tiny``: four weeks of October
2015 at a tenth of the volume. ``ANKOMMEN_BENCH_SCENARIO_SCALE=10``: ten times Hannover.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import date
from pathlib import Path

from ankommen_local.config import SERVICES
from ankommen_local.scenario import plan as plan_module
from ankommen_local.scenario.cli import execute
from ankommen_local.util import free_port

from .common import Bench, Figure, Result, Target


async def run(bench: Bench) -> Result:
    result = Result("scenario", "Hannover 2010–2016 through the five services")
    data = plan_module.load("hannover")
    if bench.size.name == "tiny":
        plan = plan_module.build(data, scale=0.1, start=date(2015, 9, 28), end=date(2015, 10, 25))
    else:
        scale = float(os.environ.get("ANKOMMEN_BENCH_SCENARIO_SCALE", "1"))
        plan = plan_module.build(data, scale=scale)
    ports = {name: free_port() for name in SERVICES}
    run_name = f"bench{bench.run_id}".replace("-", "")[:20].lower()
    output = Path(tempfile.mkdtemp(prefix="ankommen-bench-scenario-"))
    found, tally, seconds = await asyncio.to_thread(
        execute, plan, run=run_name, output=output, ports=ports, progress=False
    )
    result.figures += [
        Figure(
            "scenario.run_s",
            f"{len(plan.weeks)} weekly steps, {plan.persons:,} persons (scale {plan.scale:g})",
            seconds,
            "s",
            target=Target("<=", 120),
        ),
        Figure("scenario.step_ms", "one weekly step, mean", seconds * 1000 / len(plan.weeks), "ms"),
        Figure("scenario.max_step_s", "slowest weekly step", tally.max_step_seconds, "s"),
    ]
    result.checks.update(
        {f"{f.id} within the public record's tolerance": f.ok for f in found["figures"]}
    )
    result.checks["reporting's view equals housing's"] = found["reporting_matches_housing"]
    result.details.update(
        weeks=len(plan.weeks),
        households=tally.households,
        check_ins=tally.check_ins,
        moved_out=tally.moved_out,
        phase_seconds={k: round(v, 1) for k, v in tally.phase_seconds.items()},
        output=str(output),
    )
    return result
