"""Kafka headers follow the CloudEvents 1.0 Kafka protocol binding (binary content mode)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

import pytest
from ankommen_contracts import CATALOGUE
from ankommen_contracts.examples import example_envelope
from ankommen_contracts.schema import KAFKA_HEADERS_SCHEMA

# CloudEvents attribute names: lower-case a-z and 0-9; the Kafka binding prefixes "ce_".
CE_NAME = re.compile(r"^ce_[a-z0-9]+$")


@pytest.mark.parametrize("event_type", sorted(CATALOGUE))
def test_headers_are_cloudevents_binary_mode(event_type: str) -> None:
    envelope = example_envelope(event_type)
    headers = envelope.kafka_headers()
    values = dict(headers)

    assert len(values) == len(headers), "a header appears twice"
    assert all(isinstance(v, bytes) for v in values.values())
    assert set(values) == set(KAFKA_HEADERS_SCHEMA["required"])
    assert all(CE_NAME.match(k) for k in values if k.startswith("ce_"))
    # required CloudEvents attributes
    assert values["ce_specversion"] == b"1.0"
    assert uuid.UUID(values["ce_id"].decode()) == envelope.event_id
    assert values["ce_type"].decode() == event_type
    assert values["ce_source"].decode() == f"/ankommen/{CATALOGUE[event_type].SOURCE}"
    # optional ones we set
    assert values["ce_subject"].decode() == envelope.subject
    time = datetime.fromisoformat(values["ce_time"].decode())
    assert time.tzinfo is not None
    assert time == envelope.occurred_at
    recorded = datetime.fromisoformat(values["ce_recordedtime"].decode())
    assert recorded == envelope.recorded_at
    # datacontenttype maps to the plain content-type header in the Kafka binding
    assert values["content-type"] == b"application/json"
    assert values["schema_version"] == str(envelope.schema_version).encode()


def test_the_acting_staff_member_travels_as_the_ce_actor_extension() -> None:
    envelope = example_envelope("ShelterOpened")
    assert "ce_actor" not in dict(envelope.kafka_headers()), "the system acted by itself"
    envelope.with_actor("staff-7f3a")
    assert dict(envelope.kafka_headers())["ce_actor"] == b"staff-7f3a"
    assert "actor" not in envelope.model_dump(), "not in the body: released schemas forbid it"
    with pytest.raises(ValueError, match="actor"):
        envelope.with_actor("x" * 256)


def test_header_schema_describes_exactly_the_headers() -> None:
    headers = dict(example_envelope("ShelterOpened").with_actor("staff-7f3a").kafka_headers())
    for name, rule in KAFKA_HEADERS_SCHEMA["properties"].items():
        value = headers[name].decode()
        if "const" in rule:
            assert value == rule["const"], name
        if "pattern" in rule:
            assert re.match(rule["pattern"], value), name
