"""RefugeeAssigned v3 (issue 15): no member's special needs, the household's site
requirements instead; v2 events (on topics, in reporting's facts) upcast by the same rule."""

from __future__ import annotations

import json
import uuid
from typing import Any

from ankommen_contracts import (
    AgeBand,
    Gender,
    SiteRequirement,
    SpecialNeed,
    decode,
    site_requirements,
)
from ankommen_contracts.events.allocation import RefugeeAssigned
from ankommen_contracts.generate import default_root, load_snapshots


def released_v2() -> dict[str, Any]:
    [snapshot] = [
        s
        for s in load_snapshots(default_root())
        if (s.event_type, s.version)
        == (
            "RefugeeAssigned",
            2,
        )
    ]
    assert snapshot.example is not None
    return json.loads(json.dumps(snapshot.example))


def member(age: str, gender: str, *needs: str, minor_alone: bool = False) -> dict[str, Any]:
    return {
        "person_id": str(uuid.uuid4()),
        "age_band": age,
        "gender": gender,
        "country_of_origin": "SYR",
        "unaccompanied_minor": minor_alone,
        "special_needs": list(needs),
    }


def test_a_v2_assignment_with_a_medical_need_reads_as_v3_with_its_site_requirement_only() -> None:
    v2 = released_v2()
    v2["data"]["members"] = [
        member("27-49", "female", "medical", "wheelchair"),
        member("6-17", "male"),
        member("6-17", "female", "women_only", minor_alone=True),  # referred: not placed
    ]
    v2["data"]["household_size"] = 3
    event = decode(json.dumps(v2))
    assert event.schema_version == RefugeeAssigned.VERSION == 3
    data = event.data
    assert isinstance(data, RefugeeAssigned)
    assert data.requirements == [
        SiteRequirement.ACCESSIBLE,
        SiteRequirement.NOT_MASS_SHELTER,
        SiteRequirement.NOT_SINGLE_ADULTS,
    ], "the referred minor's need is youth welfare's, not the placed household's"
    dumped = data.model_dump_json()
    for need in ("special_needs", "medical", "wheelchair"):
        assert need not in dumped


def test_the_released_v2_example_upcasts_to_the_requirements_allocation_would_publish() -> None:
    data = decode(json.dumps(released_v2())).data
    people = [(m.age_band, m.gender) for m in data.members if not m.unaccompanied_minor]
    assert data.requirements == site_requirements([SpecialNeed.FAMILY], people)
    assert data.requirements == [SiteRequirement.NOT_SINGLE_ADULTS, SiteRequirement.NOT_WOMEN_ONLY]


def test_the_one_rule_turns_needs_and_who_lives_together_into_requirements() -> None:
    woman, man, child = (
        (AgeBand.AGE_27_49, Gender.FEMALE),
        (AgeBand.AGE_27_49, Gender.MALE),
        (AgeBand.UNDER_6, Gender.MALE),
    )
    assert site_requirements([], [woman]) == []
    assert site_requirements([SpecialNeed.FAMILY], [woman, child]) == [
        SiteRequirement.NOT_SINGLE_ADULTS
    ]
    assert site_requirements([SpecialNeed.REDUCED_MOBILITY], [man]) == [
        SiteRequirement.ACCESSIBLE,
        SiteRequirement.NOT_WOMEN_ONLY,
    ]
    assert site_requirements([SpecialNeed.WOMEN_ONLY, SpecialNeed.MEDICAL], [woman]) == [
        SiteRequirement.NOT_MASS_SHELTER,
        SiteRequirement.WOMEN_ONLY,
    ]
    unknown_adult = (AgeBand.AGE_65_PLUS, Gender.UNKNOWN)
    assert site_requirements([], [unknown_adult]) == [SiteRequirement.NOT_WOMEN_ONLY]
