"""``ankommen-reporting``: reporting's operator commands.

``ankommen-reporting rebuild`` replays every reported topic beside the live facts with a
progress bar, proves the result equal to the live facts (checksum) and switches.
Settings come from the service's ``ANKOMMEN_*`` variables (database, Kafka, prefix).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from .rebuild import RebuildFailed, rebuild

app = typer.Typer(help="Ankommen reporting: operator commands.", no_args_is_help=True)
console = Console(stderr=True)


@app.callback()
def main() -> None:
    """Reporting's operator commands."""


@app.command("rebuild")
def rebuild_command(
    processes: Annotated[
        int, typer.Option("--processes", "-p", min=1, help="Replay processes (partitions shared)")
    ] = 4,
    resume: Annotated[
        bool, typer.Option(help="Carry on an unfinished rebuild from its recorded offsets")
    ] = False,
    database_url: Annotated[
        str | None, typer.Option(help="Reporting's database (default: ANKOMMEN_* settings)")
    ] = None,
) -> None:
    """Replay every topic from the beginning beside the live views, check, then switch."""
    from ankommen_runtime.settings import ServiceSettings

    settings = ServiceSettings(service="reporting")
    dsn = database_url or settings.dsn
    with Progress(
        TextColumn("[bold]replay"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>10} events/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("replay", total=None, rate="")

        def total(n: int) -> None:
            bar.update(task, total=n)

        def advance(n: int) -> None:
            elapsed = bar.tasks[task].elapsed or 0
            bar.update(task, completed=n, rate=f"{n / elapsed:,.0f}" if elapsed else "")

        try:
            result = asyncio.run(
                rebuild(
                    dsn,
                    settings.kafka_bootstrap,
                    settings.topic_prefix,
                    processes=processes,
                    resume=resume,
                    credentials=settings,
                    on_total=total,
                    progress=advance,
                )
            )
        except RebuildFailed as exc:
            console.print(f"[red]rebuild failed, live views unchanged:[/red] {exc}")
            raise typer.Exit(1) from exc
    console.print(
        f"rebuilt {result.facts:,} facts from {result.events:,} events: replay "
        f"{result.seconds:.1f} s ({result.events_per_s:,.0f} events/s, "
        f"{result.processes} processes, {result.cpu_us_per_event:.1f} µs CPU per event), "
        f"{result.wall_seconds:.1f} s in all; checksum {result.checksum} "
        f"(live {result.live_checksum}, {result.behind_live} events the live consumer had "
        f"not applied yet); switched."
    )


@app.command("print")
def print_command(
    url: Annotated[str, typer.Option(help="A running reporting service")] = "http://127.0.0.1:8005",
    out: Annotated[Path, typer.Option(help="Folder for the PDFs")] = Path("reports"),
    as_of: Annotated[str | None, typer.Option(help="Business day (YYYY-MM-DD)")] = None,
    lang: Annotated[str, typer.Option(help="de or en")] = "de",
) -> None:
    """Print the interim report and the 13 district reports as PDFs (headless Chromium)."""
    from .printing import print_reports

    for path in print_reports(url, out, as_of=as_of, lang=lang):
        console.print(f"printed {path}")


if __name__ == "__main__":
    app()
