"""The consumer policy: effectively-once application of events, and nothing lost.

- A batch (what one poll returned) is applied in one transaction: inbox rows, effects and
  the outbox rows of raised events. Only then are the offsets committed (at-least-once
  delivery + inbox = effectively once).
- If the batch fails, its events are applied one by one, so one bad event never holds
  back or loses the others. An event failing ``retry_attempts`` times (bounded
  exponential backoff) goes to this consumer's dead-letter topic
  ``<prefix><consumer>.dlq.<source topic>`` with the error; the partition moves on.
- Records that are not a valid event (bytes, or headers that are not UTF-8) go to the DLQ
  at once (retrying cannot fix them). Well-formed events of unknown types, or types this
  service does not handle, are ignored and counted.
- Failures are classified by cause (``errors.classify``): infrastructure (failover,
  overload, lost connection) is retried without limit and never dead-letters an event;
  ambiguous errors (``OSError``, ``TimeoutError``, ``InterfaceError``) count as the
  event's fault only while the database answers a probe.
- The records of a poll are parsed here, not by faststream (a custom parser hands over
  the untouched records), and offsets are committed here, exactly up to the records
  settled. If anything escapes the policy, the consumer seeks back to the first record of
  each partition of the poll: an offset never moves past a record not applied or
  dead-lettered.
- A handler wrapped in ``batched(fn)`` receives each run of consecutive events it handles
  in a batch at once (``fn(tx, envelopes)``), so a projection can write them with one
  statement instead of one round trip per event. Order of effects is unchanged.

faststream's defaults do not give this (see notes/faststream-delivery.md): subscribers are
declared here, once, with manual acknowledgement, a raw-record parser and decoder and
``batch=True``; faststream is the poll loop and lifecycle, the runtime owns the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError
from ankommen_contracts import Envelope, EventData, InvalidEvent, UnknownEventType, decode
from ankommen_contracts.registry import CATALOGUE
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.message import FAKE_CONSUMER, KafkaMessage
from faststream.kafka.subscriber.usecase import BatchSubscriber
from faststream.message import StreamMessage
from pydantic import ValidationError

from .activity import Activity
from .context import message_context
from .errors import Cause, classify
from .inbox import (
    DEAD_LETTER,
    NEWER_VERSION,
    Hold,
    InboxEntry,
    Parked,
    advance,
    advance_unless_held,
    claim,
    hold,
    holds_among,
    park,
    parked_of,
    summary,
)
from .inbox import purge as purge_inbox
from .logging import get_logger
from .metrics import (
    BATCH_SIZE,
    CONSUMER_RETRIES,
    EVENTS_CONSUMED,
    EVENTS_PARKED,
    INBOX_PURGED,
    SEQUENCE_GAPS,
    SUBJECTS_HELD,
)
from .outbox import refused
from .positions import Positions
from .provenance import ProvenanceError, check_provenance
from .read_horizon import ReadHorizon
from .topics import dead_letter_topic, event_topic
from .tracing import consuming
from .uow import Transaction, UnitOfWork

log = get_logger(__name__)

EventHandler = Callable[[Transaction, Envelope[Any]], Awaitable[None]]
BatchEventHandler = Callable[[Transaction, Sequence[Envelope[Any]]], Awaitable[None]]
DLQ_MARK = ".dlq."
# Header of a dead letter sent without its value (too large): the value's size in bytes.
VALUE_OMITTED = "dlq_value_omitted"


def is_dead_letter_topic(name: str) -> bool:
    return DLQ_MARK in name


@dataclass(frozen=True)
class Batched:
    """A handler that takes consecutive events of its type at once: see ``batched``."""

    fn: BatchEventHandler


def batched(fn: BatchEventHandler) -> Batched:
    """Mark ``fn(tx, envelopes)`` as the handler of runs of events.

    Within a consumed batch, each maximal run of consecutive (new, not redelivered) events
    from one topic whose types map to this same ``Batched`` object is passed in one call,
    in order, inside the batch's transaction; other handlers run between runs, so the order
    of effects is that of one-by-one handling. Register one object for one type, or the
    same object for several (a projection folding a whole stream gets whole batches). It
    must accept any sub-run, down to one event: a failing batch is retried event by event.
    Logs have no per-event context here; a batch handler that raises events wraps each
    ``tx.publish`` in ``message_context(event_id, correlation_id)`` so causation stays per
    event.
    """
    return Batched(fn)


Handler = EventHandler | Batched


@dataclass(frozen=True)
class Subscription:
    """A service whose events this one consumes, and a handler per event type it cares about.

    ``source`` is the publishing service (its topic is ``<prefix><source>.events``).
    A handler is ``fn(tx, envelope)``, or ``batched(fn)`` for ``fn(tx, envelopes)``.

    ``prefetch(tx, envelopes)``, if given, runs once each time events are applied (a
    batch, or one event when a batch is retried one by one), inside that transaction,
    before the first handler, with the events about to be handled: the store reads what
    the handlers will ask for one by one (and locks it, in a fixed order) in one statement
    (``store.ReadAhead``). It must not change anything a handler could see.
    """

    source: str
    handlers: Mapping[str, Handler]
    prefetch: BatchEventHandler | None = None


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_seconds: float = 0.05
    max_seconds: float = 2.0

    def delay(self, attempt: int) -> float:
        return min(self.base_seconds * 2 ** (attempt - 1), self.max_seconds)


# What HTTP answers with 503 (the service cannot do it now; retry). The consumer does not
# use this list: it classifies by cause (errors.classify).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.ReadOnlySQLTransactionError,  # failover: the primary became a standby
    asyncpg.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.LockNotAvailableError,
    KafkaError,
)


class InvalidRecord(Exception):
    """A record that is not an event of the contract for a reason outside its body."""


_TYPED: dict[type[EventData], Any] = {}

# What a consumed record turned out to be.
_APPLY, _IGNORE, _NEWER = "apply", "ignore", "newer"
_Decoded = tuple[str, ConsumerRecord[Any, Any], Any]  # (kind, record, envelope or raw)


def _to_parked(record: ConsumerRecord[Any, Any], envelope: Any) -> Parked:
    return Parked(
        id=0,
        topic=record.topic,
        subject=envelope.subject,
        event_id=envelope.event_id,
        type=envelope.type,
        schema_version=envelope.schema_version,
        sequence=envelope.sequence,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=list(record.headers or ()),
        attempts=0,
    )


def _record_of(p: Parked) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(
        topic=p.topic,
        partition=p.partition,
        offset=p.offset,
        timestamp=0,
        timestamp_type=0,
        key=p.key,
        value=p.value,
        checksum=None,
        serialized_key_size=len(p.key or b""),
        serialized_value_size=len(p.value),
        headers=p.headers,
    )


def decode_record(record: ConsumerRecord[Any, Any]) -> Envelope[Any]:
    """``decode(record.value)``, parsing the bytes once instead of twice when it can.

    ``decode`` validates the envelope, then the typed envelope: two JSON parses. The
    CloudEvents headers the relay sets (``ce_type``, ``schema_version``) name the model up
    front, so the typed envelope is validated directly. Whatever the fast path cannot
    vouch for (no or wrong headers, an old version, invalid bytes) goes through ``decode``,
    whose result or error is the authority: the typed model checks that the body's type,
    version, source and subject agree, so both paths accept exactly the same events.
    """
    event_type = version = None
    for key, value in record.headers or ():
        if key == "ce_type":
            event_type = value
        elif key == "schema_version":
            version = value
    if record.value is None:
        raise InvalidEvent("invalid envelope: the record has no value (a tombstone)")
    model = CATALOGUE.get(event_type.decode(errors="replace")) if event_type else None
    if model is not None and version == str(model.VERSION).encode():
        typed = _TYPED.get(model)
        if typed is None:
            typed = _TYPED[model] = Envelope[model]  # type: ignore[valid-type]
        try:
            envelope: Envelope[Any] = typed.model_validate_json(record.value)
            return envelope
        except (ValidationError, TypeError):
            pass
    return decode(record.value)


def check_headers(record: ConsumerRecord[Any, Any]) -> None:
    """Headers are UTF-8 text (CloudEvents' Kafka binding); anything else is malformed."""
    for key, value in record.headers or ():
        if value is None:
            continue
        try:
            value.decode()
        except UnicodeDecodeError as exc:
            raise InvalidRecord(
                f"header {key!r} is not UTF-8 ({value[:16].hex(' ')}…): {exc.reason}"
            ) from None


def is_transient(exc: BaseException) -> bool:
    """Is this, by its type alone, the infrastructure's fault rather than the event's?"""
    return classify(exc) == Cause.INFRASTRUCTURE


def dead_letter_headers(
    record: ConsumerRecord[Any, Any],
    error: BaseException,
    *,
    group: str,
    attempts: int,
) -> list[tuple[str, bytes]]:
    """The original headers plus where the event came from and why it failed.

    Which consumer failed is in the dead-letter topic's name (``dead_letter_topic``).
    """
    reason = f"{type(error).__name__}: {error}"[:4000]
    return [
        *((k, v) for k, v in (record.headers or ()) if not k.startswith("dlq_")),
        ("dlq_error", reason.encode()),
        ("dlq_original_topic", record.topic.encode()),
        ("dlq_original_partition", str(record.partition).encode()),
        ("dlq_original_offset", str(record.offset).encode()),
        ("dlq_consumer_group", group.encode()),
        ("dlq_attempts", str(attempts).encode()),
        ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
    ]


class ConsumerPolicy:
    """Applies batches of records for one consumer; see the module docstring.

    ``consumer`` is the service's own name for this consumer: the inbox and the dead-letter
    topic are keyed by it. ``group`` is only the Kafka consumer group, a deployment
    setting: renaming it, or replaying through a new one, changes nothing already applied.
    """

    def __init__(
        self,
        *,
        service: str,
        group: str,
        uow: UnitOfWork,
        producer: AIOKafkaProducer,
        subscriptions: Sequence[Subscription],
        topic_prefix: str = "",
        retry: RetryPolicy | None = None,
        infra_backoff_max: float = 5.0,
        consumer: str | None = None,
        inbox_retention_hours: float = 168.0,
    ) -> None:
        self.service = service
        self.group = group
        self.consumer = consumer or service
        self.uow = uow
        self.producer = producer
        self.topic_prefix = topic_prefix
        self.handlers = {
            event_topic(s.source, topic_prefix): dict(s.handlers) for s in subscriptions
        }
        self.prefetch = {
            event_topic(s.source, topic_prefix): s.prefetch
            for s in subscriptions
            if s.prefetch is not None
        }
        self.retry = retry or RetryPolicy()
        self.infra_backoff_max = infra_backoff_max
        # Why the consumer cannot make progress right now (readiness), and since when.
        self.stalled: str | None = None
        self.stalled_since: float | None = None
        self.inbox_retention_hours = inbox_retention_hours
        self._drain_wake = asyncio.Event()
        self.held: dict[str, int] = {}  # subjects on hold by reason (refreshed by run_drain)
        self.subscriber: Any = None  # faststream's, set by ``subscribe``
        self.parked = 0
        self.horizon = ReadHorizon()  # how far the subscriber has read (noted by it)

    @property
    def topics(self) -> list[str]:
        return list(self.handlers)

    @property
    def kafka_consumer(self) -> AIOKafkaConsumer | None:
        """The subscriber's aiokafka consumer while it runs (None before ``subscribe`` and
        the broker's start)."""
        return getattr(self.subscriber, "consumer", None)

    async def read_until(self, source: str) -> datetime | None:
        """The moment (wall time) up to which this consumer has read everything ``source``
        published; None if unknown (``read_horizon``). A reply to a request is awaited in
        vain only from there: an earlier moment means the reply may be waiting unread."""
        return await self.horizon.of(self.kafka_consumer, event_topic(source, self.topic_prefix))

    def dead_letter_topic(self, source_topic: str) -> str:
        return dead_letter_topic(self.consumer, source_topic, self.topic_prefix)

    @property
    def dead_letter_topics(self) -> list[str]:
        return [self.dead_letter_topic(t) for t in self.topics]

    async def handle_batch(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        """Apply, park or dead-letter every record; returns only when all are settled."""
        BATCH_SIZE.labels(self.service).observe(len(records))
        decoded: list[_Decoded] = []
        for record in records:
            try:
                check_headers(record)
                envelope: Any = decode_record(record)
                # Only a topic's owner may publish on it (ACLs say so too; this catches a
                # misconfigured or compromised producer that slipped past them).
                check_provenance(record.topic, envelope.source, self.topic_prefix)
                kind = _APPLY if envelope.type in self.handlers.get(record.topic, {}) else _IGNORE
            except UnknownEventType as exc:
                envelope = exc.envelope
                # A newer version of a type this consumer handles must not vanish: park
                # it (and its subject) until this service can read it. Unknown types
                # and types it does not handle are skipped.
                kind = _NEWER if envelope.type in self.handlers.get(record.topic, {}) else _IGNORE
            except (InvalidEvent, InvalidRecord, ProvenanceError) as exc:
                await self._dead_letter(record, exc, attempts=1)
                continue
            if kind == _IGNORE:
                EVENTS_CONSUMED.labels(self.service, record.topic, "ignored").inc()
            decoded.append((kind, record, envelope))
        if not decoded:
            return
        if all(kind == _IGNORE for kind, _, _ in decoded):
            # Nothing to apply or park: the subjects' positions move, in one statement.
            seen = [(r.topic, e.subject, e.sequence) for _, r, e in decoded]
            gaps = await self._until_reachable(
                lambda: advance_unless_held(self.uow.pool, self.consumer, seen)
            )
            await self._count_gaps(gaps, decoded)
            self._progressed()
            return
        keys = [(r.topic, e.subject) for _, r, e in decoded]
        holds = await self._until_reachable(lambda: holds_among(self.uow.pool, self.consumer, keys))
        try:
            async with self.uow() as tx:
                await self._settle(tx, decoded, dict(holds))
            self._progressed()
            return
        except Exception as exc:
            if len(decoded) == 1 and classify(exc) == Cause.EVENT:
                first_failure: BaseException | None = exc
            else:
                first_failure = None
                log.warning("batch failed; applying its events one by one", error=repr(exc))
        held = dict(
            await self._until_reachable(lambda: holds_among(self.uow.pool, self.consumer, keys))
        )
        for entry in decoded:
            kind, record, envelope = entry
            key = (record.topic, envelope.subject)
            if kind == _APPLY and key not in held:
                if not await self._apply_one((record, envelope), first_failure):
                    held[key] = Hold(record.topic, envelope.subject, DEAD_LETTER, "", None)
            elif kind != _IGNORE or key not in held:
                await self._in_own_transaction(self._settle, [entry], held)
            first_failure = None

    async def _until_reachable(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        """``await fn()``, waiting out infrastructure failures (never an event's fault)."""
        wait = 0.0
        while True:
            try:
                return await fn()
            except Exception as exc:
                if await self.cause_of(exc) == Cause.EVENT:
                    raise
                wait = min(max(wait * 2, 0.1), self.infra_backoff_max)
                self._stalled(f"infrastructure: {type(exc).__name__}: {exc}"[:300])
                log.warning("infrastructure unavailable; retrying", error=repr(exc))
                await asyncio.sleep(wait)

    async def _in_own_transaction(self, fn: Any, *args: Any) -> None:
        """``fn(tx, *args)`` in a transaction of its own, waiting out infrastructure
        failures as ``_until_reachable`` does (each attempt a new transaction)."""

        async def attempt() -> None:
            async with self.uow() as tx:
                await fn(tx, *args)

        await self._until_reachable(attempt)
        self._progressed()

    async def _settle(
        self, tx: Transaction, decoded: Sequence[_Decoded], held: dict[tuple[str, str], Hold]
    ) -> None:
        """In ``tx``: park what waits behind a hold, apply the rest in order.

        ``held`` is updated with the holds this batch starts.
        """
        apply: list[tuple[ConsumerRecord[Any, Any], Envelope[Any]]] = []
        parked: list[Parked] = []
        seen: list[tuple[str, str, int]] = []
        for kind, record, envelope in decoded:
            key = (record.topic, envelope.subject)
            hold_of = held.get(key)
            if kind == _NEWER and hold_of is None:
                detail = (
                    f"{envelope.type} v{envelope.schema_version} is newer than this service "
                    f"reads (v{CATALOGUE[envelope.type].VERSION})"
                )
                await hold(
                    tx.conn,
                    self.consumer,
                    record.topic,
                    envelope.subject,
                    reason=NEWER_VERSION,
                    detail=detail,
                    blocker=envelope.event_id,
                )
                held[key] = Hold(record.topic, envelope.subject, NEWER_VERSION, detail, None)
                log.warning("event of a newer schema version parked", detail=detail)
                hold_of = held[key]
            if hold_of is not None:
                if kind != _IGNORE:
                    parked.append(_to_parked(record, envelope))
                    if hold_of.blocker == envelope.event_id:
                        self.wake_drain()  # a dead letter came back: release its subject
            elif kind == _APPLY:
                apply.append((record, envelope))
            else:
                seen.append((record.topic, envelope.subject, envelope.sequence))
        if parked:
            await park(tx.conn, self.consumer, parked)
            for p in parked:
                EVENTS_CONSUMED.labels(self.service, p.topic, "parked").inc()
        if apply:
            await self._apply_in(tx, apply, ignored=seen)
        elif seen:
            await self._count_gaps(await advance(tx.conn, self.consumer, seen), decoded)

    async def _count_gaps(self, gaps: int, decoded: Sequence[Any]) -> None:
        if gaps:
            topic = decoded[0][1].topic
            SEQUENCE_GAPS.labels(self.service, topic).inc(gaps)
            log.warning("sequence gap: events of a subject never arrived", missing=gaps)

    async def _apply(self, items: Sequence[tuple[ConsumerRecord[Any, Any], Envelope[Any]]]) -> None:
        async with self.uow() as tx:
            await self._apply_in(tx, items)

    async def _apply_in(
        self,
        tx: Transaction,
        items: Sequence[tuple[ConsumerRecord[Any, Any], Envelope[Any]]],
        ignored: Sequence[tuple[str, str, int]] = (),
    ) -> None:
        """Apply ``items`` once each; ``ignored``: the batch's events of types this
        consumer does not handle, whose sequences count for the subjects' positions too
        (one ``advance`` for the whole batch, or an ignored event would count the handled
        ones before it as missing)."""
        entries = [
            InboxEntry(
                env.event_id,
                env.type,
                env.subject,
                env.sequence,
                rec.topic,
                rec.partition,
                rec.offset,
            )
            for rec, env in items
        ]
        duplicates = 0
        fresh = await claim(tx.conn, self.consumer, entries)
        todo: list[tuple[ConsumerRecord[Any, Any], Envelope[Any]]] = []
        for record, envelope in items:
            if envelope.event_id not in fresh:
                duplicates += 1
                continue
            fresh.discard(envelope.event_id)  # the same event twice in one batch
            todo.append((record, envelope))
        gaps = await advance(
            tx.conn,
            self.consumer,
            [*ignored, *((r.topic, e.subject, e.sequence) for r, e in todo)],
        )
        for topic_of, prefetch in self.prefetch.items():
            if about := [env for rec, env in todo if rec.topic == topic_of]:
                await prefetch(tx, about)
        i = 0
        while i < len(todo):
            record, envelope = todo[i]
            handler = self.handlers[record.topic][envelope.type]
            if isinstance(handler, Batched):
                j = i + 1  # the run of events for this same batched handler
                handlers = self.handlers[record.topic]
                while (
                    j < len(todo)
                    and todo[j][0].topic == record.topic
                    and handlers.get(todo[j][1].type) is handler
                ):
                    j += 1
                await handler.fn(tx, [env for _, env in todo[i:j]])
                i = j
                continue
            with (
                message_context(envelope.event_id, envelope.correlation_id, envelope.occurred_at),
                consuming(record.topic, record.headers or (), envelope.type),
            ):
                await handler(tx, envelope)
            i += 1
        applied = len(todo)
        topic = items[0][0].topic
        EVENTS_CONSUMED.labels(self.service, topic, "applied").inc(applied)
        await self._count_gaps(gaps, [(None, items[0][0], None)])
        if duplicates:
            EVENTS_CONSUMED.labels(self.service, topic, "duplicate").inc(duplicates)
            log.info("redelivered events ignored", count=duplicates)

    # --- Holds: release and drain ----------------------------------------------------

    def wake_drain(self) -> None:
        self._drain_wake.set()

    async def drain(self) -> int:
        """Release every hold that can be released, applying its parked events in order.

        Returns how many parked events were applied. Safe to run in every replica: each
        subject is drained under its hold row's lock (``FOR UPDATE SKIP LOCKED``).
        """
        rows = await self.uow.pool.fetch(
            """SELECT h.topic, h.subject, h.reason, h.blocker, b.type, b.schema_version,
                      b.event_id IS NOT NULL AS blocker_parked
               FROM consumer_hold h
               LEFT JOIN consumer_parked b ON b.consumer = h.consumer AND b.event_id = h.blocker
               WHERE h.consumer = $1""",
            self.consumer,
        )
        applied = 0
        for row in rows:
            if row["reason"] == DEAD_LETTER and not row["blocker_parked"]:
                continue  # waits for the re-drive (or an operator)
            if row["reason"] == NEWER_VERSION and row["blocker_parked"]:
                model = CATALOGUE.get(row["type"])
                if model is None or row["schema_version"] > model.VERSION:
                    continue  # still newer than this service reads
            applied += await self._drain_subject(row["topic"], row["subject"])
        return applied

    async def _drain_subject(self, topic: str, subject: str) -> int:
        applied = 0
        async with self.uow() as tx:
            locked = await tx.conn.fetchrow(
                """SELECT reason, blocker FROM consumer_hold
                   WHERE consumer = $1 AND topic = $2 AND subject = $3
                   FOR UPDATE SKIP LOCKED""",
                self.consumer,
                topic,
                subject,
            )
            if locked is None:
                return 0  # released meanwhile, or another replica is at it
            for parked in await parked_of(tx.conn, self.consumer, topic, subject):
                record = _record_of(parked)
                if not await self._drain_one(tx, parked, record):
                    return applied
                applied += 1
            await tx.conn.execute(
                "DELETE FROM consumer_hold WHERE consumer = $1 AND topic = $2 AND subject = $3",
                self.consumer,
                topic,
                subject,
            )
            log.info("hold released; parked events applied", subject=subject, applied=applied)
        return applied

    async def _drain_one(
        self, tx: Transaction, parked: Parked, record: ConsumerRecord[Any, Any]
    ) -> bool:
        """Apply one parked event inside the drain's transaction; False stops the drain."""

        async def stop_at(reason: str, detail: str) -> bool:
            await hold(
                tx.conn,
                self.consumer,
                parked.topic,
                parked.subject,
                reason=reason,
                detail=detail,
                blocker=parked.event_id,
            )
            return False

        async def dead_letter(error: BaseException, attempts: int) -> bool:
            await self._dead_letter(record, error, attempts=attempts)
            await tx.conn.execute("DELETE FROM consumer_parked WHERE id = $1", parked.id)
            detail = f"dead-lettered {parked.type} {parked.event_id}: {type(error).__name__}"
            return await stop_at(DEAD_LETTER, detail)

        try:
            envelope = decode_record(record)
        except UnknownEventType:
            detail = f"{parked.type} v{parked.schema_version} is newer than this service reads"
            return await stop_at(NEWER_VERSION, detail)
        except InvalidEvent as exc:
            return await dead_letter(exc, 1)
        queued = len(tx._pending)
        try:
            async with tx.conn.transaction():  # a savepoint: a failure undoes this event only
                await self._apply_in(tx, [(record, envelope)])
        except Exception as exc:
            del tx._pending[queued:]  # events its handler raised die with its effect
            if await self.cause_of(exc) != Cause.EVENT:
                raise
            attempts = parked.attempts + 1
            if attempts >= self.retry.attempts:
                return await dead_letter(exc, attempts)
            await tx.conn.execute(
                "UPDATE consumer_parked SET attempts = $2, last_error = $3 WHERE id = $1",
                parked.id,
                attempts,
                f"{type(exc).__name__}: {exc}"[:2000],
            )
            return False
        await tx.conn.execute("DELETE FROM consumer_parked WHERE id = $1", parked.id)
        return True

    async def run_drain(self, *, every: float = 2.0, purge_every: float = 3600.0) -> None:
        """Until cancelled: drain releasable holds, refresh the gauges, purge the inbox."""
        loop = asyncio.get_running_loop()
        last_purge = loop.time()
        wait = every
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drain_wake.wait(), wait)
            self._drain_wake.clear()
            try:
                await self.drain()
                held, parked = await summary(self.uow.pool, self.consumer)
                self.held, self.parked = held, parked
                EVENTS_PARKED.labels(self.service).set(parked)
                for reason in (NEWER_VERSION, DEAD_LETTER):
                    SUBJECTS_HELD.labels(self.service, reason).set(held.get(reason, 0))
                if loop.time() - last_purge > purge_every:
                    last_purge = loop.time()
                    purged = await purge_inbox(
                        self.uow.pool, self.consumer, older_than_hours=self.inbox_retention_hours
                    )
                    INBOX_PURGED.labels(self.service).inc(purged)
                wait = every
            except Exception as exc:
                log.warning("draining held subjects failed; retrying", error=repr(exc))
                wait = min(wait * 2, 30.0)

    async def database_answers(self) -> bool:
        """Does the database answer right now (a probe, at most 2 s)?"""
        try:
            async with asyncio.timeout(2.0):
                await self.uow.pool.fetchval("SELECT 1")
        except Exception:
            return False
        return True

    async def cause_of(self, exc: BaseException) -> str:
        cause = classify(exc)
        if cause == Cause.AMBIGUOUS:
            # A socket error while the database does not answer is the outage; the same
            # error while it answers comes from the handler (a bug, a file it cannot read).
            cause = Cause.EVENT if await self.database_answers() else Cause.INFRASTRUCTURE
        return cause

    def _stalled(self, reason: str) -> None:
        if self.stalled_since is None:
            self.stalled_since = asyncio.get_running_loop().time()
        self.stalled = reason

    def _progressed(self) -> None:
        self.stalled = self.stalled_since = None

    async def _apply_one(
        self,
        item: tuple[ConsumerRecord[Any, Any], Envelope[Any]],
        already_failed: BaseException | None = None,
    ) -> bool:
        """Apply one event with retries; False if it was dead-lettered (subject held)."""
        record, envelope = item
        attempt, infra_wait = (1, 0.0) if already_failed else (0, 0.0)
        error = already_failed
        cause = Cause.EVENT if already_failed else None
        while True:
            if error is not None and cause == Cause.EVENT:
                if attempt >= self.retry.attempts:
                    with message_context(envelope.event_id, envelope.correlation_id):
                        log.error("event failed every retry", error=repr(error), attempts=attempt)
                    await self._dead_letter(record, error, attempts=attempt, envelope=envelope)
                    self._progressed()
                    return False
                CONSUMER_RETRIES.labels(self.service, record.topic).inc()
                await asyncio.sleep(self.retry.delay(attempt))
            elif error is not None:
                infra_wait = min(max(infra_wait * 2, 0.1), self.infra_backoff_max)
                self._stalled(f"infrastructure: {type(error).__name__}: {error}"[:300])
                log.warning("infrastructure unavailable; retrying", error=repr(error))
                await asyncio.sleep(infra_wait)
            try:
                await self._apply([item])
                self._progressed()
                return True
            except Exception as exc:
                error = exc
                cause = await self.cause_of(exc)
                if cause == Cause.EVENT:
                    attempt += 1

    async def _dead_letter(
        self,
        record: ConsumerRecord[Any, Any],
        error: BaseException,
        *,
        attempts: int,
        envelope: Envelope[Any] | None = None,
    ) -> None:
        """Publish to this consumer's DLQ and wait for the broker's ack before moving on.

        With the ``envelope``, its subject is put on hold first: later events of the
        subject are parked until the dead letter is re-driven (and applied first), so a
        fold never sees them out of order. Hold before publish: a crash in between leaves a
        hold whose blocker is simply redelivered, parked and retried by the drain.
        """
        if envelope is not None:
            reason = f"dead-lettered {envelope.type} {envelope.event_id}: {type(error).__name__}"

            async def hold_subject(tx: Transaction) -> None:
                await hold(
                    tx.conn,
                    self.consumer,
                    record.topic,
                    envelope.subject,
                    reason=DEAD_LETTER,
                    detail=reason,
                    blocker=envelope.event_id,
                )

            await self._in_own_transaction(hold_subject)
        headers = dead_letter_headers(record, error, group=self.group, attempts=attempts)
        topic = self.dead_letter_topic(record.topic)
        wait = 0.1
        value = record.value
        while True:
            try:
                await self.producer.send_and_wait(
                    topic, value=value, key=record.key, headers=headers
                )
                break
            except KafkaError as exc:
                if refused(exc) and value is not None:
                    # Too large with the added headers (a record just under the broker's
                    # limit): the letter goes without the value, which stays in the source
                    # topic at the offset the headers name; `ankommen dlq redrive` reads it
                    # from there. Never block the partition on it.
                    log.warning("dead letter too large; sent without its value", error=repr(exc))
                    headers = [*headers, (VALUE_OMITTED, str(len(value)).encode())]
                    value = None
                    continue
                self._stalled(f"dead-letter publish to {topic} failing: {exc!r}"[:300])
                log.warning("dead-letter publish failed; retrying", error=repr(exc))
                await asyncio.sleep(wait)
                wait = min(wait * 2, self.infra_backoff_max)
        EVENTS_CONSUMED.labels(self.service, record.topic, "dead_lettered").inc()
        log.error(
            "event dead-lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            dead_letter_topic=topic,
            error=f"{type(error).__name__}: {error}",
        )


async def _raw_records(message: StreamMessage[Any]) -> Any:
    # Hand the handler the untouched ConsumerRecords: decoding is the policy's job, and a
    # body that is not JSON must reach the DLQ rather than fail inside faststream.
    return message.raw_message


async def _parse_records(records: tuple[ConsumerRecord[Any, Any], ...]) -> KafkaMessage:
    """faststream's batch parser decodes every header as UTF-8 and, when one is not, drops
    the whole poll (logged, never handled, and committed past by the next poll). This one
    touches nothing: header and body checks are the policy's, which dead-letters them."""
    first, last = records[0], records[-1]
    return KafkaMessage(
        body=b"",
        headers={},
        batch_headers=[],
        message_id=f"{first.topic}-{first.partition}-{first.offset}-{last.offset}",
        raw_message=records,
        consumer=FAKE_CONSUMER,
    )


def settled_offsets(records: Sequence[ConsumerRecord[Any, Any]]) -> dict[TopicPartition, int]:
    """The offsets to commit once ``records`` are settled: one past each partition's last."""
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    return offsets


def rewind(consumer: AIOKafkaConsumer, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
    """Seek each partition of ``records`` back to its first record: they come again."""
    first: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        first[tp] = min(first.get(tp, record.offset), record.offset)
    for tp, offset in first.items():
        # No longer assigned: its new owner starts from the committed offset anyway.
        with contextlib.suppress(IllegalStateError, AssertionError):
            consumer.seek(tp, offset)


class _AwakeBatchSubscriber(BatchSubscriber):
    """faststream's batch subscriber without its nap after an empty poll.

    faststream sleeps ``batch_timeout_ms`` after a poll that found nothing, although the
    poll itself already waited that long for records: an event arriving during the nap
    waited for it, up to ``poll_ms`` at every hop of a chain of events (an assignment's
    placement crosses three services). Here the poll is the only wait: it returns as soon
    as records arrive."""

    __slots__ = ()

    async def get_msg(self, consumer: AIOKafkaConsumer) -> tuple[ConsumerRecord[Any, Any], ...]:
        batches = await consumer.getmany(
            timeout_ms=self.batch_timeout_ms, max_records=self.max_records
        )
        return tuple(chain.from_iterable(batches.values()))


def subscribe(
    broker: KafkaBroker,
    policy: ConsumerPolicy,
    *,
    max_records: int = 500,
    poll_ms: int = 100,
    fetch_min_bytes: int = 1,
    fetch_max_wait_ms: int = 500,
    activity: Activity | None = None,
    positions: Positions | None = None,
) -> None:
    """Declare one batch subscriber for the policy's topics that follows the policy.

    ``poll_ms`` is faststream's ``batch_timeout_ms``: how long a poll waits for records
    when none are there (it returns as soon as some arrive), so also how soon the loop
    notices it is asked to stop. ``fetch_min_bytes`` and ``fetch_max_wait_ms`` are Kafka's:
    the broker holds a fetch until that many bytes are there or that long has passed (the
    defaults answer at the first record). Each batch, from its handling to its offsets'
    commit, is work in progress in ``activity`` (the process's: the barrier's answer waits for it);
    each commit is noted in ``positions`` (what the barrier's answer reports).
    """
    activity = activity or Activity()
    positions = positions or Positions()
    topics = policy.topics
    subscriber = broker.subscriber(
        *topics,
        group_id=policy.group,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=poll_ms,
        fetch_min_bytes=fetch_min_bytes,
        fetch_max_wait_ms=fetch_max_wait_ms,
        ack_policy=AckPolicy.MANUAL,  # offsets after effects, never on a timer
        auto_offset_reset="earliest",
        parser=_parse_records,
        decoder=_raw_records,
        title=f"{policy.service}:{','.join(topics)}",
    )
    if type(subscriber) is not BatchSubscriber:
        raise TypeError(f"faststream made a {type(subscriber).__name__}, not a BatchSubscriber")
    subscriber.__class__ = _AwakeBatchSubscriber  # same slots: only get_msg differs
    policy.subscriber = subscriber
    backoff = RetryPolicy(attempts=0, base_seconds=0.1, max_seconds=policy.infra_backoff_max)
    failures = 0

    @subscriber
    async def on_batch(records: Any) -> None:
        with activity.working(), policy.horizon.handling(records):
            await settle_batch(records)

    async def settle_batch(records: Any) -> None:
        nonlocal failures
        consumer: AIOKafkaConsumer | None = subscriber.consumer
        assert consumer is not None, "the subscriber is running"
        try:
            await policy.handle_batch(records)
        except Exception as exc:
            # Nothing may move the offset past a record that was neither applied nor
            # dead-lettered: seek back, so the same records come again after a pause.
            failures += 1
            policy._stalled(f"batch handling failing: {type(exc).__name__}: {exc}"[:300])
            # A server gone mid-batch is expected (warning); anything else is a bug (error).
            cause = await policy.cause_of(exc)
            level = log.warning if cause == Cause.INFRASTRUCTURE else log.error
            level("batch not settled; its records will be read again", error=repr(exc))
            rewind(consumer, records)
            await asyncio.sleep(backoff.delay(failures))
            return
        failures = 0
        offsets = settled_offsets(records)
        try:
            await consumer.commit(offsets)
            positions.committed_to(offsets)
            policy.horizon.settled(records)
        except (KafkaError, IllegalStateError) as exc:
            # A rebalance took the partitions: the new owner re-reads, the inbox dedups.
            log.warning("offset commit failed; events will be redelivered", error=repr(exc))


__all__ = [
    "DLQ_MARK",
    "TRANSIENT_ERRORS",
    "BatchEventHandler",
    "Batched",
    "ConsumerPolicy",
    "EventHandler",
    "RetryPolicy",
    "Subscription",
    "batched",
    "check_headers",
    "dead_letter_headers",
    "dead_letter_topic",
    "decode_record",
    "is_dead_letter_topic",
    "is_transient",
    "subscribe",
]
