"""The benchmarks in the order they run; each one's failure is recorded, never fatal."""

from __future__ import annotations

import time
import traceback
from collections.abc import Awaitable, Callable, Sequence

from ankommen_local.infra import Endpoints

from . import (
    ceilings,
    latency,
    pipeline,
    placement,
    rebuild,
    scenario,
    simulated_step,
    volunteers,
)
from .common import Bench, Result, Size
from .ui import Ui

# Ceilings first: every later figure is divided by one of them. Pipeline and rebuild
# before latency, which loads the system at half the lower of their sustained rates (the
# relay side and reporting's consumer side of the path it measures).
BENCHMARKS: dict[str, tuple[str, Callable[[Bench], Awaitable[Result]]]] = {
    "ceilings": ("Ceilings", ceilings.run),
    "pipeline": ("Pipeline", pipeline.run),
    "rebuild": ("Rebuild", rebuild.run),
    "latency": ("Latency", latency.run),
    "placement": ("Placement", placement.run),
    "volunteers": ("Volunteer matching", volunteers.run),
    "simulated_step": ("Simulated step", simulated_step.run),
    "scenario": ("Hannover scenario 2010–2016", scenario.run),
    "scenario_x10": ("Ten times Hannover's volume", scenario.run_x10),
    "scenario_x100": ("A hundred times Hannover's volume (long)", scenario.run_x100),
}
OPTIONAL = {"scenario_x100"}
"""Long runs: only with ``--only``."""
DEFAULT = [name for name in BENCHMARKS if name not in OPTIONAL]
# The rebuild's figure for the latency's load is the live consumption of the real reporting
# service (the consumer side of the path the latency measures), not the replay, which
# reads 7 times faster than the live service can fold: run without the pipeline, the
# replay's rate made the latency's "half load" four times the live consumer's capacity.
SUSTAINED = {"pipeline": "pipeline.events_per_s", "rebuild": "rebuild.live_events_per_s"}


async def run_all(ep: Endpoints, size: Size, ui: Ui, names: Sequence[str]) -> list[Result]:
    bench = Bench(ep, size, ui)
    ui.log(f"run {bench.run_id}; child process logs in {bench.logdir}")
    results: list[Result] = []
    for name in BENCHMARKS:
        if name not in names:
            continue
        title, fn = BENCHMARKS[name]
        started = time.perf_counter()
        ui.log(f"[bold]{title}[/bold] ({size.name})")
        try:
            result = await fn(bench)
        except Exception as exc:
            result = Result(name, title, status="failed", error=f"{type(exc).__name__}: {exc}")
            result.details["traceback"] = traceback.format_exc()[-4000:]
            ui.log(f"[red]{title} failed[/red]: {exc!r}")
        result.seconds = time.perf_counter() - started
        if name == "ceilings":
            bench.ceilings = {f.key: f for f in result.figures}
        figure = result.figure(SUSTAINED.get(name, ""))
        if figure is not None and figure.value:
            bench.sustained[name] = figure.value
        results.append(result)
    return results
