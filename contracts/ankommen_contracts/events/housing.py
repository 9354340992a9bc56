"""Events published by the housing service (topic ``housing.events``)."""

from __future__ import annotations

import uuid
from typing import ClassVar

from pydantic import Field

from ..common import District, Pillar
from ..envelope import EventData
from ..registry import event


class _SiteEvent(EventData):
    SOURCE: ClassVar[str] = "housing"
    SUBJECT_FIELD: ClassVar[str] = "site_id"

    site_id: uuid.UUID


__all__ = ["ShelterOpened"]


@event
class ShelterOpened(_SiteEvent):
    """A site (Unterkunft) opened and takes occupants."""

    TYPE: ClassVar[str] = "ShelterOpened"

    name: str = Field(min_length=1, max_length=200, description="Public name of the site")
    pillar: Pillar
    district: District
    operator: str = Field(min_length=1, max_length=200)
    capacity: int = Field(ge=1, le=5000, description="Usable places")
