"""Endpoints of Kafka and PostgreSQL for tests, from native processes, containers or env.

    with endpoints() as ep:
        ep.kafka_bootstrap, ep.pg_admin_dsn

ANKOMMEN_INFRA picks the backend:
  native          the servers of `ankommen-local up` (started if needed, left running)
  testcontainers  a Kafka and a PostgreSQL container, removed when the block ends
  external        ANKOMMEN_KAFKA_BOOTSTRAP and ANKOMMEN_PG_ADMIN_DSN, used as they are
  auto (default)  testcontainers if a Docker engine answers, else native
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from . import kafka, postgres, stack
from .config import SERVICES, TOPICS, Settings
from .util import run_sync

BACKENDS = ("native", "testcontainers", "external", "auto")
DOCKER_PROBE_TIMEOUT = 5.0
KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.0"  # the image testcontainers' KafkaContainer expects
POSTGRES_IMAGE = "postgres:15"  # same major version as the native cluster


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap: str
    pg_admin_dsn: str

    def dsn_for(self, database: str, user: str | None = None, password: str | None = None) -> str:
        """The admin DSN pointed at another database (and optionally another role)."""
        parts = urlsplit(self.pg_admin_dsn)
        netloc = parts.netloc
        if user is not None:
            host = netloc.rsplit("@", 1)[-1]
            netloc = f"{user}:{password}@{host}" if password is not None else f"{user}@{host}"
        return urlunsplit((parts.scheme, netloc, f"/{database}", parts.query, parts.fragment))

    def service_dsn(self, service: str) -> str:
        """A service's own database as its own role (role = database = password)."""
        return self.dsn_for(service, user=service, password=service)


def docker_available(timeout: float = DOCKER_PROBE_TIMEOUT) -> bool:
    """True if `docker info` reaches an engine quickly (the CLI may exist without one)."""
    if shutil.which("docker") is None:
        return False
    try:
        probe = subprocess.run(
            ["docker", "info"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def selected_backend() -> str:
    """The backend ANKOMMEN_INFRA asks for, with auto resolved."""
    choice = os.environ.get("ANKOMMEN_INFRA", "auto").strip().lower() or "auto"
    if choice not in BACKENDS:
        raise ValueError(f"ANKOMMEN_INFRA must be one of {', '.join(BACKENDS)}, got {choice!r}")
    if choice == "auto":
        return "testcontainers" if docker_available() else "native"
    return choice


def native_endpoints(settings: Settings | None = None) -> Endpoints:
    """Make sure the native servers run (same code as `ankommen-local up`); leave them up."""
    s = settings or Settings.from_env()
    stack.up(s)
    return Endpoints(s.kafka_bootstrap, s.pg_admin_dsn)


def external_endpoints() -> Endpoints:
    try:
        return Endpoints(
            os.environ["ANKOMMEN_KAFKA_BOOTSTRAP"], os.environ["ANKOMMEN_PG_ADMIN_DSN"]
        )
    except KeyError as exc:
        raise RuntimeError(
            f"ANKOMMEN_INFRA=external needs {exc.args[0]} (see `ankommen-local env`)"
        ) from exc


@contextmanager
def _containers() -> Iterator[Endpoints]:
    # Imported here: testcontainers is a dev dependency and needs a Docker engine.
    try:
        from testcontainers.community.kafka import KafkaContainer
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:  # older layouts
        from testcontainers.kafka import KafkaContainer  # type: ignore[no-redef]
        from testcontainers.postgres import PostgresContainer  # type: ignore[no-redef]

    # Broker settings as in the native server.properties, where the image differs.
    kafka_node = (
        KafkaContainer(KAFKA_IMAGE)
        .with_kraft()
        .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
    )
    with (
        kafka_node as kafka_container,
        PostgresContainer(
            POSTGRES_IMAGE, username="postgres", password="postgres", dbname="postgres"
        ) as pg_container,
    ):
        ep = Endpoints(
            kafka_container.get_bootstrap_server(),
            pg_container.get_connection_url(driver=None),
        )
        # Same topics and service databases as the native setup, so tests see no difference.
        run_sync(kafka.ensure_topics(ep.kafka_bootstrap, TOPICS))
        run_sync(postgres.ensure_databases(ep.pg_admin_dsn, SERVICES))
        yield ep


@contextmanager
def endpoints() -> Iterator[Endpoints]:
    """Yield the endpoints of the backend chosen by ANKOMMEN_INFRA (see module doc)."""
    backend = selected_backend()
    if backend == "testcontainers":
        with _containers() as ep:
            yield ep
    elif backend == "external":
        yield external_endpoints()
    else:
        yield native_endpoints()
