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

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

from . import kafka, postgres, stack
from .config import KAFKA_VERSION, SERVICES, TOPICS, Settings
from .util import InfraError, free_port, run_sync

BACKENDS = ("native", "testcontainers", "external", "auto")
DOCKER_PROBE_TIMEOUT = 5.0
# The official image of the same Kafka release the native broker runs (and compose, and
# Strimzi's Kafka version in deploy/k8s).
KAFKA_IMAGE = f"apache/kafka:{KAFKA_VERSION}"
POSTGRES_IMAGE = "postgres:15"  # same major version as the native cluster
KAFKA_CONTAINER_TIMEOUT = 120.0


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap: str
    pg_admin_dsn: str
    # Each service role's password where it is not the role's name (a scram cluster).
    passwords: dict[str, str] = field(default_factory=dict, compare=False)
    # The directory of PostgreSQL's Unix socket where the server runs on this machine (the
    # native one); None for a container's or an external server.
    pg_socket_dir: str | None = field(default=None, compare=False)

    def dsn_for(self, database: str, user: str | None = None, password: str | None = None) -> str:
        """The admin DSN pointed at another database (and optionally another role)."""
        parts = urlsplit(self.pg_admin_dsn)
        netloc = parts.netloc
        if user is not None:
            host = netloc.rsplit("@", 1)[-1]
            netloc = f"{user}:{password}@{host}" if password is not None else f"{user}@{host}"
        return urlunsplit((parts.scheme, netloc, f"/{database}", parts.query, parts.fragment))

    def service_dsn(self, service: str, database: str | None = None) -> str:
        """A service's own database (or ``database``: a scenario run's) as its own role
        (role = service name), with the role's generated password (or the role name on an
        older trusted cluster)."""
        return self.dsn_for(
            database or service, user=service, password=self.passwords.get(service, service)
        )

    def through_socket(self, dsn: str) -> str:
        """``dsn`` over the server's Unix socket where it has one on this machine, else
        unchanged. A statement's round trip through the socket costs its client and the
        server less CPU than through TCP on the loopback (about a sixth less, measured in
        docs/scenario.md, "Speed"). For the processes of a scenario run; tests that put a
        proxy between a service and its database keep TCP."""
        if self.pg_socket_dir is None:
            return dsn
        parts = urlsplit(dsn)
        auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        query = urlencode({"host": self.pg_socket_dir, "port": parts.port or 5432})
        return urlunsplit((parts.scheme, auth, parts.path, query, ""))


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
    return endpoints_of(s)


def endpoints_of(s: Settings) -> Endpoints:
    """The endpoints of one local installation, with its roles' passwords."""
    return Endpoints(
        s.kafka_bootstrap,
        s.pg_admin_dsn,
        s.service_passwords(),
        pg_socket_dir=str(postgres.socket_dir(s)),
    )


def external_endpoints() -> Endpoints:
    # The per-service URLs `ankommen-local env` prints carry each role's password.
    passwords = {}
    for service in SERVICES:
        url = os.environ.get(f"ANKOMMEN_{service.upper()}_DATABASE_URL", "")
        password = urlsplit(url).password if url else None
        if password is not None:
            passwords[service] = password
    try:
        return Endpoints(
            os.environ["ANKOMMEN_KAFKA_BOOTSTRAP"], os.environ["ANKOMMEN_PG_ADMIN_DSN"], passwords
        )
    except KeyError as exc:
        raise RuntimeError(
            f"ANKOMMEN_INFRA=external needs {exc.args[0]} (see `ankommen-local env`)"
        ) from exc


def kafka_container_env(host_port: int) -> dict[str, str]:
    """apache/kafka's settings for one KRaft node, as the native server.properties has them.

    testcontainers' KafkaContainer drives Confluent's image scripts, so the official image
    runs as a plain container; its client port is bound to a known host port because the
    advertised listener must name the address the tests connect to.
    """
    return {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{host_port}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_NUM_PARTITIONS": "1",
        "KAFKA_DEFAULT_REPLICATION_FACTOR": "1",
        "KAFKA_MIN_INSYNC_REPLICAS": "1",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS": "3",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    }


async def _wait_kafka(bootstrap: str, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await kafka.is_ready(bootstrap):
        if loop.time() > deadline:
            raise InfraError(f"the Kafka container did not answer on {bootstrap} in {timeout}s")
        await asyncio.sleep(0.5)


@contextmanager
def _containers() -> Iterator[Endpoints]:
    # Imported here: testcontainers is a dev dependency and needs a Docker engine.
    from testcontainers.core.container import DockerContainer

    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:  # older layouts
        from testcontainers.postgres import PostgresContainer  # type: ignore[no-redef]

    host_port = free_port()
    kafka_node = DockerContainer(KAFKA_IMAGE).with_bind_ports(9092, host_port)
    for key, value in kafka_container_env(host_port).items():
        kafka_node = kafka_node.with_env(key, value)
    with (
        kafka_node,
        PostgresContainer(
            POSTGRES_IMAGE, username="postgres", password="postgres", dbname="postgres"
        ) as pg_container,
    ):
        ep = Endpoints(f"127.0.0.1:{host_port}", pg_container.get_connection_url(driver=None))
        run_sync(_wait_kafka(ep.kafka_bootstrap, KAFKA_CONTAINER_TIMEOUT))
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
