"""The results: a rich table on the terminal, ``latest.json`` and ``latest.md`` on disk."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg
from ankommen_local.config import KAFKA_VERSION
from rich.table import Table

from .common import REPO_ROOT, Figure, Result

NOTES = Path(__file__).resolve().parent / "NOTES.md"


def _meminfo_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


async def machine(pg_admin_dsn: str) -> dict[str, Any]:
    """Where and on what the figures were measured."""
    conn = await asyncpg.connect(pg_admin_dsn)
    try:
        pg_version = await conn.fetchval("SHOW server_version")
        durability = {
            k: await conn.fetchval(f"SHOW {k}")
            for k in ("fsync", "synchronous_commit", "full_page_writes")
        }
    finally:
        await conn.close()
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_mb": _meminfo_mb(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "kafka": KAFKA_VERSION,
        "postgresql": pg_version,
        "postgresql_durability": durability,
        "libraries": {
            d: _version(d) for d in ("aiokafka", "faststream", "asyncpg", "pydantic", "rich")
        },
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(dirty),
        "load_average_at_start": list(os.getloadavg()),
    }


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if unit == "ms":
        return f"{value:,.1f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _ratio(figure: Figure) -> str:
    parts = [
        f"{'—' if r is None else f'{r:.2f}'} × {ceiling}" for ceiling, r in figure.ratios.items()
    ]
    return "; ".join(parts) or "—"


def _met(figure: Figure) -> str:
    if figure.target is None:
        return ""
    met = figure.met
    return f"{figure.target} {'✓' if met else '✗' if met is False else '?'}"


def _rows(results: list[Result]) -> list[tuple[str, str, str, str, str, str]]:
    rows = []
    for r in results:
        if r.status != "ok" and not r.figures:
            rows.append((r.name, r.status.upper(), "", "", "", r.error or ""))
            continue
        for f in r.figures:
            rows.append((r.name, f.label, _fmt(f.value, f.unit), f.unit, _ratio(f), _met(f)))
        bad = [name for name, ok in r.checks.items() if not ok]
        if bad or r.status != "ok":
            rows.append((r.name, "CHECK FAILED", "", "", "", "; ".join(bad) or (r.error or "")))
    return rows


def table(results: list[Result]) -> Table:
    t = Table(title="Ankommen benchmarks", show_lines=False)
    for col, justify in (
        ("benchmark", "left"),
        ("figure", "left"),
        ("value", "right"),
        ("unit", "left"),
        ("ratio to ceiling", "left"),
        ("target", "left"),
    ):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    last = None
    for row in _rows(results):
        t.add_row(row[0] if row[0] != last else "", *row[1:])
        last = row[0]
    return t


def to_json(
    results: list[Result], info: dict[str, Any], size: str, started: datetime, seconds: float
) -> dict[str, Any]:
    return {
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "seconds": round(seconds, 1),
        "size": size,
        "machine": info,
        "results": [r.to_json() for r in results],
    }


def to_markdown(doc: dict[str, Any], results: list[Result]) -> str:
    m = doc["machine"]
    lines = [
        "# Ankommen benchmarks — latest run",
        "",
        f"Run {doc['started_at']} ({doc['seconds']} s, size `{doc['size']}`), "
        f"commit `{(m.get('git_commit') or '?')[:12]}`{' (dirty)' if m.get('git_dirty') else ''}.",
        "",
        f"Machine: {m['cores']} cores ({m.get('cpu') or '?'}), {m.get('memory_mb')} MB memory, "
        f"{m['os']}; Python {m['python']}, Kafka {m['kafka']}, PostgreSQL {m['postgresql']} "
        f"(fsync={m['postgresql_durability']['fsync']}, synchronous_commit="
        f"{m['postgresql_durability']['synchronous_commit']}); load average at start "
        f"{', '.join(f'{x:.2f}' for x in m['load_average_at_start'])}, at end "
        f"{', '.join(f'{x:.2f}' for x in m.get('load_average_at_end', []))}.",
        "",
        "Ratios divide a figure by the named ceiling measured in this run; see "
        "`bench/README.md` for what each means.",
        "",
        "| benchmark | figure | value | unit | ratio to ceiling | target |",
        "|---|---|---:|---|---|---|",
    ]
    last = None
    for row in _rows(results):
        name = row[0] if row[0] != last else ""
        last = row[0]
        lines.append("| " + " | ".join([name, *row[1:]]) + " |")
    lines += ["", "## Details", ""]
    for r in results:
        lines.append(f"- **{r.title}** ({r.seconds:.1f} s): " + _details(r))
    if NOTES.is_file():
        lines += ["", NOTES.read_text().strip(), ""]
    return "\n".join(lines) + "\n"


def _details(r: Result) -> str:
    parts = [f"{k} {'✓' if v else '✗'}" for k, v in r.checks.items()]
    if r.error:
        parts.append(f"error: {r.error.splitlines()[0]}")
    for k, v in r.details.items():
        if isinstance(v, float):
            v = round(v, 3)
        parts.append(f"{k}: {json.dumps(v, default=str) if not isinstance(v, str) else v}")
    return "; ".join(parts) if parts else "—"


def write(doc: dict[str, Any], results: list[Result], folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    js, md = folder / "latest.json", folder / "latest.md"
    js.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    md.write_text(to_markdown(doc, results))
    return js, md
