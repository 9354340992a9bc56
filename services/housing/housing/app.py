"""Composition root of the housing service: HTTP routes, subscriptions and wiring.

No I/O at import; run with ``uvicorn --factory housing.app:create_app``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import asyncpg
from ankommen_contracts import District, Pillar
from ankommen_runtime import Conflict, NotFound, UnitOfWork
from ankommen_runtime.service import ServiceSpec, create_service_app, get_pool, get_uow
from ankommen_runtime.settings import ServiceSettings
from fastapi import APIRouter, Depends, FastAPI, Query, status
from pydantic import BaseModel

from . import handlers, store
from .domain import Site, SiteStatus

router = APIRouter(tags=["sites"])


class SiteView(BaseModel):
    site_id: uuid.UUID
    name: str
    pillar: Pillar
    district: int
    operator: str
    capacity: int
    blocked: int
    occupied: int
    free: int
    status: SiteStatus

    @classmethod
    def of(cls, site: Site) -> SiteView:
        return cls(
            site_id=site.site_id,
            name=site.name,
            pillar=site.pillar,
            district=site.district,
            operator=site.operator,
            capacity=site.capacity,
            blocked=site.blocked,
            occupied=site.occupied,
            free=site.free,
            status=site.status,
        )


@router.post("/sites", status_code=status.HTTP_201_CREATED, summary="Open a site")
async def open_site(
    command: handlers.OpenSite, uow: Annotated[UnitOfWork, Depends(get_uow)]
) -> SiteView:
    try:
        site = await handlers.open_site(uow, command)
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"site {command.site_id} exists already") from exc
    return SiteView.of(site)


@router.get("/sites", summary="List sites")
async def list_sites(
    pool: Annotated[asyncpg.Pool, Depends(get_pool)],
    pillar: Pillar | None = None,
    district: Annotated[District | None, Query()] = None,
) -> list[SiteView]:
    return [SiteView.of(s) for s in await store.list_sites(pool, pillar=pillar, district=district)]


@router.get("/sites/{site_id}", summary="One site")
async def get_site(
    site_id: uuid.UUID, pool: Annotated[asyncpg.Pool, Depends(get_pool)]
) -> SiteView:
    site = await store.get(pool, site_id)
    if site is None:
        raise NotFound(f"no site {site_id}")
    return SiteView.of(site)


SPEC = ServiceSpec(
    name="housing",
    title="Ankommen housing",
    description="Sites (Unterkünfte) of the four pillars, their places and occupancy.",
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
