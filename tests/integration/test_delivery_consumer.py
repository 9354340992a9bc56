"""Delivery holes of the consumer (issue 14), each against real Kafka and PostgreSQL.

Every test here failed before its fix: events were skipped and committed past, failover
errors were dead-lettered, handler bugs were retried for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from ankommen_contracts import Envelope, encode
from ankommen_local.infra import Endpoints
from ankommen_runtime import consumer as consumer_module
from ankommen_runtime.consumer import dead_letter_topic
from ankommen_runtime.uow import Transaction
from procs import record_effect
from support import create_topics, eventually, read_to_end, read_topic
from test_consumer_policy import committed_offset, consumer_runtime, effects, envelope

Headers = list[tuple[str, bytes]]


async def produce_to_partition_0(
    bootstrap: str, topic: str, records: list[tuple[bytes, Headers]]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value, headers in records:
            await producer.send_and_wait(topic, value=value, key=b"k", partition=0, headers=headers)
    finally:
        await producer.stop()


async def wait_for(what: str, check: Any, timeout: float = 30.0) -> Any:
    value = await eventually(check, timeout=timeout)
    assert value, f"waited {timeout} s for {what}"
    return value


async def applied_ids(dsn: str) -> set[uuid.UUID]:
    return {r["event_id"] for r in await effects(dsn)}


async def test_a_record_whose_headers_are_not_utf8_is_dead_lettered_and_its_neighbours_applied(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    # The reproduction from the issue: good, bad header, good, then a fourth event later.
    topic = f"{topic_prefix}housing.events"
    dead = dead_letter_topic("reporting", topic, topic_prefix)
    await create_topics(infra.kafka_bootstrap, topic, dead)
    first, bad, third, fourth = (envelope(uuid.uuid4(), 1) for _ in range(4))
    await produce_to_partition_0(
        infra.kafka_bootstrap,
        topic,
        [
            (encode(first), []),
            (encode(bad), [("trace", b"\xff\xfe")]),
            (encode(third), [("trace", b"fine")]),
        ],
    )
    runtime = consumer_runtime(infra, database, topic_prefix, "utf8")
    await runtime.start()
    try:
        await asyncio.sleep(2.0)
        await produce_to_partition_0(infra.kafka_bootstrap, topic, [(encode(fourth), [])])
        await wait_for("offset 4 committed", lambda: _committed(infra, topic, "utf8", 4))
    finally:
        await runtime.stop()
    assert await applied_ids(database) == {first.event_id, third.event_id, fourth.event_id}
    letters = await read_topic(infra.kafka_bootstrap, dead, until=lambda rs: len(rs) >= 1)
    assert [r.value for r in letters] == [encode(bad)], "the bad record, byte for byte"
    reason = dict(letters[0].headers)["dlq_error"]
    assert b"header 'trace' is not UTF-8" in reason
    assert dict(letters[0].headers)["trace"] == b"\xff\xfe", "original headers kept"


async def _committed(infra: Endpoints, topic: str, group: str, offset: int) -> bool:
    return await committed_offset(infra.kafka_bootstrap, topic, group) == offset


async def test_an_exception_escaping_the_batch_handler_never_commits_past_its_records(
    infra: Endpoints, database: str, topic_prefix: str, monkeypatch: Any
) -> None:
    topic = f"{topic_prefix}housing.events"
    await create_topics(
        infra.kafka_bootstrap, topic, dead_letter_topic("reporting", topic, topic_prefix)
    )
    early = [envelope(uuid.uuid4(), 1) for _ in range(3)]
    late = envelope(uuid.uuid4(), 1)
    await produce_to_partition_0(infra.kafka_bootstrap, topic, [(encode(e), []) for e in early])

    failed = asyncio.Event()
    real_check = consumer_module.check_headers

    def escapes_once(record: Any) -> None:
        if not failed.is_set():
            failed.set()
            raise RuntimeError("a bug outside every handler")
        real_check(record)

    monkeypatch.setattr(consumer_module, "check_headers", escapes_once)
    runtime = consumer_runtime(infra, database, topic_prefix, "escape")
    await runtime.start()
    try:
        await wait_for("the first batch to fail", failed.wait)
        # The next poll's commit used to move the offset past the failed poll's records.
        await produce_to_partition_0(infra.kafka_bootstrap, topic, [(encode(late), [])])
        await wait_for("offset 4 committed", lambda: _committed(infra, topic, "escape", 4))
    finally:
        await runtime.stop()
    assert await applied_ids(database) == {e.event_id for e in [*early, late]}, "nothing lost"
    assert all(r["applied"] == 1 for r in await effects(database))


async def test_a_handler_bug_raising_oserror_is_dead_lettered_instead_of_stalling(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}housing.events"
    dead = dead_letter_topic("reporting", topic, topic_prefix)
    await create_topics(infra.kafka_bootstrap, topic, dead)
    broken_site, timeout_site = uuid.uuid4(), uuid.uuid4()

    async def reads_a_missing_file(tx: Transaction, env: Envelope[Any]) -> None:
        if env.subject == str(broken_site):
            raise FileNotFoundError("/etc/ankommen/districts.csv")
        if env.subject == str(timeout_site):
            raise TimeoutError("an external lookup the handler should not make")
        await record_effect(tx, env)

    good = [envelope(uuid.uuid4(), 1) for _ in range(3)]
    events = [good[0], envelope(broken_site, 1), good[1], envelope(timeout_site, 1), good[2]]
    await produce_to_partition_0(infra.kafka_bootstrap, topic, [(encode(e), []) for e in events])
    runtime = consumer_runtime(infra, database, topic_prefix, "oserror", reads_a_missing_file)
    await runtime.start()
    try:
        await wait_for("offset 5 committed", lambda: _committed(infra, topic, "oserror", 5))
    finally:
        await runtime.stop()
    assert await applied_ids(database) == {e.event_id for e in good}
    letters = await read_topic(infra.kafka_bootstrap, dead, until=lambda rs: len(rs) >= 2)
    reasons = sorted(dict(r.headers)["dlq_error"].split(b":")[0] for r in letters)
    assert reasons == [b"FileNotFoundError", b"TimeoutError"]
    assert all(dict(r.headers)["dlq_attempts"] == b"3" for r in letters)


@contextlib.asynccontextmanager
async def read_only(admin_dsn: str, dsn: str) -> AsyncIterator[None]:
    """The database refuses writes, as a primary demoted during a failover does."""
    name = dsn.rsplit("/", 1)[-1]
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        await _reconnect_everyone(admin, name)  # the setting applies to new sessions
        yield
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        await _reconnect_everyone(admin, name)
        await admin.close()


async def _reconnect_everyone(admin: asyncpg.Connection, name: str) -> None:
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = $1 AND pid <> pg_backend_pid()",
        name,
    )


async def test_a_failover_to_read_only_under_load_dead_letters_nothing_and_loses_nothing(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}housing.events"
    dead = dead_letter_topic("reporting", topic, topic_prefix)
    await create_topics(infra.kafka_bootstrap, topic, dead)
    sent: list[Envelope[Any]] = []

    async def load(n: int) -> None:
        for _ in range(n):
            batch = [envelope(uuid.uuid4(), 1) for _ in range(5)]
            sent.extend(batch)
            await produce_to_partition_0(
                infra.kafka_bootstrap, topic, [(encode(e), []) for e in batch]
            )
            await asyncio.sleep(0.1)

    runtime = consumer_runtime(infra, database, topic_prefix, "failover")
    await runtime.start()
    try:
        await load(5)
        async with read_only(infra.pg_admin_dsn, database):
            await load(30)  # about 4 s of writes refused
            assert runtime.policy is not None
            assert runtime.policy.stalled, "the consumer knows it is waiting for the database"
        await load(5)
        total = len(sent)
        await wait_for(
            "every event committed", lambda: _committed(infra, topic, "failover", total), 60
        )
    finally:
        await runtime.stop()
    rows = await effects(database)
    assert {r["event_id"] for r in rows} == {e.event_id for e in sent}, "nothing lost"
    assert all(r["applied"] == 1 for r in rows), "nothing applied twice"
    letters = await read_to_end(infra.kafka_bootstrap, dead)
    assert letters == [], f"failover dead-lettered {len(letters)} events"
