"""Correlation, causation and business time of the work in progress.

A request or a consumed event sets them once; the unit of work stamps them on every event
it raises and the logger binds them to every line, so one thread of work can be followed
across services. A consumed event also sets the *business time* of what its handler
raises: the consumed event's ``occurred_at``, never the moment it is handled
(docs/business-time.md). Ids made inside either scope derive from it (``ids.id_scope``),
so a seeded simulation makes the same ids whatever the interleaving of the work.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

import structlog

from .ids import id_scope, new_id

_correlation_id: ContextVar[uuid.UUID | None] = ContextVar("correlation_id", default=None)
_causation_id: ContextVar[uuid.UUID | None] = ContextVar("causation_id", default=None)
_business_time: ContextVar[datetime | None] = ContextVar("business_time", default=None)


def current_correlation_id() -> uuid.UUID:
    """The correlation id of the work in progress; a fresh one outside any request/event."""
    value = _correlation_id.get()
    if value is None:
        value = new_id()
        _correlation_id.set(value)
    return value


def current_causation_id() -> uuid.UUID | None:
    return _causation_id.get()


def current_business_time() -> datetime | None:
    """When the occurrence being handled happened (a consumed event's ``occurred_at``)."""
    return _business_time.get()


@contextmanager
def request_context(correlation_id: uuid.UUID | None = None) -> Iterator[uuid.UUID]:
    """Scope of one HTTP command: a new correlation id unless the caller sent one."""
    cid = correlation_id or new_id()
    tokens = (_correlation_id.set(cid), _causation_id.set(None), _business_time.set(None))
    with (
        structlog.contextvars.bound_contextvars(correlation_id=str(cid), event_id=None),
        id_scope(f"request:{cid}"),
    ):
        try:
            yield cid
        finally:
            _correlation_id.reset(tokens[0])
            _causation_id.reset(tokens[1])
            _business_time.reset(tokens[2])


@contextmanager
def message_context(
    event_id: uuid.UUID, correlation_id: uuid.UUID, occurred_at: datetime | None = None
) -> Iterator[None]:
    """Scope of handling one consumed event: what it raises is caused by it and, unless
    the handler dates it otherwise, happened when it happened."""
    tokens = (
        _correlation_id.set(correlation_id),
        _causation_id.set(event_id),
        _business_time.set(occurred_at),
    )
    with (
        structlog.contextvars.bound_contextvars(
            correlation_id=str(correlation_id), event_id=str(event_id)
        ),
        id_scope(f"event:{event_id}"),
    ):
        try:
            yield
        finally:
            _correlation_id.reset(tokens[0])
            _causation_id.reset(tokens[1])
            _business_time.reset(tokens[2])
