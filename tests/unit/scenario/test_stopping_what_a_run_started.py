"""What a run starts, it stops: when a service fails to start, and when the run is
terminated (SIGTERM), not only at its end or on Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from ankommen_local.supervisor import ServiceProcess, start_all
from ankommen_local.util import stop_on_sigterm


class Recorded(ServiceProcess):
    """A service process that records what is done to it instead of running."""

    def __init__(self, name: str, log: list[str], *, fails_at_start: bool = False) -> None:
        super().__init__(name, 0, {}, Path("/dev/null"))
        self.log, self.fails_at_start = log, fails_at_start

    def start(self) -> None:
        self.log.append(f"start {self.name}")

    def wait_ready(self, timeout: float = 90.0) -> None:
        if self.fails_at_start:
            raise RuntimeError(f"{self.name} exited")
        self.log.append(f"ready {self.name}")

    def stop(self, timeout: float = 20.0) -> None:
        self.log.append(f"stop {self.name}")


def test_a_service_that_fails_to_start_takes_the_started_ones_down_with_it() -> None:
    log: list[str] = []
    procs = [Recorded("allocation", log), Recorded("housing", log, fails_at_start=True)]
    with pytest.raises(RuntimeError, match="housing exited"):
        start_all(procs)
    assert log == [
        "start allocation",
        "start housing",
        "ready allocation",
        "stop allocation",
        "stop housing",
    ]


def test_services_that_all_start_are_left_running() -> None:
    log: list[str] = []
    start_all([Recorded("allocation", log), Recorded("housing", log)])
    assert not [entry for entry in log if entry.startswith("stop")]


TERMINATED_RUN = """
import os, signal, time
from ankommen_local.util import stop_on_sigterm

@stop_on_sigterm()
def run():
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)
        print("ran on", flush=True)
    finally:
        print("stopped what it started", flush=True)

run()
"""


def test_sigterm_unwinds_a_run_and_exits_143() -> None:
    done = subprocess.run(
        [sys.executable, "-c", TERMINATED_RUN], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    assert done.stdout.splitlines() == ["stopped what it started"]


def test_the_handler_is_the_run_s_alone() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_sigterm():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_run_in_a_worker_thread_leaves_the_handler_alone() -> None:
    seen: list[Any] = []
    before = signal.getsignal(signal.SIGTERM)

    def in_thread() -> None:
        with stop_on_sigterm():
            seen.append(signal.getsignal(signal.SIGTERM))

    worker = threading.Thread(target=in_thread)
    worker.start()
    worker.join(10)
    assert seen == [before]
