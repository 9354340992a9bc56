"""Where every id the services make comes from: one function, seeded in a simulation.

In production ``new_id()`` is a random UUID (version 4). In a simulation run the runtime
calls ``seed(n, namespace=service)`` at start-up and every id becomes a pure function of
the seed, the service, the scope it is made in and its position there, so the same
scenario with the same seed produces the same ids, hence the same events (issue 13).

Scopes make this hold although a service handles HTTP requests and several topics
concurrently: an id made while handling a consumed event is derived from that event's id
(itself deterministic), one made during an HTTP request from the request's correlation
id, one made by a sweep from the sweep's name and the simulated time (a wall-clock sweep's
round, which wall time schedules, from a random key of its own); only ids made
outside any scope (the correlation id of a new request) come from the process-wide
stream, which a sequential scenario drives in a fixed order.

The namespace (the service's name) keeps services seeded alike apart: the services of one
run share the seed, and each process's stream starts at 0, so the n-th command to housing
and the n-th to volunteers had the same correlation id, hence the same scope key and the
same event ids. Reporting keys its facts by event id across every topic: it took one
service's event for a redelivery of the other's and dropped it (issue 20: 833 occupied
places in reporting's capacity view, 790 in housing's occupancy). One process is one
service in a run of processes (the scenario, ``make demo``); services started inside one
test process share the namespace given last.

Pure standard library: a domain module may import it (``docs/service-shape.md``).
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

_seed: int | None = None
_namespace = ""
_process_stream = itertools.count()


@dataclass
class _Scope:
    key: str
    counter: itertools.count[int] = field(default_factory=itertools.count)


_scope: ContextVar[_Scope | None] = ContextVar("id_scope", default=None)


def seed(value: int | None, namespace: str = "") -> None:
    """Make ids deterministic from ``value`` (a simulation run); None: random again.

    ``namespace`` (the service's name) keeps the ids of services seeded alike apart."""
    global _seed, _namespace, _process_stream
    _seed, _namespace = value, namespace
    _process_stream = itertools.count()


def seeded() -> bool:
    return _seed is not None


def derived(*parts: object) -> uuid.UUID:
    """A version-4-shaped UUID that is a pure function of the seed and ``parts``."""
    salt = (_seed, _namespace) if _namespace else (_seed,)
    digest = hashlib.sha256(":".join(str(p) for p in (*salt, *parts)).encode()).digest()
    return uuid.UUID(bytes=digest[:16], version=4)


def new_id() -> uuid.UUID:
    """A fresh id: random in production; derived from seed, scope and position in a simulation."""
    if _seed is None:
        return uuid.uuid4()
    scope = _scope.get()
    if scope is None:
        return derived("process", next(_process_stream))
    return derived(scope.key, next(scope.counter))


@contextmanager
def id_scope(key: object) -> Iterator[None]:
    """Ids made inside are derived from ``key`` (an event id, a correlation id, a sweep)."""
    token = _scope.set(_Scope(str(key)))
    try:
        yield
    finally:
        _scope.reset(token)
