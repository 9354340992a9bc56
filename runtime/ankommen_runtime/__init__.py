"""Ankommen's shared runtime: every mechanism a service needs, and no domain.

Settings, JSON logging, the Postgres pool and migrations, the unit of work with its
transactional outbox and relay, the inbox, the consumer policy (retries, dead letters,
offsets after effects), and health and metrics endpoints. Services import from here and
never re-implement any of it.
"""

from .context import current_correlation_id, message_context, request_context
from .errors import Conflict, DomainError, NotFound
from .settings import ServiceSettings
from .uow import Transaction, UnitOfWork

__all__ = [
    "Conflict",
    "DomainError",
    "NotFound",
    "ServiceSettings",
    "Transaction",
    "UnitOfWork",
    "current_correlation_id",
    "message_context",
    "request_context",
]
