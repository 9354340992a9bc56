"""An in-memory unit of work: the runtime's transaction semantics without a database.

For unit tests that run in milliseconds: ``async with uow() as tx: … tx.publish(event)``
behaves as the real ``UnitOfWork`` does — events exist only after commit, an exception
discards them, each subject's events are numbered 1, 2, 3, … across transactions,
correlation, causation and the acting staff member are taken when an event is raised,
and a staff member's transaction leaves one audit row. ``committed`` and ``audit_rows``
show what the real one would have written to ``outbox`` and ``audit_log``.

``tests/contract/test_unit_of_work_contract.py`` runs the same scenarios against this and
against the real unit of work on PostgreSQL, so the fake cannot drift from the real thing.
It has no ``conn``: code that talks SQL through ``tx.conn`` needs the real one.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ankommen_contracts import Envelope, EventData, new_envelope

from . import audit
from .clock import Clock, WallClock
from .context import current_causation_id, current_correlation_id


@dataclass(frozen=True)
class AuditRow:
    actor: str
    roles: list[str]
    action: str
    subjects: list[str]
    business_time: datetime


class InMemoryTransaction:
    """The in-memory twin of ``uow.Transaction`` (``publish``, ``flush``, ``published``)."""

    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow
        self._pending: list[tuple[EventData, uuid.UUID, uuid.UUID | None, str | None]] = []
        self._sequences = dict(uow.sequences)  # this transaction's view; kept on commit
        self.published: list[Envelope[Any]] = []

    @property
    def conn(self) -> Any:
        raise RuntimeError("the in-memory unit of work has no database connection")

    def publish(self, *events: EventData) -> None:
        correlation, causation = current_correlation_id(), current_causation_id()
        actor = audit.current_actor_id()
        self._pending.extend((data, correlation, causation, actor) for data in events)

    async def flush(self) -> list[Envelope[Any]]:
        pending, self._pending = self._pending, []
        envelopes = []
        for data, correlation, causation, actor in pending:
            subject = data.subject()
            self._sequences[subject] = self._sequences.get(subject, 0) + 1
            envelopes.append(
                new_envelope(
                    data,
                    sequence=self._sequences[subject],
                    correlation_id=correlation,
                    causation_id=causation,
                    actor=actor,
                )
            )
        self.published.extend(envelopes)
        return envelopes


class InMemoryUnitOfWork:
    """``async with uow() as tx:`` commits state and events together, or neither."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or WallClock()
        self.sequences: dict[str, int] = {}
        self.committed: list[Envelope[Any]] = []
        self.audit_rows: list[AuditRow] = []

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[InMemoryTransaction]:
        tx = InMemoryTransaction(self)
        yield tx  # an exception here leaves nothing behind, as a rollback does
        await tx.flush()
        acting = audit.current()
        if acting is not None:
            subjects = [*acting.subjects, *(e.subject for e in tx.published)]
            self.audit_rows.append(
                AuditRow(
                    actor=acting.actor.subject,
                    roles=sorted(str(r) for r in acting.actor.roles),
                    action=acting.action,
                    subjects=list(dict.fromkeys(subjects)),
                    business_time=self.clock.now(),
                )
            )
        self.sequences = tx._sequences
        self.committed.extend(tx.published)


__all__ = ["AuditRow", "InMemoryTransaction", "InMemoryUnitOfWork"]
