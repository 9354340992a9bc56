"""The views' read model decodes and folds off the event loop.

At a hundred times Hannover's volume (1.6 million facts) a view's first read took 36 s
and each later one about 10 s, all of it in the event loop: reporting's consumer missed
its Kafka heartbeats and was expelled from its group twice in one run. Each test replaces
the CPU work by a stand-in that waits for a task of the event loop to run: in the loop's
own thread that task could never run, and the stand-in reports it was blocked.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import date
from typing import Any

import pytest
from reporting import readmodel, store
from reporting.domain.ledger import Ledger

BLOCKED = 5.0  # seconds a stand-in waits before it reports the loop as blocked


class LoopProbe:
    """Set from the event loop; waited for by the CPU work's stand-in."""

    def __init__(self) -> None:
        self.loop_ran = threading.Event()
        self.waited_in: list[bool] = []

    def start(self) -> asyncio.Task[None]:
        async def mark() -> None:
            await asyncio.sleep(0)
            self.loop_ran.set()

        return asyncio.create_task(mark())

    def wait(self) -> None:
        self.waited_in.append(self.loop_ran.wait(BLOCKED))


class Db:
    """``store.load_facts``'s only need: ``fetch`` returning rows."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    async def fetch(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        return self.rows


async def test_loading_facts_decodes_them_while_the_event_loop_keeps_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    probe = LoopProbe()

    def decode(row: tuple[Any, ...]) -> Any:
        probe.wait()
        return row[0]

    monkeypatch.setattr(store, "fact_from_row", decode)
    task = probe.start()
    facts = await store.load_facts(Db([("a",), ("b",)]))  # type: ignore[arg-type]
    await task
    assert facts == ["a", "b"]
    assert probe.waited_in == [True, True], "decoding blocked the event loop"


async def test_a_view_folds_its_ledger_while_the_event_loop_keeps_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    probe = LoopProbe()
    folded = Ledger(as_of=date(2015, 10, 5))

    async def version(db: Any) -> tuple[int, int]:
        return (1, 1)

    async def load(db: Any, table: str = store.LIVE, *, after: int | None = None) -> list[Any]:
        return []

    def fold(history: Any, *, as_of: date | None = None, known_at: Any = None) -> Ledger:
        probe.wait()
        return folded

    monkeypatch.setattr(store, "fact_version", version)
    monkeypatch.setattr(store, "load_facts", load)
    monkeypatch.setattr(readmodel.Ledger, "fold_history", fold)
    task = probe.start()
    ledger = await readmodel.ReadModel().ledger(object(), date(2015, 10, 5))  # type: ignore[arg-type]
    await task
    assert ledger is folded
    assert probe.waited_in == [True], "folding blocked the event loop"
