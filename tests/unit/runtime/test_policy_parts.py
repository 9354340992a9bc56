"""Pure parts of the consumer policy: backoff, failure classification, dead-letter headers."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError
from ankommen_runtime.consumer import (
    RetryPolicy,
    check_headers,
    dead_letter_headers,
    dead_letter_topic,
    is_transient,
)
from ankommen_runtime.dlq import parse_dead_letter_topic
from ankommen_runtime.errors import Cause, classify
from support import consumer_record


def test_backoff_grows_exponentially_and_is_bounded() -> None:
    policy = RetryPolicy(attempts=8, base_seconds=0.1, max_seconds=1.0)
    delays = [policy.delay(n) for n in range(1, 8)]
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    assert max(delays) == 1.0


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.CannotConnectNowError("starting up"),
        asyncpg.AdminShutdownError("terminating connection"),
        asyncpg.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.DiskFullError("could not extend file"),
        asyncpg.LockNotAvailableError("could not obtain lock"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.DeadlockDetectedError("deadlock detected"),
        KafkaConnectionError(),
    ],
)
def test_failover_and_overload_errors_are_the_infrastructures_fault(error: BaseException) -> None:
    assert classify(error) == Cause.INFRASTRUCTURE
    assert is_transient(error), "never dead-letter an event because a server was down"


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(),
        FileNotFoundError("/etc/ankommen/districts.csv"),
        TimeoutError(),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
    ],
)
def test_socket_like_errors_are_ambiguous_and_decided_by_a_database_probe(
    error: BaseException,
) -> None:
    assert classify(error) == Cause.AMBIGUOUS
    assert not is_transient(error), "a handler bug raising OSError must not stall for ever"


@pytest.mark.parametrize(
    "error",
    [ValueError("bad"), KeyError("site"), asyncpg.CheckViolationError("over capacity")],
)
def test_event_faults_are_not_transient(error: BaseException) -> None:
    assert classify(error) == Cause.EVENT
    assert not is_transient(error)


def test_headers_that_are_not_utf8_make_a_record_invalid() -> None:
    good = consumer_record(headers=[("trace", b"abc")], topic="t")
    bad = consumer_record(headers=[("trace", b"\xff\xfe")], topic="t", offset=1)
    check_headers(good)
    with pytest.raises(Exception, match="header 'trace' is not UTF-8"):
        check_headers(bad)


def test_a_dead_letter_topic_names_the_consumer_and_the_source_topic() -> None:
    name = dead_letter_topic("reporting", "t1.housing.events", "t1.")
    assert name == "t1.reporting.dlq.housing.events"
    assert parse_dead_letter_topic(name) == ("reporting", "t1.housing.events")
    assert parse_dead_letter_topic("allocation.dlq.housing.events") == (
        "allocation",
        "housing.events",
    )


def test_dead_letter_headers_keep_the_original_and_say_why() -> None:
    record = consumer_record(
        b"{}",
        [("ce_type", b"ShelterOpened"), ("dlq_error", b"old reason")],
        partition=2,
        offset=41,
        key=b"site-1",
    )
    headers = dead_letter_headers(record, ValueError("district 14"), group="reporting", attempts=5)
    as_dict = dict(headers)
    assert as_dict["ce_type"] == b"ShelterOpened"
    assert as_dict["dlq_error"] == b"ValueError: district 14"
    assert [k for k, _ in headers].count("dlq_error") == 1, "a re-failed letter has one reason"
    assert as_dict["dlq_original_topic"] == b"housing.events"
    assert as_dict["dlq_original_partition"] == b"2"
    assert as_dict["dlq_original_offset"] == b"41"
    assert as_dict["dlq_consumer_group"] == b"reporting"
    assert as_dict["dlq_attempts"] == b"5"


def test_dead_letter_headers_are_the_ones_the_asyncapi_document_promises() -> None:
    from ankommen_contracts.schema import DLQ_HEADERS

    record = consumer_record(headers=[("ce_id", b"1")], topic="t")
    added = {k for k, _ in dead_letter_headers(record, ValueError(), group="g", attempts=1)}
    assert added - {"ce_id"} == set(DLQ_HEADERS)
