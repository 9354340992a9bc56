"""Composition root of the volunteers service (Koordinierungsstelle Flüchtlingshilfe):
settings, the spec (routes, the integration subscription, the periodic check), create_app.

No I/O at import; run with ``uvicorn --factory volunteers.app:create_app``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from ankommen_runtime import request_context
from ankommen_runtime.clock import Clock, WallClock
from ankommen_runtime.consumer import Subscription
from ankommen_runtime.logging import get_logger
from ankommen_runtime.service import Runtime, ServiceSpec, create_service_app
from ankommen_runtime.settings import ServiceSettings
from fastapi import FastAPI
from pydantic import Field

from . import districts, handlers
from .api import ROUTERS

log = get_logger(__name__)


class VolunteersSettings(ServiceSettings):
    """The runtime's settings plus the coordination office's rules (``ANKOMMEN_*``)."""

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


def coordination_check(
    settings: VolunteersSettings,
) -> Callable[[Runtime], Awaitable[None]]:
    """The periodic check, on the business clock: flag requests open too long, end matches
    with children whose volunteer's certificate expired. Declared as the spec's
    ``background`` task (the runtime has no periodic-work hook of its own)."""

    async def coordination_check(runtime: Runtime) -> None:
        while True:
            with request_context():  # one correlation id per round
                try:
                    done = await handlers.sweep(
                        runtime.uow,
                        runtime.clock.today(),
                        settings.rules,
                        settings.sweep_batch_size,
                    )
                    if done.flagged_overdue or done.ended_for_expired_certificate:
                        log.info(
                            "periodic check",
                            flagged_overdue=len(done.flagged_overdue),
                            ended_for_expired_certificate=len(done.ended_for_expired_certificate),
                        )
                except Exception as exc:  # database away: try again next round, never stop
                    log.warning("periodic check failed; next round", error=repr(exc))
            await asyncio.sleep(settings.sweep_seconds)

    return coordination_check


def spec(settings: VolunteersSettings, clock: Clock) -> ServiceSpec:
    async def use_clock(runtime: Runtime) -> None:
        # One clock for routes, the periodic check and the consumer (which holds it already).
        runtime.clock = clock

    return ServiceSpec(
        name="volunteers",
        title="Ankommen volunteers",
        description="Koordinierungsstelle Flüchtlingshilfe: volunteers, vetting, support "
        "requests, explained matching, initiatives and hours.",
        migrations=Path(__file__).parent / "migrations",
        routers=ROUTERS,
        subscriptions=(Subscription("integration", handlers.integration_handlers(clock)),),
        on_started=(use_clock,),
        background=(coordination_check(settings),),
    )


def create_app(settings: VolunteersSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or VolunteersSettings(service="volunteers")
    clock = clock or WallClock()
    app = create_service_app(spec(settings, clock), settings)
    app.state.rules = settings.rules
    app.state.neighbourhood = districts.load()
    app.state.certificate_warning_days = settings.certificate_warning_days
    return app
