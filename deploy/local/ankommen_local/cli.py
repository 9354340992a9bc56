"""`ankommen-local`: start, stop and inspect the local Kafka and PostgreSQL servers."""

from __future__ import annotations

import shlex

import typer
from rich.console import Console
from rich.table import Table

from . import stack
from .config import Settings
from .util import InfraError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Local Kafka (KRaft) and PostgreSQL as native processes, state in .state/.",
)
# Progress goes to stderr so that stdout stays clean for `eval "$(ankommen-local env)"`.
err = Console(stderr=True)
out = Console()


def _echo(message: str) -> None:
    err.print(f"[dim]·[/dim] {message}", highlight=False)


def _fail(exc: InfraError) -> typer.Exit:
    err.print(f"[bold red]error:[/bold red] {exc}", highlight=False, markup=False)
    return typer.Exit(1)


@app.command()
def up() -> None:
    """Fetch, initialise, start and provision both servers (idempotent)."""
    s = Settings.from_env()
    try:
        report = stack.up(s, echo=_echo)
    except InfraError as exc:
        raise _fail(exc) from exc
    started = ", ".join(report.started) or "nothing (already running)"
    err.print(
        f"[green]ready[/green] in {report.seconds:.1f}s; started: {started}\n"
        f"  kafka     {s.kafka_bootstrap}  pid {report.kafka_pid}\n"
        f"  postgres  {s.host}:{s.pg_port}  pid {report.pg_pid}\n"
        f"  state     {s.state_dir}",
        highlight=False,
    )


@app.command()
def down() -> None:
    """Stop both servers (no error if they are not running)."""
    try:
        stopped = stack.down(echo=_echo)
    except InfraError as exc:
        raise _fail(exc) from exc
    err.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@app.command()
def status(
    check: bool = typer.Option(
        False, "--check", help="Exit 1 unless every server runs and answers (for scripts)."
    ),
) -> None:
    """Show each server: running or not, pid, endpoint, ready."""
    rows = stack.status()
    table = Table(title=f"ankommen-local ({Settings.from_env().state_dir})")
    for column in ("server", "state", "pid", "endpoint", "ready"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.name,
            "[green]running[/green]" if row.running else "[yellow]stopped[/yellow]",
            str(row.pid) if row.pid else "-",
            row.endpoint,
            "[green]yes[/green]" if row.ready else "[red]no[/red]",
        )
    out.print(table)
    if check and not all(r.running and r.ready for r in rows):
        raise typer.Exit(1)


@app.command()
def env() -> None:
    """Print `export` lines for the servers' endpoints: eval "$(ankommen-local env)"."""
    for key, value in Settings.from_env().env().items():
        print(f"export {key}={shlex.quote(value)}")


if __name__ == "__main__":
    app()
