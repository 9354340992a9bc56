"""Personal data stays home: events carry pseudonymous ids and coarse attributes only."""

from __future__ import annotations

import uuid
from datetime import date
from typing import ClassVar, Optional

from ankommen_contracts import CATALOGUE, Envelope, EventData
from personal_data_scan import SUSPICIOUS, Finding, kinds, scan
from pydantic import Field


def test_every_field_of_every_event_is_on_the_allow_list() -> None:
    findings = scan([*CATALOGUE.values(), Envelope])
    assert findings == [], "\n".join(map(str, findings))


def test_no_date_field_of_a_person_could_be_a_birth_date() -> None:
    """Dates describe events (periods, vetting, milestones), never a person."""
    from ankommen_contracts.events.allocation import Member

    assert not {"date", "datetime"} & {
        kind for f in Member.model_fields.values() for kind in kinds(f.annotation, f.metadata)
    }


class _Leaky(EventData):
    TYPE: ClassVar[str] = "Leaky"
    SOURCE: ClassVar[str] = "allocation"
    SUBJECT_FIELD: ClassVar[str] = "household_id"

    household_id: uuid.UUID


def _problems(findings: list[Finding], field: str) -> list[str]:
    return [f.problem for f in findings if f.field == field]


def test_the_scan_catches_a_first_name_behind_optional() -> None:
    class Leaky(_Leaky):
        vorname: Optional[str] = None  # noqa: UP045  (the spelling the scan must see through)

    problems = _problems(scan([Leaky]), "vorname")
    assert "the name suggests personal data" in problems
    assert "not on the allow-list of reviewed field names" in problems


def test_the_scan_catches_a_map_of_free_text() -> None:
    class Leaky(_Leaky):
        reason: dict[str, str]  # an allowed name, but a map could carry anything

    problems = _problems(scan([Leaky]), "reason")
    assert "is a map: free keys and values could carry anything" in problems


def test_the_scan_catches_an_alias_named_name() -> None:
    class Leaky(_Leaky):
        label: str = Field(alias="name")

    assert "the name suggests personal data" in _problems(scan([Leaky]), "name")
    assert _problems(scan([Leaky]), "label"), "label is no reviewed field either"


def test_the_scan_sees_into_nested_models_in_containers() -> None:
    class Person(EventData):
        TYPE: ClassVar[str] = "Person"
        SOURCE: ClassVar[str] = "allocation"
        SUBJECT_FIELD: ClassVar[str] = "person_id"

        person_id: uuid.UUID
        birth_date: date

    class Leaky(_Leaky):
        members: list[Person] | None = None

    found = {(f.model, f.field) for f in scan([Leaky])}
    assert ("Person", "birth_date") in found


def test_the_scan_refuses_unreviewed_free_text_under_an_allowed_name() -> None:
    class Leaky(_Leaky):
        operator: str | None = None  # allowed only on ShelterPlanned and ShelterOpened

    assert "free text (a str without a pattern) that nobody reviewed" in _problems(
        scan([Leaky]), "operator"
    )


def test_the_name_check_knows_the_usual_suspects_in_english_and_german() -> None:
    for name in (
        "name",
        "first_name",
        "vorname",
        "nachname",
        "birth_date",
        "geburtsdatum",
        "address",
        "anschrift",
        "phone",
        "telefon",
        "email",
        "passport_no",
        "land_reference",
        "diagnosis",
        "special_needs",
        "medical_needs",
    ):
        assert SUSPICIOUS.search(name), name
    for name in ("site_id", "person_id", "age_band", "country_of_origin", "district"):
        assert not SUSPICIOUS.search(name), name


def test_the_scan_catches_a_special_needs_health_field_in_a_member() -> None:
    """RefugeeAssigned v2 carried ``members[].special_needs`` (``medical``: health data);
    the scan now fails on such a field, nested in a member, under its own name or any."""
    from ankommen_contracts import AgeBand, SpecialNeed

    class Person(EventData):
        TYPE: ClassVar[str] = "Person"
        SOURCE: ClassVar[str] = "allocation"
        SUBJECT_FIELD: ClassVar[str] = "person_id"

        person_id: uuid.UUID
        age_band: AgeBand
        special_needs: list[SpecialNeed]

    class Leaky(_Leaky):
        members: list[Person]

    problems = _problems(scan([Leaky]), "special_needs")
    assert "the name suggests personal data" in problems
    assert "not on the allow-list of reviewed field names" in problems
    assert "holds a health category ['SpecialNeed'] (Art. 9)" in problems


def test_the_scan_catches_a_health_category_under_an_allowed_name() -> None:
    from ankommen_contracts import SpecialNeed

    class Leaky(_Leaky):
        requirements: list[SpecialNeed] | None = None  # the name of site requirements

    assert "holds a health category ['SpecialNeed'] (Art. 9)" in _problems(
        scan([Leaky]), "requirements"
    )


def test_a_clean_model_passes() -> None:
    class Clean(_Leaky):
        persons: int

    assert scan([Clean]) == []
