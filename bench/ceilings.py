"""Ceilings: what the raw clients and servers do on this machine, now.

Every other figure is divided by one of these, measured in the same run, so a noisy
neighbour moves both and the ratio stays meaningful.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from ankommen_local.config import Settings as LocalSettings
from ankommen_runtime.db import RUNTIME_MIGRATIONS, migrate
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage

from .common import BATCH_ROWS, EVENT_BYTES, Bench, Figure, Result, rate, ratio
from .events import kilobyte_event

PARTITIONS = 3  # as the services' topics (ServiceSettings.topic_partitions)
SEND_WINDOW = 10_000  # in-flight sends before waiting for their acks


async def run(bench: Bench) -> Result:
    result = Result("ceilings", "Ceilings (raw clients and servers, same run)")
    prefix = bench.prefix("ceilings")
    topic, perf_topic = f"{prefix}raw", f"{prefix}perf"
    n = bench.size.kafka_events
    async with bench.topics({topic: PARTITIONS, perf_topic: PARTITIONS}):
        perf = await producer_performance(bench, perf_topic)
        if perf is not None:
            result.figures.append(
                Figure(
                    "kafka.perf_produce",
                    "Kafka ProducerPerformance (Java)",
                    perf["rate"],
                    "events/s",
                )
            )
            result.details["producer_performance"] = perf
        else:
            result.details["producer_performance"] = "skipped: no Kafka jars or java here"
        produced = await aiokafka_produce(bench, topic, n)
        result.figures.append(
            Figure(
                "aiokafka.produce",
                "aiokafka produce (acks=all, idempotent)",
                produced,
                "events/s",
                {"kafka.perf_produce": None},
            )
        )
        consumed, count = await aiokafka_consume(bench, topic, n)
        result.checks["aiokafka read every event"] = count == n
        result.figures.append(Figure("aiokafka.consume", "aiokafka consume", consumed, "events/s"))
        batch, count = await faststream_batch_consume(bench, topic, n)
        result.checks["faststream read every event"] = count == n
        result.figures.append(
            Figure(
                "faststream.batch_consume",
                "faststream batch consume (batch=True)",
                batch,
                "events/s",
            )
        )
    async with bench.database("ceilings") as dsn:
        pg = await postgres_inserts(bench, dsn)
    result.figures += [
        Figure("pg.batch_outbox", f"asyncpg outbox rows, {BATCH_ROWS}/tx", pg["outbox"], "rows/s"),
        Figure("pg.batch_inbox", f"asyncpg inbox rows, {BATCH_ROWS}/tx", pg["inbox"], "rows/s"),
        Figure(
            "pg.single_row",
            "asyncpg one outbox row per tx (fsync-bound)",
            pg["single"],
            "commits/s",
        ),
    ]
    result.checks["postgres wrote every row"] = pg["rows_ok"]
    # aiokafka against Kafka's own Java client: how much the Python client leaves behind.
    values = {f.key: f.value for f in result.figures}
    for fig in result.figures:
        fig.ratios = {c: ratio(fig.value, values.get(c)) for c in fig.ratios}
    return result


# --- Kafka ------------------------------------------------------------------------------
_SUMMARY = re.compile(
    r"(?P<records>\d+) records sent, (?P<rate>[\d.]+) records/sec \((?P<mb>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency"
    r"(?:, (?P<p50>\d+) ms 50th, (?P<p95>\d+) ms 95th, (?P<p99>\d+) ms 99th)?"
)


def parse_producer_performance(output: str) -> dict[str, float] | None:
    """The final summary line of ProducerPerformance (the last match: the interim lines
    print the same shape without percentiles)."""
    matches = list(_SUMMARY.finditer(output))
    if not matches:
        return None
    found = {k: float(v) for k, v in matches[-1].groupdict().items() if v is not None}
    return found


def _java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


async def producer_performance(bench: Bench, topic: str) -> dict[str, Any] | None:
    """Kafka's own producer (kafka-tools) on the same broker: the physical baseline."""
    lib = LocalSettings.from_env().kafka_lib
    java = _java()
    if java is None or not any(lib.glob("kafka-tools-*.jar")):
        return None
    with bench.ui.step("ceiling: Kafka ProducerPerformance (java)") as _:
        proc = await asyncio.create_subprocess_exec(
            java,
            "-Xms64m",
            "-Xmx512m",
            "-cp",
            f"{lib}/*",
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic",
            topic,
            "--num-records",
            str(bench.size.perf_records),
            "--record-size",
            str(EVENT_BYTES),
            "--throughput",
            "-1",
            "--producer-props",
            f"bootstrap.servers={bench.ep.kafka_bootstrap}",
            "acks=all",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 600)
    text = out.decode(errors="replace")
    summary = parse_producer_performance(text)
    if proc.returncode != 0 or summary is None:
        raise RuntimeError(f"ProducerPerformance failed ({proc.returncode}):\n{text[-2000:]}")
    return summary


def _producer(bench: Bench) -> AIOKafkaProducer:
    # The relay's settings (runtime/kafka.py): acks=all, idempotent, big batches; and a
    # 5 ms linger, which the relay needs no more (it builds its batches) but these
    # record-by-record sends do to fill a request: the client's best, as a ceiling.
    return AIOKafkaProducer(
        bootstrap_servers=bench.ep.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )


async def aiokafka_produce(bench: Bench, topic: str, n: int) -> float:
    """Keyed 1 KB sends, up to SEND_WINDOW in flight, then wait for their acks."""
    payload = kilobyte_event()
    keys = [str(uuid.uuid4()).encode() for _ in range(min(n, 50_000))]
    producer = _producer(bench)
    await producer.start()
    try:
        with bench.ui.step("ceiling: aiokafka produce", n) as step:
            started = time.perf_counter()
            futures: list[asyncio.Future[Any]] = []
            for i in range(n):
                futures.append(await producer.send(topic, payload, key=keys[i % len(keys)]))
                if len(futures) >= SEND_WINDOW:
                    await asyncio.gather(*futures)
                    futures.clear()
                    step.update(i + 1)
            await asyncio.gather(*futures)
            seconds = time.perf_counter() - started
    finally:
        await producer.stop()
    return rate(n, seconds)


async def aiokafka_consume(bench: Bench, topic: str, n: int) -> tuple[float, int]:
    """Read the topic from the start with assigned partitions (no group join to time)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bench.ep.kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    count = 0
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        with bench.ui.step("ceiling: aiokafka consume", n) as step:
            started = time.perf_counter()
            deadline = time.monotonic() + 300
            while count < n and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
                count += sum(len(records) for records in batch.values())
                step.update(count)
            seconds = time.perf_counter() - started
    finally:
        await consumer.stop()
    return rate(count, seconds), count


async def _raw(message: StreamMessage[Any]) -> Any:
    return message.raw_message


async def faststream_batch_consume(bench: Bench, topic: str, n: int) -> tuple[float, int]:
    """faststream as the runtime uses it: batch=True, raw records, manual commit per batch.

    Everything the consumer policy sits on, without the policy: its ceiling.
    """
    broker = KafkaBroker(bench.ep.kafka_bootstrap, logger=None)
    done = asyncio.Event()
    state: dict[str, Any] = {"count": 0, "first": None, "last": None}

    @broker.subscriber(
        topic,
        group_id=f"bench-{bench.run_id}-faststream",
        batch=True,
        max_records=500,
        batch_timeout_ms=100,
        ack_policy=AckPolicy.MANUAL,
        auto_offset_reset="earliest",
        decoder=_raw,
    )
    async def on_batch(records: Any, msg: KafkaMessage) -> None:
        if state["first"] is None:
            state["first"] = time.perf_counter()
        state["count"] += len(records)
        await msg.ack()
        if state["count"] >= n:
            state["last"] = time.perf_counter()
            done.set()

    with bench.ui.step("ceiling: faststream batch consume", n) as step:
        await broker.start()
        try:
            deadline = time.monotonic() + 300
            while not done.is_set() and time.monotonic() < deadline:
                step.update(state["count"])
                await asyncio.sleep(0.1)
        finally:
            await broker.stop()
    if state["first"] is None or state["last"] is None:
        return 0.0, state["count"]
    return rate(state["count"], state["last"] - state["first"]), state["count"]


# --- PostgreSQL -------------------------------------------------------------------------
OUTBOX_INSERT = """INSERT INTO outbox (event_id, topic, subject, type, sequence, payload, headers)
                   VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)"""
INBOX_INSERT = """INSERT INTO inbox (consumer, event_id, type, subject, sequence, topic,
                                     kafka_partition, kafka_offset)
                  SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::text[], $5::bigint[],
                                           $6::text[], $7::int[], $8::bigint[])
                  ON CONFLICT (consumer, event_id) DO NOTHING"""


def _outbox_rows(n: int) -> list[tuple[Any, ...]]:
    payload = kilobyte_event()
    headers = json.dumps([["ce_type", "RefugeeAssigned"], ["ce_specversion", "1.0"]])
    return [
        (
            uuid.uuid4(),
            "allocation.events",
            str(uuid.uuid4()),
            "RefugeeAssigned",
            1,
            payload,
            headers,
        )
        for _ in range(n)
    ]


async def postgres_inserts(bench: Bench, dsn: str) -> dict[str, Any]:
    """The runtime's own statements (uow.flush, inbox.claim) on its own tables, 1 KB rows.

    Batched: BATCH_ROWS rows per transaction, one connection. Single: one row per
    transaction, each commit waiting for its WAL flush.
    """
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    assert pool is not None
    try:
        await migrate(pool, [("runtime", RUNTIME_MIGRATIONS)])
        n, single_n = bench.size.pg_batch_rows, bench.size.pg_single_rows
        rows = _outbox_rows(n)
        async with pool.acquire() as conn:
            with bench.ui.step("ceiling: asyncpg outbox batches", n) as step:
                started = time.perf_counter()
                for i in range(0, n, BATCH_ROWS):
                    async with conn.transaction():
                        await conn.executemany(OUTBOX_INSERT, rows[i : i + BATCH_ROWS])
                    step.update(i + BATCH_ROWS)
                outbox = rate(n, time.perf_counter() - started)
            with bench.ui.step("ceiling: asyncpg inbox batches", n) as step:
                started = time.perf_counter()
                for i in range(0, n, BATCH_ROWS):
                    chunk = rows[i : i + BATCH_ROWS]
                    async with conn.transaction():
                        await conn.execute(
                            INBOX_INSERT,
                            "bench",
                            [r[0] for r in chunk],
                            [r[3] for r in chunk],
                            [r[2] for r in chunk],
                            [r[4] for r in chunk],
                            [r[1] for r in chunk],
                            [0] * len(chunk),
                            list(range(i, i + len(chunk))),
                        )
                    step.update(i + BATCH_ROWS)
                inbox = rate(n, time.perf_counter() - started)
            singles = _outbox_rows(single_n)
            with bench.ui.step("ceiling: asyncpg one row per transaction", single_n) as step:
                started = time.perf_counter()
                for i, row in enumerate(singles):
                    async with conn.transaction():
                        await conn.execute(OUTBOX_INSERT, *row)
                    if i % 100 == 0:
                        step.update(i)
                single = rate(single_n, time.perf_counter() - started)
            written = await conn.fetchval("SELECT count(*) FROM outbox")
            inboxed = await conn.fetchval("SELECT count(*) FROM inbox")
    finally:
        await pool.close()
    return {
        "outbox": outbox,
        "inbox": inbox,
        "single": single,
        "rows_ok": written == n + single_n and inboxed == n,
    }
