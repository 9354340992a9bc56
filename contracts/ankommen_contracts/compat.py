"""Compatibility of event schemas: what a change would break, and for whom.

A released ``(type, version)`` is a promise to two kinds of readers:

- **replay**: the current model must still read every event already on the topic
  (a projection rebuilt from the beginning reads years-old events);
- **consumers**: a system still running the released model must read what the current
  model produces. Models forbid unknown fields and check enums strictly, so for them an
  added field or enum value is as fatal as a removed one.

``diff`` compares two generated event schemas (``schema.event_schema``) and returns
every change that breaks one of them; descriptions, titles and examples do not count.
``check_released`` applies the policy to the released snapshots: an unchanged version
must not break anything, and a bumped version needs an upcaster chain from every
released version that turns the released example into a valid current event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .envelope import EventData
from .registry import CATALOGUE, UPCASTERS, InvalidEvent, UnknownEventType, Upcaster, decode
from .schema import event_schema

_ANNOTATIONS = frozenset(
    {"title", "description", "examples", "default", "$comment", "deprecated", "$schema", "$id"}
)
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_HANDLED = frozenset(
    {
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "anyOf",
        "oneOf",
        "uniqueItems",
        *_LOWER_BOUNDS,
        *_UPPER_BOUNDS,
    }
)


@dataclass(frozen=True)
class Change:
    """One difference between a released and a current schema."""

    path: str
    message: str
    breaks_replay: bool
    breaks_consumers: bool

    def __str__(self) -> str:
        who = [
            *(["current model cannot read old events"] if self.breaks_replay else []),
            *(["released consumers reject new events"] if self.breaks_consumers else []),
        ]
        return f"{self.path}: {self.message} ({'; '.join(who)})"


_SUBSCHEMA = frozenset({"items", "additionalProperties", "not", "contains", "propertyNames"})
_SUBSCHEMA_LISTS = frozenset({"anyOf", "oneOf", "prefixItems"})


def _resolve(schema: Any, root: Mapping[str, Any], depth: int = 0) -> Any:
    """Inline local ``$ref``s and single ``allOf`` wrappers; drop annotations."""
    if depth > 50:
        raise ValueError("schema nests too deep (recursive $ref?)")
    if not isinstance(schema, Mapping):
        return schema  # e.g. additionalProperties: false
    node = {k: v for k, v in schema.items() if k not in _ANNOTATIONS and k != "$defs"}
    ref = node.pop("$ref", None)
    if ref is not None:
        if not ref.startswith("#/"):
            raise ValueError(f"only local $refs are supported, not {ref!r}")
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        node = {**_resolve(target, root, depth + 1), **node}
    all_of = node.pop("allOf", None)
    if all_of is not None:
        if len(all_of) != 1:
            raise ValueError("allOf with several schemas is not supported")
        node = {**_resolve(all_of[0], root, depth + 1), **node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _resolve(sub, root, depth + 1) for name, sub in value.items()}
        elif key in _SUBSCHEMA:
            out[key] = _resolve(value, root, depth + 1)
        elif key in _SUBSCHEMA_LISTS:
            out[key] = [_resolve(sub, root, depth + 1) for sub in value]
        else:
            out[key] = value
    return out


def _variants(schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(schema.get("anyOf") or schema.get("oneOf") or [schema])


def _variant_key(schema: Mapping[str, Any]) -> str:
    if "type" in schema:
        return str(schema["type"])
    if "enum" in schema or "const" in schema:
        return "enum"
    return json.dumps(schema, sort_keys=True)


def _bound_change(key: str, old: Any, new: Any) -> tuple[str, bool, bool] | None:
    """(message, breaks_replay, breaks_consumers) for a changed bound, if it changed."""
    if old == new:
        return None
    lower = key in _LOWER_BOUNDS
    if old is None:
        return f"{key} {new} added (narrower)", True, False
    if new is None:
        return f"{key} {old} removed (wider)", False, True
    narrower = new > old if lower else new < old
    message = f"{key} {old} -> {new} ({'narrower' if narrower else 'wider'})"
    return message, narrower, not narrower


def _diff(old: Mapping[str, Any], new: Mapping[str, Any], path: str, out: list[Change]) -> None:
    def add(message: str, replay: bool, consumers: bool) -> None:
        out.append(Change(path or "<root>", message, replay, consumers))

    old_variants, new_variants = _variants(old), _variants(new)
    if len(old_variants) > 1 or len(new_variants) > 1:
        old_keys = {_variant_key(v): v for v in old_variants}
        new_keys = {_variant_key(v): v for v in new_variants}
        for key in old_keys.keys() - new_keys.keys():
            add(f"no longer accepts {key}", True, False)
        for key in new_keys.keys() - old_keys.keys():
            add(f"now also accepts {key}", False, True)
        for key in old_keys.keys() & new_keys.keys():
            _diff(old_keys[key], new_keys[key], path, out)
        return

    if old.get("type") != new.get("type"):
        add(f"type changed from {old.get('type')} to {new.get('type')}", True, True)
        return

    for key in ("enum", "const"):
        if key in old or key in new:
            before = set(old["enum"]) if "enum" in old else {old.get("const")}
            after = set(new["enum"]) if "enum" in new else {new.get("const")}
            if before - after:
                add(f"values removed: {sorted(map(str, before - after))}", True, False)
            if after - before:
                add(f"values added: {sorted(map(str, after - before))}", False, True)
            break

    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_req, new_req = set(old.get("required", ())), set(new.get("required", ()))
    for name in old_props.keys() - new_props.keys():
        add(f"field {name!r} removed (or renamed)", True, name in old_req)
    for name in new_props.keys() - old_props.keys():
        required = name in new_req
        kind = "required" if required else "optional"
        add(f"{kind} field {name!r} added", required, True)
    for name in sorted(old_props.keys() & new_props.keys()):
        if name in new_req and name not in old_req:
            add(f"field {name!r} became required", True, False)
        if name in old_req and name not in new_req:
            add(f"field {name!r} became optional", False, True)
        _diff(old_props[name], new_props[name], f"{path}.{name}" if path else name, out)

    if old.get("additionalProperties") != new.get("additionalProperties"):
        add("additionalProperties changed", True, True)

    if "items" in old or "items" in new:
        _diff(old.get("items", {}), new.get("items", {}), f"{path}[]", out)

    if old.get("uniqueItems", False) != new.get("uniqueItems", False):
        narrower = bool(new.get("uniqueItems"))
        add(f"uniqueItems {'added' if narrower else 'removed'}", narrower, not narrower)

    for key in (*_LOWER_BOUNDS, *_UPPER_BOUNDS):
        change = _bound_change(key, old.get(key), new.get(key))
        if change is not None:
            add(*change)

    for key in sorted((old.keys() | new.keys()) - _HANDLED):
        if old.get(key) != new.get(key):
            add(f"{key} changed from {old.get(key)!r} to {new.get(key)!r}", True, True)


def diff(released: Mapping[str, Any], current: Mapping[str, Any]) -> list[Change]:
    """Every change from ``released`` to ``current`` that breaks replay or consumers."""
    out: list[Change] = []
    _diff(_resolve(released, released), _resolve(current, current), "", out)
    return out


@dataclass(frozen=True)
class Snapshot:
    """A released ``(type, version)``: its schema as generated at release."""

    event_type: str
    version: int
    schema: Mapping[str, Any]

    @property
    def example(self) -> Mapping[str, Any] | None:
        examples = self.schema.get("examples") or [None]
        return examples[0]


def check_released(
    snapshots: list[Snapshot],
    *,
    catalogue: Mapping[str, type[EventData]] | None = None,
    upcasters: Mapping[tuple[str, int], Upcaster] | None = None,
    schema_of: Callable[[type[EventData]], Mapping[str, Any]] | None = None,
) -> list[str]:
    """Problems that would break an existing consumer; empty when the catalogue is compatible.

    Defaults to the real ``CATALOGUE`` and ``UPCASTERS``; tests pass their own.
    """
    catalogue = CATALOGUE if catalogue is None else catalogue
    upcasters = UPCASTERS if upcasters is None else upcasters
    schema_of = schema_of or event_schema
    problems: list[str] = []
    released = {(s.event_type, s.version) for s in snapshots}

    for snap in sorted(snapshots, key=lambda s: (s.event_type, s.version)):
        label = f"{snap.event_type} v{snap.version}"
        model = catalogue.get(snap.event_type)
        if model is None:
            problems.append(
                f"{label} was released but is no longer in the catalogue; events of it on "
                "the topics could not be read any more: keep the model"
            )
        elif snap.version > model.VERSION:
            problems.append(f"{label} was released but the model is only v{model.VERSION}")
        elif snap.version == model.VERSION:
            changes = diff(snap.schema, schema_of(model))
            if changes:
                problems.append(
                    f"{label} changed incompatibly; keep it, or bump VERSION to "
                    f"{snap.version + 1} and register an upcaster "
                    f"({snap.event_type!r}, {snap.version}):\n"
                    + "\n".join(f"  - {c}" for c in changes)
                )
        else:
            missing = [
                v
                for v in range(snap.version, model.VERSION)
                if (snap.event_type, v) not in upcasters
            ]
            if missing:
                problems.append(
                    f"{label} was released and the model is now v{model.VERSION}, but there "
                    f"is no upcaster from v{', v'.join(map(str, missing))}"
                )
            elif snap.example is not None:
                problems.extend(
                    _upcast_example(snap, model, catalogue=catalogue, upcasters=upcasters)
                )

    for event_type, model in sorted(catalogue.items()):
        if (event_type, model.VERSION) not in released:
            problems.append(
                f"{event_type} v{model.VERSION} has no released snapshot: run "
                "`python -m ankommen_contracts.generate` and commit contracts/snapshots/"
            )
    return problems


def _upcast_example(
    snap: Snapshot,
    model: type[EventData],
    *,
    catalogue: Mapping[str, type[EventData]],
    upcasters: Mapping[tuple[str, int], Upcaster],
) -> list[str]:
    """Decode the released example through the upcaster chain into the current model."""
    label = f"{snap.event_type} v{snap.version}"
    try:
        decoded = decode(json.dumps(snap.example), catalogue=catalogue, upcasters=upcasters)
    except (InvalidEvent, UnknownEventType) as exc:
        return [f"{label}: its released example does not upcast to v{model.VERSION}: {exc}"]
    if decoded.schema_version != model.VERSION:
        return [f"{label}: upcasting ended at v{decoded.schema_version}, not v{model.VERSION}"]
    return []
