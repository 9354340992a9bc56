"""Reporting's event handlers: one batched fold that keeps the facts of every batch.

Each consumed batch of a topic becomes one ``INSERT … FROM unnest`` of its facts (the
runtime's ``batched``): no per-event round trip. The rows come from ``domain.fact_row``,
as in the rebuild; redelivered events are dropped by the inbox and by the fact's key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ankommen_contracts import Envelope
from ankommen_runtime import Transaction
from ankommen_runtime.consumer import Subscription, batched

from . import store
from .domain.facts import REPORTED, fact_row


async def keep_facts(tx: Transaction, events: Sequence[Envelope[Any]]) -> None:
    await store.add_facts(tx.conn, [fact_row(e) for e in events])


FOLD = batched(keep_facts)


def subscriptions(settings: Any) -> list[Subscription]:
    """Every reported type of every publishing service, all to the one batched fold."""
    return [Subscription(source, dict.fromkeys(types, FOLD)) for source, types in REPORTED.items()]
