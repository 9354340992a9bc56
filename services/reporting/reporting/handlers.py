"""Reporting's event handlers: one per consumed event type, each an idempotent fold."""

from __future__ import annotations

from typing import Any

from ankommen_contracts import Envelope
from ankommen_runtime import Transaction
from ankommen_runtime.consumer import EventHandler, Subscription

from . import store


def _at(event: Envelope[Any]) -> dict[str, Any]:
    return {"sequence": event.sequence, "at": event.occurred_at}


async def on_site_announced(tx: Transaction, event: Envelope[Any]) -> None:
    await store.site_announced(tx.conn, event.data, **_at(event))


async def on_capacity_changed(tx: Transaction, event: Envelope[Any]) -> None:
    data = event.data
    await store.site_changed(
        tx.conn, data.site_id, capacity=data.capacity, blocked=data.blocked_places, **_at(event)
    )


async def on_closing(tx: Transaction, event: Envelope[Any]) -> None:
    await store.site_changed(tx.conn, event.data.site_id, status="closing", **_at(event))


async def on_closed(tx: Transaction, event: Envelope[Any]) -> None:
    await store.site_changed(tx.conn, event.data.site_id, status="closed", **_at(event))


async def on_bed_reserved(tx: Transaction, event: Envelope[Any]) -> None:
    data = event.data
    new = await store.reservation_held(tx.conn, data.reservation_id, data.site_id, data.places)
    places = data.places if new else 0
    await store.site_changed(tx.conn, data.site_id, reserved_delta=places, **_at(event))


async def on_reservation_released(tx: Transaction, event: Envelope[Any]) -> None:
    data = event.data
    places = await store.reservation_closed(tx.conn, data.reservation_id)
    await store.site_changed(tx.conn, data.site_id, reserved_delta=-places, **_at(event))


async def on_checked_in(tx: Transaction, event: Envelope[Any]) -> None:
    data = event.data
    places = (
        await store.reservation_closed(tx.conn, data.reservation_id) if (data.reservation_id) else 0
    )
    await store.site_changed(
        tx.conn, data.site_id, reserved_delta=-places, occupied_delta=data.persons, **_at(event)
    )


async def on_checked_out(tx: Transaction, event: Envelope[Any]) -> None:
    data = event.data
    await store.site_changed(tx.conn, data.site_id, occupied_delta=-data.persons, **_at(event))


HOUSING: dict[str, EventHandler] = {
    "ShelterPlanned": on_site_announced,
    "ShelterOpened": on_site_announced,
    "ShelterCapacityChanged": on_capacity_changed,
    "ShelterClosing": on_closing,
    "ShelterClosed": on_closed,
    "BedReserved": on_bed_reserved,
    "ReservationReleased": on_reservation_released,
    "OccupantCheckedIn": on_checked_in,
    "OccupantCheckedOut": on_checked_out,
}


def subscriptions(settings: Any) -> list[Subscription]:
    """What reporting consumes (the handler-map convention): housing's sites and places."""
    return [Subscription("housing", HOUSING)]
