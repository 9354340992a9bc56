"""Decoding across types and versions: unknown types, newer versions, upcaster chains."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from ankommen_contracts import (
    CATALOGUE,
    UPCASTERS,
    EventData,
    InvalidEvent,
    UnknownEventType,
    decode,
    encode,
    new_envelope,
    upcaster,
)
from ankommen_contracts.examples import example_envelope
from ankommen_contracts.registry import event
from pydantic import Field

THROWAWAY = "ThrowawayCounted"


def raw_event(event_type: str, version: int, data: dict[str, Any], subject: str) -> bytes:
    body = json.loads(encode(example_envelope("ShelterClosed")))
    body.update(type=event_type, schema_version=version, data=data, subject=subject)
    return json.dumps(body).encode()


@pytest.fixture
def throwaway_v3() -> Iterator[type[EventData]]:
    """A throwaway type at v3 with upcasters v1→v2→v3; removed from the registry after."""

    @event
    class ThrowawayCounted(EventData):
        """v1 had `count`; v2 renamed it to `persons`; v3 added `unit`."""

        TYPE: ClassVar[str] = THROWAWAY
        VERSION: ClassVar[int] = 3
        SOURCE: ClassVar[str] = "housing"
        SUBJECT_FIELD: ClassVar[str] = "site_id"

        site_id: uuid.UUID
        persons: int = Field(ge=0)
        unit: str

    @upcaster(THROWAWAY, 1)
    def rename_count(data: dict[str, Any]) -> dict[str, Any]:
        data = dict(data)
        data["persons"] = data.pop("count")
        return data

    @upcaster(THROWAWAY, 2)
    def add_unit(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "unit": "persons"}

    try:
        yield ThrowawayCounted
    finally:
        CATALOGUE.pop(THROWAWAY, None)
        UPCASTERS.pop((THROWAWAY, 1), None)
        UPCASTERS.pop((THROWAWAY, 2), None)


def test_unknown_type_is_reported_with_its_envelope() -> None:
    raw = raw_event("ShelterRenamed", 1, {"site_id": str(uuid.uuid4())}, subject="s")

    with pytest.raises(UnknownEventType) as caught:
        decode(raw)

    assert caught.value.envelope.type == "ShelterRenamed"
    assert caught.value.envelope.sequence == 1  # the consumer can still count and skip it


def test_a_newer_version_than_ours_is_unknown_not_invalid() -> None:
    body = json.loads(encode(example_envelope("ShelterOpened")))
    newer = CATALOGUE["ShelterOpened"].VERSION + 1
    body["schema_version"] = newer
    body["data"]["beds_per_room"] = 4  # whatever a newer version may add, we cannot judge it

    with pytest.raises(UnknownEventType, match=f"ShelterOpened' v{newer}"):
        decode(json.dumps(body))


def test_upcaster_chain_brings_v1_to_the_current_version(throwaway_v3: type[EventData]) -> None:
    site = uuid.uuid4()
    raw = raw_event(THROWAWAY, 1, {"site_id": str(site), "count": 12}, subject=str(site))

    decoded = decode(raw)

    assert decoded.schema_version == 3
    assert isinstance(decoded.data, throwaway_v3)
    assert decoded.data.model_dump() == {"site_id": site, "persons": 12, "unit": "persons"}


def test_upcaster_chain_starts_at_any_old_version(throwaway_v3: type[EventData]) -> None:
    site = uuid.uuid4()
    raw = raw_event(THROWAWAY, 2, {"site_id": str(site), "persons": 3}, subject=str(site))

    assert decode(raw).data.model_dump()["unit"] == "persons"


def test_current_version_needs_no_upcaster(throwaway_v3: type[EventData]) -> None:
    data = throwaway_v3(site_id=uuid.uuid4(), persons=1, unit="beds")
    envelope = new_envelope(data, sequence=1, correlation_id=uuid.uuid4())
    assert decode(encode(envelope)) == envelope


def test_upcast_data_is_validated(throwaway_v3: type[EventData]) -> None:
    site = uuid.uuid4()
    raw = raw_event(THROWAWAY, 1, {"site_id": str(site), "count": -1}, subject=str(site))

    with pytest.raises(InvalidEvent, match=r"data\.persons"):
        decode(raw)


def test_failing_upcaster_is_an_invalid_event(throwaway_v3: type[EventData]) -> None:
    site = uuid.uuid4()
    raw = raw_event(THROWAWAY, 1, {"site_id": str(site)}, subject=str(site))  # no `count`

    with pytest.raises(InvalidEvent, match="v1 upcaster failed: KeyError"):
        decode(raw)


def test_missing_upcaster_is_an_invalid_event(throwaway_v3: type[EventData]) -> None:
    del UPCASTERS[(THROWAWAY, 2)]
    site = uuid.uuid4()
    raw = raw_event(THROWAWAY, 1, {"site_id": str(site), "count": 1}, subject=str(site))

    with pytest.raises(InvalidEvent, match="v2 has no upcaster"):
        decode(raw)


def test_throwaway_type_is_gone_after_the_test() -> None:
    assert THROWAWAY not in CATALOGUE
    assert not [key for key in UPCASTERS if key[0] == THROWAWAY]


def test_a_type_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        event(CATALOGUE["ShelterOpened"])


def test_a_subject_field_must_be_a_field() -> None:
    class NoSubject(EventData):
        TYPE: ClassVar[str] = "NoSubject"
        SOURCE: ClassVar[str] = "housing"
        SUBJECT_FIELD: ClassVar[str] = "site_id"

    with pytest.raises(ValueError, match="subject field 'site_id'"):
        event(NoSubject)
    assert "NoSubject" not in CATALOGUE
