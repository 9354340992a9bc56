"""Domain errors every service raises the same way, so HTTP maps them the same way."""

from __future__ import annotations


class DomainError(Exception):
    """A command broke a business rule; the message says which, in words for staff."""

    status_code = 400


class Conflict(DomainError):
    """The command clashes with the current state (close an occupied site, check in twice)."""

    status_code = 409


class NotFound(DomainError):
    """The command names something this service does not know."""

    status_code = 404


class Unprocessable(DomainError):
    """A field's value is valid in form but not acceptable (a date far in the future): 422.

    ``loc`` names the field as FastAPI's validation errors do, e.g. ``("body", "occurred_at")``.
    """

    status_code = 422

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


# --- Why an event failed: the cause decides between waiting and dead-lettering. ---

# SQLSTATEs that say "the database cannot do this now", never "this event is wrong": a
# failover (read-only standby, admin shutdown), overload (too many connections, out of
# memory, disk full), contention (lock not available, deadlock, serialisation) or a lost
# connection. Retried without limit: dead-lettering them would empty a partition into the
# DLQ during every failover.
INFRASTRUCTURE_SQLSTATE_CLASSES = ("08", "53", "58")
INFRASTRUCTURE_SQLSTATES = frozenset(
    {
        "25006",  # read_only_sql_transaction: a standby, or a primary being demoted
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available
        "55006",  # object_in_use
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now
        "57P05",  # idle_session_timeout
        "3D000",  # invalid_catalog_name: the database is being recreated/restored
    }
)


class Cause:
    """Where a failure comes from (``classify``)."""

    INFRASTRUCTURE = "infrastructure"  # wait and retry, however long it takes
    AMBIGUOUS = "ambiguous"  # infrastructure if the database does not answer now, else event
    EVENT = "event"  # a bug or bad data: bounded retries, then the dead-letter topic


def classify(exc: BaseException) -> str:
    """The cause of ``exc`` as far as its type and SQLSTATE tell.

    A type alone cannot tell a lost connection from a handler bug: ``OSError``,
    ``TimeoutError`` and asyncpg's ``InterfaceError`` are raised by sockets and by
    handler code alike. Those are ``AMBIGUOUS``; the consumer asks the database (a probe
    on a fresh connection) and treats them as infrastructure only while it does not answer.
    """
    import asyncpg  # local: this module stays importable by pure domain code
    from aiokafka.errors import KafkaError

    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(exc, asyncpg.PostgresError) and isinstance(sqlstate, str):
        if sqlstate in INFRASTRUCTURE_SQLSTATES or sqlstate[:2] in INFRASTRUCTURE_SQLSTATE_CLASSES:
            return Cause.INFRASTRUCTURE
        return Cause.EVENT
    if isinstance(exc, KafkaError):
        return Cause.INFRASTRUCTURE
    if isinstance(exc, OSError | TimeoutError | asyncpg.InterfaceError):
        return Cause.AMBIGUOUS
    return Cause.EVENT


def outcome_unknown(exc: BaseException) -> bool:
    """Did the connection drop while a COMMIT may have been in flight?

    Then the change may or may not have been committed: a client must not be told that
    nothing happened (it should check, or retry an idempotent command).
    """
    import asyncpg

    return isinstance(
        exc, asyncpg.ConnectionDoesNotExistError | asyncpg.ConnectionFailureError | OSError
    ) and not isinstance(exc, ConnectionRefusedError)
