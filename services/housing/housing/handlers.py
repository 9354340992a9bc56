"""Housing's command handlers: thin, one per command; rules live in ``domain``."""

from __future__ import annotations

import uuid

from ankommen_contracts import District, Pillar
from ankommen_runtime import UnitOfWork
from pydantic import BaseModel, ConfigDict, Field

from . import store
from .domain import Site


class OpenSite(BaseModel):
    """Open a site (Unterkunft) that takes occupants from now on."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Public name of the site")
    pillar: Pillar
    district: District
    operator: str = Field(min_length=1, max_length=200, description="Operator (Betreiber)")
    capacity: int = Field(ge=1, le=5000, description="Places (Plätze)")
    site_id: uuid.UUID | None = Field(
        default=None, description="Optional id chosen by the caller; a repeat is a conflict"
    )


async def open_site(uow: UnitOfWork, command: OpenSite) -> Site:
    site = Site.open_new(**command.model_dump())
    async with uow() as tx:
        await store.add(tx.conn, site)
        tx.publish(*site.events)
    return site
