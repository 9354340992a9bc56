"""Small process, file and asyncio helpers shared by the Kafka and PostgreSQL modules."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import os
import random
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

Echo = Callable[[str], None]


def quiet(_: str) -> None:
    """Default progress sink for the Python API: say nothing."""


class InfraError(RuntimeError):
    """A local server could not be installed, started, reached or stopped."""


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even if this thread runs a loop.

    The API is called from pytest fixtures and from the CLI; inside a running loop
    (an async fixture) asyncio.run() would refuse, so the work moves to a fresh thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def pid_alive(pid: int) -> bool:
    """True while ``pid`` is a live process (a zombie counts as gone)."""
    # Reap it if it is our own exited child; otherwise it would linger as a zombie and
    # os.kill(pid, 0) would keep succeeding.
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust kill(0)
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# Ports a test or bench hands to a server it starts are chosen below the kernel's ephemeral
# range: a port chosen from inside it is free only until the server binds it, and in the
# seconds a process takes to start, an outgoing connection (a client of Kafka or
# PostgreSQL) may take it as its local port, or the kernel may offer it to the next
# choice. Handed out once per process (the short chaos run's restarted replica met
# "address already in use": another replica of the run had been given its port too);
# pytest-xdist's workers each choose from a slice of their own.
_BELOW_EPHEMERAL_FROM = 20000
_handed_out: set[int] = set()
_picking = threading.Lock()
_random = random.Random()  # not the scenario's seeded one


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _slice(low: int, high: int) -> range:
    """This process's share of ``[low, high)``: one slice per pytest-xdist worker."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "").removeprefix("gw")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.isdigit() or workers < 2:
        return range(low, high)
    width = (high - low) // workers
    start = low + int(worker) % workers * width
    return range(start, start + width)


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(count: int, host: str = "127.0.0.1", *, in_a_row: bool = False) -> list[int]:
    """``count`` TCP ports nothing listens on now, none handed out before by this process,
    and none the OS gives an outgoing connection (below its ephemeral range): for servers a
    test, bench or run starts itself. ``in_a_row``: consecutive ports (the scenario CLI's
    ``--port-base``)."""
    candidates = _slice(_BELOW_EPHEMERAL_FROM, min(_ephemeral_start(), 65536))
    if len(candidates) < count:
        raise InfraError(f"no room for {count} ports below the ephemeral range")
    with _picking:
        for _ in range(200):
            if in_a_row:
                first = _random.randrange(candidates.start, candidates.stop - count + 1)
                ports = list(range(first, first + count))
            else:
                ports = _random.sample(candidates, count)
            if not _handed_out.intersection(ports) and all(_bindable(host, p) for p in ports):
                _handed_out.update(ports)
                return ports
    raise InfraError(f"found no {count} free ports in {candidates}")


def free_port(host: str = "127.0.0.1") -> int:
    """One port as :func:`free_ports` chooses them."""
    return free_ports(1, host)[0]


def tail(path: Path, lines: int = 40) -> str:
    try:
        content = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"({path} not found)"
    return "\n".join(content[-lines:])


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    what: str,
    timeout: float = 300,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing output; raise InfraError with its output on failure."""
    try:
        result = subprocess.run(
            [os.fspath(c) for c in cmd],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=cwd,
            check=False,
        )
    except FileNotFoundError as exc:
        raise InfraError(f"{what}: command not found: {cmd[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise InfraError(f"{what}: timed out after {timeout:.0f}s") from exc
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise InfraError(f"{what} failed (exit {result.returncode}):\n{output}")
    return result


class Terminated(SystemExit):
    """SIGTERM arrived (a job's timeout, a cancelled CI run, ``kill``)."""


def _terminated(signum: int, _frame: object) -> None:
    raise Terminated(128 + signum)


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Within: SIGTERM raises ``Terminated`` (exit status 143), so every ``finally`` runs.

    Python's default for SIGTERM is to die at once, without unwinding: the services a run
    started in sessions of their own (so that Ctrl-C reaches only the run) would live on,
    holding their ports and databases. Only the main thread may set a handler; called from
    another (the bench runs a scenario in a worker thread) this changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Serialise up/down between processes (CLI, pytest fixtures, scripts) on one state dir."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_if_changed(path: Path, content: str) -> bool:
    """Write ``content`` unless the file already holds it; True if written."""
    try:
        if path.read_text() == content:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(content)
    tmp.replace(path)
    return True
