"""The store convention every service follows, in one place.

- ``Db``: what a store function reads with: a transaction's connection (``tx.conn``) or
  the pool (read-only queries from the API).
- One entity: ``get_<thing>(db, id, *, for_update=False) -> Thing | None``; a command
  reads what it changes with ``for_update=True`` (``SELECT … FOR UPDATE``: two writers of
  the same row queue instead of losing an update) and turns "not there" into a 404 with
  ``found``.
- Several rows a transaction changes: ``lock_<things>(conn, …)``, in a fixed order (by id),
  so two transactions locking overlapping sets cannot deadlock; sweeps that several
  processes may run at once add ``SKIP LOCKED``.
- Rows a consumed batch's handlers will each ask for, one at a time: the subscription's
  ``prefetch`` (``consumer.Subscription``) reads them all in one statement at the start of
  the batch's transaction, and the store hands each out from a ``ReadAhead`` instead of a
  round trip of its own.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Generic, TypeVar

import asyncpg

from .errors import NotFound

Db = asyncpg.Connection | asyncpg.Pool

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def for_update(lock: bool) -> str:
    """The clause a ``get_<thing>(…, for_update=…)`` appends to its SELECT."""
    return " FOR UPDATE" if lock else ""


def found(thing: T | None, what: str) -> T:
    """``thing``, or a 404 saying ``no <what>``, e.g. ``found(site, f"site {site_id}")``."""
    if thing is None:
        raise NotFound(f"no {what}")
    return thing


class ReadAhead(Generic[K, T]):
    """Rows one transaction read ahead for its handlers (``None``: read, and not there).

    A store keeps one per transaction (``tx.store`` is made per transaction): ``fill`` in
    its ``prefetch_…`` method (which replaces what an earlier batch of the transaction left),
    ``take`` in the ``get_…`` a handler calls, ``forget`` in every method that writes the
    row another way. Each row is handed out once: whoever takes it changes it and writes
    it, and the next reader in the transaction reads the row as written, from the database.
    So a row read ahead answers exactly what the database would have answered, one round
    trip per batch instead of one per event. Rows the handlers only read (a site's
    district) are handed out as often as asked (``once=False``) until a writer forgets them.
    """

    def __init__(self, *, once: bool = True) -> None:
        self._rows: dict[K, T | None] = {}
        self._once = once

    def fill(self, rows: Mapping[K, T | None]) -> None:
        self._rows = dict(rows)

    def take(self, key: K) -> tuple[bool, T | None]:
        """``(True, row)`` the first time ``key`` is asked for after ``fill`` (every time,
        if not ``once``, until forgotten); else ``(False, None)``: read it from the database."""
        if key not in self._rows:
            return False, None
        return True, self._rows.pop(key) if self._once else self._rows[key]

    def forget(self, keys: Iterable[K]) -> None:
        for key in keys:
            self._rows.pop(key, None)


__all__ = ["Db", "ReadAhead", "for_update", "found"]
