"""The folded views for the API: facts read incrementally, ledgers per as-of day.

Loading and decoding facts is the expensive part, so the decoded facts are kept and only
those of newer versions are read when batches add more (``fact_version``); after a
rebuild's switch (a new generation) everything is read again. A ledger per (day,
known-at) is kept for the few days recently asked for. Decoding and folding run in a
worker thread, so the service's event loop (its consumer's heartbeats, other requests)
keeps going while a view of a large history is folded.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from datetime import date, datetime

from ankommen_runtime.store import Db

from . import store
from .domain.facts import Fact
from .domain.ledger import Ledger

LEDGERS_KEPT = 16


class ReadModel:
    def __init__(self) -> None:
        self._version: tuple[int, int] = (-1, -1)
        self._facts: list[Fact] = []
        self._ledgers: OrderedDict[tuple[date | None, datetime | None], Ledger] = OrderedDict()
        self._lock = asyncio.Lock()

    async def ledger(self, db: Db, as_of: date | None, known_at: datetime | None = None) -> Ledger:
        async with self._lock:
            # Every answer includes every fact committed before it was asked: a view read
            # right after the consumers caught up (a scenario's barrier, a council member
            # after an update) must show it. Only the facts added since are read.
            version = await store.fact_version(db)
            if version != self._version:
                generation, seen = self._version
                if generation == version[0]:  # the same table: only what was added
                    self._facts.extend(await store.load_facts(db, after=seen))
                else:  # first read, or a rebuild switched tables: everything
                    self._facts = await store.load_facts(db)
                self._version = version
                self._ledgers.clear()
            key = (as_of, known_at)
            ledger = self._ledgers.get(key)
            if ledger is None:
                # In a thread, like the decoding: the fold of a million facts is seconds of
                # CPU, which in the event loop would starve the consumer's heartbeats.
                ledger = await asyncio.to_thread(
                    Ledger.fold, self._facts, as_of=as_of, known_at=known_at
                )
                self._ledgers[key] = ledger
                while len(self._ledgers) > LEDGERS_KEPT:
                    self._ledgers.popitem(last=False)
            else:
                self._ledgers.move_to_end(key)
            return ledger
