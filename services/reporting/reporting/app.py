"""Composition root of the reporting service: its settings, its spec, ``create_app``.

Reporting never calls another service: everything it shows comes from events. Routes
live in ``api``, the views' rules in ``domain``, SQL in ``store``, folds in ``handlers``.
No I/O at import; run with ``uvicorn --factory reporting.app:create_app``.
"""

from __future__ import annotations

from pathlib import Path

from ankommen_runtime.logging import get_logger
from ankommen_runtime.service import Runtime, ServiceSpec, create_service_app
from ankommen_runtime.settings import ServiceSettings
from fastapi import FastAPI
from pydantic import Field

from . import api, handlers
from .domain.outlook import RESERVE_SHARE, RESERVE_SHARE_MAX
from .store import PgReportingStore, upgrade_kept_facts

log = get_logger(__name__)


class ReportingSettings(ServiceSettings):
    """The runtime's settings plus reporting's own (``ANKOMMEN_OUTLOOK_RESERVE_SHARE``)."""

    service: str = "reporting"
    outlook_reserve_share: float = Field(
        default=RESERVE_SHARE,
        ge=0,
        le=RESERVE_SHARE_MAX,
        description="View 9: the operating reserve (Betriebsreserve) a city keeps free, "
        "as a share of its residents; places run short below it (a city setting; "
        "default 6 %, the scenario's planning rule). A reader may ask under another "
        "with GET /outlook?reserve_share=",
    )


async def upgrade_facts(runtime: Runtime) -> None:
    """Facts kept at an older schema version become the current one (store.py says why)."""
    assert runtime.pool is not None
    upgraded = await upgrade_kept_facts(runtime.pool)
    if upgraded:
        log.info("kept facts upgraded to the current schema versions", facts=upgraded)


SPEC = ServiceSpec(
    name="reporting",
    title="Ankommen reporting",
    description="The interim review's views, projected from every service's events.",
    settings=ReportingSettings,
    migrations=Path(__file__).parent / "migrations",
    store=PgReportingStore,
    routers=api.ROUTERS,
    subscriptions=handlers.subscriptions,
    publishes=False,
    on_started=[upgrade_facts],
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
