"""Every event survives encode → Kafka bytes → decode unchanged, as its own model."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from ankommen_contracts import (
    CATALOGUE,
    PUBLISHERS,
    BedReserved,
    EventData,
    decode,
    encode,
    new_envelope,
    topic_for,
)
from ankommen_contracts.examples import EXAMPLES, example_envelope

ALL_TYPES = sorted(CATALOGUE)


def test_the_catalogue_is_the_one_in_the_design() -> None:
    by_source: dict[str, set[str]] = {}
    for name, model in CATALOGUE.items():
        by_source.setdefault(model.SOURCE, set()).add(name)
    assert by_source == {
        "allocation": {
            "QuotaPeriodAnnounced",
            "RefugeeAssigned",
            "PlacementDecided",
            "MinorReferredToYouthWelfare",
            "PlacementCancelled",
            "PlacementFailed",
            "RelocationRequested",
            "RefugeeRelocated",
            "RefugeeDeparted",
        },
        "housing": {
            "ShelterPlanned",
            "ReservationReleased",
            "ShelterOpened",
            "ShelterCapacityChanged",
            "ShelterClosing",
            "ShelterClosingDateSet",
            "ShelterClosed",
            "ShelterRateChanged",
            "BedReserved",
            "ReservationRejected",
            "OccupantCheckedIn",
            "OccupantCheckedOut",
        },
        "integration": {
            "CaseOpened",
            "CaseTransferred",
            "MilestoneReached",
            "ReadinessAssessed",
            "MoveOutPlanned",
            "MoveOutCompleted",
            "CaseHandedOver",
            "CaseClosed",
            "SupportRequested",
            "ErasureRequested",
        },
        "volunteers": {
            "VolunteerRegistered",
            "VolunteerVetted",
            "VolunteerMatched",
            "MatchEnded",
            "VolunteerHoursLogged",
        },
    }
    assert {topic_for(s) for s in by_source} == {topic_for(s) for s in PUBLISHERS}


def test_every_type_has_an_example() -> None:
    assert sorted(EXAMPLES) == ALL_TYPES


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_round_trip(event_type: str) -> None:
    envelope = example_envelope(event_type)
    raw = encode(envelope)

    decoded = decode(raw)

    assert decoded == envelope
    assert type(decoded.data) is CATALOGUE[event_type]
    assert encode(decoded) == raw  # byte-stable: a re-published event is the same event


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_round_trip_of_fresh_ids(event_type: str) -> None:
    """Real events carry random UUIDs and now-timestamps, not the examples' fixed ones."""
    data = EXAMPLES[event_type]
    envelope = new_envelope(
        data, sequence=7, correlation_id=uuid.uuid4(), causation_id=uuid.uuid4()
    )

    decoded = decode(encode(envelope))

    assert decoded == envelope
    assert decoded.subject == str(getattr(data, data.SUBJECT_FIELD))
    assert decoded.source == data.SOURCE


@pytest.mark.parametrize("model", [CATALOGUE[t] for t in ALL_TYPES], ids=ALL_TYPES)
def test_models_are_strict_and_frozen(model: type[EventData]) -> None:
    assert model.model_config.get("extra") == "forbid"
    assert model.model_config.get("strict") is True
    assert model.model_config.get("frozen") is True
    assert model.SUBJECT_FIELD in model.model_fields


def test_timestamps_are_normalised_to_utc() -> None:
    cest = timezone(timedelta(hours=2))
    data = BedReserved.model_validate(
        {
            **EXAMPLES["BedReserved"].model_dump(),
            "expires_at": datetime(2015, 10, 12, 20, 0, tzinfo=cest),
        }
    )
    envelope = new_envelope(
        data,
        sequence=1,
        correlation_id=uuid.uuid4(),
        occurred_at=datetime(2015, 10, 12, 11, 30, tzinfo=cest),
    )

    body = json.loads(encode(envelope))

    assert body["occurred_at"] == "2015-10-12T09:30:00Z"
    assert body["data"]["expires_at"] == "2015-10-12T18:00:00Z"
    assert decode(encode(envelope)).data.expires_at == datetime(2015, 10, 12, 18, tzinfo=UTC)
