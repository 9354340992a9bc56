"""The folded views for the API: facts read incrementally, ledgers per as-of day.

Loading and decoding facts is the expensive part, so the decoded facts are kept, in fold
order (``History``), and only those of newer versions are read and put in place when
batches add more (``fact_version``); after a rebuild's switch (a new generation)
everything is read again. A view of a day folds the history's prefix up to that day: no
filter or sort of every fact per view (at a hundred times Hannover's volume those were
most of a view's 10 s). A ledger per (day, known-at) is kept for the few days recently
asked for. Decoding and folding run in a worker thread, so the service's event loop (its
consumer's heartbeats, other requests) keeps going while a view of a large history is
folded.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from datetime import date, datetime

from ankommen_runtime.store import Db

from . import store
from .domain.ledger import History, Ledger

LEDGERS_KEPT = 16


class ReadModel:
    def __init__(self) -> None:
        self._version: tuple[int, int] = (-1, -1)
        self._history = History()
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
                    added = await store.load_facts(db, after=seen)
                    await asyncio.to_thread(self._history.add, added)
                else:  # first read, or a rebuild switched tables: everything
                    facts = await store.load_facts(db)
                    self._history = await asyncio.to_thread(History, facts)
                self._version = version
                self._ledgers.clear()
            key = (as_of, known_at)
            ledger = self._ledgers.get(key)
            if ledger is None:
                # In a thread, like the decoding: the fold of a million facts is seconds of
                # CPU, which in the event loop would starve the consumer's heartbeats.
                ledger = await asyncio.to_thread(
                    Ledger.fold_history, self._history, as_of=as_of, known_at=known_at
                )
                self._ledgers[key] = ledger
                while len(self._ledgers) > LEDGERS_KEPT:
                    self._ledgers.popitem(last=False)
            else:
                self._ledgers.move_to_end(key)
            return ledger
