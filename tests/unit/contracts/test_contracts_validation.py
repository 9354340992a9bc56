"""Bad events are rejected with a reason that names the field: that text ends up in the DLQ."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from ankommen_contracts import (
    InvalidEvent,
    Pillar,
    ShelterCapacityChanged,
    ShelterOpened,
    decode,
    encode,
)
from ankommen_contracts.examples import EXAMPLES, example_envelope
from pydantic import ValidationError

Body = dict[str, Any]


def body_of(event_type: str) -> Body:
    return json.loads(encode(example_envelope(event_type)))


def data_with(**changes: Any) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        body["data"].update(changes)

    return change


def first_member(**changes: Any) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        body["data"]["members"][0].update(changes)

    return change


def without(field: str) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        del body["data"][field]

    return change


def envelope_with(**changes: Any) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        body.update(changes)

    return change


CASES: list[tuple[str, str, Callable[[Body], None], list[str]]] = [
    # (id, type, change, substrings the reason must contain)
    ("unknown field", "ShelterOpened", data_with(beds=3), ["data.beds", "Extra inputs"]),
    ("missing field", "ShelterOpened", without("capacity"), ["data.capacity", "Field required"]),
    ("wrong type", "ShelterOpened", data_with(capacity="500"), ["data.capacity", "integer"]),
    ("bool is not int", "ShelterOpened", data_with(capacity=True), ["data.capacity"]),
    ("capacity 0 at opening", "ShelterOpened", data_with(capacity=0), ["data.capacity"]),
    ("negative capacity", "ShelterCapacityChanged", data_with(capacity=-1), ["data.capacity"]),
    ("district 14", "ShelterOpened", data_with(district=14), ["data.district", "13"]),
    ("district 0", "CaseOpened", data_with(district=0), ["data.district", "1"]),
    ("unknown pillar", "ShelterOpened", data_with(pillar="zelt"), ["data.pillar"]),
    ("bad uuid", "ShelterOpened", data_with(site_id="osk-1"), ["data.site_id"]),
    (
        "blocked above capacity",
        "ShelterCapacityChanged",
        data_with(capacity=10, blocked_places=11),
        ["blocked_places 11 exceeds capacity 10"],
    ),
    (
        "household size does not match members",
        "RefugeeAssigned",
        data_with(household_size=5),
        ["household_size 5 does not match the 4 members"],
    ),
    (
        "end before start",
        "QuotaPeriodAnnounced",
        data_with(starts_on="2016-02-01", ends_on="2016-01-31"),
        ["ends_on 2016-01-31 is before starts_on 2016-02-01"],
    ),
    ("impossible date", "QuotaPeriodAnnounced", data_with(ends_on="2016-02-30"), ["data.ends_on"]),
    (
        "lower-case country",
        "RefugeeAssigned",
        first_member(country_of_origin="syr"),
        ["data.members.0.country_of_origin", "[A-Z]{3}"],
    ),
    (
        "alpha-2 country",
        "RefugeeAssigned",
        first_member(country_of_origin="SY"),
        ["country_of_origin"],
    ),
    ("age band", "RefugeeAssigned", first_member(age_band="18-25"), ["data.members.0.age_band"]),
    ("gender", "RefugeeAssigned", first_member(gender="f"), ["data.members.0.gender"]),
    (
        "adult unaccompanied minor",
        "RefugeeAssigned",
        first_member(unaccompanied_minor=True),
        ["data.members.0", "unaccompanied_minor", "'27-49' is not a minor"],
    ),
    (
        "name smuggled into a member",
        "RefugeeAssigned",
        first_member(first_name="Amal"),
        ["data.members.0.first_name", "Extra inputs"],
    ),
    (
        "a member's special needs (health data since v3)",
        "RefugeeAssigned",
        first_member(special_needs=["medical"]),
        ["data.members.0.special_needs", "Extra inputs"],
    ),
    (
        "duplicate site requirement",
        "RefugeeAssigned",
        data_with(requirements=["accessible", "accessible"]),
        ["data.requirements", "duplicate"],
    ),
    (
        "a language level on a Kita milestone",
        "MilestoneReached",
        data_with(milestone="kita", language_level="b1"),
        ["language_level is required exactly for a language_level milestone"],
    ),
    (
        "a change of residence status without the status",
        "MilestoneReached",
        data_with(milestone="residence_status", language_level=None),
        ["residence_status is required exactly for a residence_status milestone"],
    ),
    ("language code", "SupportRequested", data_with(languages=["ara"]), ["data.languages.0"]),
    (
        "duplicate skill",
        "VolunteerRegistered",
        data_with(skills=["childcare"] * 2),
        ["data.skills"],
    ),
    ("no district", "VolunteerRegistered", data_with(districts=[]), ["data.districts"]),
    (
        "naive datetime",
        "BedReserved",
        data_with(expires_at="2015-10-12T18:00:00"),
        ["data.expires_at", "timezone"],
    ),
    ("zero places", "BedReserved", data_with(places=0), ["data.places"]),
    (
        "same site twice",
        "RefugeeRelocated",
        data_with(to_site_id=str(EXAMPLES["RefugeeRelocated"].from_site_id)),  # type: ignore[attr-defined]
        ["to_site_id equals from_site_id"],
    ),
    (
        "move-out in the city without district",
        "MoveOutCompleted",
        data_with(target_district=None),
        ["target_district is required when target_kind is 'own_flat'"],
    ),
    (
        "move-out of the city with district",
        "MoveOutCompleted",
        data_with(target_kind="other_municipality"),
        ["target_district must be null"],
    ),
    (
        "childcare without children",
        "SupportRequested",
        data_with(skill="childcare", involves_children=False),
        ["involves_children must be true for skill 'childcare'"],
    ),
    ("minutes", "VolunteerHoursLogged", data_with(hours=0.1), ["data.hours", "multiple of 0.25"]),
    ("no hours", "VolunteerHoursLogged", data_with(hours=0), ["data.hours"]),
    (
        "subject differs from the payload",
        "ShelterOpened",
        envelope_with(subject=str(uuid.uuid4())),
        ["subject", "does not match data.site_id"],
    ),
    (
        "wrong source",
        "ShelterOpened",
        envelope_with(source="allocation"),
        ["source 'allocation' does not match"],
    ),
    ("unknown source", "ShelterOpened", envelope_with(source="police"), ["source", "unknown"]),
    (
        "naive occurred_at",
        "ShelterOpened",
        envelope_with(occurred_at="2015-10-12T09:30:00"),
        ["occurred_at", "timezone"],
    ),
    ("sequence 0", "ShelterOpened", envelope_with(sequence=0), ["sequence"]),
    ("unknown envelope field", "ShelterOpened", envelope_with(tenant="x"), ["tenant", "Extra"]),
]


@pytest.mark.parametrize(
    ("event_type", "change", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_invalid_event_is_rejected_naming_the_field(
    event_type: str, change: Callable[[Body], None], expected: list[str]
) -> None:
    body = body_of(event_type)
    change(body)

    with pytest.raises(InvalidEvent) as caught:
        decode(json.dumps(body))

    for text in expected:
        assert text in str(caught.value)


@pytest.mark.parametrize("raw", [b"", b"not json", b"[]", b'{"type": "ShelterOpened"}'])
def test_undecodable_bytes_are_invalid_not_a_crash(raw: bytes) -> None:
    with pytest.raises(InvalidEvent, match="invalid envelope"):
        decode(raw)


def test_a_service_cannot_build_an_impossible_event() -> None:
    with pytest.raises(ValidationError) as caught:
        ShelterCapacityChanged(
            site_id=uuid.uuid4(),
            capacity=-5,
            blocked_places=0,
            reason="expanded",  # type: ignore[arg-type]  (strict: must be the enum)
        )
    fields = {err["loc"][0] for err in caught.value.errors()}
    assert fields == {"capacity", "reason"}


def test_a_service_cannot_use_a_naive_datetime() -> None:
    data = EXAMPLES["BedReserved"].model_dump()
    data["expires_at"] = datetime(2015, 10, 12, 18, 0)
    with pytest.raises(ValidationError, match="expires_at"):
        type(EXAMPLES["BedReserved"]).model_validate(data)


def test_models_are_immutable() -> None:
    site = ShelterOpened(
        site_id=uuid.uuid4(),
        name="Wohnheim Am Bahndamm",
        pillar=Pillar.WOHNHEIM,
        district=11,
        operator="Johanniter",
        capacity=50,
    )
    with pytest.raises(ValidationError, match="frozen"):
        site.capacity = 60  # type: ignore[misc]


def test_dates_stay_dates() -> None:
    decoded = decode(encode(example_envelope("QuotaPeriodAnnounced")))
    assert decoded.data.starts_on == date(2015, 10, 1)
    assert decoded.occurred_at.tzinfo is not None
    assert decoded.occurred_at.utcoffset() == UTC.utcoffset(None)
