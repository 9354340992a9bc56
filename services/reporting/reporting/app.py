"""Composition root of the reporting service: its spec and ``create_app``.

Reporting never calls another service: everything it shows comes from events. Routes
live in ``api``, the views' rules in ``domain``, SQL in ``store``, folds in ``handlers``.
No I/O at import; run with ``uvicorn --factory reporting.app:create_app``.
"""

from __future__ import annotations

from pathlib import Path

from ankommen_runtime.service import ServiceSpec, create_service_app
from ankommen_runtime.settings import ServiceSettings
from fastapi import FastAPI

from . import api, handlers
from .store import PgReportingStore

SPEC = ServiceSpec(
    name="reporting",
    title="Ankommen reporting",
    description="The interim review's views, projected from every service's events.",
    migrations=Path(__file__).parent / "migrations",
    store=PgReportingStore,
    routers=api.ROUTERS,
    subscriptions=handlers.subscriptions,
    publishes=False,
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
