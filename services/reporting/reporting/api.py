"""Reporting's HTTP API: the interim review's views, and their view models.

Views are built from the domain's rows with ``model_validate`` (``from_attributes``).
"""

from __future__ import annotations

from typing import Annotated

import asyncpg
from ankommen_runtime.auth import Actor, Role, allow
from ankommen_runtime.service import get_pool
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from . import domain, store


class View(BaseModel):
    """Base of every view: built from attributes (``View.model_validate(obj)``)."""

    model_config = ConfigDict(from_attributes=True)


class CapacityRowView(View):
    key: str
    label: str
    sites: int
    capacity: int
    occupied: int
    reserved: int
    blocked: int
    free: int
    occupancy_rate: float


class CapacityView(View):
    """View 3: capacity, occupancy, free and blocked places by pillar and Stadtbezirk."""

    by_pillar: list[CapacityRowView]
    by_district: list[CapacityRowView]
    total: CapacityRowView


Pool = Annotated[asyncpg.Pool, Depends(get_pool)]

# Who may read the views (docs/roles.md is generated from these). Places, not persons:
# nothing here is small enough to need suppression, so public readers see it too.
Reader = Annotated[
    Actor,
    Depends(
        allow(
            Role.COUNCIL_READER,
            Role.PUBLIC_READER,
            Role.HOUSING_STAFF,
            Role.ALLOCATION_STAFF,
            Role.OPERATIONS,
        )
    ),
]

views = APIRouter(tags=["views"])


@views.get("/views/capacity", summary="Places by pillar and by Stadtbezirk")
async def capacity(actor: Reader, pool: Pool) -> CapacityView:
    by_pillar, by_district, total = domain.capacity_view(await store.site_capacities(pool))
    return CapacityView.model_validate(
        {"by_pillar": by_pillar, "by_district": by_district, "total": total}
    )


ROUTERS = (views,)
