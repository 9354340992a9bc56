"""Stopping a service never hangs: each stage gets what is left of ``stop_seconds``."""

from __future__ import annotations

import asyncio
from typing import Any

from ankommen_runtime.service import Runtime, ServiceSpec
from ankommen_runtime.settings import ServiceSettings
from structlog.testing import capture_logs


class Part:
    """A broker, producer or pool whose stop (or close) takes ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.stopped = False
        self.terminated = False

    async def stop(self) -> None:
        await asyncio.sleep(self.seconds)
        self.stopped = True

    async def close(self) -> None:
        await self.stop()

    def terminate(self) -> None:
        self.terminated = True


def runtime(stop_seconds: float, **parts: Any) -> Runtime:
    settings = ServiceSettings(service="housing", stop_seconds=stop_seconds)
    stopping = Runtime(ServiceSpec(name="housing", title="test"), settings)
    for name, part in parts.items():
        setattr(stopping, name, part)
    return stopping


async def test_a_consumer_that_never_stops_is_left_behind_and_the_rest_still_stops() -> None:
    # as in CI once: the consumers' stage (aiokafka's consumer.stop) did not end in 300 s
    broker, producer, pool = Part(3600), Part(0), Part(0)
    stopping = runtime(0.3, broker=broker, producer=producer, pool=pool)
    loop = asyncio.get_running_loop()
    began = loop.time()
    with capture_logs() as logs:
        await asyncio.wait_for(stopping.stop(), timeout=5)
    assert loop.time() - began < 1.0
    assert not broker.stopped
    assert producer.stopped
    assert pool.stopped
    assert not pool.terminated
    left = [e["stage"] for e in logs if e["log_level"] == "error"]
    assert left == ["consumers"]


async def test_a_pool_still_lent_out_at_the_deadline_is_terminated() -> None:
    pool = Part(3600)
    stopping = runtime(0.2, pool=pool)
    with capture_logs() as logs:
        await asyncio.wait_for(stopping.stop(), timeout=5)
    assert pool.terminated
    assert not pool.stopped
    assert [e["stage"] for e in logs if e["log_level"] == "error"] == ["database pool"]


async def test_a_background_task_that_ignores_its_cancel_does_not_hold_the_stop() -> None:
    released = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await released.wait()  # swallows its cancel: only the test lets it end

    async def failed() -> None:
        raise RuntimeError("ended on its own")

    producer = Part(0)
    stopping = runtime(0.2, producer=producer)
    task, broken = asyncio.create_task(stubborn()), asyncio.create_task(failed())
    stopping._tasks.extend([task, broken])
    await asyncio.sleep(0)
    with capture_logs() as logs:
        await asyncio.wait_for(stopping.stop(), timeout=5)
    assert not task.done()
    assert broken.done()
    assert producer.stopped
    assert [e["stage"] for e in logs if e["log_level"] == "error"] == ["tasks"]
    released.set()
    await task
