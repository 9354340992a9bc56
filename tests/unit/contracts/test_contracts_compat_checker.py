"""The compatibility checker itself: it must be able to fail, and say why."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any, ClassVar

import pytest
from ankommen_contracts import CATALOGUE, EventData, ShelterOpened
from ankommen_contracts.compat import Snapshot, check_released, diff
from ankommen_contracts.schema import event_schema
from pydantic import Field

# A released v1 and changed copies of it. The copies are not registered: @event is not used.


class Kind(StrEnum):
    A = "a"
    B = "b"


class NarrowKind(StrEnum):
    A = "a"


class WideKind(StrEnum):
    A = "a"
    B = "b"
    C = "c"


class Released(EventData):
    """Released v1."""

    TYPE: ClassVar[str] = "ShelterOpened"  # borrows a real type so it has an example
    SOURCE: ClassVar[str] = "housing"
    SUBJECT_FIELD: ClassVar[str] = "site_id"

    site_id: uuid.UUID
    places: int = Field(ge=0, le=100)
    kind: Kind
    note: str | None = None


class DocsOnly(Released):
    """Only the documentation changed."""

    places: int = Field(ge=0, le=100, description="Places, now documented")


class Renamed(EventData):
    """`places` renamed to `beds`."""

    TYPE: ClassVar[str] = "ShelterOpened"
    SOURCE: ClassVar[str] = "housing"
    SUBJECT_FIELD: ClassVar[str] = "site_id"

    site_id: uuid.UUID
    beds: int = Field(ge=0, le=100)
    kind: Kind
    note: str | None = None


class Retyped(Released):
    places: str  # type: ignore[assignment]


class NewRequired(Released):
    operator: str


class NewOptional(Released):
    operator: str | None = None


class Narrowed(Released):
    kind: NarrowKind  # type: ignore[assignment]


class Widened(Released):
    kind: WideKind  # type: ignore[assignment]


class Tighter(Released):
    places: int = Field(ge=0, le=50)


class NoLongerNullable(Released):
    note: str = ""  # type: ignore[assignment]


def messages(model: type[EventData]) -> list[str]:
    return [str(change) for change in diff(event_schema(Released), event_schema(model))]


def test_identical_and_documentation_changes_are_compatible() -> None:
    assert diff(event_schema(Released), event_schema(Released)) == []
    assert messages(DocsOnly) == []


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (Renamed, ["data: field 'places' removed", "data: required field 'beds' added"]),
        (Retyped, ["data.places: type changed from integer to string"]),
        (NewRequired, ["data: required field 'operator' added"]),
        (Narrowed, ["data.kind: values removed: ['b']"]),
        (Tighter, ["data.places: maximum 100 -> 50 (narrower)"]),
        (NoLongerNullable, ["data.note: no longer accepts null"]),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_changes_that_break_replay_are_found(model: type[EventData], expected: list[str]) -> None:
    changes = diff(event_schema(Released), event_schema(model))
    found = [str(c) for c in changes]
    for text in expected:
        assert any(text in line for line in found), (text, found)
    assert any(c.breaks_replay for c in changes)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (NewOptional, "data: optional field 'operator' added"),
        (Widened, "data.kind: values added: ['c']"),
    ],
    ids=["new optional field", "widened enum"],
)
def test_additions_break_consumers_that_forbid_unknown_values(
    model: type[EventData], expected: str
) -> None:
    changes = diff(event_schema(Released), event_schema(model))
    assert [str(c).split(" (")[0] for c in changes] == [expected]
    assert changes[0].breaks_consumers
    assert not changes[0].breaks_replay


def snapshot_of(model: type[EventData], version: int | None = None) -> Snapshot:
    return Snapshot(model.TYPE, version or model.VERSION, event_schema(model))


def test_a_deliberately_broken_real_model_fails_the_check() -> None:
    class BrokenShelterOpened(ShelterOpened):
        """ShelterOpened with capacity as text: a breaking change without a version bump."""

        capacity: str  # type: ignore[assignment]

    released = [snapshot_of(ShelterOpened, ShelterOpened.VERSION)]
    catalogue = {"ShelterOpened": BrokenShelterOpened}

    problems = check_released(released, catalogue=catalogue, upcasters={})

    released_version = ShelterOpened.VERSION
    assert len(problems) == 1
    assert f"ShelterOpened v{released_version} changed incompatibly" in problems[0]
    assert "data.capacity: type changed from integer to string" in problems[0]
    assert f"bump VERSION to {released_version + 1}" in problems[0]
    assert check_released(released, catalogue={"ShelterOpened": ShelterOpened}, upcasters={}) == []


class RenamedV2(Renamed):
    VERSION: ClassVar[int] = 2


def places_to_beds(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    data["beds"] = data.pop("places")
    return data


def released_v1_with_example() -> Snapshot:
    schema = dict(event_schema(Released))
    site = uuid.uuid4()
    schema["examples"] = [
        {
            "event_id": str(uuid.uuid4()),
            "type": "ShelterOpened",
            "schema_version": 1,
            "source": "housing",
            "subject": str(site),
            "occurred_at": "2016-03-01T08:00:00Z",
            "recorded_at": "2016-03-01T08:05:00Z",
            "correlation_id": str(uuid.uuid4()),
            "causation_id": None,
            "sequence": 1,
            "data": {"site_id": str(site), "places": 40, "kind": "a", "note": None},
        }
    ]
    return Snapshot("ShelterOpened", 1, schema)


def test_a_bumped_version_needs_an_upcaster() -> None:
    released = [released_v1_with_example(), snapshot_of(RenamedV2, 2)]

    problems = check_released(released, catalogue={"ShelterOpened": RenamedV2}, upcasters={})

    assert problems == [
        "ShelterOpened v1 was released and the model is now v2, but there is no upcaster from v1"
    ]


def test_a_bumped_version_with_a_working_upcaster_passes() -> None:
    released = [released_v1_with_example(), snapshot_of(RenamedV2, 2)]
    upcasters = {("ShelterOpened", 1): places_to_beds}

    assert (
        check_released(released, catalogue={"ShelterOpened": RenamedV2}, upcasters=upcasters) == []
    )


def test_an_upcaster_that_produces_invalid_data_fails() -> None:
    released = [released_v1_with_example(), snapshot_of(RenamedV2, 2)]
    upcasters = {("ShelterOpened", 1): lambda data: data}  # forgets the rename

    problems = check_released(released, catalogue={"ShelterOpened": RenamedV2}, upcasters=upcasters)

    assert len(problems) == 1
    assert "released example does not upcast to v2" in problems[0]
    assert "data.beds" in problems[0]


def test_removing_a_released_type_fails() -> None:
    problems = check_released([snapshot_of(ShelterOpened)], catalogue={}, upcasters={})
    assert problems == [
        f"ShelterOpened v{ShelterOpened.VERSION} was released but is no longer in the "
        "catalogue; events of it on the topics could not be read any more: keep the model"
    ]


def test_a_version_without_snapshot_is_reported() -> None:
    problems = check_released([], catalogue={"ShelterOpened": CATALOGUE["ShelterOpened"]})
    assert problems == [
        f"ShelterOpened v{ShelterOpened.VERSION} has no released snapshot: run "
        "`python -m ankommen_contracts.generate` and commit contracts/snapshots/"
    ]
