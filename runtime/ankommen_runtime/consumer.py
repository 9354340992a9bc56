"""The consumer policy: effectively-once application of events, and nothing lost.

- A batch (what one poll returned) is applied in one transaction: inbox rows, effects and
  the outbox rows of raised events. Only then are the offsets committed (at-least-once
  delivery + inbox = effectively once).
- If the batch fails, its events are applied one by one, so one bad event never holds
  back or loses the others. An event failing ``retry_attempts`` times (bounded
  exponential backoff) goes to ``<topic>.dlq`` with the error; the partition moves on.
- Bytes that are not a valid event go to the DLQ at once (retrying cannot fix them).
  Well-formed events of unknown types, or types this service does not handle, are
  ignored and counted.
- Infrastructure failures (database or broker unreachable) are not the event's fault: they
  are retried without limit and never dead-letter an event.
- A handler wrapped in ``batched(fn)`` receives each run of consecutive events it handles
  in a batch at once (``fn(tx, envelopes)``), so a projection can write them with one
  statement instead of one round trip per event. Order of effects is unchanged.

faststream's defaults do not give this (see notes/faststream-delivery.md): subscribers are
declared here, once, with manual acknowledgement, a raw-record decoder and ``batch=True``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError
from ankommen_contracts import Envelope, EventData, InvalidEvent, UnknownEventType, decode
from ankommen_contracts.registry import CATALOGUE
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from pydantic import ValidationError

from .context import message_context
from .inbox import InboxEntry, claim
from .logging import get_logger
from .metrics import BATCH_SIZE, CONSUMER_RETRIES, EVENTS_CONSUMED
from .topics import DLQ_SUFFIX, event_topic
from .uow import Transaction, UnitOfWork

log = get_logger(__name__)

EventHandler = Callable[[Transaction, Envelope[Any]], Awaitable[None]]
BatchEventHandler = Callable[[Transaction, Sequence[Envelope[Any]]], Awaitable[None]]


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
    """

    source: str
    handlers: Mapping[str, Handler]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_seconds: float = 0.05
    max_seconds: float = 2.0

    def delay(self, attempt: int) -> float:
        return min(self.base_seconds * 2 ** (attempt - 1), self.max_seconds)


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    KafkaError,
)


_TYPED: dict[type[EventData], Any] = {}


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


def is_transient(exc: BaseException) -> bool:
    """Would the same event succeed later without a code or data fix?"""
    return isinstance(exc, TRANSIENT_ERRORS)


def dead_letter_headers(
    record: ConsumerRecord[Any, Any], error: BaseException, *, group: str, attempts: int
) -> list[tuple[str, bytes]]:
    """The original headers plus where the event came from and why it failed."""
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
    """Applies batches of records for one consumer group; see the module docstring."""

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
    ) -> None:
        self.service = service
        self.group = group
        self.uow = uow
        self.producer = producer
        self.handlers = {
            event_topic(s.source, topic_prefix): dict(s.handlers) for s in subscriptions
        }
        self.retry = retry or RetryPolicy()
        self.infra_backoff_max = infra_backoff_max

    @property
    def topics(self) -> list[str]:
        return list(self.handlers)

    async def handle_batch(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        """Apply or dead-letter every record; returns only when all are settled."""
        BATCH_SIZE.labels(self.service).observe(len(records))
        items: list[tuple[ConsumerRecord[Any, Any], Envelope[Any]]] = []
        for record in records:
            try:
                envelope = decode_record(record)
            except UnknownEventType:
                EVENTS_CONSUMED.labels(self.service, record.topic, "ignored").inc()
                continue
            except InvalidEvent as exc:
                await self._dead_letter(record, exc, attempts=1)
                continue
            if envelope.type not in self.handlers.get(record.topic, {}):
                EVENTS_CONSUMED.labels(self.service, record.topic, "ignored").inc()
                continue
            items.append((record, envelope))
        if not items:
            return
        try:
            await self._apply(items)
            return
        except Exception as exc:
            if len(items) == 1 and not is_transient(exc):
                first_failure: BaseException | None = exc
            else:
                first_failure = None
                log.warning("batch failed; applying its events one by one", error=repr(exc))
        for item in items:
            await self._apply_one(item, first_failure)
            first_failure = None

    async def _apply(self, items: Sequence[tuple[ConsumerRecord[Any, Any], Envelope[Any]]]) -> None:
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
        async with self.uow() as tx:
            fresh = await claim(tx.conn, self.group, entries)
            todo: list[tuple[ConsumerRecord[Any, Any], Envelope[Any]]] = []
            for record, envelope in items:
                if envelope.event_id not in fresh:
                    duplicates += 1
                    continue
                fresh.discard(envelope.event_id)  # the same event twice in one batch
                todo.append((record, envelope))
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
                with message_context(
                    envelope.event_id, envelope.correlation_id, envelope.occurred_at
                ):
                    await handler(tx, envelope)
                i += 1
        applied = len(todo)
        topic = items[0][0].topic
        EVENTS_CONSUMED.labels(self.service, topic, "applied").inc(applied)
        if duplicates:
            EVENTS_CONSUMED.labels(self.service, topic, "duplicate").inc(duplicates)
            log.info("redelivered events ignored", count=duplicates)

    async def _apply_one(
        self,
        item: tuple[ConsumerRecord[Any, Any], Envelope[Any]],
        already_failed: BaseException | None = None,
    ) -> None:
        record, envelope = item
        attempt, infra_wait = (1, 0.0) if already_failed else (0, 0.0)
        error = already_failed
        while True:
            if error is not None and not is_transient(error):
                if attempt >= self.retry.attempts:
                    with message_context(envelope.event_id, envelope.correlation_id):
                        log.error("event failed every retry", error=repr(error), attempts=attempt)
                    await self._dead_letter(record, error, attempts=attempt)
                    return
                CONSUMER_RETRIES.labels(self.service, record.topic).inc()
                await asyncio.sleep(self.retry.delay(attempt))
            elif error is not None:
                infra_wait = min(max(infra_wait * 2, 0.1), self.infra_backoff_max)
                log.warning("infrastructure unavailable; retrying", error=repr(error))
                await asyncio.sleep(infra_wait)
            try:
                await self._apply([item])
                return
            except Exception as exc:
                error = exc
                if not is_transient(exc):
                    attempt += 1

    async def _dead_letter(
        self, record: ConsumerRecord[Any, Any], error: BaseException, *, attempts: int
    ) -> None:
        """Publish to ``<topic>.dlq`` and wait for the broker's ack before moving on."""
        headers = dead_letter_headers(record, error, group=self.group, attempts=attempts)
        wait = 0.1
        while True:
            try:
                await self.producer.send_and_wait(
                    record.topic + DLQ_SUFFIX, value=record.value, key=record.key, headers=headers
                )
                break
            except KafkaError as exc:
                log.warning("dead-letter publish failed; retrying", error=repr(exc))
                await asyncio.sleep(wait)
                wait = min(wait * 2, self.infra_backoff_max)
        EVENTS_CONSUMED.labels(self.service, record.topic, "dead_lettered").inc()
        log.error(
            "event dead-lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=f"{type(error).__name__}: {error}",
        )


async def _raw_records(message: StreamMessage[Any]) -> Any:
    # Hand the handler the untouched ConsumerRecords: decoding is the policy's job, and a
    # body that is not JSON must reach the DLQ rather than fail inside faststream.
    return message.raw_message


def subscribe(
    broker: KafkaBroker, policy: ConsumerPolicy, *, max_records: int = 500, poll_ms: int = 20
) -> None:
    """Declare one batch subscriber for the policy's topics that follows the policy.

    ``poll_ms`` is faststream's ``batch_timeout_ms``: a poll returns as soon as records are
    there, but after an empty one faststream sleeps that long, so a record arriving in a
    quiet moment waits up to ``poll_ms`` more.
    """
    topics = policy.topics

    @broker.subscriber(
        *topics,
        group_id=policy.group,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=poll_ms,
        ack_policy=AckPolicy.MANUAL,  # offsets after effects, never on a timer
        auto_offset_reset="earliest",
        decoder=_raw_records,
        title=f"{policy.service}:{','.join(topics)}",
    )
    async def on_batch(records: Any, msg: KafkaMessage) -> None:
        await policy.handle_batch(records)
        try:
            await msg.ack()
        except KafkaError as exc:
            # A rebalance took the partitions: the new owner re-reads, the inbox dedups.
            log.warning("offset commit failed; events will be redelivered", error=repr(exc))


__all__ = [
    "TRANSIENT_ERRORS",
    "BatchEventHandler",
    "Batched",
    "ConsumerPolicy",
    "EventHandler",
    "RetryPolicy",
    "Subscription",
    "batched",
    "dead_letter_headers",
    "decode_record",
    "is_transient",
    "subscribe",
]
