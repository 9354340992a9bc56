"""Runtime pieces as separate OS processes, so tests can SIGKILL them at chosen points.

    python procs.py relay --dsn D --bootstrap B [--batch N] [--pace S]
    python procs.py consumer --dsn D --bootstrap B --prefix P --group G [--die when]

``--die before_commit`` kills the consumer inside its transaction (effect not committed);
``--die after_commit`` kills it after the database commit, before the offset commit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path
from typing import Any

from ankommen_contracts import Envelope
from ankommen_runtime.consumer import BatchEventHandler, ConsumerPolicy, Subscription
from ankommen_runtime.db import create_pool
from ankommen_runtime.kafka import new_producer
from ankommen_runtime.logging import configure_logging
from ankommen_runtime.outbox import OutboxRelay
from ankommen_runtime.service import Runtime, ServiceSpec
from ankommen_runtime.settings import ServiceSettings
from ankommen_runtime.uow import Transaction

SQL = Path(__file__).parent / "sql"


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def record_effect(tx: Transaction, envelope: Envelope[Any]) -> None:
    """The test effect: a row per event; a second application would count 2."""
    await tx.conn.execute(
        """INSERT INTO effects (event_id, subject, sequence) VALUES ($1, $2, $3)
           ON CONFLICT (event_id) DO UPDATE SET applied = effects.applied + 1""",
        envelope.event_id,
        envelope.subject,
        envelope.sequence,
    )


def consumer_under_test(
    bootstrap: str,
    dsn: str,
    prefix: str,
    group: str,
    handlers: dict[str, Any],
    *,
    migrations: Path = SQL,
    prefetch: BatchEventHandler | None = None,
    **settings: Any,
) -> Runtime:
    """A consumer of ``<prefix>housing.events`` built by the real runtime, for tests."""
    spec = ServiceSpec(
        name="reporting",
        title="test consumer",
        migrations=migrations,
        subscriptions=[Subscription("housing", handlers, prefetch)],
        publishes=False,
    )
    return Runtime(
        spec,
        ServiceSettings(
            service="reporting",
            database_url=dsn,
            kafka_bootstrap=bootstrap,
            topic_prefix=prefix,
            consumer_group=group,
            **settings,
        ),
    )


async def run_relay(args: argparse.Namespace) -> None:
    pool = await create_pool(args.dsn)
    producer = new_producer(args.bootstrap, client_id="relay-under-test")
    await producer.start()

    class PacedRelay(OutboxRelay):
        # A pause after each round gives the test a window to kill between and in batches.
        async def publish_batch(self) -> int:
            published = await super().publish_batch()
            await asyncio.sleep(args.pace)
            return published

    relay = PacedRelay(pool, producer, service="housing", batch_size=args.batch)
    await relay.run()


async def run_consumer(args: argparse.Namespace) -> None:
    async def effect(tx: Transaction, envelope: Envelope[Any]) -> None:
        await record_effect(tx, envelope)
        if args.die == "before_commit":
            _die()

    if args.die == "after_commit":
        original = ConsumerPolicy.handle_batch

        async def then_die(self: ConsumerPolicy, records: Any) -> None:
            await original(self, records)  # the transaction is committed here
            _die()  # ... and the offset never is

        ConsumerPolicy.handle_batch = then_die  # type: ignore[method-assign]

    configure_logging("reporting")
    runtime = consumer_under_test(
        args.bootstrap,
        args.dsn,
        args.prefix,
        args.group,
        {"ShelterOpened": effect},
        create_topics=False,
    )
    await runtime.start()
    try:
        await asyncio.Event().wait()
    finally:
        await runtime.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["relay", "consumer"])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--pace", type=float, default=0.0)
    parser.add_argument("--prefix", default="")
    parser.add_argument("--group", default="test")
    parser.add_argument("--die", choices=["before_commit", "after_commit"], default=None)
    args = parser.parse_args()
    asyncio.run(run_relay(args) if args.role == "relay" else run_consumer(args))


if __name__ == "__main__":
    main()
