"""The base of every command (request body): JSON types are taken at their word.

Pydantic's lax mode turns ``true`` into ``1``, ``"5"`` into ``5`` and ``0.0`` into the date
1970-01-01: a client that sent the wrong type gets a 2xx and a value it never meant.
Strict mode would refuse those, but FastAPI validates the decoded JSON in Python mode,
where strict also refuses the strings a UUID, a date or an enum arrive as. So this base
checks the JSON type of every scalar field, and of every item of a list of scalars, before
pydantic converts it: a number field takes a JSON number, a flag takes a boolean, a text,
id, date or enum field takes a string (``[true]`` is not a list of Stadtbezirke). A wrong
type is a 422 naming the field, like any other bad input.
"""

from __future__ import annotations

import enum
import types
import typing
import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

_JSON_NUMBER = (int, float)


def _json_types(annotation: object) -> tuple[type, ...] | None:
    """The Python types of the JSON values a scalar field takes; None if not a scalar."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _json_types(typing.get_args(annotation)[0])
    if origin is typing.Union or isinstance(annotation, types.UnionType):
        accepted: list[type] = []
        for arg in typing.get_args(annotation):
            if arg is type(None):
                accepted.append(type(None))
                continue
            inner = _json_types(arg)
            if inner is None:
                return None
            accepted.extend(inner)
        return tuple(accepted)
    if annotation is bool:
        return (bool,)
    if annotation is int:
        return (int,)
    if annotation is float:
        return _JSON_NUMBER
    if annotation in (str, uuid.UUID) or (
        isinstance(annotation, type) and issubclass(annotation, (date, datetime, enum.Enum))
    ):
        return (str,)
    return None  # nested models, literals: they check themselves


_SEQUENCES = (list, set, frozenset, tuple)


def _item_types(annotation: object) -> tuple[type, ...] | None:
    """For a list (or set, tuple) of scalars: the JSON types of its items; else None."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _item_types(typing.get_args(annotation)[0])
    if origin is typing.Union or isinstance(annotation, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None) and (inner := _item_types(arg)) is not None:
                return inner
        return None
    if origin in _SEQUENCES:
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        if len(args) == 1:
            return _json_types(args[0])
    return None


def _wrong_type(value: object, accepted: tuple[type, ...]) -> bool:
    if isinstance(value, (uuid.UUID, date, enum.Enum)):  # built in Python, not JSON
        return False
    # bool is an int in Python, never in JSON
    return (isinstance(value, bool) and bool not in accepted) or not isinstance(value, accepted)


def _expected(accepted: tuple[type, ...]) -> str:
    return " or ".join(
        sorted({_describe(t()) if t is not type(None) else "null" for t in accepted})
    )


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, _JSON_NUMBER):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return f"a JSON {type(value).__name__}"


class Command(BaseModel):
    """A request body: unknown fields refused, JSON types checked before conversion."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _json_type_matches(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name is None:
            return value
        annotation = cls.model_fields[info.field_name].annotation
        accepted = _json_types(annotation)
        if accepted is not None:
            if _wrong_type(value, accepted):
                raise ValueError(f"{_describe(value)} where {_expected(accepted)} is expected")
            return value
        items = _item_types(annotation)
        if items is not None and isinstance(value, list):
            for n, item in enumerate(value):
                if _wrong_type(item, items):
                    raise ValueError(
                        f"item {n}: {_describe(item)} where {_expected(items)} is expected"
                    )
        return value
