"""Where the CPU went during a benchmark: per process group, from /proc (Linux only).

On a 2-core machine shared by Kafka, PostgreSQL and the Python processes, the pipeline is
bounded by total CPU; the time each part used per event says what to optimise.
Other engineers' work on the same servers shows up in ``postgres``/``kafka``/``other``.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0, 0.0
    return int(fields[11]) / _TICK, int(fields[12]) / _TICK


def _proc_seconds(pid: int) -> float:
    user, system = _proc_times(pid)
    return user + system


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    try:
        parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    total = sum(parts[:8])
    return (total - idle) / _TICK, total / _TICK


def _pidfile(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _servers() -> tuple[int | None, int | None]:
    """Pids of this project's PostgreSQL postmaster and Kafka broker (ankommen-local)."""
    from ankommen_local.config import Settings

    s = Settings.from_env()
    return _pidfile(s.pg_data / "postmaster.pid"), _pidfile(s.kafka_pidfile)


Snapshot = dict[str, Any]


def snapshot(children: Mapping[str, int]) -> Snapshot:
    """CPU seconds used so far by the named child pids, this project's PostgreSQL (per
    process) and Kafka, and the machine. Other people's servers are not counted."""
    out: Snapshot = {}
    for name, pid in children.items():
        user, system = _proc_times(pid)
        out[name] = user + system
        out[f"{name}_kernel"] = system  # sockets and syscalls: part of the above
    out["bench"] = _proc_seconds(os.getpid())
    postmaster, broker = _servers()
    postgres: dict[int, float] = {}
    kafka = 0.0
    if Path("/proc").is_dir():
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            comm = _comm(pid)
            if comm == "postgres" and (postmaster is None or _ppid(pid) == postmaster):
                postgres[pid] = _proc_seconds(pid)
            elif comm == "java" and (pid == broker if broker else "kafka.Kafka" in _cmdline(pid)):
                kafka += _proc_seconds(pid)
    out["postgres"] = postgres
    out["kafka"] = kafka
    out["machine_busy"], out["machine_total"] = _machine_busy_seconds()
    return out


async def postgres_pids(admin_dsn: str, databases: Collection[str]) -> set[int]:
    """Backends of the benchmark's databases and the server's own background processes
    (WAL writer, checkpointer, …): the PostgreSQL work the benchmark caused."""
    import asyncpg

    conn = await asyncpg.connect(admin_dsn)
    try:
        rows = await conn.fetch(
            """SELECT pid FROM pg_stat_activity
               WHERE datname = ANY($1::text[])
                  OR (datname IS NULL AND backend_type <> 'client backend')""",
            list(databases),
        )
    finally:
        await conn.close()
    return {r["pid"] for r in rows}


def usage(
    before: Snapshot, after: Snapshot, events: int, pg_pids: Collection[int] | None = None
) -> dict[str, float]:
    """CPU milliseconds per 1,000 events by group, plus the machine's busy share.

    ``postgres`` counts the processes in ``pg_pids`` (all of the cluster's if None);
    a backend that ended between the snapshots is lost, so it is a lower bound.
    """
    pg_before, pg_after = before["postgres"], after["postgres"]
    pids = set(pg_after) if pg_pids is None else set(pg_pids) & set(pg_after)
    diff = {
        k: after[k] - before.get(k, 0.0)
        for k in after
        if k not in ("postgres", "machine_busy", "machine_total")
    }
    diff["postgres"] = sum(pg_after[p] - pg_before.get(p, 0.0) for p in pids)
    busy = after["machine_busy"] - before["machine_busy"]
    total = after["machine_total"] - before["machine_total"]
    known = sum(v for k, v in diff.items() if not k.endswith("_kernel"))
    out = {f"{k}_ms_per_1k_events": round(v * 1e6 / events, 1) for k, v in diff.items()}
    out["other_ms_per_1k_events"] = round(max(busy - known, 0.0) * 1e6 / events, 1)
    out["machine_busy_share"] = round(busy / total, 3) if total else 0.0
    return out


def capacity(usage_: Mapping[str, float], parts: Sequence[str], cores: int) -> float | None:
    """Events/s the named parts could sustain if they had ``cores`` to themselves."""
    per_event_ms = sum(usage_.get(f"{p}_ms_per_1k_events", 0.0) for p in parts) / 1000
    return cores * 1000 / per_event_ms if per_event_ms else None
