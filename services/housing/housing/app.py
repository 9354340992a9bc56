"""Composition root of the housing service: its settings, its spec, ``create_app``.

Routes live in ``api``, rules in ``domain``, SQL in ``store``, the glue in ``handlers``.
No I/O at import; run with ``uvicorn --factory housing.app:create_app``.
"""

from __future__ import annotations

from pathlib import Path

from ankommen_runtime.logging import get_logger
from ankommen_runtime.service import Periodic, Runtime, ServiceSpec, create_service_app
from ankommen_runtime.settings import ServiceSettings
from fastapi import FastAPI
from pydantic import Field

from . import api, domain, handlers
from .store import PgHousingStore

log = get_logger(__name__)


class HousingSettings(ServiceSettings):
    """The runtime's settings plus housing's own (``ANKOMMEN_RESERVATION_GRACE_SECONDS``, …)."""

    service: str = "housing"
    reservation_grace_seconds: float = Field(
        default=domain.DEFAULT_GRACE.total_seconds(),
        gt=0,
        description="Rule 1: reserved places wait until the expected arrival plus this "
        "(Karenzzeit, a city setting; default 48 hours); no caller chooses a hold length",
    )
    expiry_sweep_seconds: float = Field(
        default=5.0, gt=0, description="Pause between rounds of the expiry sweeper"
    )
    expiry_batch_size: int = Field(
        default=500, ge=1, le=10_000, description="Expired reservations released per transaction"
    )


async def release_expired(runtime: Runtime) -> bool:
    """Release held reservations past ``expires_at`` (ReservationReleased); True if a full
    batch went, so more may wait."""
    settings = runtime.settings
    assert isinstance(settings, HousingSettings)
    batch = settings.expiry_batch_size
    released = await handlers.release_expired(runtime.uow, now=runtime.clock.now(), limit=batch)
    if released:
        log.info("expired reservations released", count=released)
    return released == batch


SPEC = ServiceSpec(
    name="housing",
    title="Ankommen housing",
    description="Sites (Unterkünfte) of the four pillars, their places, reservations and "
    "occupants. The only authority on places: reservations are atomic, no site is ever "
    "over its capacity.",
    settings=HousingSettings,
    migrations=Path(__file__).parent / "migrations",
    store=PgHousingStore,
    routers=api.ROUTERS,
    subscriptions=handlers.subscriptions,
    periodic=[Periodic("expiry-sweeper", release_expired, lambda s: s.expiry_sweep_seconds)],
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
