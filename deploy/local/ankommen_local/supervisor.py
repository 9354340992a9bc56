"""Run Ankommen's services as local OS processes (uvicorn), for the demo, e2e and chaos.

Each service is started exactly as an ops team would start it alone:
``uvicorn --factory <service>.app:create_app`` with its ``ANKOMMEN_*`` environment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .util import port_open

# Fixed local ports so a person can find each service's API docs (http://127.0.0.1:PORT/docs).
SERVICE_PORTS: dict[str, int] = {
    "allocation": 8101,
    "housing": 8102,
    "integration": 8103,
    "volunteers": 8104,
    "reporting": 8105,
}
KEEP_ALIVE_SECONDS = 30  # how long a service keeps an idle client connection open
EVENT_LOOP = ("--loop", "uvloop", "--http", "httptools")  # also the images' (Dockerfile)


@dataclass
class ServiceProcess:
    """One service process: started, probed for readiness, stopped (or killed)."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if port_open("127.0.0.1", self.port):
            # or the new process dies on its bind while the old one answers our probes: a
            # run would silently drive another run's services and databases
            raise RuntimeError(
                f"port {self.port} for {self.name} is taken by another process (a run still "
                "serving its dashboard?): stop it, or choose other ports (--port-base)"
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"{self.name}.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-access-log",
            # uvloop and httptools (the runtime's dependencies): the services spend most of
            # their CPU on socket round trips; these halve the event loop's share of it
            *EVENT_LOOP,
            # a scenario's clients keep their connections between steps (uvicorn's default
            # of 5 s made them reconnect, or reuse one being closed: ReadError)
            "--timeout-keep-alive",
            str(KEEP_ALIVE_SECONDS),
        ]
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **self.env},
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal reaches the demo, which stops us
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited; log:\n{self.tail()}")
            if self.ready():
                return
            time.sleep(0.3)
        raise TimeoutError(f"{self.name} not ready after {timeout:.0f}s; log:\n{self.tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        if not self.alive():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as when a node dies."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def start_all(procs: list[ServiceProcess], timeout: float = 90.0) -> None:
    """Start every process and wait until each is ready: all of them, or none.

    The services run in sessions of their own, so a caller that fails half way (a service
    that exits at start, SIGTERM meanwhile) would leave the started ones behind, holding
    their ports: those are stopped before the error goes on."""
    try:
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.wait_ready(timeout)
    except BaseException:
        for proc in procs:
            proc.stop()
        raise


def service_env(
    name: str, *, kafka_bootstrap: str, database_url: str, **extra: str
) -> dict[str, str]:
    env = {
        "ANKOMMEN_SERVICE": name,
        "ANKOMMEN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "ANKOMMEN_DATABASE_URL": database_url,
        "ANKOMMEN_HTTP_PORT": str(SERVICE_PORTS.get(name, 0)),
    }
    env.update({f"ANKOMMEN_{k.upper()}": v for k, v in extra.items()})
    return env
