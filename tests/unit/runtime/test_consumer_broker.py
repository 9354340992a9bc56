"""The consumers' broker is consumer-only: a start that fails leaves nothing unclosed.

Found by the short chaos run in CI (1 Dec 2026): a reporting replica started while the
broker was cut; faststream's broker made its own producer, failed to start it and dropped it,
and asyncio logged "Unclosed AIOKafkaProducer" at ERROR when it was collected.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from ankommen_runtime.kafka import new_consumer_broker

UNREACHABLE = "127.0.0.1:1"  # refused at once: no broker listens on port 1


async def test_a_start_against_an_unreachable_broker_leaves_no_client_unclosed() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        broker = new_consumer_broker(UNREACHABLE, client_id="test")

        @broker.subscriber("topic", group_id="group")
        async def handle(_: bytes) -> None: ...

        with pytest.raises(KafkaConnectionError):
            await broker.start()
        await broker.stop()
        del broker, handle
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
    assert [c["message"] for c in reported] == []


def test_the_broker_neither_produces_nor_administers() -> None:
    broker = new_consumer_broker(UNREACHABLE, client_id="test")
    assert broker.config.broker_config.consumer_only is True


def test_only_the_consumer_only_notice_about_topics_is_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    new_consumer_broker(UNREACHABLE, client_id="test")
    logger = logging.getLogger("faststream.access")
    with caplog.at_level(logging.WARNING, logger="faststream.access"):
        logger.warning("Topic creation is skipped in consumer-only mode. Make sure ...")
        logger.warning("Failed to create topic t: something else")
    assert [r.getMessage() for r in caplog.records] == ["Failed to create topic t: something else"]
