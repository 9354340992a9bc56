"""Service settings from environment variables (``ANKOMMEN_*``), via pydantic-settings."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .http import DEFAULT_MAX_BODY_BYTES
from .kafka import REQUEST_TIMEOUT_MS
from .local_issuer import LOCAL_ISSUER, LocalIssuer, audience_of
from .pseudonym import LOCAL_DEVELOPMENT_KEY, MIN_KEY_LENGTH
from .topics import dead_letter_topic, event_topic


class KafkaSettings(BaseSettings):
    """How to reach the Kafka cluster (``ANKOMMEN_KAFKA_*``): a service's, and alone the
    operator commands' (``ankommen dlq``), which run as a user of their own."""

    model_config = SettingsConfigDict(env_prefix="ANKOMMEN_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="SASL_SSL on a Strimzi cluster, SASL_PLAINTEXT on the locked-down local "
        "broker; PLAINTEXT only on the open local one.",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = Field(
        default=None, description="CA bundle of the brokers' TLS certificates (SASL_SSL)."
    )

    def default_kafka_user(self, user: str) -> None:
        """Where the broker is locked down, connect as ``user`` unless one is named, with the
        password of ``ANKOMMEN_<USER>_KAFKA_SASL_PASSWORD`` unless one is given: like the
        database URL, one shell (``ankommen-local env``) holds every user's password."""
        if self.kafka_security_protocol == "PLAINTEXT":
            return
        if self.kafka_sasl_username is None:
            self.kafka_sasl_username = user
        if self.kafka_sasl_password is None:
            own = os.environ.get(f"ANKOMMEN_{user.upper()}_KAFKA_SASL_PASSWORD")
            self.kafka_sasl_password = SecretStr(own) if own else None

    def kafka_client_options(self) -> dict[str, Any]:
        """Security keyword arguments for every aiokafka client (producer, consumer, admin)."""
        if self.kafka_security_protocol == "PLAINTEXT":
            return {}
        if self.kafka_sasl_username is None or self.kafka_sasl_password is None:
            raise ValueError(
                f"ANKOMMEN_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "ANKOMMEN_KAFKA_SASL_USERNAME and ANKOMMEN_KAFKA_SASL_PASSWORD"
            )
        options: dict[str, Any] = {
            "security_protocol": self.kafka_security_protocol,
            "sasl_mechanism": self.kafka_sasl_mechanism,
            "sasl_plain_username": self.kafka_sasl_username,
            "sasl_plain_password": self.kafka_sasl_password.get_secret_value(),
        }
        if self.kafka_security_protocol == "SASL_SSL":
            from aiokafka.helpers import create_ssl_context

            options["ssl_context"] = create_ssl_context(cafile=self.kafka_ssl_cafile)
        return options


class ServiceSettings(KafkaSettings):
    """What one service process needs to know about its surroundings.

    ``ANKOMMEN_DATABASE_URL`` wins; else ``ANKOMMEN_<SERVICE>_DATABASE_URL`` (so one shell
    can hold all five, as ``ankommen-local env`` prints them); else, only with
    ``ANKOMMEN_LOCAL_DEV=true``, the local cluster's built-in URL. Without any of them the
    service refuses to start (``dsn`` raises) rather than guess a database.
    """

    service: str = Field(description="Service name: allocation, housing, …")
    local_dev: bool = Field(
        default=False,
        description="Local development mode: allows the built-in local database URL when "
        "no ANKOMMEN_DATABASE_URL is given. Never set in a deployment.",
    )
    database_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "INFO"
    topic_prefix: str = Field(
        default="",
        description="Prefix of every topic name, e.g. `staging.`; tests use it for isolation.",
    )
    create_topics: bool = Field(
        default=True,
        description="Create the service's topics at start-up (off where an operator owns them).",
    )
    topic_partitions: int = 3
    consumer_group: str | None = Field(
        default=None, description="Kafka consumer group; defaults to the service name."
    )
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    kafka_request_timeout_ms: int = Field(
        default=REQUEST_TIMEOUT_MS,
        ge=1_000,
        le=300_000,
        description="How long the service's producer (outbox relay, dead letters) waits for "
        "the broker's answer or a topic's metadata before a send fails and is retried.",
    )
    relay_poll_seconds: float = Field(default=1.0, gt=0)
    stop_seconds: float = Field(
        default=25.0,
        gt=0,
        le=300,
        description="How long stopping may take (consumers, tasks, producer, pool); what "
        "has not stopped by then is left behind, logged. Under Kubernetes' 30 s grace.",
    )
    outbox_retention_hours: float = Field(default=168.0, gt=0)
    consumer_batch_size: int = Field(default=500, ge=1, le=10_000)
    consumer_poll_ms: int = Field(
        default=100,
        ge=1,
        le=1_000,
        description="How long an idle consumer's poll waits for records; a record arriving "
        "ends the wait at once. faststream's nap of as long after an empty poll (which "
        "made this the extra latency of a quiet hop: bench/NOTES.md, 100 ms gave p99 "
        "115 ms at 5 commands/s, 20 ms 35 ms) is left out (consumer.subscribe).",
    )
    consumer_fetch_min_bytes: int = Field(
        default=1,
        ge=1,
        le=52_428_800,
        description="Kafka's fetch.min.bytes for the service's consumer: the broker holds a "
        "fetch until this many bytes are there or `consumer_fetch_max_wait_ms` has passed. "
        "1 (the default) answers as soon as one record is there. A consumer no one waits "
        "for (reporting in a scenario run) may raise it: fewer, larger batches, each a "
        "transaction and an offset commit (docs/runtime.md).",
    )
    consumer_fetch_max_wait_ms: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="Kafka's fetch.max.wait.ms: how long the broker may hold a fetch for "
        "`consumer_fetch_min_bytes`; with the default minimum of 1 byte it only bounds an "
        "idle fetch, so it adds no latency.",
    )
    gc_threshold: int = Field(
        default=10_000,
        ge=0,
        description="CPython's young-generation GC threshold once the service runs (the "
        "interpreter's default is 700); 0 leaves it alone. See runtime/service.py tune_gc.",
    )
    retry_attempts: int = Field(default=5, ge=1, le=20)
    retry_base_seconds: float = Field(default=0.05, gt=0)
    retry_max_seconds: float = Field(default=2.0, gt=0)
    pool_min_size: int = 1
    pool_max_size: int = 10
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP traces endpoint, e.g. http://otel-collector:4318/v1/traces; "
        "tracing is off when unset or empty.",
    )
    oidc_issuer: str = Field(
        default=LOCAL_ISSUER,
        description="Issuer (`iss`) of the access tokens: the city's identity provider in "
        "production; the project's local issuer by default.",
    )
    oidc_jwks_url: str | None = Field(
        default=None,
        description="Where the issuer's public keys (JWKS) are: an https URL or a file; "
        "defaults to the local issuer's keys in the state folder.",
    )
    oidc_audience: str | None = Field(
        default=None, description="Audience (`aud`) this service accepts; `ankommen-<service>`."
    )
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES,
        ge=1024,
        description="Request bodies larger than this are answered 413 before parsing.",
    )
    pseudonym_key: SecretStr | None = Field(
        default=None,
        min_length=MIN_KEY_LENGTH,
        description="Key of the HMAC pseudonyms events carry instead of direct identifiers "
        "(the Land's reference). Required unless the local issuer is used (development, "
        "tests, demo); keep it in the secret store, and never rotate it without a plan: "
        "pseudonyms made under another key do not match.",
    )

    environment: str = Field(
        default="local",
        description="Where this runs: `local`, `test`, `staging` or `production`. In "
        "`production` a simulation is refused (docs/business-time.md).",
    )
    simulation: bool = Field(
        default=False,
        description="A simulation run: the business clock is simulated and moved only by "
        "`POST /_simulation/clock`, ids are seeded. Refused in production and on a "
        "database holding live data.",
    )
    simulation_seed: int = Field(default=0, description="Seed of the ids in a simulation run")
    simulation_start: AwareDatetime = Field(
        default=datetime.fromisoformat("2010-01-01T00:00:00+01:00"),
        description="Where the simulated clock starts (unless the database remembers a "
        "later simulated time)",
    )

    @model_validator(mode="after")
    def _no_simulation_in_production(self) -> ServiceSettings:
        if self.simulation and self.environment.strip().lower() in ("production", "prod"):
            raise ValueError(
                "ANKOMMEN_SIMULATION is on in a production environment: refused "
                "(a simulated clock would move the city's business time)"
            )
        return self

    @model_validator(mode="after")
    def _database_url(self) -> ServiceSettings:
        if self.database_url is None:
            svc = self.service
            self.database_url = os.environ.get(f"ANKOMMEN_{svc.upper()}_DATABASE_URL") or (
                f"postgresql://{svc}:{svc}@127.0.0.1:55432/{svc}" if self.local_dev else None
            )
        self.default_kafka_user(self.service)
        if self.consumer_group is None:
            self.consumer_group = self.service
        if self.oidc_jwks_url is None:
            self.oidc_jwks_url = LocalIssuer().jwks_url
        if self.oidc_audience is None:
            self.oidc_audience = audience_of(self.service)
        if self.pseudonym_key is None:
            if self.oidc_issuer != LOCAL_ISSUER:
                raise ValueError(
                    "ANKOMMEN_PSEUDONYM_KEY is required outside local development "
                    f"(the token issuer is {self.oidc_issuer!r}, not the local issuer)"
                )
            self.pseudonym_key = SecretStr(LOCAL_DEVELOPMENT_KEY)
        return self

    def topic(self, source: str) -> str:
        """The topic ``source`` publishes on, in this environment."""
        return event_topic(source, self.topic_prefix)

    def dlq_topic(self, source: str) -> str:
        """Where this service parks events of ``source``'s topic that failed every retry."""
        return dead_letter_topic(self.service, self.topic(source), self.topic_prefix)

    @property
    def dsn(self) -> str:
        if self.database_url is None:
            raise RuntimeError(
                f"no database for {self.service}: set ANKOMMEN_DATABASE_URL (or "
                f"ANKOMMEN_{self.service.upper()}_DATABASE_URL; ANKOMMEN_LOCAL_DEV=true "
                "allows the local cluster's default)"
            )
        return self.database_url

    @property
    def audience(self) -> str:
        assert self.oidc_audience is not None
        return self.oidc_audience

    @property
    def jwks_url(self) -> str:
        assert self.oidc_jwks_url is not None
        return self.oidc_jwks_url

    @property
    def group(self) -> str:
        assert self.consumer_group is not None
        return self.consumer_group
