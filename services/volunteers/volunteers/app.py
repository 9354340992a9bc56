"""Composition root of the volunteers service (Koordinierungsstelle Flüchtlingshilfe):
settings, the spec (routes, the integration subscription, the periodic check), create_app.

No I/O at import; run with ``uvicorn --factory volunteers.app:create_app``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from ankommen_runtime.clock import Clock
from ankommen_runtime.service import Periodic, Runtime, ServiceSpec, create_service_app
from ankommen_runtime.settings import ServiceSettings
from fastapi import FastAPI
from pydantic import Field

from . import districts, handlers
from .api import ROUTERS
from .store import PgVolunteersStore


class VolunteersSettings(ServiceSettings):
    """The runtime's settings plus the coordination office's rules (``ANKOMMEN_*``)."""

    service: str = "volunteers"
    certificate_validity_days: int = Field(
        default=5 * 365,
        ge=1,
        le=10 * 366,
        description="How long an extended police certificate counts from its issue date",
    )
    certificate_max_age_days: int = Field(
        default=90,
        ge=0,
        le=3650,
        description="How old a certificate may be when shown (commonly three months)",
    )
    certificate_warning_days: int = Field(
        default=60,
        ge=0,
        le=730,
        description="How far ahead /vetting/expiring lists certificates running out",
    )
    request_overdue_days: int = Field(
        default=14, ge=1, le=365, description="Open longer than this, a request is flagged"
    )
    sweep_seconds: float = Field(
        default=60.0, gt=0, description="Pause between rounds of the periodic check"
    )
    sweep_batch_size: int = Field(
        default=200, ge=1, le=10_000, description="Matches ended per round, at most"
    )

    @property
    def rules(self) -> handlers.Rules:
        return handlers.Rules(
            certificate_validity=timedelta(days=self.certificate_validity_days),
            certificate_max_age=timedelta(days=self.certificate_max_age_days),
            request_overdue_after=timedelta(days=self.request_overdue_days),
        )


async def coordination_check(runtime: Runtime) -> bool:
    """The periodic check, on the business clock: flag requests open too long, end matches
    with children whose volunteer's certificate expired. True if a full batch was ended,
    so more may wait."""
    settings = runtime.settings
    assert isinstance(settings, VolunteersSettings)
    done = await handlers.sweep(
        runtime.uow, runtime.clock.today(), settings.rules, settings.sweep_batch_size
    )
    return len(done.ended_for_expired_certificate) >= settings.sweep_batch_size


SPEC = ServiceSpec(
    name="volunteers",
    title="Ankommen volunteers",
    description="Koordinierungsstelle Flüchtlingshilfe: volunteers, vetting, support "
    "requests, explained matching, initiatives and hours.",
    settings=VolunteersSettings,
    migrations=Path(__file__).parent / "migrations",
    store=PgVolunteersStore,
    routers=ROUTERS,
    subscriptions=handlers.subscriptions,
    periodic=[Periodic("coordination-check", coordination_check, lambda s: s.sweep_seconds)],
)


def create_app(settings: ServiceSettings | None = None, clock: Clock | None = None) -> FastAPI:
    """``clock``: the business clock (the runtime's wall clock unless a test moves its own)."""
    app = create_service_app(SPEC, settings, clock)
    configured: VolunteersSettings = app.state.settings
    app.state.rules = configured.rules
    app.state.neighbourhood = districts.load()
    app.state.certificate_warning_days = configured.certificate_warning_days
    return app
