"""Composition root of the allocation service: its settings, its spec, ``create_app``.

Routes live in ``api``, rules in ``domain``, SQL in ``store``, the glue in ``handlers``.
No I/O at import; run with ``uvicorn --factory allocation.app:create_app``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from ankommen_runtime.service import Periodic, Runtime, ServiceSpec, create_service_app
from ankommen_runtime.settings import ServiceSettings
from fastapi import FastAPI
from pydantic import Field

from . import api, handlers
from .domain import PlacementPolicy
from .store import PgAllocationStore


class AllocationSettings(ServiceSettings):
    """The runtime's settings plus allocation's own (``ANKOMMEN_PLACEMENT_TIMEOUT_SECONDS``,
    ``ANKOMMEN_WAITLIST_RETRY_SECONDS``)."""

    service: str = "allocation"
    placement_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A request housing has not answered after this long is sent again, "
        "unchanged (same reservation_id)",
    )
    waitlist_retry_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often the waitlist is retried besides after each housing event "
        "that frees places (which places at most 20 households each)",
    )
    placement: PlacementPolicy = Field(
        default_factory=PlacementPolicy,
        description="The city's placement policy (README: 'City policy'), as JSON in "
        'ANKOMMEN_PLACEMENT, e.g. {"prefer_home_district": false}; unset fields keep defaults '
        "and an unknown field is refused",
    )


async def resend_overdue(runtime: Runtime) -> bool:
    """Re-send requests housing has not answered in time (same reservation_id)."""
    settings = runtime.settings
    assert isinstance(settings, AllocationSettings)
    timeout = timedelta(seconds=settings.placement_timeout_seconds)
    assert runtime.policy is not None, "allocation consumes housing's answers"
    # A technical timeout: wall time in every mode (docs/business-time.md), counted only
    # as far as housing's answers have been read.
    return await handlers.resend_overdue(
        runtime.uow,
        timeout,
        runtime.wall_clock.now(),
        await runtime.policy.read_until("housing"),
    )


async def retry_waitlist(runtime: Runtime) -> bool:
    """Place waitlisted households (and dissolve Notunterkünfte) beyond one event's bound."""
    settings = runtime.settings
    assert isinstance(settings, AllocationSettings)
    return await handlers.retry_waitlist(runtime.uow, settings.placement)


def _timeout_sweep_every(settings: AllocationSettings) -> float:
    # A resend is late by at most this.
    return min(max(settings.placement_timeout_seconds / 4, 0.05), 5.0)


SPEC = ServiceSpec(
    name="allocation",
    title="Ankommen allocation",
    description="Assignments from the Land, households, placement decisions and the waitlist.",
    settings=AllocationSettings,
    migrations=Path(__file__).parent / "migrations",
    routers=api.ROUTERS,
    subscriptions=handlers.subscriptions,
    store=PgAllocationStore,
    periodic=[
        Periodic("placement-timeouts", resend_overdue, _timeout_sweep_every, timer="wall"),
        Periodic("waitlist-retries", retry_waitlist, lambda s: s.waitlist_retry_seconds),
    ],
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
