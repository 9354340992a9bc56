"""Ankommen's shared runtime: every mechanism a service needs, and no domain.

Settings, JSON logging, the Postgres pool and migrations, the unit of work with its
transactional outbox and relay, the inbox, the consumer policy (retries, dead letters,
offsets after effects), and health and metrics endpoints. Services import from here and
never re-implement any of it.

The names below load on first use (PEP 562): a pure domain module may import
``ankommen_runtime.errors`` without pulling asyncpg, pydantic-settings or Kafka in.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import Conflict, DomainError, NotFound

if TYPE_CHECKING:
    from .context import current_correlation_id, message_context, request_context
    from .settings import ServiceSettings
    from .uow import Transaction, Tx, UnitOfWork, Uow

_LAZY = {
    "ServiceSettings": ".settings",
    "Transaction": ".uow",
    "Tx": ".uow",
    "Uow": ".uow",
    "UnitOfWork": ".uow",
    "current_correlation_id": ".context",
    "message_context": ".context",
    "request_context": ".context",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ankommen_runtime' has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


__all__ = [
    "Conflict",
    "DomainError",
    "NotFound",
    "ServiceSettings",
    "Transaction",
    "Tx",
    "UnitOfWork",
    "Uow",
    "current_correlation_id",
    "message_context",
    "request_context",
]
