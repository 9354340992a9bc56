"""An in-memory unit of work: the runtime's transaction semantics without a database.

For unit tests that run in milliseconds: ``async with uow() as tx: … tx.publish(event)``
behaves as the real ``UnitOfWork`` does — events exist only after commit, an exception
discards them, each subject's events are numbered 1, 2, 3, … across transactions,
correlation, causation and the acting staff member are taken when an event is raised,
and a staff member's transaction leaves one audit row. ``committed`` and ``audit_rows``
show what the real one would have written to ``outbox`` and ``audit_log``.

``store`` is the service's in-memory store (e.g. ``InMemoryHousingStore``, in the tests'
fakes): each transaction works on its own copy, which replaces the committed one only when
the block ends without an exception, so a failed command leaves no state behind, as a
rollback does. Handlers reach it as ``tx.store``, exactly as on PostgreSQL.

``tests/contract/test_unit_of_work_contract.py`` runs the same scenarios against this and
against the real unit of work on PostgreSQL, so the fake cannot drift from the real thing;
each service's store contract tests do the same for its two stores.
It has no ``conn``: only the runtime's own tables are reached through one.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from ankommen_contracts import Envelope, EventData, new_envelope

from . import audit
from .clock import Clock, WallClock
from .context import current_business_time, current_causation_id, current_correlation_id

S = TypeVar("S")


@dataclass(frozen=True)
class AuditRow:
    actor: str
    roles: list[str]
    action: str
    subjects: list[str]
    business_time: datetime


@dataclass(frozen=True)
class _Pending:
    data: EventData
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None
    occurred_at: datetime
    actor: str | None


class InMemoryTransaction(Generic[S]):
    """The in-memory twin of ``uow.Transaction`` (``store``, ``now``, ``publish``,
    ``flush``, ``published``)."""

    def __init__(self, uow: InMemoryUnitOfWork[S]) -> None:
        self._uow = uow
        self.clock = uow.clock
        self._pending: list[_Pending] = []
        self._sequences = dict(uow.sequences)  # this transaction's view; kept on commit
        # This transaction's copy of the state; it becomes the committed state on commit.
        self._store: S | None = copy.deepcopy(uow.store)
        self.published: list[Envelope[Any]] = []

    @property
    def store(self) -> S:
        if self._store is None:
            raise RuntimeError("this in-memory unit of work was made without a store")
        return self._store

    @property
    def conn(self) -> Any:
        raise RuntimeError("the in-memory unit of work has no database connection")

    def now(self) -> datetime:
        """Business time, as ``Transaction.now``: the consumed event's, else the clock's."""
        return current_business_time() or self.clock.now()

    def publish(self, *events: EventData, at: datetime | None = None) -> None:
        correlation, causation = current_correlation_id(), current_causation_id()
        actor = audit.current_actor_id()
        occurred_at = (at or self.now()).astimezone(UTC)
        self._pending.extend(
            _Pending(data, correlation, causation, occurred_at, actor) for data in events
        )

    async def flush(self) -> list[Envelope[Any]]:
        pending, self._pending = self._pending, []
        envelopes = []
        for p in pending:
            subject = p.data.subject()
            self._sequences[subject] = self._sequences.get(subject, 0) + 1
            envelopes.append(
                new_envelope(
                    p.data,
                    sequence=self._sequences[subject],
                    correlation_id=p.correlation_id,
                    causation_id=p.causation_id,
                    occurred_at=p.occurred_at,
                    actor=p.actor,
                )
            )
        self.published.extend(envelopes)
        return envelopes


class InMemoryUnitOfWork(Generic[S]):
    """``async with uow() as tx:`` commits state and events together, or neither."""

    def __init__(self, clock: Clock | None = None, store: S | None = None) -> None:
        self.clock: Clock = clock or WallClock()
        self.store: S | None = store  # the committed state
        self.sequences: dict[str, int] = {}
        self.committed: list[Envelope[Any]] = []
        self.audit_rows: list[AuditRow] = []

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[InMemoryTransaction[S]]:
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
        self.store = tx._store
        self.committed.extend(tx.published)


__all__ = ["AuditRow", "InMemoryTransaction", "InMemoryUnitOfWork"]
