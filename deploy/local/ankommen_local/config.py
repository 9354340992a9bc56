"""Where the local servers live and what they serve: one place for ports, paths, topics."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ankommen_runtime.topics import EVENT_STREAMS, all_topics

KAFKA_VERSION = "4.3.1"

# The package sits at <repo>/deploy/local/ankommen_local; the workspace installs it editable,
# so the repository (and the committed pom.xml) can be found from this file.
PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parents[2]
KAFKA_POM = PACKAGE_DIR.parent / "kafka" / "pom.xml"

# One database and one role per service (role name = database name). A cluster initialised
# by this version uses scram-sha-256 with a generated password per role (secrets.py); one
# initialised before keeps `trust` and password = role name, so it runs on unchanged.
SERVICES: tuple[str, ...] = ("allocation", "housing", "integration", "volunteers", "reporting")
__all__ = ["EVENT_STREAMS", "SERVICES", "TOPICS", "Settings", "TopicSpec"]


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int = 1
    configs: dict[str, str] = field(default_factory=dict)


# Every topic the project creates itself (the broker runs with auto.create.topics.enable=false),
# derived from the runtime's topic configuration as code (ankommen_runtime.topics): the
# event streams and each consumer's own dead-letter topics, with retention and min ISR.
# The local broker is a single node, so replication is 1 here (topics.for_cluster).
TOPICS: tuple[TopicSpec, ...] = tuple(
    TopicSpec(
        name,
        partitions=config.for_cluster(1).partitions,
        replication_factor=config.for_cluster(1).replication_factor,
        configs=dict(config.for_cluster(1).configs),
    )
    for name, config in all_topics().items()
)


def _bool_env(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name} must be true or false, got {raw!r}")


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer port, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    """Paths and ports of one local installation; two state dirs can run side by side."""

    state_dir: Path
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    pg_port: int = 55432
    host: str = "127.0.0.1"
    # Locked-down broker: SASL/SCRAM users and ACLs per service (kafka_acls.py).
    kafka_sasl: bool = False

    @classmethod
    def from_env(cls) -> Settings:
        state = os.environ.get("ANKOMMEN_STATE_DIR", "").strip()
        kafka_port = _int_env("ANKOMMEN_KAFKA_PORT", 19092)
        return cls(
            state_dir=Path(state).expanduser().resolve() if state else REPO_ROOT / ".state",
            kafka_port=kafka_port,
            # The controller listener sits next to the client port unless told otherwise.
            kafka_controller_port=_int_env("ANKOMMEN_KAFKA_CONTROLLER_PORT", kafka_port + 1),
            pg_port=_int_env("ANKOMMEN_PG_PORT", 55432),
            kafka_sasl=_bool_env("ANKOMMEN_KAFKA_SASL"),
        )

    # --- Kafka -------------------------------------------------------------------------
    @property
    def kafka_dir(self) -> Path:
        return self.state_dir / "kafka"

    @property
    def kafka_lib(self) -> Path:
        return self.kafka_dir / "lib"

    @property
    def kafka_data(self) -> Path:
        return self.kafka_dir / "data"

    @property
    def kafka_logs(self) -> Path:
        return self.kafka_dir / "logs"

    @property
    def kafka_pidfile(self) -> Path:
        return self.kafka_dir / "kafka.pid"

    @property
    def kafka_properties(self) -> Path:
        return self.kafka_dir / "server.properties"

    @property
    def kafka_log4j(self) -> Path:
        return self.kafka_dir / "log4j2.properties"

    @property
    def kafka_credentials_file(self) -> Path:
        return self.kafka_dir / "credentials.json"

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    # --- PostgreSQL ----------------------------------------------------------------------
    @property
    def pg_dir(self) -> Path:
        return self.state_dir / "pg"

    @property
    def pg_data(self) -> Path:
        return self.pg_dir / "data"

    @property
    def pg_run(self) -> Path:
        return self.pg_dir / "run"

    @property
    def pg_logs(self) -> Path:
        return self.pg_dir / "logs"

    @property
    def pg_logfile(self) -> Path:
        return self.pg_logs / "postgres.log"

    @property
    def secrets_dir(self) -> Path:
        """Generated passwords (0700; files 0600). Separate from the state folder itself,
        which PostgreSQL's OS user must be able to traverse when run as root."""
        return self.state_dir / "secrets"

    @property
    def pg_passwords_file(self) -> Path:
        return self.secrets_dir / "postgres.json"

    @property
    def pg_scram_marker(self) -> Path:
        return self.pg_dir / "auth-scram-sha-256"

    @property
    def pg_scram(self) -> bool:
        """True for a cluster initialised with scram-sha-256 and generated passwords."""
        return self.pg_scram_marker.is_file()

    def pg_password(self, role: str) -> str | None:
        """The role's password: generated (scram cluster), else the role name (services)
        or none (the trusted admin)."""
        if self.pg_scram:
            from .secrets import read

            stored = read(self.pg_passwords_file).get(role)
            if stored is None:
                raise KeyError(f"no password for role {role!r} in {self.pg_passwords_file}")
            return stored
        return None if role == "postgres" else role

    def _dsn(self, role: str, database: str) -> str:
        password = self.pg_password(role)
        auth = f"{role}:{password}" if password is not None else role
        return f"postgresql://{auth}@{self.host}:{self.pg_port}/{database}"

    @property
    def pg_admin_dsn(self) -> str:
        return self._dsn("postgres", "postgres")

    def service_dsn(self, service: str) -> str:
        return self._dsn(service, service)

    def service_passwords(self) -> dict[str, str]:
        return {service: self.pg_password(service) or service for service in SERVICES}

    # --- shared --------------------------------------------------------------------------
    @property
    def lockfile(self) -> Path:
        return self.state_dir / "infra.lock"

    def env(self) -> dict[str, str]:
        """The variables a service or script needs to reach these servers."""
        values = {
            "ANKOMMEN_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "ANKOMMEN_PG_ADMIN_DSN": self.pg_admin_dsn,
        }
        for service in SERVICES:
            values[f"ANKOMMEN_{service.upper()}_DATABASE_URL"] = self.service_dsn(service)
        if self.kafka_sasl:
            from .kafka_acls import ADMIN, MECHANISM, credentials

            values["ANKOMMEN_KAFKA_SECURITY_PROTOCOL"] = "SASL_PLAINTEXT"
            values["ANKOMMEN_KAFKA_SASL_MECHANISM"] = MECHANISM
            # The services may not create topics there; `up` created them as admin.
            values["ANKOMMEN_CREATE_TOPICS"] = "false"
            # Each service's, and `ankommen dlq`'s as `operations`; never the admin's.
            for user, password in credentials(self).items():
                if user != ADMIN:
                    values[f"ANKOMMEN_{user.upper()}_KAFKA_SASL_PASSWORD"] = password
        return values
