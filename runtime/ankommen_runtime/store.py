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
"""

from __future__ import annotations

from typing import TypeVar

import asyncpg

from .errors import NotFound

Db = asyncpg.Connection | asyncpg.Pool

T = TypeVar("T")


def for_update(lock: bool) -> str:
    """The clause a ``get_<thing>(…, for_update=…)`` appends to its SELECT."""
    return " FOR UPDATE" if lock else ""


def found(thing: T | None, what: str) -> T:
    """``thing``, or a 404 saying ``no <what>``, e.g. ``found(site, f"site {site_id}")``."""
    if thing is None:
        raise NotFound(f"no {what}")
    return thing


__all__ = ["Db", "for_update", "found"]
