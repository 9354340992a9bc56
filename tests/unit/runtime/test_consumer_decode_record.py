"""The consumer's one-parse decode agrees with ``ankommen_contracts.decode`` on every input."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from ankommen_contracts import InvalidEvent, Pillar, UnknownEventType, decode, encode, new_envelope
from ankommen_contracts.events.housing import ShelterOpened
from ankommen_runtime.consumer import decode_record
from support import consumer_record


def opened() -> Any:
    data = ShelterOpened(
        site_id=uuid.uuid4(),
        name="Wohnheim Tresckowstraße",
        pillar=Pillar.WOHNHEIM,
        district=9,
        operator="DRK",
        capacity=100,
    )
    return new_envelope(data, sequence=3, correlation_id=uuid.uuid4())


def test_an_event_with_the_relays_headers_decodes_as_decode_does() -> None:
    env = opened()
    got = decode_record(consumer_record(encode(env), env.kafka_headers()))
    assert got == decode(encode(env))
    assert isinstance(got.data, ShelterOpened)


def test_an_event_without_headers_decodes_too() -> None:
    env = opened()
    assert decode_record(consumer_record(encode(env))) == env


def test_headers_that_lie_about_the_type_do_not_change_the_result() -> None:
    env = opened()
    lying = [("ce_type", b"ShelterClosed"), ("schema_version", b"1")]
    assert decode_record(consumer_record(encode(env), lying)) == env


@pytest.mark.parametrize(
    "value",
    [b"\x00not json", json.dumps({"event_id": "nope"}).encode()],
)
def test_invalid_bytes_raise_the_same_error_as_decode(value: bytes) -> None:
    headers = [("ce_type", b"ShelterOpened"), ("schema_version", b"1")]
    with pytest.raises(InvalidEvent) as fast:
        decode_record(consumer_record(value, headers))
    with pytest.raises(InvalidEvent) as slow:
        decode(value)
    assert str(fast.value) == str(slow.value), "the DLQ reason names the same field"


def test_an_invalid_payload_under_valid_headers_names_the_field() -> None:
    body = json.loads(encode(opened()))
    body["data"]["district"] = 14
    with pytest.raises(InvalidEvent, match="district"):
        decode_record(consumer_record(json.dumps(body).encode(), opened().kafka_headers()))


def test_unknown_types_stay_unknown() -> None:
    body = json.loads(encode(opened()))
    body["type"] = "SomethingNew"
    headers = [("ce_type", b"SomethingNew"), ("schema_version", b"1")]
    with pytest.raises(UnknownEventType):
        decode_record(consumer_record(json.dumps(body).encode(), headers))
