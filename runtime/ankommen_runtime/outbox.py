"""The outbox relay: publishes committed outbox rows to Kafka, in order, at least once.

Order per subject holds even when a send fails: rows are claimed in id order (sequence
order per subject, see ``uow``), and when one is not acknowledged only the rows before it
are marked; it and everything after are sent again on the next round. Duplicates are
fine (the consumers' inbox absorbs them); reordering is not.

Two replicas of a service never interleave: each batch takes a transaction-scoped
advisory lock besides ``FOR UPDATE SKIP LOCKED``, so one relay publishes at a time.
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
from aiokafka.partitioner import DefaultPartitioner

from .logging import get_logger
from .metrics import OUTBOX_LAG, OUTBOX_PUBLISHED, OUTBOX_SEND_FAILURES
from .uow import OUTBOX_CHANNEL

log = get_logger(__name__)

_RELAY_LOCK = 0x72656C79  # "rely"


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
    ) -> None:
        self.pool = pool
        self.producer = producer
        self.service = service
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.retention_hours = retention_hours
        self._wake = asyncio.Event()
        # The producer's own partitioner (murmur2 of the key), used for batches built here.
        self._partitioner = DefaultPartitioner()
        self._last_purge = 0.0

    async def publish_batch(self) -> int:
        """Claim up to ``batch_size`` unpublished rows, send, mark the acknowledged prefix.

        Returns the number marked published. Raises after marking if a send failed.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _RELAY_LOCK):
                return 0
            rows = await conn.fetch(
                """SELECT id, topic, subject, payload, headers, created_at FROM outbox
                   WHERE published_at IS NULL ORDER BY id LIMIT $1
                   FOR UPDATE SKIP LOCKED""",
                self.batch_size,
            )
            if not rows:
                return 0
            acked, failure = await self._send(rows)
            if acked:
                done = rows[:acked]
                await conn.execute(
                    "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                    [r["id"] for r in done],
                )
                now = datetime.now(UTC)
                OUTBOX_PUBLISHED.labels(self.service).inc(acked)
                lag = OUTBOX_LAG.labels(self.service)
                for r in done:
                    lag.observe((now - r["created_at"]).total_seconds())
        if failure is not None:
            OUTBOX_SEND_FAILURES.labels(self.service).inc()
            raise RuntimeError(f"relay: send failed after {acked} acked: {failure!r}") from failure
        return acked

    async def _send(self, rows: Sequence[asyncpg.Record]) -> tuple[int, BaseException | None]:
        """Send rows in id order; (how many from the start were acknowledged, first error).

        Rows go into one record batch per partition (aiokafka's batch API: one future per
        batch instead of one per record, a third less CPU per event than ``send``), each
        partition's rows in id order. The partition is the one ``send`` would choose for the
        key (the producer's default murmur2 partitioner, as the Java client), so a subject
        stays on its partition. A batch that failed, or was never submitted, fails all its
        rows: the acknowledged prefix ends at its first row, and everything from there is
        sent again next round.
        """
        producer = self.producer
        partitions: dict[str, list[int]] = {}
        building: dict[tuple[str, int], tuple[Any, int]] = {}  # -> (builder, its first row)
        sent: list[tuple[int, asyncio.Future[Any]]] = []  # (first row, ack of its batch)
        failure: BaseException | None = None
        position = 0
        try:
            for position, row in enumerate(rows):
                topic = row["topic"]
                known = partitions.get(topic)
                if known is None:
                    known = partitions[topic] = sorted(await producer.partitions_for(topic))
                key = row["subject"].encode()
                target = (topic, self._partitioner(key, known, known))
                record = {
                    "timestamp": None,
                    "key": key,
                    "value": row["payload"],
                    "headers": [(k, v.encode()) for k, v in json.loads(row["headers"])],
                }
                current = building.get(target)
                if current is not None:
                    if current[0].append(**record) is not None:
                        continue
                    # Full: submit it; this row starts the partition's next batch.
                    sent.append((current[1], await self._submit(target, current[0])))
                    del building[target]
                builder = producer.create_batch()
                if builder.append(**record) is None:
                    raise ValueError(f"outbox row {row['id']} is larger than a record batch")
                building[target] = (builder, position)
            position = len(rows)
            for target, (builder, first) in list(building.items()):
                sent.append((first, await self._submit(target, builder)))
                del building[target]
        except Exception as exc:  # no metadata, buffer full: what is not submitted waits
            failure = exc
        acked = min([position, *(first for _, first in building.values())])
        results = await asyncio.gather(*(ack for _, ack in sent), return_exceptions=True)
        for (first, _), result in zip(sent, results, strict=True):
            if isinstance(result, BaseException) and first < acked:
                acked, failure = first, result
        return acked, failure

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

    async def run(self) -> None:
        """Publish until cancelled: wake on NOTIFY, poll as a fallback, back off on errors."""
        listener = asyncio.create_task(self._listen())
        backoff = 0.1
        try:
            while True:
                try:
                    published = await self.publish_batch()
                    backoff = 0.1
                    await self._maybe_purge()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("relay round failed; retrying", error=repr(exc), backoff=backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                if published >= self.batch_size:
                    continue  # more waiting: do not sleep
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                self._wake.clear()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener

    async def _maybe_purge(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_purge > 300:
            self._last_purge = loop.time()
            await self.purge_published()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _listen(self) -> None:
        """Hold a LISTEN connection, reconnecting if Postgres restarts."""
        while True:
            try:
                async with self.pool.acquire() as conn:
                    closed = asyncio.Event()

                    def on_close(_: object, ev: asyncio.Event = closed) -> None:
                        ev.set()

                    conn.add_termination_listener(on_close)
                    await conn.add_listener(OUTBOX_CHANNEL, self._on_notify)
                    try:
                        await closed.wait()
                    finally:
                        with contextlib.suppress(Exception):
                            await conn.remove_listener(OUTBOX_CHANNEL, self._on_notify)
                            conn.remove_termination_listener(on_close)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("outbox listener reconnecting", error=repr(exc))
            self._wake.set()  # may have missed a notify while down: look once
            await asyncio.sleep(1.0)
