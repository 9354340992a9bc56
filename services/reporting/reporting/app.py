"""Composition root of the reporting service: view queries and event subscriptions.

Reporting never calls another service: everything it shows comes from events. No I/O at
import; run with ``uvicorn --factory reporting.app:create_app``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import asyncpg
from ankommen_runtime.consumer import Subscription
from ankommen_runtime.service import ServiceSpec, create_service_app, get_pool
from ankommen_runtime.settings import ServiceSettings
from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel

from . import domain, handlers, store

router = APIRouter(tags=["views"])


class CapacityRowView(BaseModel):
    key: str
    label: str
    sites: int
    capacity: int
    occupied: int
    reserved: int
    blocked: int
    free: int
    occupancy_rate: float

    @classmethod
    def of(cls, row: domain.CapacityRow) -> CapacityRowView:
        return cls(
            key=row.key,
            label=row.label,
            sites=row.sites,
            capacity=row.capacity,
            occupied=row.occupied,
            reserved=row.reserved,
            blocked=row.blocked,
            free=row.free,
            occupancy_rate=row.occupancy_rate,
        )


class CapacityView(BaseModel):
    """View 3: capacity, occupancy, free and blocked places by pillar and Stadtbezirk."""

    by_pillar: list[CapacityRowView]
    by_district: list[CapacityRowView]
    total: CapacityRowView


@router.get("/views/capacity", summary="Places by pillar and by Stadtbezirk")
async def capacity(pool: Annotated[asyncpg.Pool, Depends(get_pool)]) -> CapacityView:
    by_pillar, by_district, total = domain.capacity_view(await store.site_capacities(pool))
    return CapacityView(
        by_pillar=[CapacityRowView.of(r) for r in by_pillar],
        by_district=[CapacityRowView.of(r) for r in by_district],
        total=CapacityRowView.of(total),
    )


SPEC = ServiceSpec(
    name="reporting",
    title="Ankommen reporting",
    description="The interim review's views, projected from every service's events.",
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    subscriptions=[Subscription("housing", handlers.HOUSING)],
    publishes=False,
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
