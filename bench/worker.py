"""A command-side writer in its own process: ``python -m bench.worker '<json config>'``.

It starts the runtime of a publishing service (``allocation`` or ``housing``: pool,
migrations, producer and, unless ``relay`` is false, the outbox relay), builds the events'
payloads up front (the domain's work, not the runtime's), prints ``{"ready": ...}``, waits
for ``go`` on stdin, then writes the events through the unit of work, ``per_tx`` per
transaction, from ``writers`` concurrent tasks, optionally paced to ``rate`` events/s.
It prints ``{"first_write": ..., "written_at": ...}`` (wall clock) and keeps relaying
until ``stop`` on stdin or SIGTERM.

Results go to the real stdout; logs (which the runtime writes to stdout) go to stderr.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import signal
import sys
import time
import traceback
import uuid
from collections.abc import Iterator
from typing import IO, Any

from ankommen_contracts import EventData
from ankommen_contracts.events import housing as ho
from ankommen_runtime.logging import configure_logging
from ankommen_runtime.service import Runtime, ServiceSpec
from ankommen_runtime.settings import ServiceSettings

from .events import assignment, opened_site


def assignment_batches(events: int, per_tx: int) -> Iterator[list[EventData]]:
    """Weekly batches of households assigned by the Land."""
    quota = uuid.uuid4()
    for week, start in enumerate(range(0, events, per_tx)):
        yield [assignment(week, i, quota) for i in range(start, min(events, start + per_tx))]


def capacity_batches(events: int, per_tx: int, sites: list[uuid.UUID]) -> Iterator[list[EventData]]:
    """Background load for the latency benchmark: places blocked and released at sites."""
    reason = ho.CapacityChangeReason.PLACES_BLOCKED
    for start in range(0, events, per_tx):
        yield [
            ho.ShelterCapacityChanged(
                site_id=sites[i % len(sites)], capacity=500, blocked_places=i % 50, reason=reason
            )
            for i in range(start, min(events, start + per_tx))
        ]


def _emit(out: IO[str], **fields: Any) -> None:
    out.write(json.dumps(fields) + "\n")
    out.flush()


async def write(config: dict[str, Any], out: IO[str]) -> None:
    service = config["service"]
    settings = ServiceSettings(
        service=service,
        database_url=config["dsn"],
        kafka_bootstrap=config["bootstrap"],
        topic_prefix=config["prefix"],
        create_topics=False,
        log_level="WARNING",
        relay_batch_size=config.get("relay_batch_size", 500),
    )
    # Without the relay (publishes=False) another process relays this database's outbox.
    spec = ServiceSpec(
        name=service, title=f"bench writer ({service})", publishes=config.get("relay", True)
    )
    runtime = Runtime(spec, settings)
    await runtime.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        events, per_tx = config["events"], config["per_tx"]
        started = time.perf_counter()
        batches: Iterator[list[EventData]]
        if config["kind"] == "assignments":
            # Built up front: the pipeline times the runtime, not the domain's model building.
            batches = iter(list(assignment_batches(events, per_tx)))
        else:
            rng = random.Random(1)
            sites = [uuid.uuid4() for _ in range(config.get("sites", 100))]
            async with runtime.uow() as tx:  # the sites the load changes exist first
                tx.publish(*(opened_site(rng, s, i) for i, s in enumerate(sites)))
            batches = capacity_batches(events, per_tx, sites)  # lazily: runs until stopped
        # The prebuilt payloads live until the end; without freezing them every full
        # garbage collection would walk them all, a cost no real service has.
        gc.collect()
        gc.freeze()
        _emit(out, ready=True, prebuilt_seconds=time.perf_counter() - started)

        line = await loop.run_in_executor(None, sys.stdin.readline)
        if line.strip() != "go":
            return
        pace = per_tx / config["rate"] if config.get("rate") else 0.0
        first = time.time()

        async def writer(offset: float) -> None:
            # Paced writers keep a fixed schedule, so a slow commit does not lower the rate.
            due = loop.time() + offset
            for batch in batches:  # shared by the writers: each batch is written once
                async with runtime.uow() as tx:
                    tx.publish(*batch)
                if stop.is_set():
                    return
                if pace:
                    due += pace * config["writers"]
                    await asyncio.sleep(max(0.0, due - loop.time()))

        n = config["writers"]
        await asyncio.gather(*(writer(pace * i) for i in range(n)))
        _emit(out, first_write=first, written_at=time.time(), events=events)
        waiter = loop.run_in_executor(None, sys.stdin.readline)
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
    finally:
        await runtime.stop()


def main() -> None:
    config = json.loads(sys.argv[1])
    # Keep the real stdout for results; everything else printed goes to stderr (the log).
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    configure_logging(config["service"], "WARNING")
    code = 0
    try:
        asyncio.run(write(config, out))
    except KeyboardInterrupt:
        pass
    except BaseException:
        traceback.print_exc()
        code = 1
    out.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
