"""Reporting's capacity fold as one ``batched`` handler: what the runtime allows reporting.

The rebuild benchmark replays housing's topic twice: with the real reporting service (one
or two SQL round trips per event, as its handlers are written today) and with this
service, which applies the same rules to a whole consumed batch at once: it loads the
site and reservation rows the batch touches (two queries), folds the events in memory in
order, and writes the changed rows back (two statements). Same tables (reporting's own
migrations), same rules (``reporting/store.py``); the benchmark checks that its tables
equal the live reporting service's, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import reporting
from ankommen_contracts import Envelope
from ankommen_runtime import Transaction
from ankommen_runtime.consumer import Subscription, batched
from ankommen_runtime.service import ServiceSpec, create_service_app
from ankommen_runtime.settings import ServiceSettings
from fastapi import FastAPI
from reporting import api as reporting_api
from reporting import handlers as reporting_handlers

SERVICE = "reporting"
MIGRATIONS = Path(reporting.__file__).parent / "migrations"

SITE_COLUMNS = (
    "site_id",
    "name",
    "pillar",
    "district",
    "operator",
    "capacity",
    "blocked",
    "occupied",
    "reserved",
    "status",
    "last_sequence",
    "updated_at",
)
SITE_TYPES = (
    "uuid",
    "text",
    "text",
    "int",
    "text",
    "int",
    "int",
    "int",
    "int",
    "text",
    "bigint",
    "timestamptz",
)
WRITE_SITES = f"""
INSERT INTO site_capacity ({", ".join(SITE_COLUMNS)})
SELECT * FROM unnest({", ".join(f"${i}::{t}[]" for i, t in enumerate(SITE_TYPES, 1))})
ON CONFLICT (site_id) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in SITE_COLUMNS[1:])}"""
WRITE_RESERVATIONS = """
INSERT INTO site_reservation (reservation_id, site_id, places, open)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::bool[])
ON CONFLICT (reservation_id) DO UPDATE SET open = EXCLUDED.open"""


class _Fold:
    """The rows one batch touches, changed in memory exactly as reporting's SQL would."""

    def __init__(self, sites: dict[Any, dict[str, Any]], reservations: dict[Any, dict[str, Any]]):
        self.sites = sites
        self.reservations = reservations
        self.dirty_sites: set[Any] = set()
        self.dirty_reservations: set[Any] = set()

    def announced(self, event: Envelope[Any], opened: bool) -> None:
        # store.site_announced: upsert of identity and places, guarded by the sequence.
        data = event.data
        row = self.sites.get(data.site_id)
        if row is not None and row["last_sequence"] >= event.sequence:
            return
        if row is None:
            row = self.sites[data.site_id] = {"blocked": 0, "occupied": 0, "reserved": 0}
        row.update(
            site_id=data.site_id,
            name=data.name,
            pillar=data.pillar.value,
            district=data.district,
            operator=data.operator,
            capacity=data.capacity if opened else data.planned_capacity,
            status="open" if opened else "planned",
            last_sequence=event.sequence,
            updated_at=event.occurred_at,
        )
        self.dirty_sites.add(data.site_id)

    def changed(
        self,
        event: Envelope[Any],
        *,
        capacity: int | None = None,
        blocked: int | None = None,
        status: str | None = None,
        reserved_delta: int = 0,
        occupied_delta: int = 0,
    ) -> None:
        # store.site_changed: an UPDATE of a known site, guarded by the sequence.
        row = self.sites.get(event.data.site_id)
        if row is None or row["last_sequence"] >= event.sequence:
            return
        if capacity is not None:
            row["capacity"] = capacity
        if blocked is not None:
            row["blocked"] = blocked
        if status is not None:
            row["status"] = status
        row["reserved"] = max(row["reserved"] + reserved_delta, 0)
        row["occupied"] = max(row["occupied"] + occupied_delta, 0)
        row["last_sequence"] = event.sequence
        row["updated_at"] = event.occurred_at
        self.dirty_sites.add(event.data.site_id)

    def held(self, reservation_id: Any, site_id: Any, places: int) -> None:
        # store.reservation_held: insert, nothing if known.
        if reservation_id not in self.reservations:
            self.reservations[reservation_id] = {
                "reservation_id": reservation_id,
                "site_id": site_id,
                "places": places,
                "open": True,
            }
            self.dirty_reservations.add(reservation_id)

    def closed(self, reservation_id: Any) -> int:
        # store.reservation_closed: its places if it was open, else 0.
        row = self.reservations.get(reservation_id)
        if row is None or not row["open"]:
            return 0
        row["open"] = False
        self.dirty_reservations.add(reservation_id)
        return int(row["places"])

    def apply(self, event: Envelope[Any]) -> None:
        data, kind = event.data, event.type
        if kind in ("ShelterPlanned", "ShelterOpened"):
            self.announced(event, opened=kind == "ShelterOpened")
        elif kind == "ShelterCapacityChanged":
            self.changed(event, capacity=data.capacity, blocked=data.blocked_places)
        elif kind == "ShelterClosing":
            self.changed(event, status="closing")
        elif kind == "ShelterClosed":
            self.changed(event, status="closed")
        elif kind == "BedReserved":
            self.held(data.reservation_id, data.site_id, data.places)
            self.changed(event, reserved_delta=data.places)
        elif kind == "ReservationReleased":
            self.changed(event, reserved_delta=-self.closed(data.reservation_id))
        elif kind == "OccupantCheckedIn":
            places = self.closed(data.reservation_id) if data.reservation_id else 0
            self.changed(event, reserved_delta=-places, occupied_delta=data.persons)
        elif kind == "OccupantCheckedOut":
            self.changed(event, occupied_delta=-data.persons)


async def fold_sites(tx: Transaction, events: Sequence[Envelope[Any]]) -> None:
    """Every housing event of a batch: read the touched rows, fold, write them back."""
    conn = tx.conn
    site_ids = list({e.data.site_id for e in events})
    reservation_ids = list(
        {r for e in events if (r := getattr(e.data, "reservation_id", None)) is not None}
    )
    sites = {
        r["site_id"]: dict(r)
        for r in await conn.fetch(
            f"SELECT {', '.join(SITE_COLUMNS)} FROM site_capacity WHERE site_id = ANY($1::uuid[])",
            site_ids,
        )
    }
    reservations = {
        r["reservation_id"]: dict(r)
        for r in await conn.fetch(
            "SELECT * FROM site_reservation WHERE reservation_id = ANY($1::uuid[])",
            reservation_ids,
        )
    }
    fold = _Fold(sites, reservations)
    for event in events:
        fold.apply(event)
    if fold.dirty_sites:
        rows = [fold.sites[s] for s in fold.dirty_sites]
        await conn.execute(WRITE_SITES, *([r[c] for r in rows] for c in SITE_COLUMNS))
    if fold.dirty_reservations:
        res = [fold.reservations[r] for r in fold.dirty_reservations]
        await conn.execute(
            WRITE_RESERVATIONS,
            *([r[c] for r in res] for c in ("reservation_id", "site_id", "places", "open")),
        )


FOLD = batched(fold_sites)
# Every type reporting handles; one it learns later and this fold does not know leaves the
# rebuilt tables different from the live ones, and the benchmark's check says so.
TYPES = tuple(reporting_handlers.HOUSING)
SPEC = ServiceSpec(
    name=SERVICE,
    title="Reporting's capacity fold, batched (benchmark)",
    migrations=MIGRATIONS,
    routers=reporting_api.ROUTERS,  # the real views, over the same tables
    subscriptions=[Subscription("housing", dict.fromkeys(TYPES, FOLD))],
    publishes=False,
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings or ServiceSettings(service=SERVICE))
