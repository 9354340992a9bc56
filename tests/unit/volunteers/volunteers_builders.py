"""Builders for the volunteers service's unit tests: a volunteer and a request that fit,
changed per test only where it matters."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from ankommen_contracts import Skill
from volunteers.districts import load
from volunteers.domain import (
    Contact,
    RequestSource,
    SupportRequest,
    Volunteer,
    Weekday,
)

TODAY = date(2016, 11, 15)
NEIGHBOURHOOD = load()


def volunteer(**changes: Any) -> Volunteer:
    fields: dict[str, Any] = {
        "volunteer_id": uuid.uuid4(),
        "contact": Contact("Erika Muster", "erika@example.org"),
        "skills": [Skill.ACCOMPANIMENT, Skill.HOMEWORK_HELP],
        "languages": ["de", "ar"],
        "districts": [10],
        "weekdays": [Weekday.MON, Weekday.WED],
        "hours_per_week": 4,
        "registered_on": date(2016, 5, 2),
    }
    certificate = changes.pop("certificate_valid_until", None)
    committed = changes.pop("committed_hours", 0)
    fields.update(changes)
    v = Volunteer.register(**fields)
    v.certificate_valid_until = certificate
    v.committed_hours = committed
    v.events.clear()
    return v


def request(**changes: Any) -> SupportRequest:
    fields: dict[str, Any] = {
        "request_id": uuid.uuid4(),
        "kind": Skill.ACCOMPANIMENT,
        "district": 10,
        "languages": ("ar", "de"),
        "hours_per_week": 2,
        "involves_children": False,
        "requested_on": date(2016, 11, 1),
        "source": RequestSource.COORDINATOR,
        "weekdays": frozenset(),
    }
    fields.update(changes)
    return SupportRequest(**fields)
