"""Housing's model: sites (Unterkünfte) and their places. Pure: no I/O.

Housing is the only authority on places. A ``Site`` guards its own invariant (never more
people than usable places) and records the events it raises in ``events``, as
cosmicpython's aggregates do; the unit of work writes them to the outbox on commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from ankommen_contracts import Pillar
from ankommen_contracts.envelope import EventData
from ankommen_contracts.events.housing import ShelterOpened


class SiteStatus(StrEnum):
    """Lifecycle of a site: planned → open → closing (no new occupants) → closed."""

    PLANNED = "planned"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass
class Site:
    """A site (Unterkunft): one of the four pillars, in one Stadtbezirk, run by an operator."""

    site_id: uuid.UUID
    name: str
    pillar: Pillar
    district: int
    operator: str
    capacity: int
    status: SiteStatus = SiteStatus.PLANNED
    blocked: int = 0
    occupied: int = 0
    events: list[EventData] = field(default_factory=list, repr=False, compare=False)

    @property
    def usable(self) -> int:
        """Places that may be occupied: capacity minus blocked places (Sperrungen)."""
        return self.capacity - self.blocked

    @property
    def free(self) -> int:
        return max(self.usable - self.occupied, 0)

    @classmethod
    def open_new(
        cls,
        *,
        name: str,
        pillar: Pillar,
        district: int,
        operator: str,
        capacity: int,
        site_id: uuid.UUID | None = None,
    ) -> Site:
        """Open a site that takes occupants from now on."""
        site = cls(
            site_id=site_id or uuid.uuid4(),
            name=name,
            pillar=pillar,
            district=district,
            operator=operator,
            capacity=capacity,
            status=SiteStatus.OPEN,
        )
        site.events.append(
            ShelterOpened(
                site_id=site.site_id,
                name=name,
                pillar=pillar,
                district=district,
                operator=operator,
                capacity=capacity,
            )
        )
        return site
