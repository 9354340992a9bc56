"""``python -m ankommen_local.scenario``: a scenario through freshly started services.

Each run gets empty service databases (``<run>_<service>``) and topics (``<run>.*``) of
its own, starts the five services on them in simulation mode (clock at the scenario's
first Monday, seeded ids, one partition per topic), drives the plan week by week with a
progress bar, prints the headline figures beside the public ones and writes the views
to the output folder. ``--pace`` slows the run down (seconds per simulated week) for
watching; ``--scale`` multiplies every volume (10 for the bench's ten-fold Hannover).
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import date, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import asyncpg
import typer
import uvloop
from ankommen_runtime.clock import CITY_TZ
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..config import REPO_ROOT, SERVICES, Settings
from ..infra import Endpoints, endpoints_of, external_endpoints
from ..kafka import delete_topics
from ..supervisor import SERVICE_PORTS, ServiceProcess, service_env, start_all
from ..util import stop_on_sigterm
from . import figures as figures_module
from . import outputs as outputs_module
from . import plan as plan_module
from .runner import ScenarioRunner, Tally, Tokens

console = Console()
app = typer.Typer(add_completion=False)
DEFAULT_OUTPUT = REPO_ROOT / "demo-output"


def servers(settings: Settings) -> Endpoints:
    """Kafka and PostgreSQL to run on: the servers ``ANKOMMEN_INFRA=external`` names (a
    shared installation, as CI and the tests use them), else this checkout's own."""
    if os.environ.get("ANKOMMEN_INFRA", "").strip().lower() == "external":
        return external_endpoints()
    return endpoints_of(settings)


async def fresh_run(infra: Endpoints, run: str) -> dict[str, str]:
    """Empty databases and no topics for ``run``: a second run inherits nothing."""
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        for name in SERVICES:
            db = f"{run}_{name}"
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{db}" OWNER "{name}"')
    finally:
        await admin.close()
    if await delete_topics(infra.kafka_bootstrap, prefixes=[f"{run}."]):
        await asyncio.sleep(1)  # deletion is asynchronous on the broker
    # The run's services talk to a server on this machine through its socket (Endpoints).
    return {
        name: infra.through_socket(infra.service_dsn(name, f"{run}_{name}")) for name in SERVICES
    }


async def drop_run(infra: Endpoints, run: str) -> None:
    """The run's databases and topics gone (the bench's runs: tens of thousands of
    households each; a demo's stay for the dashboard and the next run replaces them)."""
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        for name in SERVICES:
            await admin.execute(f'DROP DATABASE IF EXISTS "{run}_{name}" WITH (FORCE)')
    finally:
        await admin.close()
    await delete_topics(infra.kafka_bootstrap, prefixes=[f"{run}."])


SINK_CONSUMER = {"consumer_fetch_min_bytes": str(1024 * 1024), "consumer_fetch_max_wait_ms": "1000"}
"""Reporting's consumer in a run: the broker holds its fetch until a mebibyte of events is
there or a second has passed. No step waits for reporting (the barrier leaves the sink
out), so its views may trail by that second; in exchange it handles a run in an
eighteenth of the transactions, each with its offset commit (whole run, 6 Dec 2026: 306
against 5,554; reporting's CPU and its database's 30.1 → 11.8 s, Kafka's 19.5 → 16.6 s,
the run 176 → 157 s; docs/scenario.md, "Speed")."""


def start_services(
    settings: Settings,
    infra: Endpoints,
    dsns: dict[str, str],
    run: str,
    start: datetime,
    seed: int,
    ports: dict[str, int],
) -> list[ServiceProcess]:
    log_dir = settings.state_dir / "logs" / run
    procs = []
    for name in SERVICES:
        env = service_env(
            name,
            kafka_bootstrap=infra.kafka_bootstrap,
            database_url=dsns[name],
            topic_prefix=f"{run}.",
            topic_partitions="1",  # the log order is the handling order: a repeatable run
            environment="demo",
            simulation="true",
            simulation_seed=str(seed),
            simulation_start=start.isoformat(),
            http_port=str(ports[name]),
            consumer_group=f"{run}.{name}",  # groups of their own: no rebalance with others
            log_level="WARNING",  # a run of years logs millions of lines at INFO
            **(SINK_CONSUMER if name == "reporting" else {}),
        )
        procs.append(
            ServiceProcess(name=name, port=ports[name], env=env, log_path=log_dir / f"{name}.log")
        )
    start_all(procs)
    return procs


def run_plan(
    plan: plan_module.Plan, urls: dict[str, str], *, pace: float = 0.0, progress: bool = True
) -> Tally:
    tokens = Tokens()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    # twice a second: a step takes longer, and the bar's thread took 5 % of the runner's CPU
    with Progress(*columns, console=console, disable=not progress, refresh_per_second=2) as bar:
        task = bar.add_task(f"{plan.name}", total=len(plan.weeks), status="")

        def on_week(week: plan_module.Week, tally: Tally) -> None:
            bar.update(
                task,
                advance=1,
                status=f"{week.monday:%d.%m.%Y}  {tally.persons} assigned, "
                f"{tally.check_ins} check-ins, {tally.moved_out} moved out",
            )

        runner = ScenarioRunner(plan, urls, tokens=tokens, pace=pace, on_week=on_week)
        # uvloop, as the services run: the runner's HTTP clients share the two cores with them
        return uvloop.run(runner.run())


def headline_table(result: dict[str, Any]) -> Table:
    table = Table(title="Headline figures: this run (services' views) beside the public record")
    for column in ("figure", "date", "public", "this run", "rule", ""):
        table.add_column(column, justify="left" if column in ("figure", "date") else "right")
    for f in result["figures"]:
        fmt = "{:.2f}" if f.public < 10 and f.public != int(f.public) else "{:,.0f}"
        table.add_row(
            f.id,
            f.on,
            fmt.format(f.public),
            fmt.format(f.measured) if f.id.find("share") < 0 else f"{f.measured:.2f}",
            f.rule,
            "[green]✓[/]" if f.ok else "[red]✗[/]",
        )
    return table


def write_outputs(
    result: dict[str, Any], tally: Tally, output: Path, meta: dict[str, Any]
) -> list[Path]:
    """JSON and CSV of the views and figures; the folder is named in the README."""
    output.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def dump(name: str, content: Any) -> None:
        path = output / name
        path.write_text(json.dumps(content, indent=2, ensure_ascii=False, default=str))
        written.append(path)

    def table(name: str, rows: list[dict[str, Any]]) -> None:
        path = output / name
        with path.open("w", newline="") as f:
            if rows:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        written.append(path)

    figures = [f.as_row() for f in result["figures"]]
    account = {k: v for k, v in tally.__dict__.items() if k not in ("outlook_check", "step_ends")}
    dump(
        "scenario-figures.json",
        {
            "run": meta,
            "figures": figures,
            "named_sites_missed": result.get("named_sites_missed", []),
            "tally": account,
        },
    )
    if tally.outlook_check is not None:
        dump("outlook-check.json", tally.outlook_check)
    table("scenario-figures.csv", figures)
    table(
        "weekly-assignments.csv",
        [{"week_starting": w, "assigned_persons": n} for w, n in result["weeks"]],
    )
    dump("capacity.json", result["capacity"])
    table("capacity-by-pillar.csv", result["capacity"]["by_pillar"])
    table("capacity-by-district.csv", result["capacity"]["by_district"])
    dump("placements.json", result["placements"])
    dump("alerts.json", result["alerts"])
    dump("youth-welfare.json", result["youth_welfare"])
    dump("integration.json", result["integration"])
    rows = []
    for day, view in sorted(result["occupancy_on"].items()):
        for row in [*view["by_pillar"], view["total"]]:
            rows.append({"as_of": day, **row})
    table("occupancy-on-target-dates.csv", rows)
    return written


def outlook_summary(check: dict[str, Any]) -> str:
    """ "Does the outlook view see it coming?" in one paragraph."""
    if check["shortage_on"] is None:
        return (
            f"Outlook check: the places did not run short in this window "
            f"({len(check['readings'])} readings from {check['reads_from']})."
        )
    if check["first_warning_read_on"] is None:
        return (
            f"Outlook check: the places ran short on {check['shortage_on']} (the city opened "
            f"{check['shortage_site']}); reporting's outlook did [red]not[/] warn in "
            f"{len(check['readings'])} readings from {check['reads_from']}."
        )
    verdict = "[green]before[/]" if check["warned_before_shortage"] else "[red]not before[/]"
    trend = check.get("by_scenario", {}).get("trend") or {}
    under_trend = (
        f" Under the recent trend it first saw them run short when read on "
        f"{trend['first_warning_read_on']} (out on {trend['predicted_run_out_on']}, "
        f"{trend['predicted_weeks_after_shortage']} weeks after the actual shortage)."
        if trend.get("first_warning_read_on")
        else ""
    )
    return (
        f"Outlook check: the places ran short on {check['shortage_on']} (the city opened "
        f"{check['shortage_site']}); reporting's outlook first saw them run out when read on "
        f"{check['first_warning_read_on']} (steady intake: out on "
        f"{check['first_warning_predicted_run_out_on']}, "
        f"{check['predicted_weeks_after_shortage']} weeks after the actual shortage), "
        f"{verdict} the shortage ({check['lead_weeks']} weeks ahead).{under_trend}"
    )


def scenario_start(plan: plan_module.Plan) -> datetime:
    """The clocks start the Friday before the first Monday (its batch is decided then)."""
    return datetime.combine(plan.weeks[0].decided_on, clock_time(8), tzinfo=CITY_TZ)


@stop_on_sigterm()  # a terminated run stops the services it started, as Ctrl-C does
def execute(
    plan: plan_module.Plan,
    *,
    run: str,
    output: Path | None,
    ports: dict[str, int],
    pace: float = 0.0,
    serve: bool = False,
    progress: bool = True,
    reports: bool = True,
    infra: Endpoints | None = None,
    watch: Callable[[dict[str, int], dict[str, str]], AbstractContextManager[Any]] | None = None,
) -> tuple[dict[str, Any], Tally, float]:
    """Run ``plan`` on fresh databases and topics named after ``run`` (on ``infra``, or the
    servers ``servers()`` finds); print the figures and write ``output``. ``reports``:
    fetch reporting's views and reports into ``output`` too. ``watch(pids, urls)``: a
    context around the run itself (the bench samples memory and lag with it)."""
    settings = Settings.from_env()
    procs: list[ServiceProcess] = []
    try:
        infra = infra or servers(settings)
        dsns = asyncio.run(fresh_run(infra, run))
        procs = start_services(settings, infra, dsns, run, scenario_start(plan), plan.seed, ports)
        urls = {p.name: p.url for p in procs}
        console.print(
            f"[green]✓[/] five services ready ({', '.join(f'{p.name} {p.url}' for p in procs)}); "
            f"run {run}: databases {run}_*, topics {run}.*"
        )
        started = time.perf_counter()
        pids = {p.name: p.process.pid for p in procs if p.process is not None}
        with watch(pids, urls) if watch else nullcontext():
            tally = run_plan(plan, urls, pace=pace, progress=progress)
        console.print(
            "time per phase (s): "
            + ", ".join(f"{k} {v:.1f}" for k, v in sorted(tally.phase_seconds.items()))
            + f"; {tally.barriers} barriers of {tally.barrier_rounds} rounds"
            + f" ({tally.barriers_skipped} steps began without one)"
        )
        elapsed = time.perf_counter() - started
        result = asyncio.run(figures_module.collect(plan, urls, tally))
        console.print(headline_table(result))
        if result.get("named_sites_missed"):
            console.print(
                "named sites not shown on their day: " + "; ".join(result["named_sites_missed"])
            )
        console.print(
            f"{tally.weeks} weeks in {elapsed:.1f} s: {tally.households} households "
            f"({tally.persons} persons) assigned, {tally.check_ins} check-ins, "
            f"{tally.moved_on} moved on into Wohnungen/Wohnprojekte, {tally.moved_out} moved out "
            f"(integration), {tally.departed} departures, {tally.milestones} milestones, "
            f"{tally.handovers} handovers, {tally.sites_opened} sites opened, "
            f"{tally.sites_closed} closed, {tally.volunteers} volunteers ({tally.vetted} "
            f"vetted), {tally.requests} requests, {tally.matches} matches, {tally.hours:g} "
            f"hours logged; nobody homeless in {tally.homeless_checks} "
            f"checks; reporting = housing: {result['reporting_matches_housing']}"
        )
        story = result["integration"]
        example = story["example_moved_out_and_handed_over"]
        console.print(
            f"Integrationsmanagement: {story['open_cases']} open cases, "
            f"{story['closed_cases']} closed"
            + (
                f"; e.g. case {example['case_id']}: {example['persons']} persons, moved out "
                f"{(example.get('move_out') or {}).get('completed_on')} "
                f"({(example.get('move_out') or {}).get('target_kind')}), handed over to "
                f"{(example.get('handover') or {}).get('receiving_partner')}"
                if example
                else ""
            )
        )
        if tally.outlook_check is not None:
            console.print(outlook_summary(tally.outlook_check))
        if output is not None:
            meta = {
                "scenario": plan.name,
                "scale": plan.scale,
                "seed": plan.seed,
                "weeks": len(plan.weeks),
                "from": plan.weeks[0].monday.isoformat(),
                "to": plan.weeks[-1].monday.isoformat(),
                "seconds": round(elapsed, 1),
                # a shared 2-core machine: the seconds mean little without the load
                "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
            }
            written = write_outputs(result, tally, output, meta)
            if reports:
                written += asyncio.run(
                    outputs_module.fetch_reports(urls["reporting"], output, Tokens())
                )
            console.print(
                f"written to {output}: {len(written)} files"
                + (
                    " (the run's figures; reporting's views/, zwischenbilanz.html and .pdf, "
                    "stadtbezirke/, dashboard.html)"
                    if reports
                    else " (the run's figures)"
                )
            )
        if serve:
            console.print(
                f"Serving the dashboard at {urls['reporting']}/ (the interim report at "
                f"{urls['reporting']}/report, API docs at …/docs of each service); Ctrl-C stops."
            )
            while all(p.alive() for p in procs):
                time.sleep(1)
        return result, tally, elapsed
    except KeyboardInterrupt:
        console.print("stopping")
        raise
    except Exception:
        for proc in procs:
            console.print(f"[red]{proc.name} log tail:[/]\n{proc.tail()}")
        raise
    finally:
        for proc in procs:
            proc.stop()


def print_plan(plan: plan_module.Plan) -> None:
    """The places the city must open where the record is silent, by quarter: for "rising
    again", when the places run out and how many must be opened by when."""
    table = Table(title=f"{plan.name}: generated sites (places the city must open) by quarter")
    for column in ("quarter", "sites", "places", "of which Notunterkunft", "stock at its end"):
        table.add_column(column, justify="right")
    quarters: dict[str, list[int]] = {}
    for week in plan.weeks:
        key = f"{week.monday.year} Q{(week.monday.month - 1) // 3 + 1}"
        row = quarters.setdefault(key, [0, 0, 0, 0])
        for site in week.opens:
            if site.generated:
                row[0] += 1
                row[1] += site.capacity
                row[2] += site.capacity if site.pillar == "notunterkunft" else 0
        row[3] = week.planned_residents
    for key, (sites, places, emergency, stock) in quarters.items():
        if sites:
            table.add_row(key, str(sites), f"{places:,}", f"{emergency:,}", f"{stock:,}")
    console.print(table)
    console.print(f"{len(plan.weeks)} weeks, {plan.households} households, {plan.persons} persons")


def interactive() -> bool:
    return os.environ.get("CI", "").lower() not in ("1", "true") and sys.stdin.isatty()


@app.command()
def main(
    scenario: str = typer.Option("hannover", help="Data file under ankommen_local/scenario/"),
    scale: float = typer.Option(1.0, help="Volume factor: 1 Hannover, 10 the bench's run"),
    seed: int = typer.Option(None, help="Seed (default: the data file's)"),
    start: str = typer.Option(None, "--from", help="First day (ISO), default the file's"),
    end: str = typer.Option(None, "--to", help="Last day (ISO), default the file's"),
    pace: float = typer.Option(0.0, help="Seconds to pause per simulated week (0: full speed)"),
    run: str = typer.Option("scenario", help="Name of the run: its databases and topics"),
    port_base: int = typer.Option(0, help="First of five ports (default: the demo's ports)"),
    output: str = typer.Option("", help="Folder for the views (CSV, JSON); default demo-output"),
    serve: bool = typer.Option(None, help="Keep serving after the run (default: at a terminal)"),
    plan_only: bool = typer.Option(False, help="Print the plan (sites to open by quarter), no run"),
    reports: bool = typer.Option(
        True, help="Fetch reporting's views, interim report and district reports (HTML, PDF)"
    ),
) -> None:
    """Run a scenario through freshly started services and print its headline figures."""
    data = plan_module.load(scenario)
    plan = plan_module.build(
        data,
        scale=scale,
        seed=seed,
        start=date.fromisoformat(start) if start else None,
        end=date.fromisoformat(end) if end else None,
    )
    if plan_only:
        print_plan(plan)
        return
    ports = {name: port_base + i for i, name in enumerate(SERVICES)} if port_base else SERVICE_PORTS
    console.print(
        f"{plan.name}: {len(plan.weeks)} weeks {plan.weeks[0].monday} … {plan.weeks[-1].monday}, "
        f"{plan.households} households ({plan.persons} persons), scale {scale:g}, seed {plan.seed}"
    )
    result, _, _ = execute(
        plan,
        run=run,
        output=Path(output) if output else DEFAULT_OUTPUT,
        ports=ports,
        pace=pace,
        serve=interactive() if serve is None else serve,
        reports=reports,
    )
    failed = [f.id for f in result["figures"] if not f.ok]
    if failed:
        console.print(f"[yellow]outside the public record's tolerance: {', '.join(failed)}[/]")


if __name__ == "__main__":
    app()
