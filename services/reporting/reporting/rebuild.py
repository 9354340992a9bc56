"""Rebuild: replay every reported topic from the beginning beside the live facts, then switch.

1. ``fact_next`` is created beside ``fact`` (no key yet: bulk load first, index after).
2. The end offsets of every partition are fixed; the partitions are shared among worker
   processes (``processes``). Each reads its partitions with a plain consumer (no group,
   nothing committed), decodes each record exactly as the live consumer does
   (``decode_record``), keeps the reported types as ``fact_row``s and writes chunks by
   COPY, each chunk in one transaction with the partitions' next offsets: a rebuild that
   stops resumes from there (``resume=True``), no inbox row per event.
3. The rebuilt table is keyed; then, holding the live table's writes (readers go on),
   the tail published meanwhile is replayed, every live fact must be in the rebuild with
   the same content (checksum), and in one transaction the rebuilt table replaces the
   live one. The live views stay online throughout; the live consumer waits only for
   the tail and the switch.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from ankommen_contracts import InvalidEvent, UnknownEventType
from ankommen_runtime.consumer import decode_record
from ankommen_runtime.kafka_clients import partitions_of, started
from ankommen_runtime.settings import KafkaSettings
from ankommen_runtime.topics import event_topic

from . import store
from .domain.facts import REPORTED, FactRow, fact_row

CHUNK = 20_000
"""Facts per COPY transaction: large enough that a commit is rare, small enough to resume."""

Progress = Callable[[int], None]


class RebuildFailed(RuntimeError):
    """The rebuilt facts do not equal the live ones: nothing was switched."""


@dataclass
class RebuildResult:
    events: int
    facts: int
    seconds: float
    processes: int
    checksum: str
    live_checksum: str
    behind_live: int
    duplicates: int
    skipped: dict[str, int] = field(default_factory=dict)

    wall_seconds: float = 0.0
    """The whole command: start-up of the replay processes, index, check and switch too."""
    cpu_us_per_event: float = 0.0
    """CPU time of the replay processes per event (their own work, whatever the load)."""

    @property
    def events_per_s(self) -> float:
        """Replayed events per second of the replay's busy window (first fetch to last commit)."""
        return self.events / self.seconds if self.seconds else 0.0


@dataclass
class ReplayStats:
    """What one replay process did: counts, its busy window (wall clock) and its CPU time."""

    events: int = 0
    facts: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    first: float | None = None  # time.time() when the first records arrived
    last: float | None = None  # time.time() when the last chunk was committed
    cpu_seconds: float = 0.0

    def add(self, other: ReplayStats) -> None:
        self.events += other.events
        self.facts += other.facts
        for k, v in other.skipped.items():
            self.skipped[k] = self.skipped.get(k, 0) + v
        firsts = [t for t in (self.first, other.first) if t is not None]
        lasts = [t for t in (self.last, other.last) if t is not None]
        self.first = min(firsts) if firsts else None
        self.last = max(lasts) if lasts else None
        self.cpu_seconds += other.cpu_seconds


@dataclass(frozen=True)
class Slice:
    """One partition's records to replay: ``start`` up to (not including) ``end``."""

    topic: str
    partition: int
    start: int
    end: int


def reported_topics(prefix: str) -> dict[str, frozenset[str]]:
    return {event_topic(source, prefix): frozenset(types) for source, types in REPORTED.items()}


def facts_of(
    records: Sequence[Any], types: frozenset[str], skipped: dict[str, int]
) -> list[FactRow]:
    """The live consumer's decode, then the reported types as rows; the rest counted."""
    rows: list[FactRow] = []
    for record in records:
        try:
            envelope = decode_record(record)
        except UnknownEventType:
            skipped["unknown"] = skipped.get("unknown", 0) + 1
            continue
        except InvalidEvent:
            # The live consumer dead-lettered it; it is not a fact of either table.
            skipped["invalid"] = skipped.get("invalid", 0) + 1
            continue
        if envelope.type not in types:
            skipped["not_reported"] = skipped.get("not_reported", 0) + 1
            continue
        rows.append(fact_row(envelope))
    return rows


def _options(credentials: KafkaSettings | None) -> dict[str, Any]:
    """aiokafka's security arguments, made in the process that uses them (an SSL context
    does not cross to a replay process; the settings do)."""
    return credentials.kafka_client_options() if credentials else {}


def _consumer(bootstrap: str, credentials: KafkaSettings | None) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        **_options(credentials),
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_wait_ms=50,
    )


async def replay(
    dsn: str,
    bootstrap: str,
    slices: Sequence[Slice],
    types_of: dict[str, frozenset[str]],
    progress: Progress | None = None,
    credentials: KafkaSettings | None = None,
) -> ReplayStats:
    """Replay ``slices`` into ``fact_next``, a COPY and the offsets per chunk."""
    todo = [s for s in slices if s.start < s.end]
    stats = ReplayStats()
    if not todo:
        return stats
    cpu = time.process_time()
    async with started(_consumer(bootstrap, credentials)) as consumer:
        conn = await asyncpg.connect(dsn)
        try:
            ends = {TopicPartition(s.topic, s.partition): s.end for s in todo}
            consumer.assign(list(ends))
            for s in todo:
                consumer.seek(TopicPartition(s.topic, s.partition), s.start)
            pending: list[FactRow] = []
            offsets: dict[tuple[str, int], int] = {}
            while ends:
                batches = await consumer.getmany(*ends, timeout_ms=1000, max_records=50_000)
                if batches and stats.first is None:
                    stats.first = time.time()
                for tp, records in batches.items():
                    end = ends.get(tp)
                    if end is None:
                        continue
                    records = [r for r in records if r.offset < end]
                    if not records:
                        continue
                    pending.extend(facts_of(records, types_of[tp.topic], stats.skipped))
                    stats.events += len(records)
                    offsets[(tp.topic, tp.partition)] = records[-1].offset + 1
                    if records[-1].offset + 1 >= end:
                        del ends[tp]
                        consumer.pause(tp)
                if len(pending) >= CHUNK or (not ends and (pending or offsets)):
                    await store.copy_next(conn, pending, offsets)
                    stats.facts += len(pending)
                    stats.last = time.time()
                    if progress:
                        progress(stats.events)
                    pending, offsets = [], {}
        finally:
            await conn.close()
    stats.cpu_seconds = time.process_time() - cpu
    return stats


def _worker(
    dsn: str,
    bootstrap: str,
    slices: list[Slice],
    types_of: dict[str, frozenset[str]],
    queue: Any,
    credentials: KafkaSettings | None,
) -> None:
    """A replay process: reports progress (events so far) and its result on ``queue``."""
    from ankommen_runtime.service import tune_gc

    tune_gc(10_000)  # as a service does (ANKOMMEN_GC_THRESHOLD's default)
    pid = os.getpid()
    try:
        result = asyncio.run(
            replay(
                dsn,
                bootstrap,
                slices,
                types_of,
                lambda n: queue.put(("progress", pid, n)),
                credentials,
            )
        )
        queue.put(("done", pid, result))
    except BaseException as exc:  # reported to the parent, which fails the rebuild
        queue.put(("failed", pid, f"{type(exc).__name__}: {exc}"))


async def _end_offsets(
    bootstrap: str, topics: Sequence[str], credentials: KafkaSettings | None = None
) -> dict[tuple[str, int], int]:
    """The end offset of every partition of those ``topics`` that exist."""
    partitions = await partitions_of(bootstrap, topics, **_options(credentials))
    if not partitions:
        return {}
    async with started(_consumer(bootstrap, credentials)) as consumer:
        ends = await consumer.end_offsets(partitions)
    return {(tp.topic, tp.partition): off for tp, off in ends.items()}


def _share(slices: list[Slice], processes: int) -> list[list[Slice]]:
    """Partitions dealt to processes by their record counts, largest first."""
    groups: list[list[Slice]] = [[] for _ in range(processes)]
    load = [0] * processes
    for s in sorted(slices, key=lambda s: s.end - s.start, reverse=True):
        i = load.index(min(load))
        groups[i].append(s)
        load[i] += s.end - s.start
    return [g for g in groups if g]


async def rebuild(
    dsn: str,
    bootstrap: str,
    prefix: str = "",
    *,
    processes: int = 1,
    resume: bool = False,
    on_total: Callable[[int], None] | None = None,
    progress: Progress | None = None,
    credentials: KafkaSettings | None = None,
) -> RebuildResult:
    """Rebuild the facts beside the live ones, prove them equal, switch. See the module doc.

    ``credentials``: reporting's Kafka settings where the broker is locked down (SASL)."""
    types_of = reported_topics(prefix)
    topics = list(types_of)
    started_at = datetime.now(UTC)
    conn = await asyncpg.connect(dsn)
    try:
        if not await store.claim_rebuild(conn):
            raise RebuildFailed("another rebuild is running against this database")
        done = await store.prepare_next(conn, resume=resume)
        ends = await _end_offsets(bootstrap, topics, credentials)
        slices = [Slice(t, p, done.get((t, p), 0), end) for (t, p), end in ends.items()]
        total = sum(max(s.end - s.start, 0) for s in slices)
        if on_total:
            on_total(total)
        began = time.perf_counter()
        stats = await _replay_all(
            dsn, bootstrap, slices, types_of, processes, progress, credentials
        )
        events, skipped = stats.events, stats.skipped
        seconds = (stats.last - stats.first) if stats.first and stats.last else 0.0
        duplicates = await store.index_next(conn)
        async with conn.transaction():
            await store.lock_live(conn)
            # Published while the replay ran: the tail, under the lock, in this process.
            recorded = await store.next_offsets(conn)
            tail_ends = await _end_offsets(bootstrap, topics, credentials)
            tail = [Slice(t, p, recorded.get((t, p), 0), end) for (t, p), end in tail_ends.items()]
            tail_events, _, tail_skipped = await _replay_tail(
                conn, bootstrap, tail, types_of, credentials
            )
            for k, v in tail_skipped.items():
                skipped[k] = skipped.get(k, 0) + v
            live_rows, live_sum = await store.checksum(conn, store.LIVE)
            same_rows, same_sum = await store.checksum(conn, store.NEXT, only_live=True)
            rebuilt_rows, rebuilt_sum = await store.checksum(conn, store.NEXT)
            if (same_rows, same_sum) != (live_rows, live_sum):
                raise RebuildFailed(
                    f"rebuilt facts differ from the live ones: live {live_rows} rows "
                    f"md5 {live_sum}, rebuilt (same events) {same_rows} rows md5 {same_sum}"
                )
            result = RebuildResult(
                events=events + tail_events,
                facts=rebuilt_rows,
                seconds=seconds,
                processes=processes,
                checksum=rebuilt_sum,
                live_checksum=live_sum,
                behind_live=rebuilt_rows - live_rows,
                duplicates=duplicates,
                skipped=skipped,
                wall_seconds=time.perf_counter() - began,
                cpu_us_per_event=stats.cpu_seconds / events * 1e6 if events else 0.0,
            )
            await store.switch(
                conn,
                {
                    "started_at": started_at,
                    "events": result.events,
                    "facts": result.facts,
                    "events_per_s": events / seconds if seconds else 0.0,
                    "processes": processes,
                    "checksum": result.checksum,
                    "live_checksum": result.live_checksum,
                    "behind_live": result.behind_live,
                },
            )
    finally:
        await conn.close()
    return result


async def _replay_tail(
    conn: asyncpg.Connection,
    bootstrap: str,
    slices: Sequence[Slice],
    types_of: dict[str, frozenset[str]],
    credentials: KafkaSettings | None = None,
) -> tuple[int, int, dict[str, int]]:
    """The tail into the keyed table, inside the switch's transaction (ON CONFLICT: a
    relay's duplicate of an event already rebuilt)."""
    todo = [s for s in slices if s.start < s.end]
    if not todo:
        return 0, 0, {}
    skipped: dict[str, int] = {}
    events = facts = 0
    async with started(_consumer(bootstrap, credentials)) as consumer:
        ends = {TopicPartition(s.topic, s.partition): s.end for s in todo}
        consumer.assign(list(ends))
        for s in todo:
            consumer.seek(TopicPartition(s.topic, s.partition), s.start)
        while ends:
            batches = await consumer.getmany(*ends, timeout_ms=1000, max_records=10_000)
            for tp, records in batches.items():
                end = ends.get(tp)
                if end is None:
                    continue
                records = [r for r in records if r.offset < end]
                rows = facts_of(records, types_of[tp.topic], skipped)
                events += len(records)
                if rows:
                    await store.PgReportingStore(conn, table=store.NEXT).add_facts(rows)
                    facts += len(rows)
                if records and records[-1].offset + 1 >= end:
                    del ends[tp]
                    consumer.pause(tp)
    return events, facts, skipped


async def _replay_all(
    dsn: str,
    bootstrap: str,
    slices: list[Slice],
    types_of: dict[str, frozenset[str]],
    processes: int,
    progress: Progress | None,
    credentials: KafkaSettings | None,
) -> ReplayStats:
    if processes <= 1:
        return await replay(dsn, bootstrap, slices, types_of, progress, credentials)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    groups = _share([s for s in slices if s.start < s.end], processes)
    workers = [
        ctx.Process(
            target=_worker, args=(dsn, bootstrap, g, types_of, queue, credentials), daemon=True
        )
        for g in groups
    ]
    for w in workers:
        w.start()
    seen: dict[int, int] = {}
    total = ReplayStats()
    finished = 0
    loop = asyncio.get_running_loop()
    try:
        while finished < len(workers):
            kind, pid, value = await loop.run_in_executor(None, queue.get)
            if kind == "progress":
                seen[pid] = value
            elif kind == "done":
                finished += 1
                total.add(value)
                seen[pid] = value.events
            else:
                raise RebuildFailed(f"replay process {pid} failed: {value}")
            if progress:
                progress(sum(seen.values()))
    finally:
        for w in workers:
            w.join(timeout=10)
            if w.is_alive():
                w.terminate()
    return total
