"""Where the CPU went during a benchmark: per process group, from /proc (Linux only).

On a 2-core machine shared by Kafka, PostgreSQL and the Python processes, the pipeline is
bounded by total CPU; the time each part used per event says what to optimise.
Other engineers' work on the same servers shows up in ``postgres``/``kafka``/``other``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

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


def snapshot(children: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds used so far by the named child pids, PostgreSQL, Kafka and the machine."""
    out: dict[str, float] = {}
    for name, pid in children.items():
        user, system = _proc_times(pid)
        out[name] = user + system
        out[f"{name}_kernel"] = system  # sockets and syscalls: part of the above
    out["bench"] = _proc_seconds(os.getpid())
    postgres = kafka = 0.0
    if Path("/proc").is_dir():
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            comm = _comm(pid)
            if comm == "postgres":
                postgres += _proc_seconds(pid)
            elif comm == "java" and "kafka.Kafka" in _cmdline(pid):
                kafka += _proc_seconds(pid)
    out["postgres"] = postgres  # backends that ended meanwhile are lost: a lower bound
    out["kafka"] = kafka
    out["machine_busy"], out["machine_total"] = _machine_busy_seconds()
    return out


def usage(before: Mapping[str, float], after: Mapping[str, float], events: int) -> dict[str, float]:
    """CPU milliseconds per 1,000 events by group, plus the machine's busy share."""
    diff = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    busy, total = diff.pop("machine_busy"), diff.pop("machine_total")
    known = sum(v for k, v in diff.items() if not k.endswith("_kernel"))
    out = {f"{k}_ms_per_1k_events": round(v * 1e6 / events, 1) for k, v in diff.items()}
    out["other_ms_per_1k_events"] = round(max(busy - known, 0.0) * 1e6 / events, 1)
    out["machine_busy_share"] = round(busy / total, 3) if total else 0.0
    return out
