"""A scenario run stopped by SIGTERM (a job's timeout, a cancelled CI run, ``kill``) stops
the five services it started, as Ctrl-C does: they run in sessions of their own, so
nothing else would, and they would keep their ports and their run's databases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from ankommen_local.config import REPO_ROOT, SERVICES
from ankommen_local.infra import Endpoints
from ankommen_local.scenario.cli import drop_run
from ankommen_local.util import cmdline, free_ports, port_open, run_sync

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

STARTED_WITHIN = 120.0  # five services' start and migrations on a busy 2-core machine
STOPPED_WITHIN = 30.0  # each service has 20 s for its shutdown (ServiceProcess.stop)


def _kill_left_behind(ports: list[int]) -> None:
    """Services a failing run left behind: killed, or they outlive the test session."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if any(f"--port {p} " in cmdline(int(pid)) for p in ports):
            os.kill(int(pid), signal.SIGKILL)


def test_a_terminated_scenario_run_stops_every_service_it_started(
    infra: Endpoints, tmp_path: Path
) -> None:
    base, run = free_ports(len(SERVICES), in_a_row=True)[0], f"term{uuid.uuid4().hex[:8]}"
    ports = [base + i for i in range(len(SERVICES))]
    env = {
        **os.environ,
        "CI": "true",
        "ANKOMMEN_INFRA": "external",
        "ANKOMMEN_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "ANKOMMEN_PG_ADMIN_DSN": infra.pg_admin_dsn,
        **{f"ANKOMMEN_{s.upper()}_DATABASE_URL": infra.service_dsn(s) for s in SERVICES},
    }
    log = (tmp_path / "run.log").open("wb")
    run_process = subprocess.Popen(
        [
            *(sys.executable, "-m", "ankommen_local.scenario"),
            *("--from", "2015-01-05", "--to", "2015-12-27", "--scale", "0.2"),
            *("--run", run, "--port-base", str(base), "--output", str(tmp_path / "out")),
            *("--no-reports", "--no-serve"),
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + STARTED_WITHIN
        while not all(port_open("127.0.0.1", p) for p in ports):
            assert run_process.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the five services did not start"
            time.sleep(0.5)
        time.sleep(2)  # into the weeks: the runner is driving the services now

        run_process.send_signal(signal.SIGTERM)
        status = run_process.wait(STOPPED_WITHIN + 30)

        output = (tmp_path / "run.log").read_text()
        assert status == 128 + signal.SIGTERM, output[-3000:]
        assert "weeks in" not in output, "terminated mid-run, not after it"
        still_open = [p for p in ports if port_open("127.0.0.1", p)]
        assert not still_open, f"services still answer on {still_open}"
    finally:
        if run_process.poll() is None:
            run_process.kill()
            run_process.wait()
        _kill_left_behind(ports)
        log.close()
        run_sync(drop_run(infra, run))
