"""Helpers for tests against a real broker: create topics, read everything back."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from ankommen_contracts import Envelope, decode
from ankommen_runtime.auth import Role, declared_roles
from ankommen_runtime.kafka import ensure_topics
from ankommen_runtime.kafka_clients import partitions_of
from ankommen_runtime.local_issuer import LocalIssuer
from ankommen_runtime.routes import api_routes
from fastapi import FastAPI


def consumer_record(
    value: bytes = b"v",
    headers: Sequence[tuple[str, bytes]] = (),
    *,
    topic: str = "housing.events",
    partition: int = 0,
    offset: int = 0,
    key: bytes = b"k",
) -> ConsumerRecord[Any, Any]:
    """A record as aiokafka hands it to a consumer, for tests without a broker."""
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key),
        serialized_value_size=len(value),
        headers=list(headers),
    )


async def create_topics(bootstrap: str, *names: str, partitions: int = 1) -> None:
    await ensure_topics(bootstrap, dict.fromkeys(names, partitions))


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[ConsumerRecord[Any, Any]]], bool],
    timeout: float = 30.0,
) -> list[ConsumerRecord[Any, Any]]:
    """Read ``topic`` from the beginning until ``until(records)`` holds; raises, saying what
    it read, if that does not happen within ``timeout``."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[Any, Any]] = []
    try:
        async with asyncio.timeout(timeout):
            while not until(records):
                batch = await consumer.getmany(timeout_ms=200)
                for part in batch.values():
                    records.extend(part)
    except TimeoutError:
        raise AssertionError(
            f"waited {timeout}s on {topic} for {_name(until)}; read {len(records)} records"
        ) from None
    finally:
        await consumer.stop()
    return records


async def read_to_end(bootstrap: str, topic: str) -> list[ConsumerRecord[Any, Any]]:
    """Every record ``topic`` holds now: read from the beginning up to its end offsets
    (no waiting for more, no fixed sleep). Pair with ``until_drained`` so what a service
    was about to publish is on the topic first."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord[Any, Any]] = []
    try:
        partitions = await partitions_of(bootstrap, [topic])
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        async with asyncio.timeout(30):
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                batch = await consumer.getmany(*partitions, timeout_ms=200)
                for part in batch.values():
                    records.extend(part)
    except TimeoutError:
        raise AssertionError(
            f"waited 30s to read {topic} up to its end offsets; read {len(records)} records"
        ) from None
    finally:
        await consumer.stop()
    return records


async def consumer_lag(bootstrap: str, group: str, topic: str) -> int:
    """Records of ``topic`` that consumer group ``group`` has not committed yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await partitions_of(bootstrap, [topic])
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    lag = 0
    for tp in partitions:
        meta = committed.get(tp)
        lag += ends[tp] - (meta.offset if meta is not None and meta.offset >= 0 else 0)
    return lag


async def until_consumed(bootstrap: str, group: str, topic: str, timeout: float = 30.0) -> None:
    """Wait until ``group`` has committed every record of ``topic`` (its lag is 0): the
    service applied everything sent so far, redeliveries included."""

    async def caught_up() -> bool:
        return await consumer_lag(bootstrap, group, topic) == 0

    await eventually(caught_up, timeout=timeout, what=f"group {group} to consume {topic}")


async def until_drained(dsn: str, timeout: float = 30.0) -> None:
    """Wait until a service's outbox holds nothing unpublished: all it raised is on Kafka."""

    async def drained() -> bool:
        conn = await asyncpg.connect(dsn)
        try:
            waiting = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        finally:
            await conn.close()
        return waiting == 0

    await eventually(drained, timeout=timeout, what="the outbox to be published")


def _name(check: Any) -> str:
    return getattr(check, "__name__", None) or repr(check)


async def eventually(
    check: Callable[[], Any], *, timeout: float = 30.0, what: str | None = None
) -> Any:
    """Await ``check()`` until it returns a truthy value, and return that value. Raises
    ``AssertionError`` naming what it waited for (``what``, else the check's name) and the
    last value if that does not happen within ``timeout``: a wait never passes silently."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(
                f"waited {timeout}s for {what or _name(check)}; last value: {value!r}"
            )
        await asyncio.sleep(0.1)


def app_roles(app: FastAPI) -> frozenset[Role]:
    """Every role some route of ``app`` allows."""
    roles: set[Role] = set()
    for _, route in api_routes(app):
        roles |= declared_roles(route) or set()
    return frozenset(roles)


def token_headers(
    app: FastAPI, roles: Any = None, *, issuer: LocalIssuer | None = None, **claims: Any
) -> dict[str, str]:
    """An ``Authorization`` header for ``app``: a token of the local issuer (the state
    folder's, or the test's own ``issuer`` the app trusts), for the app's audience, with
    ``roles`` (default: every role the app's routes allow, so a test acts as the staff who
    may do everything it does; narrower tests pass their role)."""
    chosen = app_roles(app) if roles is None else roles
    return (issuer or LocalIssuer()).bearer(chosen, audience=app.state.settings.audience, **claims)


@contextlib.asynccontextmanager
async def running(
    app: FastAPI, *, roles: Any = None, issuer: LocalIssuer | None = None, **claims: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """Start a service app with its lifespan (pool, relay, subscribers); an HTTP client
    that sends a token (``token_headers``) with every request."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://service",
            headers=token_headers(app, roles, issuer=issuer, **claims),
        ) as client:
            yield client


async def read_events(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[Envelope[Any]]], bool],
    timeout: float = 30.0,
) -> list[Envelope[Any]]:
    """The events of ``topic``, decoded, once ``until(events)`` holds (or time is up)."""
    records = await read_topic(
        bootstrap, topic, until=lambda rs: until([decode(r.value) for r in rs]), timeout=timeout
    )
    return [decode(r.value) for r in records]


async def without_token(client: httpx.AsyncClient, method: str, url: str, **kw: Any) -> Any:
    """``client``'s request without the token it sends by default (``running``): what an
    anonymous caller gets."""
    request = client.build_request(method, url, **kw)
    del request.headers["authorization"]
    return await client.send(request)
