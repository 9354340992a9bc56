"""Work in progress in one service process, so that a waiter learns when it ends.

The barrier of a simulated step (``simulation.backlog`` with ``wait``) asks a service
whether it has anything left to publish or to handle. Asking over and over costs every
service a query and two Kafka requests a time, and an answer that came just too early
waits out the driver's pause. Instead the service answers when its own work has run
out: each consumer batch and each relay round is counted here while it runs (and a
relay's wake until a round after it has succeeded), and every time the count falls
to nothing the waiters are told. The answer itself is still the database's and Kafka's
(``simulation.backlog``): this only says when asking is worth it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class Activity:
    """A count of the pieces of work running now, and of the times it fell to 0."""

    def __init__(self) -> None:
        self._running = 0
        self._quieted = 0
        self._ended: asyncio.Event | None = None  # made by the first waiter, in the loop

    @property
    def running(self) -> int:
        return self._running

    @property
    def quieted(self) -> int:
        """How often the work running fell to nothing so far: read it before asking the
        database, and ``quiet_since`` does not miss work that ended during the answer."""
        return self._quieted

    def begin(self) -> None:
        self._running += 1

    def end(self) -> None:
        if self._running <= 0:
            raise RuntimeError("Activity.end without a begin")
        self._running -= 1
        if self._running == 0:
            self._quieted += 1
            if self._ended is not None:
                # a fresh event for later waiters: those woken now must not find it set
                self._ended.set()
                self._ended = None

    @contextlib.contextmanager
    def working(self) -> Iterator[None]:
        """One piece of work, from entering to leaving the block (also when it fails)."""
        self.begin()
        try:
            yield
        finally:
            self.end()

    async def quiet_since(self, seen: int | None, timeout: float) -> bool:
        """Wait until nothing runs and, unless ``seen`` is None, the work has run out at
        least once since ``quieted`` was ``seen``; at most ``timeout`` seconds. Whether
        that happened (at once, when it already has)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._running or (seen is not None and self._quieted == seen):
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return False
            if self._ended is None:
                self._ended = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ended.wait(), remaining)
        return True
