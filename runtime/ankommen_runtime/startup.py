"""Waiting for a dependency at start-up: services may start before Kafka or Postgres."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")


async def when_reachable(
    connect: Callable[[], Awaitable[T]],
    *,
    errors: tuple[type[BaseException], ...],
    what: str,
    within: float = 60.0,
) -> T:
    """Call ``connect`` until it stops raising one of ``errors``, for ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            return await connect()
        except errors as exc:
            if loop.time() > deadline:
                raise
            log.warning(f"{what} not reachable yet; retrying", error=repr(exc))
            await asyncio.sleep(1.0)
