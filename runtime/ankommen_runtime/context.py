"""Correlation and causation of the work in progress.

A request or a consumed event sets them once; the unit of work stamps them on every event
it raises and the logger binds them to every line, so one thread of work can be followed
across services.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import structlog

_correlation_id: ContextVar[uuid.UUID | None] = ContextVar("correlation_id", default=None)
_causation_id: ContextVar[uuid.UUID | None] = ContextVar("causation_id", default=None)


def current_correlation_id() -> uuid.UUID:
    """The correlation id of the work in progress; a fresh one outside any request/event."""
    value = _correlation_id.get()
    if value is None:
        value = uuid.uuid4()
        _correlation_id.set(value)
    return value


def current_causation_id() -> uuid.UUID | None:
    return _causation_id.get()


@contextmanager
def request_context(correlation_id: uuid.UUID | None = None) -> Iterator[uuid.UUID]:
    """Scope of one HTTP command: a new correlation id unless the caller sent one."""
    cid = correlation_id or uuid.uuid4()
    tokens = (_correlation_id.set(cid), _causation_id.set(None))
    with structlog.contextvars.bound_contextvars(correlation_id=str(cid), event_id=None):
        try:
            yield cid
        finally:
            _correlation_id.reset(tokens[0])
            _causation_id.reset(tokens[1])


@contextmanager
def message_context(event_id: uuid.UUID, correlation_id: uuid.UUID) -> Iterator[None]:
    """Scope of handling one consumed event: what it raises is caused by it."""
    tokens = (_correlation_id.set(correlation_id), _causation_id.set(event_id))
    with structlog.contextvars.bound_contextvars(
        correlation_id=str(correlation_id), event_id=str(event_id)
    ):
        try:
            yield
        finally:
            _correlation_id.reset(tokens[0])
            _causation_id.reset(tokens[1])
