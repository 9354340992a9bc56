"""Unit of work: one Postgres transaction for a state change and the events it raised.

As in cosmicpython, the domain records what happened; unlike it, the events are written
to the outbox in the *same* transaction, so an event exists exactly when its state change
does, and the relay publishes it later. Nothing is ever published before commit.

Each event is stamped with two times (docs/business-time.md): ``occurred_at``, when it
happened in the world (the command's date, else the consumed event's, else the business
clock's now), and ``recorded_at``, the wall-clock moment this service wrote it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

import asyncpg
from ankommen_contracts import Envelope, EventData, encode, new_envelope, topic_for

from . import audit
from .clock import Clock, WallClock
from .context import current_business_time, current_causation_id, current_correlation_id
from .ids import new_id
from .tracing import event_trace_headers

S = TypeVar("S")
S_co = TypeVar("S_co", covariant=True)

# A service's store over one connection: ``ServiceSpec.store`` is e.g. ``PgHousingStore``,
# and every transaction carries one as ``tx.store`` (docs/service-shape.md).
StoreFactory = Callable[[asyncpg.Connection], S]


class Tx(Protocol[S_co]):
    """What a handler may use of a transaction, real (``Transaction``) or in memory
    (``memory.InMemoryTransaction``): the service's store, business time, ``publish``.

    Handlers are typed ``tx: Tx[HousingStore]`` and never touch a connection, so the same
    handler runs on PostgreSQL and on the in-memory unit of work of the unit tests."""

    @property
    def store(self) -> S_co: ...

    @property
    def clock(self) -> Clock:
        """The business clock: what time it is now, where ``now()`` may be the time of
        the consumed event (a deadline set now, such as a hold, counts from the clock)."""
        ...

    def now(self) -> datetime: ...

    def publish(self, *events: EventData, at: datetime | None = None) -> None: ...


class Uow(Protocol[S_co]):
    """What a command needs of its unit of work, the real ``UnitOfWork`` or the unit
    tests' ``memory.InMemoryUnitOfWork``: the business clock, and ``async with uow() as
    tx`` for a transaction over the service's store. Commands are typed
    ``uow: Uow[HousingStore]``."""

    @property
    def clock(self) -> Clock: ...

    def __call__(self) -> AbstractAsyncContextManager[Tx[S_co]]: ...


@dataclass(frozen=True)
class WithStore(Generic[S]):
    """``tx`` with another ``store`` in front of its own: the clock and ``publish`` are
    the transaction's. A handler hands it to rules that should see a working set it holds
    over the transaction's store (integration's casework list: its cases in hand)."""

    tx: Tx[Any]
    store: S

    @property
    def clock(self) -> Clock:
        return self.tx.clock

    def now(self) -> datetime:
        return self.tx.now()

    def publish(self, *events: EventData, at: datetime | None = None) -> None:
        self.tx.publish(*events, at=at)


@dataclass(frozen=True)
class _Pending:
    data: EventData
    event_id: uuid.UUID
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None
    occurred_at: datetime
    actor: str | None = None


class Transaction(Generic[S]):
    """An open transaction: ``store`` (the service's, over ``conn``), ``publish`` for raised
    events. ``conn`` is for the runtime's own tables (outbox, inbox, audit)."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        topic_prefix: str = "",
        clock: Clock | None = None,
        store: StoreFactory[S] | None = None,
    ) -> None:
        self.conn = conn
        self._store = store(conn) if store is not None else None
        self.topic_prefix = topic_prefix
        self.clock: Clock = clock or WallClock()
        self._pending: list[_Pending] = []
        self.published: list[Envelope[Any]] = []

    @property
    def store(self) -> S:
        if self._store is None:
            raise RuntimeError("this unit of work was made without the service's store")
        return self._store

    def now(self) -> datetime:
        """Business time of the work in progress: the consumed event's ``occurred_at``
        while handling one, else the business clock's now."""
        return current_business_time() or self.clock.now()

    def publish(self, *events: EventData, at: datetime | None = None) -> None:
        """Queue events; they reach the outbox when the transaction commits.

        ``at`` is when they happened in the world (default: ``now()``). Correlation,
        causation, the acting staff member (``ce_actor``, if a staff member's command runs)
        and the event ids are taken now, inside the request or event being handled (so a
        seeded simulation derives the ids from it).
        """
        correlation, causation = current_correlation_id(), current_causation_id()
        actor = audit.current_actor_id()
        occurred_at = (at or self.now()).astimezone(UTC)
        self._pending.extend(
            _Pending(data, new_id(), correlation, causation, occurred_at, actor) for data in events
        )

    async def flush(self) -> list[Envelope[Any]]:
        """Write queued events to the outbox with their per-subject sequence numbers."""
        if not self._pending:
            return []
        pending, self._pending = self._pending, []
        counts: dict[str, int] = {}
        for p in pending:
            counts[p.data.subject()] = counts.get(p.data.subject(), 0) + 1
        subjects = sorted(counts)  # fixed lock order: no deadlock between writers
        rows = await self.conn.fetch(
            """INSERT INTO subject_sequence AS s (subject, last_sequence)
               SELECT * FROM unnest($1::text[], $2::bigint[])
               ON CONFLICT (subject) DO UPDATE
                   SET last_sequence = s.last_sequence + EXCLUDED.last_sequence
               RETURNING subject, last_sequence""",
            subjects,
            [counts[s] for s in subjects],
        )
        next_seq = {r["subject"]: r["last_sequence"] - counts[r["subject"]] + 1 for r in rows}
        envelopes = []
        recorded_at = datetime.now(UTC)  # recording time is always the wall clock's
        for p in pending:
            subject = p.data.subject()
            envelopes.append(
                new_envelope(
                    p.data,
                    sequence=next_seq[subject],
                    correlation_id=p.correlation_id,
                    causation_id=p.causation_id,
                    occurred_at=p.occurred_at,
                    recorded_at=recorded_at,
                    event_id=p.event_id,
                    actor=p.actor,
                )
            )
            next_seq[subject] += 1
        # One statement for the whole batch (unnest): a weekly batch of 100 events is one
        # round trip and one executor run instead of 100. Rows are inserted in list order
        # (ORDER BY ordinality), so a subject's sequence order stays its outbox id order.
        await self.conn.execute(
            """INSERT INTO outbox (event_id, topic, subject, type, sequence, payload, headers)
               SELECT event_id, topic, subject, type, sequence, payload, headers
               FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                           $6::bytea[], $7::jsonb[]) WITH ORDINALITY
                    AS u(event_id, topic, subject, type, sequence, payload, headers, n)
               ORDER BY n""",
            [e.event_id for e in envelopes],
            [self.topic_prefix + topic_for(e.source) for e in envelopes],
            [e.subject for e in envelopes],
            [e.type for e in envelopes],
            [e.sequence for e in envelopes],
            [encode(e) for e in envelopes],
            [_headers_json(e) for e in envelopes],
        )
        self.published.extend(envelopes)
        return envelopes


def _headers_json(envelope: Envelope[Any]) -> str:
    # The raising span's W3C trace context travels with the event (tracing.py); nothing
    # is added while tracing is off.
    headers = [*envelope.kafka_headers(), *event_trace_headers()]
    return json.dumps([[k, v.decode()] for k, v in headers])


class UnitOfWork(Generic[S]):
    """``async with uow() as tx:`` commits state and events together, or neither.

    In a staff member's request (``audit.enter`` by ``allow``) the same transaction also
    writes the audit row: actor, action, the subjects acted on, business time (``clock``).

    ``on_published`` is called once the events of a transaction are committed: the
    service's relay wakes in its own process (``OutboxRelay.wake``), with no NOTIFY. A
    NOTIFY would take PostgreSQL's one notify lock at every commit that raised an event,
    in every database of the cluster, and hold it through the commit's WAL flush: in the
    scenario's busiest weeks one commit in ten waited for it.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        topic_prefix: str = "",
        clock: Clock | None = None,
        store: StoreFactory[S] | None = None,
        on_published: Callable[[], None] | None = None,
    ) -> None:
        self.pool = pool
        self.topic_prefix = topic_prefix
        self.clock: Clock = clock or WallClock()
        self.store = store
        self.on_published = on_published

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[Transaction[S]]:
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                tx = Transaction(conn, self.topic_prefix, self.clock, self.store)
                yield tx
                await tx.flush()
                if audit.current() is not None:
                    await audit.write(conn, self.clock.now(), [e.subject for e in tx.published])
            if tx.published and self.on_published is not None:
                self.on_published()
