"""Facts: what reporting keeps of each event it reports on, and how it reads them back.

Reporting's projection is a set of facts, one per event (``event_id`` is the key): the
envelope's identity and both times, and the payload as the contract model dumps it.
Everything the views show is folded from these facts in memory (``ledger``), so:

- a redelivered event is the same fact again (nothing changes),
- events of different topics arriving in any interleaving make the same set, and the
  fold orders them by business time, not by arrival: the same views,
- the live consumer and the rebuild write facts with this one function (``fact_row``),
  after the one decode (``ankommen_runtime.consumer.decode_record``): they cannot drift.

A new field in an event is in the fact at once (the payload is kept whole); the fold
reads it where a view needs it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ankommen_contracts import CATALOGUE, EventData
from ankommen_contracts.registry import UPCASTERS

REPORTED: Mapping[str, tuple[str, ...]] = {
    "allocation": (
        "QuotaPeriodAnnounced",
        "RefugeeAssigned",
        "PlacementFailed",
        "RefugeeRelocated",
        "RefugeeDeparted",
    ),
    "housing": (
        "ShelterPlanned",
        "ShelterOpened",
        "ShelterRateChanged",
        "ShelterCapacityChanged",
        "ShelterClosing",
        "ShelterClosingDateSet",
        "ShelterClosed",
        "BedReserved",
        "ReservationReleased",
        "OccupantCheckedIn",
        "OccupantCheckedOut",
    ),
    "integration": (
        "CaseOpened",
        "MilestoneReached",
        "MoveOutPlanned",
        "MoveOutCompleted",
        "CaseHandedOver",
        "CaseClosed",
        "SupportRequested",
    ),
    "volunteers": (
        "VolunteerRegistered",
        "VolunteerVetted",
        "VolunteerMatched",
        "MatchEnded",
        "VolunteerHoursLogged",
    ),
}
"""Per publishing service, the event types the interim review is folded from."""

FACT_COLUMNS = (
    "event_id",
    "source",
    "type",
    "schema_version",
    "subject",
    "sequence",
    "occurred_at",
    "recorded_at",
    "data",
)
FACT_TYPES = ("uuid", "text", "text", "int", "text", "bigint", "timestamptz", "timestamptz", "text")


@dataclass(frozen=True, slots=True)
class Fact:
    """One reported event: envelope identity, business and record time, typed payload."""

    event_id: uuid.UUID
    source: str
    type: str
    subject: str
    sequence: int
    occurred_at: datetime
    recorded_at: datetime
    data: Any  # the contract model of ``type`` (an EventData)


FactRow = tuple[uuid.UUID, str, str, int, str, int, datetime, datetime, str]


def fact_row(envelope: Any) -> FactRow:
    """The row kept for an envelope (live and rebuild alike, in ``FACT_COLUMNS`` order)."""
    return (
        envelope.event_id,
        envelope.source,
        envelope.type,
        envelope.schema_version,
        envelope.subject,
        envelope.sequence,
        envelope.occurred_at,
        envelope.recorded_at,
        envelope.data.model_dump_json(),
    )


def payload(event_type: str, version: int, data: str) -> EventData:
    """A stored payload as today's contract model (upcast if it was kept at an older version)."""
    model = CATALOGUE[event_type]
    if version < model.VERSION:
        import json

        raw = json.loads(data)
        while version < model.VERSION:
            raw = UPCASTERS[(event_type, version)](raw)
            version += 1
        data = json.dumps(raw)
    return model.model_validate_json(data)


def fact_from_row(row: Mapping[str, Any] | tuple[Any, ...]) -> Fact:
    """A stored row (mapping or ``FACT_COLUMNS``-ordered tuple) back as a ``Fact``."""
    values = tuple(row[c] for c in FACT_COLUMNS) if isinstance(row, Mapping) else tuple(row)
    event_id, source, kind, version, subject, sequence, occurred, recorded, data = values
    return Fact(
        event_id, source, kind, subject, sequence, occurred, recorded, payload(kind, version, data)
    )


def fact_of(envelope: Any) -> Fact:
    """The fact of a decoded envelope, without the round trip through a row (unit tests)."""
    return Fact(
        envelope.event_id,
        envelope.source,
        envelope.type,
        envelope.subject,
        envelope.sequence,
        envelope.occurred_at,
        envelope.recorded_at,
        envelope.data,
    )
