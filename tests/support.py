"""Helpers for tests against a real broker: create topics, read everything back."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from ankommen_contracts import Envelope, decode
from ankommen_runtime.auth import Role, declared_roles
from ankommen_runtime.kafka import ensure_topics
from ankommen_runtime.local_issuer import LocalIssuer
from ankommen_runtime.routes import api_routes
from fastapi import FastAPI


async def create_topics(bootstrap: str, *names: str, partitions: int = 1) -> None:
    await ensure_topics(bootstrap, dict.fromkeys(names, partitions))


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[ConsumerRecord[Any, Any]]], bool],
    timeout: float = 30.0,
) -> list[ConsumerRecord[Any, Any]]:
    """Read ``topic`` from the beginning until ``until(records)`` holds or time runs out."""
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
        pass  # the caller's assertions say what was missing
    finally:
        await consumer.stop()
    return records


async def eventually(check: Callable[[], Any], *, timeout: float = 30.0) -> Any:
    """Await ``check()`` until it returns a truthy value; that value, or the last one."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value or loop.time() > deadline:
            return value
        await asyncio.sleep(0.1)


def app_roles(app: FastAPI) -> frozenset[Role]:
    """Every role some route of ``app`` allows."""
    roles: set[Role] = set()
    for _, route in api_routes(app):
        roles |= declared_roles(route) or set()
    return frozenset(roles)


def token_headers(app: FastAPI, roles: Any = None, **claims: Any) -> dict[str, str]:
    """An ``Authorization`` header for ``app``: a token of the local issuer, for the app's
    audience, with ``roles`` (default: every role the app's routes allow, so a test acts
    as the staff who may do everything it does; narrower tests pass their role)."""
    chosen = app_roles(app) if roles is None else roles
    return LocalIssuer().bearer(chosen, audience=app.state.settings.audience, **claims)


@contextlib.asynccontextmanager
async def running(
    app: FastAPI, *, roles: Any = None, **claims: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """Start a service app with its lifespan (pool, relay, subscribers); an HTTP client
    that sends a token (``token_headers``) with every request."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://service",
            headers=token_headers(app, roles, **claims),
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
