"""`ankommen-local`: start, stop and inspect the local Kafka and PostgreSQL servers."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from . import backup as backups
from . import stack
from .config import SERVICES, Settings
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


def _services(names: list[str] | None) -> list[str]:
    chosen = names or list(SERVICES)
    unknown = sorted(set(chosen) - set(SERVICES))
    if unknown:
        raise typer.BadParameter(f"unknown service(s) {unknown}; expected some of {SERVICES}")
    return chosen


@app.command()
def backup(
    services: Annotated[
        list[str] | None, typer.Argument(help="Services (default: all five).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the dumps (default: <state>/backups/<UTC time>)."),
    ] = None,
) -> None:
    """pg_dump every service database (custom format) with a checksummed manifest."""
    s = Settings.from_env()
    folder = out or s.state_dir / "backups" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        records = backups.backup(s.pg_admin_dsn, {n: n for n in _services(services)}, folder)
    except InfraError as exc:
        raise _fail(exc) from exc
    for r in records:
        err.print(f"  {r.database:12} {r.bytes:>12,} bytes  sha256 {r.sha256[:12]}…")
    print(folder)


@app.command()
def restore(
    folder: Annotated[Path, typer.Argument(help="A folder written by `ankommen-local backup`.")],
    services: Annotated[
        list[str] | None, typer.Argument(help="Services (default: all five).")
    ] = None,
    as_copy: Annotated[
        str | None,
        typer.Option("--as-copy", help="Restore into <service><SUFFIX>, e.g. _restored."),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Replace the live databases (stop the services first).")
    ] = False,
) -> None:
    """pg_restore the dumps: into copies (--as-copy) or over the live databases (--yes)."""
    if as_copy is None and not yes:
        err.print("refusing to replace live databases without --yes (or use --as-copy SUFFIX)")
        raise typer.Exit(2)
    s = Settings.from_env()
    chosen = _services(services)
    targets = {n: f"{n}{as_copy or ''}" for n in chosen}
    try:
        done = backups.restore(s.pg_admin_dsn, folder, targets)
    except InfraError as exc:
        raise _fail(exc) from exc
    err.print(f"restored: {', '.join(done)}")


if __name__ == "__main__":
    app()
