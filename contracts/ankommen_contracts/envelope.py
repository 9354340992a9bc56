"""The envelope every Ankommen event travels in.

Field names follow DESIGN.md; where CloudEvents 1.0 has the same idea under another name
(``id``, ``time``) the Kafka headers carry the CloudEvents name (binary content mode,
``ce_*`` headers), so a CloudEvents-aware system can route without parsing the body.

Two times (README, "Business time"): ``occurred_at`` is when the occurrence happened in
the world (CloudEvents ``time``; the Land's decision, the check-in, the site's opening;
rules and views use it), ``recorded_at`` when the publishing service recorded it (the
extension attribute ``recordedtime``; "what did we know on date X" uses it).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

SERVICES = ("allocation", "housing", "integration", "volunteers", "reporting")
# PostgreSQL's bigint: a larger sequence could not be stored by any consumer, so it makes
# the event invalid (one dead letter with the reason) instead of failing a whole batch.
MAX_SEQUENCE = 2**63 - 1
MAX_ACTOR = 255

WAVE_VERSION = 2
"""Version of every event type since the business-time reset (issue 13): the envelope
gained ``recorded_at`` and ``occurred_at`` became the business time. Local topics were
reset and v1 is not read any more (contracts/README.md, "Business time"); each service's
event base class sets it, and later changes bump a type from here as usual."""


class EventData(BaseModel):
    """Base of every event payload (the envelope's ``data``).

    Subclasses set ``TYPE``, ``VERSION`` and ``SOURCE`` and name the aggregate id field in
    ``SUBJECT_FIELD``; that id becomes the envelope's ``subject`` and the Kafka key.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = WAVE_VERSION  # this wave's coordinated reset: every type at 2
    SOURCE: ClassVar[str]
    SUBJECT_FIELD: ClassVar[str]

    def subject(self) -> str:
        return str(getattr(self, self.SUBJECT_FIELD))


DataT = TypeVar("DataT")


class Envelope(BaseModel, Generic[DataT]):
    """One event on the wire. ``Envelope[RefugeeAssigned]`` is the typed form."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    event_id: uuid.UUID = Field(description="Unique id of this event (CloudEvents `id`).")
    type: str = Field(min_length=1, description="Event type, e.g. `RefugeeAssigned`.")
    schema_version: int = Field(ge=1, description="Version of the `data` schema for `type`.")
    source: str = Field(description="Publishing service.")
    subject: str = Field(min_length=1, description="Aggregate id; also the Kafka message key.")
    occurred_at: AwareDatetime = Field(
        description="When the occurrence happened in the world (business time), UTC "
        "(CloudEvents `time`). Rules and views use it."
    )
    recorded_at: AwareDatetime = Field(
        description="When the publishing service recorded the event, UTC (CloudEvents "
        "extension `recordedtime`); never earlier than the occurrence was known."
    )
    correlation_id: uuid.UUID = Field(description="Id shared by everything one request caused.")
    causation_id: uuid.UUID | None = Field(
        default=None, description="`event_id` of the event that caused this one, if any."
    )
    sequence: int = Field(
        ge=1,
        description="Position of this event among its subject's events (a signed 64-bit "
        "number, as the consumers' databases store it).",
    )
    data: DataT
    # The acting staff member: a CloudEvents extension attribute, so it travels as the
    # ``ce_actor`` Kafka header (binary content mode), not in the JSON body, whose released
    # schemas forbid new fields (a consumer of an older contract would refuse the event).
    _actor: str | None = PrivateAttr(default=None)

    @property
    def actor(self) -> str | None:
        """Pseudonymous id (the OIDC ``sub``, never a name) of the staff member whose
        command raised this event; None for what the system did by itself (a reaction to
        another event, a sweep)."""
        return self._actor

    def with_actor(self, actor: str | None) -> Self:
        """This envelope, attributed to ``actor`` (as read back from ``ce_actor``)."""
        if actor is not None and not 0 < len(actor) <= MAX_ACTOR:
            raise ValueError(f"actor must be 1-{MAX_ACTOR} characters")
        self._actor = actor
        return self

    @field_validator("sequence")
    @classmethod
    def _fits_bigint(cls, value: int) -> int:
        # A validator, not a schema maximum: every producer draws sequences from a bigint
        # column, so no released event can exceed it and the published schemas stay as
        # released; what a foreign or broken producer sends above it is an invalid event.
        if value > MAX_SEQUENCE:
            raise ValueError(f"sequence {value} exceeds {MAX_SEQUENCE} (a signed 64-bit number)")
        return value

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        if value not in SERVICES:
            raise ValueError(f"unknown source service {value!r}; expected one of {SERVICES}")
        return value

    @field_validator("occurred_at", "recorded_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _matches_data(self) -> Self:
        """A typed envelope must agree with its payload: key, ordering and routing rely on it."""
        data = self.data
        if not isinstance(data, EventData):
            return self
        problems = [
            f"{name} {actual!r} does not match {expected_from} {expected!r}"
            for name, actual, expected, expected_from in (
                ("type", self.type, data.TYPE, "the payload's type"),
                ("schema_version", self.schema_version, data.VERSION, "the payload's version"),
                ("source", self.source, data.SOURCE, "the payload's source"),
                ("subject", self.subject, data.subject(), f"data.{data.SUBJECT_FIELD}"),
            )
            if actual != expected
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        """CloudEvents 1.0 binary-mode attributes as Kafka headers."""
        extensions = [("ce_actor", self._actor.encode())] if self._actor else []
        return [
            ("ce_specversion", b"1.0"),
            ("ce_id", str(self.event_id).encode()),
            ("ce_type", self.type.encode()),
            ("ce_source", f"/ankommen/{self.source}".encode()),
            ("ce_subject", self.subject.encode()),
            ("ce_time", self.occurred_at.isoformat().encode()),
            ("ce_recordedtime", self.recorded_at.isoformat().encode()),
            ("content-type", b"application/json"),
            ("schema_version", str(self.schema_version).encode()),
            *extensions,
        ]


RawEnvelope = Envelope[dict[str, Any]]


def new_envelope(
    data: EventData,
    *,
    sequence: int,
    correlation_id: uuid.UUID,
    causation_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
    recorded_at: datetime | None = None,
    event_id: uuid.UUID | None = None,
    actor: str | None = None,
) -> Envelope[Any]:
    """Wrap a payload; the owning service's unit of work supplies ``sequence`` and both
    times (``occurred_at`` defaults to ``recorded_at``, which defaults to now)."""
    recorded_at = recorded_at or datetime.now(UTC)
    envelope = Envelope[type(data)](  # type: ignore[misc]
        event_id=event_id or uuid.uuid4(),
        type=data.TYPE,
        schema_version=data.VERSION,
        source=data.SOURCE,
        subject=data.subject(),
        occurred_at=occurred_at or recorded_at,
        recorded_at=recorded_at,
        correlation_id=correlation_id,
        causation_id=causation_id,
        sequence=sequence,
        data=data,
    )
    return envelope.with_actor(actor)
