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
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

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
            futures: list[asyncio.Future[Any]] = []
            failure: BaseException | None = None
            for row in rows:
                try:
                    futures.append(
                        await self.producer.send(
                            row["topic"],
                            value=row["payload"],
                            key=row["subject"].encode(),
                            headers=[(k, v.encode()) for k, v in json.loads(row["headers"])],
                        )
                    )
                except Exception as exc:  # buffer full, no metadata: stop here, resend later
                    failure = exc
                    break
            results = await asyncio.gather(*futures, return_exceptions=True)
            acked = 0
            for result in results:
                if isinstance(result, BaseException):
                    failure = result
                    break
                acked += 1
            if acked:
                done = rows[:acked]
                await conn.execute(
                    "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                    [r["id"] for r in done],
                )
                now = datetime.now(UTC)
                OUTBOX_PUBLISHED.labels(self.service).inc(acked)
                for r in done:
                    OUTBOX_LAG.labels(self.service).observe((now - r["created_at"]).total_seconds())
        if failure is not None:
            OUTBOX_SEND_FAILURES.labels(self.service).inc()
            raise RuntimeError(f"relay: send failed after {acked} acked: {failure!r}") from failure
        return acked

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
