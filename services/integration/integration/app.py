"""Composition root of the integration service: its settings, its spec, ``create_app``.

Routes live in ``api``, rules in ``domain``, SQL in ``store``, the glue in ``handlers``.
No I/O at import; run with ``uvicorn --factory integration.app:create_app``.
"""

from __future__ import annotations

import functools
import json
from datetime import timedelta
from pathlib import Path

from ankommen_runtime.service import Periodic, Runtime, ServiceSpec, create_service_app
from ankommen_runtime.settings import ServiceSettings
from fastapi import FastAPI
from pydantic import Field

from . import api, domain, handlers
from .store import PgIntegrationStore

TEAMS_FILE = Path(__file__).parent / "teams.json"


@functools.cache
def _teams_from(path: Path) -> domain.Teams:
    return domain.Teams.parse(json.loads(path.read_text("utf-8")))


class IntegrationSettings(ServiceSettings):
    """The runtime's settings plus integration's own (``ANKOMMEN_CASELOAD_LIMIT_PERSONS``, …)."""

    service: str = "integration"
    teams_file: Path = Field(
        default=TEAMS_FILE,
        description="Integrationsmanagement teams per Stadtbezirk with their staffing (JSON)",
    )
    caseload_limit_persons: int = Field(
        default=domain.DEFAULT_CASELOAD_LIMIT,
        ge=1,
        le=1000,
        description="Persons per social worker above which a caseload shows a warning",
    )
    # The city's readiness settings, JSON in ANKOMMEN_READINESS (README: 'Settings').
    readiness: domain.ReadinessPolicy = Field(default_factory=domain.ReadinessPolicy)
    retention_days: int = Field(
        default=3 * 365,
        ge=1,
        le=36_500,
        description="Days a closed case keeps its personal details before they are erased",
    )
    retention_sweep_seconds: float = Field(
        default=3600.0, gt=0, description="Pause between rounds of the retention sweep"
    )
    retention_batch_size: int = Field(
        default=200, ge=1, le=10_000, description="Closed cases erased per transaction"
    )

    def load_teams(self) -> domain.Teams:
        return _teams_from(self.teams_file)


async def erase_after_retention(runtime: Runtime) -> bool:
    """Erase personal details of cases closed longer than ``retention_days`` (business
    clock); True if a full batch went, so more may wait."""
    settings = runtime.settings
    assert isinstance(settings, IntegrationSettings)
    batch = settings.retention_batch_size
    erased = await handlers.erase_after_retention(
        runtime.uow,
        today=runtime.clock.today(),
        retention=timedelta(days=settings.retention_days),
        limit=batch,
    )
    return erased == batch


SPEC = ServiceSpec(
    name="integration",
    title="Ankommen integration",
    description="Integrationsmanagement: cases per household and Stadtbezirk, milestones, "
    "readiness for a flat, move-outs (Auszugsmanagement), handovers to the district "
    "structures, support requests for volunteers; personal details stay here.",
    settings=IntegrationSettings,
    migrations=Path(__file__).parent / "migrations",
    store=PgIntegrationStore,
    routers=api.ROUTERS,
    subscriptions=handlers.subscriptions,
    periodic=[
        Periodic("retention-sweep", erase_after_retention, lambda s: s.retention_sweep_seconds)
    ],
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
