"""The outbox relay: publishes committed outbox rows to Kafka, in order, at least once.

Order per subject holds even when a send fails: rows are claimed in id order (sequence
order per subject, see ``uow``), and when one is not acknowledged only the rows before it
are marked; it and everything after are sent again on the next round. Duplicates are
fine (the consumers' inbox absorbs them); reordering is not.

The relay wakes when its own process commits events (``wake``, called by the unit of
work), and otherwise looks every ``poll_seconds`` (rows another process wrote).

Two replicas of a service never interleave: each batch takes a transaction-scoped
advisory lock besides ``FOR UPDATE SKIP LOCKED``, so one relay publishes at a time; a
relay that finds the lock taken looks again after ``LOCK_RETRY_SECONDS``, since the other
replica's round may have begun before this one's rows committed. A
round has a time limit (``round_seconds``): during a broker outage or a network partition
it gives up, rolls back and releases the lock, so another replica that can reach the
broker publishes meanwhile. Failed rounds are counted
(``ankommen_outbox_relay_round_failures_total``) and reported by readiness.

Acknowledgements are marked per partition: a failure on one partition leaves rows on
others published (they are not re-sent every round). A row the broker refuses for good
(too large, not authorised) is parked with an alert (ERROR log, gauge, readiness):
later rows of its subject wait behind it, other subjects go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from .activity import Activity
from .logging import get_logger
from .metrics import (
    OUTBOX_LAG,
    OUTBOX_PARKED,
    OUTBOX_PUBLISHED,
    OUTBOX_SEND_FAILURES,
    RELAY_ROUND_FAILURES,
)
from .positions import Positions

log = get_logger(__name__)

RELAY_LOCK = 0x72656C79  # "rely"
# The relay's claim: the oldest unpublished rows, locked; the second form leaves out the
# subjects with a parked row (``$2``, ``$3``: their topics and subjects).
_CLAIM = """SELECT id, topic, subject, payload, headers, created_at FROM outbox o
            WHERE published_at IS NULL AND parked_at IS NULL {behind_parked}
            ORDER BY id LIMIT $1
            FOR UPDATE SKIP LOCKED"""
CLAIM_ANY = _CLAIM.format(behind_parked="")
# Only ``parked_at IS NOT NULL`` inside: the one index for it is the small ``outbox_parked``.
# With ``published_at IS NULL`` beside it, PostgreSQL also weighed ``outbox_unpublished``
# and, believing it small, read every unpublished row to find none parked.
_PARKED = """WITH parked AS MATERIALIZED (
                  SELECT topic, subject, published_at FROM outbox WHERE parked_at IS NOT NULL)
              SELECT {what} FROM parked WHERE published_at IS NULL"""
PARKED_SUBJECTS = _PARKED.format(what="DISTINCT topic, subject")
PARKED_ROWS = _PARKED.format(what="count(*)")
# The outbox is a queue: during a burst it holds 100,000 unpublished rows that autovacuum
# has not counted yet (it looks every minute; a service's first minute may be the burst).
# Believing them few, PostgreSQL sorted all of them to claim 500 (bitmap scan, then sort:
# 36 ms against 0.3 ms, 238 ms seen in the pipeline benchmark), or read all of them to find
# the parked ones. A relay round plans as a queue needs, whatever the statistics say: by
# index, in index order (tests/integration/test_outbox_plans.py).
_QUEUE_SETTINGS = (
    "set_config('enable_bitmapscan', 'off', true), set_config('enable_seqscan', 'off', true)"
)
QUEUE_PLANS = f"SELECT {_QUEUE_SETTINGS}"
# A relay round takes its lock and the queue's plans in one round trip.
LOCK_WITH_QUEUE_PLANS = f"SELECT pg_try_advisory_xact_lock($1), {_QUEUE_SETTINGS}"
CLAIM_BEHIND_PARKED = _CLAIM.format(
    behind_parked="""AND NOT EXISTS (
        SELECT 1 FROM unnest($2::text[], $3::text[]) AS p(topic, subject)
        WHERE p.topic = o.topic AND p.subject = o.subject)"""
)


def refused(exc: BaseException) -> bool:
    """Does the broker refuse this record for good (sending it again cannot help)?"""
    return (
        isinstance(exc, KafkaError)
        and exc.retriable is False
        and not isinstance(exc, _NOT_ABOUT_THE_RECORD)
    )


def _not_about_the_record() -> tuple[type[BaseException], ...]:
    from aiokafka import errors

    # Non-retriable, but about the connection or the producer, not one record.
    return (
        errors.KafkaTimeoutError,
        errors.KafkaConnectionError,
        errors.ProducerFenced,
        errors.OutOfOrderSequenceNumber,
        errors.ProducerClosed,
        errors.IllegalStateError,
    )


_NOT_ABOUT_THE_RECORD = _not_about_the_record()


class _Oversized(KafkaError):
    """A row larger than a record batch: sent on its own, it may still be refused."""

    retriable = False


LOCK_RETRY_SECONDS = 0.05


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        service: str,
        batch_size: int = 500,
        poll_seconds: float = 1.0,
        retention_hours: float = 168.0,
        round_seconds: float = 15.0,
        activity: Activity | None = None,
        positions: Positions | None = None,
    ) -> None:
        self.pool = pool
        self.producer = producer
        self.service = service
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.retention_hours = retention_hours
        self._wake = asyncio.Event()
        # Each round counts as work while it runs, and a wake from the moment it is given
        # until a round after it has succeeded: the barrier's answer waits for both.
        self.activity = activity or Activity()
        # Where each partition ends after this relay's acknowledged writes (the barrier's).
        self.positions = positions or Positions()
        self._lock_taken = False  # the last round found another replica's relay at work
        # The producer's own partitioner (murmur2 of the key), used for batches built here.
        self._partitioner = DefaultPartitioner()
        self._last_purge = 0.0
        self.round_seconds = round_seconds
        # For readiness: since when rounds fail (loop time), the last error, parked rows.
        self.failing_since: float | None = None
        self.last_error = ""
        self.consecutive_failures = 0
        self.round_failures = 0
        self.parked = 0

    def health(self, *, kafka_up: bool, stuck_after: float, now: float) -> str:
        """``ok…`` while the relay does its job; why not, when it is stuck."""
        parked = f"; {self.parked} rows parked (refused by the broker)" if self.parked else ""
        if self.failing_since is None or now - self.failing_since <= stuck_after:
            return f"ok: {self.parked} rows parked (refused by the broker)" if parked else "ok"
        failing = f"{now - self.failing_since:.0f} s, {self.consecutive_failures} rounds"
        if not kafka_up:
            return f"ok, degraded: waiting for Kafka for {failing}{parked}"
        return f"failing for {failing} while Kafka answers: {self.last_error}{parked}"

    async def publish_batch(self) -> int:
        """Claim up to ``batch_size`` unpublished rows, send, mark what was acknowledged.

        Returns the number marked published. Raises after marking if a send failed, and
        ``TimeoutError`` if the round outlasted ``round_seconds`` (nothing marked, the
        transaction and its lock released).
        """
        async with asyncio.timeout(self.round_seconds):
            return await self._round()

    async def _round(self) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            # The queue's plans (this transaction only) come with the lock: a round trip
            # less per round, and harmless in a round that returns at once.
            self._lock_taken = not await conn.fetchval(LOCK_WITH_QUEUE_PLANS, RELAY_LOCK)
            if self._lock_taken:
                return 0
            # Rows of a subject with a parked row wait behind it: never reordered. The
            # parked subjects are read first (almost always none): as one anti-join,
            # PostgreSQL at times planned the inner side over every unpublished row, once
            # per row claimed (135 ms a round in the hundredfold bench run).
            parked_subjects = await conn.fetch(PARKED_SUBJECTS)
            if parked_subjects:
                rows = await conn.fetch(
                    CLAIM_BEHIND_PARKED,
                    self.batch_size,
                    [r["topic"] for r in parked_subjects],
                    [r["subject"] for r in parked_subjects],
                )
            else:
                rows = await conn.fetch(CLAIM_ANY, self.batch_size)
            if not rows:
                return 0
            acked, failures = await self._send(rows)
            parked: list[tuple[int, str]] = []
            for target, (position, error) in failures.items():
                if refused(error) and target[1] >= 0:
                    # Find the refused row: the partition's rows one by one, in order.
                    more, refusal = await self._send_one_by_one(rows, target, position)
                    acked.extend(more)
                    if refusal is not None:
                        parked.append(refusal)
            if acked:
                await conn.execute(
                    "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                    [rows[i]["id"] for i in acked],
                )
                now = datetime.now(UTC)
                OUTBOX_PUBLISHED.labels(self.service).inc(len(acked))
                lag = OUTBOX_LAG.labels(self.service)
                for i in acked:
                    lag.observe((now - rows[i]["created_at"]).total_seconds())
            for row_id, reason in parked:
                await conn.execute(
                    "UPDATE outbox SET parked_at = now(), park_reason = $2 WHERE id = $1",
                    row_id,
                    reason[:2000],
                )
                log.error(
                    "outbox row refused by the broker; parked, its subject waits",
                    outbox_id=row_id,
                    reason=reason,
                )
        if parked:
            await self.count_parked()
        left = [e for t, e in failures.items() if not (refused(e[1]) and t[1] >= 0)]
        if left:
            OUTBOX_SEND_FAILURES.labels(self.service).inc()
            error = left[0][1]
            raise RuntimeError(f"relay: send failed after {len(acked)} acked: {error!r}") from error
        return len(acked)

    async def count_parked(self) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(QUEUE_PLANS)  # the parked index, whatever the statistics say
            self.parked = await conn.fetchval(PARKED_ROWS)
        OUTBOX_PARKED.labels(self.service).set(self.parked)
        return self.parked

    async def _send_one_by_one(
        self, rows: Sequence[asyncpg.Record], target: tuple[str, int], position: int
    ) -> tuple[list[int], tuple[int, str] | None]:
        """Send ``target``'s rows from ``position`` alone, in order, until one is refused.

        Returns the positions acknowledged and the refused row (id, reason), if any.
        """
        acked: list[int] = []
        for i in range(position, len(rows)):
            row = rows[i]
            if self._target_of(row, self._known[row["topic"]]) != target:
                continue
            try:
                written = await self.producer.send_and_wait(
                    row["topic"],
                    value=row["payload"],
                    key=row["subject"].encode(),
                    partition=target[1],
                    headers=[(k, v.encode()) for k, v in json.loads(row["headers"])],
                )
            except KafkaError as exc:
                if refused(exc):
                    return acked, (row["id"], f"{type(exc).__name__}: {exc}")
                return acked, None  # the broker, not the row: next round
            self.positions.wrote(written.topic, written.partition, written.offset + 1)
            acked.append(i)
        return acked, None

    def _target_of(self, row: asyncpg.Record, known: list[int]) -> tuple[str, int]:
        key = row["subject"].encode()
        return (row["topic"], self._partitioner(key, known, known))

    async def _send(
        self, rows: Sequence[asyncpg.Record]
    ) -> tuple[list[int], dict[tuple[str, int], tuple[int, BaseException]]]:
        """Send rows in id order; (positions acknowledged, first failure per partition).

        Rows go into one record batch per partition (aiokafka's batch API: one future per
        batch instead of one per record, a third less CPU per event than ``send``), each
        partition's rows in id order. The partition is the one ``send`` would choose for the
        key (the producer's default murmur2 partitioner, as the Java client), so a subject
        stays on its partition. Per partition, the acknowledged prefix is marked: a batch
        that failed, or was never submitted, fails its rows and every later row of its
        partition (sent again next round); other partitions are not held back.
        """
        producer = self.producer
        self._known: dict[str, list[int]] = {}
        building: dict[tuple[str, int], tuple[Any, int]] = {}  # -> (builder, its first row)
        # per partition: [(first row, ack of its batch, rows in it)]
        sent: dict[tuple[str, int], list[tuple[int, asyncio.Future[Any], list[int]]]] = {}
        members: dict[tuple[str, int], list[int]] = {}
        failures: dict[tuple[str, int], tuple[int, BaseException]] = {}
        stopped_at: int | None = None
        stop_error: BaseException | None = None
        try:
            for position, row in enumerate(rows):
                topic = row["topic"]
                known = self._known.get(topic)
                if known is None:
                    known = self._known[topic] = sorted(await producer.partitions_for(topic))
                target = self._target_of(row, known)
                if target in failures:
                    continue  # its partition already failed this round
                record = {
                    "timestamp": None,
                    "key": row["subject"].encode(),
                    "value": row["payload"],
                    "headers": [(k, v.encode()) for k, v in json.loads(row["headers"])],
                }
                current = building.get(target)
                if current is not None:
                    if current[0].append(**record) is not None:
                        members[target].append(position)
                        continue
                    # Full: submit it; this row starts the partition's next batch.
                    ack = await self._submit(target, current[0])
                    sent.setdefault(target, []).append((current[1], ack, members.pop(target)))
                    del building[target]
                builder = producer.create_batch()
                if builder.append(**record) is None:
                    failures[target] = (position, _Oversized("larger than a record batch"))
                    continue
                building[target] = (builder, position)
                members[target] = [position]
            for target, (builder, first) in list(building.items()):
                ack = await self._submit(target, builder)
                sent.setdefault(target, []).append((first, ack, members.pop(target)))
                del building[target]
        except Exception as exc:  # no metadata, buffer full: what is not submitted waits
            stopped_at = position
            stop_error = exc
        for target, (_, first) in building.items():
            failures.setdefault(target, (first, stop_error or RuntimeError("not submitted")))
        acked: list[int] = []
        for target, batches in sent.items():
            results = await asyncio.gather(*(a for _, a, _ in batches), return_exceptions=True)
            for (first, _, positions), result in zip(batches, results, strict=True):
                if target in failures and failures[target][0] < first:
                    break  # an earlier row of this partition failed: not marked
                if isinstance(result, BaseException):
                    failures[target] = (first, result)
                    break
                if result is not None:  # acks=0 would answer None: acks=all never does
                    # a batch's answer names the offset of its first record
                    self.positions.wrote(*target, result.offset + len(positions))
                acked.extend(positions)
        if stopped_at is not None and stop_error is not None:
            # Rows from the one that failed to be placed on are not sent; any partition
            # they belong to must not be marked past them (unknown: mark none after it).
            acked = [i for i in acked if i < stopped_at]
            failures.setdefault(("", -1), (stopped_at, stop_error))
        return sorted(acked), failures

    async def _submit(self, target: tuple[str, int], builder: Any) -> asyncio.Future[Any]:
        topic, partition = target
        ack: asyncio.Future[Any] = await self.producer.send_batch(
            builder, topic, partition=partition
        )
        return ack

    async def purge_published(self) -> int:
        """Drop rows published longer ago than the retention (kept meanwhile for audits)."""
        result = await self.pool.execute(
            "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)",
            self.retention_hours * 3600,
        )
        return int(result.split()[-1])

    def wake(self) -> None:
        """Look for rows now: this process committed some (``UnitOfWork.on_published``)."""
        if not self._wake.is_set():
            self._wake.set()
            self.activity.begin()  # ended once a round after it has succeeded

    async def run(self) -> None:
        """Publish until cancelled: wake when told, poll as a fallback, back off on errors."""
        backoff = 0.1
        answering = False  # a wake taken off the flag, open until a round succeeds
        while True:
            try:
                with self.activity.working():
                    published = await self.publish_batch()
                backoff = 0.1
                self._succeeded()
                await self._maybe_purge()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                kind = "timeout" if isinstance(exc, TimeoutError) else "send"
                self._failed(kind, exc)
                log.warning("relay round failed; retrying", error=repr(exc), backoff=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue  # a wake being answered stays open: its rows are not out yet
            if answering:
                answering = False
                self.activity.end()
            if published >= self.batch_size:
                continue  # more waiting: do not sleep
            wait = LOCK_RETRY_SECONDS if self._lock_taken else self.poll_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            if self._wake.is_set():
                self._wake.clear()
                answering = True

    def _succeeded(self) -> None:
        self.failing_since, self.consecutive_failures, self.last_error = None, 0, ""

    def _failed(self, kind: str, exc: BaseException) -> None:
        RELAY_ROUND_FAILURES.labels(self.service, kind).inc()
        if self.failing_since is None:
            self.failing_since = asyncio.get_running_loop().time()
        self.consecutive_failures += 1
        self.round_failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]

    async def _maybe_purge(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_purge > 300:
            self._last_purge = loop.time()
            await self.purge_published()
            await self.count_parked()
