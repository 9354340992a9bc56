"""Service settings from environment variables (``ANKOMMEN_*``), via pydantic-settings."""

from __future__ import annotations

import os
from datetime import datetime

from pydantic import AwareDatetime, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .local_issuer import LOCAL_ISSUER, LocalIssuer, audience_of
from .topics import dlq_topic, event_topic


class ServiceSettings(BaseSettings):
    """What one service process needs to know about its surroundings.

    ``ANKOMMEN_DATABASE_URL`` wins; else ``ANKOMMEN_<SERVICE>_DATABASE_URL`` (so one shell
    can hold all five, as ``ankommen-local env`` prints them); else the local default.
    """

    model_config = SettingsConfigDict(env_prefix="ANKOMMEN_", extra="ignore")

    service: str = Field(description="Service name: allocation, housing, …")
    kafka_bootstrap: str = "127.0.0.1:19092"
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
    relay_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_retention_hours: float = Field(default=168.0, gt=0)
    consumer_batch_size: int = Field(default=500, ge=1, le=10_000)
    consumer_poll_ms: int = Field(
        default=20,
        ge=1,
        le=1_000,
        description="How long an idle consumer waits for records per poll; faststream also "
        "sleeps this long after an empty poll, so it bounds the extra latency when quiet "
        "(bench/NOTES.md: 100 ms gave p99 115 ms at 5 commands/s, 20 ms gives 35 ms for "
        "about 1 % of a core more per idle consumer process).",
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
            self.database_url = os.environ.get(
                f"ANKOMMEN_{svc.upper()}_DATABASE_URL",
                f"postgresql://{svc}:{svc}@127.0.0.1:55432/{svc}",
            )
        if self.consumer_group is None:
            self.consumer_group = self.service
        if self.oidc_jwks_url is None:
            self.oidc_jwks_url = LocalIssuer().jwks_url
        if self.oidc_audience is None:
            self.oidc_audience = audience_of(self.service)
        return self

    def topic(self, source: str) -> str:
        """The topic ``source`` publishes on, in this environment."""
        return event_topic(source, self.topic_prefix)

    def dlq_topic(self, source: str) -> str:
        """The dead-letter topic of consumers of ``source``'s topic, in this environment."""
        return dlq_topic(self.topic(source))

    @property
    def dsn(self) -> str:
        assert self.database_url is not None
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
