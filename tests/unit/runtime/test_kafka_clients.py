"""Kafka clients whose start fails leave nothing unclosed.

Found by the short chaos run in CI (1 Dec 2026): a reporting replica started while the
broker was cut; faststream's broker made its own producer, failed to start it and dropped it,
and asyncio logged "Unclosed AIOKafkaProducer" at ERROR when it was collected. The consumers'
broker is now consumer-only, and every short-lived client opens with ``started``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError
from ankommen_runtime.kafka import new_consumer_broker
from ankommen_runtime.kafka_clients import positions_on_kafka, started

UNREACHABLE = "127.0.0.1:1"  # refused at once: no broker listens on port 1


@pytest.fixture
async def reported() -> AsyncIterator[list[str]]:
    """What asyncio's handler is told (aiokafka's "Unclosed ..." among it), after the
    clients the test dropped were collected."""
    loop = asyncio.get_running_loop()
    messages: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: messages.append(context["message"]))
    try:
        yield messages
    finally:
        loop.set_exception_handler(previous)


async def collected() -> None:
    gc.collect()
    await asyncio.sleep(0)


async def test_a_start_against_an_unreachable_broker_leaves_no_client_unclosed(
    reported: list[str],
) -> None:
    broker = new_consumer_broker(UNREACHABLE, client_id="test")

    @broker.subscriber("topic", group_id="group")
    async def handle(_: bytes) -> None: ...

    with pytest.raises(KafkaConnectionError):
        await broker.start()
    await broker.stop()
    del broker, handle
    await collected()
    assert reported == []


@pytest.mark.parametrize("kind", [AIOKafkaProducer, AIOKafkaConsumer, AIOKafkaAdminClient])
async def test_a_client_whose_start_fails_is_closed(kind: type[Any], reported: list[str]) -> None:
    client = kind(bootstrap_servers=UNREACHABLE, request_timeout_ms=2000)
    with pytest.raises(KafkaConnectionError):
        async with started(client):
            pytest.fail("the block runs only once the client started")
    assert client._closed is True  # the admin client has no "Unclosed" report to check
    del client
    await collected()
    assert reported == []


async def test_without_started_a_failed_start_is_reported_unclosed(reported: list[str]) -> None:
    """The fixture can see the defect ``started`` prevents."""
    client = AIOKafkaConsumer(bootstrap_servers=UNREACHABLE, request_timeout_ms=2000)
    with pytest.raises(KafkaConnectionError):
        await client.start()
    del client
    await collected()
    assert reported == ["Unclosed AIOKafkaConsumer"]


async def test_asking_kafka_where_things_stand_keeps_no_client_of_a_failed_start(
    reported: list[str],
) -> None:
    with pytest.raises(KafkaConnectionError):
        await positions_on_kafka(UNREACHABLE, "group", ["topic"], written=["other"])
    await collected()
    assert reported == []


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
