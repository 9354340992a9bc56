"""Catalogue of event types, decoding with validation, and upcasters for old versions."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from .envelope import SERVICES, Envelope, EventData, RawEnvelope

CATALOGUE: dict[str, type[EventData]] = {}
"""Current model for each event type, by ``TYPE``."""

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}
"""``(type, version) -> f(data) -> data of version + 1``; chained until current."""

E = TypeVar("E", bound=type[EventData])


class InvalidEvent(ValueError):
    """The bytes are not a valid event: the reason says which field and why."""


class UnknownEventType(LookupError):
    """A well-formed envelope of a type this consumer does not know (ignore and count it)."""

    def __init__(self, envelope: RawEnvelope) -> None:
        super().__init__(f"unknown event type {envelope.type!r} v{envelope.schema_version}")
        self.envelope = envelope


def event(cls: E) -> E:
    """Class decorator: add a payload model to the catalogue."""
    for attr in ("TYPE", "SOURCE", "SUBJECT_FIELD"):
        if not isinstance(getattr(cls, attr, None), str):
            raise TypeError(f"{cls.__name__} must set the class variable {attr}")
    if cls.TYPE in CATALOGUE:
        raise ValueError(f"event type {cls.TYPE} registered twice")
    if cls.SOURCE not in SERVICES:
        raise ValueError(f"{cls.TYPE}: unknown source {cls.SOURCE!r}")
    if cls.SUBJECT_FIELD not in cls.model_fields:
        raise ValueError(f"{cls.TYPE}: subject field {cls.SUBJECT_FIELD!r} is not a field")
    if cls.VERSION < 1:
        raise ValueError(f"{cls.TYPE}: VERSION must be 1 or more")
    CATALOGUE[cls.TYPE] = cls
    return cls


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register ``f(data of from_version) -> data of from_version + 1`` for a type."""

    def register(fn: Upcaster) -> Upcaster:
        if (event_type, from_version) in UPCASTERS:
            raise ValueError(f"upcaster for {event_type} v{from_version} registered twice")
        UPCASTERS[(event_type, from_version)] = fn
        return fn

    return register


def _reason(error: ValidationError) -> str:
    parts = []
    for err in error.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def decode(
    raw: bytes | str,
    *,
    catalogue: Mapping[str, type[EventData]] | None = None,
    upcasters: Mapping[tuple[str, int], Upcaster] | None = None,
) -> Envelope[Any]:
    """Validate an event from its JSON bytes, upcasting old schema versions.

    Raises ``InvalidEvent`` (with the failing fields) or ``UnknownEventType``. The
    registered ``CATALOGUE`` and ``UPCASTERS`` are used unless others are given.
    """
    catalogue = CATALOGUE if catalogue is None else catalogue
    upcasters = UPCASTERS if upcasters is None else upcasters
    try:
        envelope = RawEnvelope.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidEvent(f"invalid envelope: {_reason(exc)}") from exc
    model = catalogue.get(envelope.type)
    if model is None:
        raise UnknownEventType(envelope)
    if envelope.schema_version > model.VERSION:
        raise UnknownEventType(envelope)  # a newer producer: this consumer cannot read it yet
    if envelope.schema_version < model.VERSION:
        data, version = dict(envelope.data), envelope.schema_version
        while version < model.VERSION:
            step = upcasters.get((envelope.type, version))
            if step is None:
                raise InvalidEvent(f"{envelope.type} v{version} has no upcaster")
            try:
                data = step(data)
            except Exception as exc:
                raise InvalidEvent(
                    f"{envelope.type} v{version} upcaster failed: {type(exc).__name__}: {exc}"
                ) from exc
            version += 1
        body = envelope.model_dump(mode="json")
        body.update(data=data, schema_version=version)
        raw = json.dumps(body)
    try:
        return Envelope[model].model_validate_json(raw)  # type: ignore[valid-type]
    except ValidationError as exc:
        raise InvalidEvent(f"invalid {envelope.type}: {_reason(exc)}") from exc


def encode(envelope: Envelope[Any]) -> bytes:
    return envelope.model_dump_json().encode()
