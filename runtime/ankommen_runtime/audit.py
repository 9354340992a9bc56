"""Who did what: the audit trail of staff commands and of reads of a person's details.

``allow(...)`` (``auth.RoleCheck``) puts the verified caller and the route into this
request's context (``acting``). From there:

- every unit of work committed in that context writes one ``audit_log`` row in the *same*
  transaction: actor (the token's pseudonymous ``sub``), roles, action (method and route),
  subjects (the route's ids and the subjects of the events raised), business time (the
  runtime's clock) and recording time (the database's clock);
- the events it raises carry the actor as the ``ce_actor`` CloudEvents extension;
- a route that shows a person's details calls ``record_read`` with the ids it showed.

Consumers and sweeps run outside any request: no actor, no audit row (the system acted).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .context import current_correlation_id

if TYPE_CHECKING:
    from .auth import Actor


@dataclass(frozen=True)
class Acting:
    """The staff member acting in this context, and on what."""

    actor: Actor
    action: str
    subjects: tuple[str, ...] = ()


_acting: contextvars.ContextVar[Acting | None] = contextvars.ContextVar(
    "ankommen_acting", default=None
)


def current() -> Acting | None:
    return _acting.get()


def current_actor_id() -> str | None:
    """The pseudonymous id of the staff member acting now, if any."""
    acting = _acting.get()
    return acting.actor.subject if acting else None


def enter(actor: Actor, action: str, path_params: Mapping[str, Any] | None = None) -> None:
    """Set the acting staff member for the rest of this request (called by ``allow``)."""
    subjects = tuple(str(v) for v in (path_params or {}).values())
    _acting.set(Acting(actor, action, subjects))


@contextmanager
def acting(actor: Actor, action: str, *subjects: str) -> Iterator[Acting]:
    """Act as ``actor`` within the block (tools, tests); restored afterwards."""
    value = Acting(actor, action, tuple(subjects))
    token = _acting.set(value)
    try:
        yield value
    finally:
        _acting.reset(token)


INSERT = """INSERT INTO audit_log
                (actor, roles, action, subjects, business_time, correlation_id)
            VALUES ($1, $2, $3, $4, $5, $6)"""


async def write(db: Any, at: datetime, subjects: Iterable[str] = ()) -> bool:
    """One audit row for the acting staff member, if any; on ``db`` (a transaction's
    connection, so it commits with the command). True if a row was written."""
    acting_now = _acting.get()
    if acting_now is None:
        return False
    every = list(dict.fromkeys([*acting_now.subjects, *subjects]))
    await db.execute(
        INSERT,
        acting_now.actor.subject,
        sorted(str(r) for r in acting_now.actor.roles),
        acting_now.action,
        every,
        at,
        current_correlation_id(),
    )
    return True


async def record_read(db: Any, at: datetime, subjects: Iterable[Any]) -> bool:
    """A read of a person's details (e.g. a household's members): who read whose."""
    return await write(db, at, [str(s) for s in subjects])


__all__ = ["Acting", "acting", "current", "current_actor_id", "enter", "record_read", "write"]
