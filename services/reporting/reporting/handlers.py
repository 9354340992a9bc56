"""Reporting's event handlers: one per consumed event type, each an idempotent fold."""

from __future__ import annotations

from typing import Any

from ankommen_contracts import Envelope
from ankommen_runtime import Transaction

from . import store


async def on_shelter_opened(tx: Transaction, event: Envelope[Any]) -> None:
    await store.site_opened(tx.conn, event.data, sequence=event.sequence, at=event.occurred_at)


HOUSING = {"ShelterOpened": on_shelter_opened}
