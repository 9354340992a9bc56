"""Composition root of the allocation service.

Not built yet beyond the shared runtime: it serves its health and metrics endpoints and
relays its (empty) outbox, so the deployment already has its final shape. No I/O at
import; run with ``uvicorn --factory allocation.app:create_app``.
"""

from __future__ import annotations

from ankommen_runtime.service import ServiceSpec, create_service_app
from ankommen_runtime.settings import ServiceSettings
from fastapi import FastAPI

SPEC = ServiceSpec(
    name="allocation",
    title="Ankommen allocation",
    description="Assignments from the Land, households, placement decisions and the waitlist.",
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
