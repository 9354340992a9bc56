"""Reporting's event handlers: one batched fold that keeps the facts of every batch.

Each consumed batch of a topic becomes one ``INSERT … FROM unnest`` of its facts (the
runtime's ``batched``): no per-event round trip. The rows come from ``domain.fact_row``,
as in the rebuild; redelivered events are dropped by the inbox and by the fact's key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ankommen_contracts import Envelope
from ankommen_runtime import Tx
from ankommen_runtime.consumer import Batched, Subscription, batched
from ankommen_runtime.notify import Notifier, NotifySettings, channels_from

from .domain.facts import REPORTED, fact_row
from .store import ReportingStore


async def keep_facts(tx: Tx[ReportingStore], events: Sequence[Envelope[Any]]) -> None:
    await tx.store.add_facts([fact_row(e) for e in events])


FOLD = batched(keep_facts)

# Events that must reach the on-duty team at once (a homelessness alert, an expired hold):
# reporting already sees every topic, so it is the one consumer that sends them.
ALERTS = frozenset({"PlacementFailed", "ReservationReleased"})


def keeping_facts_and_alerting(notifier: Notifier) -> Batched:
    """The fold, then each event's alert (``notify``) to every configured channel. A failed
    send raises: the batch is retried and the alert delivered at least once. A rebuild
    replays without these handlers, so it never alerts twice."""

    async def keep_and_alert(tx: Tx[ReportingStore], events: Sequence[Envelope[Any]]) -> None:
        await keep_facts(tx, events)
        for event in events:
            await notifier.handle(event)

    return batched(keep_and_alert)


def subscriptions(settings: Any) -> list[Subscription]:
    """Every reported type of every publishing service, all to the one batched fold; with
    an alert channel configured (``ANKOMMEN_NOTIFY_*``), alerting types also notify."""
    notifier = Notifier(channels_from(NotifySettings()))
    alerting = keeping_facts_and_alerting(notifier) if notifier.channels else FOLD
    return [
        Subscription(source, {t: alerting if t in ALERTS else FOLD for t in types})
        for source, types in REPORTED.items()
    ]
