"""Reporting sends the on-duty team's alerts (homelessness, expired holds) when a channel is
configured, beside folding the facts; without one it only folds."""

from __future__ import annotations

from typing import Any

import pytest
import reporting.handlers as handlers
from ankommen_contracts.examples import example_envelope
from ankommen_runtime.memory import InMemoryUnitOfWork
from ankommen_runtime.notify import Notification, Notifier
from fakes.reporting import InMemoryReportingStore


def by_type(subscriptions: list[Any]) -> dict[str, Any]:
    return {t: h for s in subscriptions for t, h in s.handlers.items()}


def test_without_an_alert_channel_every_type_goes_to_the_fold_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ANKOMMEN_NOTIFY_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("ANKOMMEN_NOTIFY_SMTP_HOST", raising=False)
    assert set(by_type(handlers.subscriptions(None)).values()) == {handlers.FOLD}


def test_with_a_webhook_the_alerting_types_fold_and_notify(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANKOMMEN_NOTIFY_WEBHOOK_URL", "http://127.0.0.1:9/alerts")
    mapped = by_type(handlers.subscriptions(None))
    alerting = {t for t, h in mapped.items() if h is not handlers.FOLD}
    assert alerting == handlers.ALERTS


class Recording(Notifier):
    def __init__(self) -> None:
        super().__init__([])
        self.seen: list[str] = []

    async def handle(self, envelope: Any) -> Notification | None:
        self.seen.append(envelope.type)
        return None


async def test_the_alerting_handler_keeps_the_facts_then_alerts_each_event() -> None:
    notifier = Recording()
    handler = handlers.keeping_facts_and_alerting(notifier)
    uow = InMemoryUnitOfWork(store=InMemoryReportingStore())
    events = [example_envelope("PlacementFailed"), example_envelope("ReservationReleased")]
    async with uow() as tx:
        await handler.fn(tx, events)
    assert uow.store is not None
    assert [row[0] for row in uow.store.rows()] == [e.event_id for e in events]
    assert notifier.seen == ["PlacementFailed", "ReservationReleased"]
