"""JSON Schema and AsyncAPI documents generated from the event models.

``event_schema`` describes one complete message on the wire: the envelope with one
type's ``data``, self-contained (its own ``$defs``), with an example. ``asyncapi_document``
describes every topic, its key and headers, every message and the dead-letter topics.
Both are pure functions of the models; ``generate`` writes them to disk.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from pydantic.json_schema import models_json_schema

from .envelope import EventData, RawEnvelope
from .examples import EXAMPLES, example_envelope

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
DLQ_SUFFIX = ".dlq"

KAFKA_HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0 attributes in binary content mode (Kafka protocol binding), "
    "plus the schema version. A consumer can route on them without parsing the body.",
    "properties": {
        "ce_specversion": {"const": "1.0", "description": "CloudEvents spec version"},
        "ce_id": {"type": "string", "format": "uuid", "description": "= envelope `event_id`"},
        "ce_type": {"type": "string", "description": "= envelope `type`"},
        "ce_source": {
            "type": "string",
            "pattern": "^/ankommen/[a-z]+$",
            "description": "`/ankommen/<source service>`",
        },
        "ce_subject": {"type": "string", "description": "= envelope `subject` (the key)"},
        "ce_time": {
            "type": "string",
            "format": "date-time",
            "description": "= envelope `occurred_at`: when the occurrence happened (business time)",
        },
        "ce_recordedtime": {
            "type": "string",
            "format": "date-time",
            "description": "= envelope `recorded_at`: when the publishing service recorded it",
        },
        "content-type": {"const": "application/json", "description": "CloudEvents datacontenttype"},
        "schema_version": {
            "type": "string",
            "pattern": "^[1-9][0-9]*$",
            "description": "= envelope `schema_version`, as decimal text",
        },
        "ce_actor": {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "description": "CloudEvents extension `actor`: the pseudonymous id (OIDC `sub`) of "
            "the staff member whose command raised the event; absent when the system acted "
            "by itself",
        },
    },
    "required": [
        "ce_specversion",
        "ce_id",
        "ce_type",
        "ce_source",
        "ce_subject",
        "ce_time",
        "ce_recordedtime",
        "content-type",
        "schema_version",
    ],
}

DLQ_HEADERS: dict[str, str] = {
    "dlq_error": "Why the event failed: exception type and message (at most 4000 characters)",
    "dlq_original_topic": "Topic the event was read from",
    "dlq_original_partition": "Partition it was read from (decimal text)",
    "dlq_original_offset": "Offset it had there (decimal text)",
    "dlq_consumer_group": "Consumer group that gave up on it",
    "dlq_attempts": "How many times it was tried (decimal text)",
    "dlq_failed_at": "When it was dead-lettered, ISO 8601 UTC",
}
"""Headers a consumer adds when it dead-letters an event (the original headers are kept)."""

_SIMPLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


def topic_of(model: type[EventData]) -> str:
    return f"{model.SOURCE}.events"


def schema_id(event_type: str, version: int) -> str:
    """The ``$id`` of a generated event schema (a URN: it names, it does not locate)."""
    return f"urn:ankommen:event:{event_type}:v{version}"


def schema_filename(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}.json"


def _example_json(event_type: str) -> dict[str, Any]:
    if event_type not in EXAMPLES:
        raise LookupError(f"{event_type} has no example: add one to ankommen_contracts/examples.py")
    return json.loads(example_envelope(event_type).model_dump_json())


def _description(model: type[EventData]) -> str:
    return str(model.model_json_schema().get("description", model.TYPE))


def _envelope_schema(model: type[EventData], data_ref: str) -> dict[str, Any]:
    """The envelope fields, pinned to one type and version, with ``data`` referenced."""
    base = RawEnvelope.model_json_schema()
    properties = copy.deepcopy(base["properties"])
    properties["type"] = {"const": model.TYPE, "type": "string", "description": "Event type"}
    properties["schema_version"] = {
        "const": model.VERSION,
        "type": "integer",
        "description": "Version of the `data` schema",
    }
    properties["source"] = {
        "const": model.SOURCE,
        "type": "string",
        "description": "Publishing service",
    }
    properties["subject"]["description"] = (
        f"Aggregate id: `data.{model.SUBJECT_FIELD}`. Also the Kafka message key, so one "
        "aggregate's events stay in order."
    )
    properties["data"] = {"$ref": data_ref}
    return {
        "title": f"{model.TYPE} v{model.VERSION}",
        "description": _description(model),
        "type": "object",
        "properties": properties,
        "required": list(base["required"]),
        "additionalProperties": False,
        "x-topic": topic_of(model),
        "x-subject-field": model.SUBJECT_FIELD,
    }


def event_schema(model: type[EventData]) -> dict[str, Any]:
    """Self-contained JSON Schema (2020-12) of one event type and version, envelope included."""
    data = model.model_json_schema(ref_template="#/$defs/{model}")
    defs = data.pop("$defs", {})
    if model.TYPE in defs:
        raise ValueError(f"{model.TYPE}: a nested model has the event's own name")
    defs[model.TYPE] = data
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": schema_id(model.TYPE, model.VERSION),
        **_envelope_schema(model, f"#/$defs/{model.TYPE}"),
        "$defs": dict(sorted(defs.items())),
        "examples": [_example_json(model.TYPE)],
    }


def _component_schemas(models: Iterable[type[EventData]]) -> dict[str, Any]:
    models = list(models)
    _, top = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
    )
    defs: dict[str, Any] = top.get("$defs", {})
    clashes = [name for name in defs if not _SIMPLE_NAME.match(name)]
    if clashes:  # pydantic qualifies a name used by two different classes
        raise ValueError(f"two payload classes share a name: {clashes}; rename one")
    for model in models:
        key = f"{model.TYPE}Envelope"
        if key in defs:
            raise ValueError(f"schema name {key} is taken")
        defs[key] = _envelope_schema(model, f"#/components/schemas/{model.__name__}")
    defs["CloudEventsHeaders"] = KAFKA_HEADERS_SCHEMA
    return dict(sorted(defs.items()))


def _channel_id(topic: str) -> str:
    head, *rest = re.split(r"[._]", topic)
    return head + "".join(part.capitalize() for part in rest)


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": "DeadLetter",
        "title": "Dead letter",
        "summary": "An event a consumer could not process, unchanged, with the reason.",
        "description": (
            "A consumer retries a failing event with bounded exponential backoff, then "
            "publishes the original record here (same key, same value bytes, original "
            "headers kept) and moves on; undecodable or invalid bytes come here at once. "
            "The value may not be a valid event at all. Dead letters can be listed and "
            "re-driven to the original topic."
        ),
        "contentType": "application/octet-stream",
        "headers": {
            "type": "object",
            "properties": {
                name: {"type": "string", "description": text} for name, text in DLQ_HEADERS.items()
            },
            "required": list(DLQ_HEADERS),
            "additionalProperties": {"type": "string"},
        },
        "payload": {"description": "The original record value, byte for byte"},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The original record key (subject)"},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _message(model: type[EventData]) -> dict[str, Any]:
    description = _description(model)
    example = _example_json(model.TYPE)
    headers = dict(example_envelope(model.TYPE).kafka_headers())
    return {
        "name": model.TYPE,
        "title": f"{model.TYPE} v{model.VERSION}",
        "summary": description.splitlines()[0],
        "description": description,
        "contentType": "application/json",
        "tags": [{"name": model.SOURCE}],
        "headers": {"$ref": "#/components/schemas/CloudEventsHeaders"},
        "payload": {"$ref": f"#/components/schemas/{model.TYPE}Envelope"},
        "correlationId": {"location": "$message.payload#/correlation_id"},
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "format": "uuid",
                    "description": f"subject = data.{model.SUBJECT_FIELD}",
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
        "examples": [
            {
                "name": f"{model.TYPE}-example",
                "headers": {k: v.decode() for k, v in headers.items()},
                "payload": example,
            }
        ],
    }


def _version() -> str:
    try:
        return package_version("ankommen-contracts")
    except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
        return "0.0.0"


def asyncapi_document(catalogue: Mapping[str, type[EventData]]) -> dict[str, Any]:
    """AsyncAPI 3.0 document: one channel per topic keyed by subject, plus its ``.dlq``."""
    models = [catalogue[name] for name in sorted(catalogue)]
    by_topic: dict[str, list[type[EventData]]] = {}
    for model in models:
        by_topic.setdefault(topic_of(model), []).append(model)

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in sorted(by_topic):
        source = topic.split(".")[0]
        channel_id, dlq_id = _channel_id(topic), _channel_id(topic + DLQ_SUFFIX)
        channels[channel_id] = {
            "address": topic,
            "title": topic,
            "description": (
                f"Events published by the {source} service. Key = subject (the aggregate id), "
                "so one aggregate's events keep their order; value = JSON envelope; "
                "headers = CloudEvents attributes."
            ),
            "messages": {
                m.TYPE: {"$ref": f"#/components/messages/{m.TYPE}"} for m in by_topic[topic]
            },
            "bindings": {"kafka": {"topic": topic, "bindingVersion": KAFKA_BINDING_VERSION}},
        }
        channels[dlq_id] = {
            "address": topic + DLQ_SUFFIX,
            "title": topic + DLQ_SUFFIX,
            "description": f"Dead letters of consumers of `{topic}`.",
            "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
            "bindings": {
                "kafka": {"topic": topic + DLQ_SUFFIX, "bindingVersion": KAFKA_BINDING_VERSION}
            },
        }
        operations[f"publish{channel_id[0].upper()}{channel_id[1:]}"] = {
            "action": "send",
            "title": f"{source} publishes",
            "summary": f"The {source} service publishes its events (transactional outbox).",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [
                {"$ref": f"#/channels/{channel_id}/messages/{m.TYPE}"} for m in by_topic[topic]
            ],
        }
        operations[f"deadLetter{channel_id[0].upper()}{channel_id[1:]}"] = {
            "action": "send",
            "title": f"consumers of {topic} dead-letter",
            "summary": "A consumer sends an event it cannot process here and moves on.",
            "channel": {"$ref": f"#/channels/{dlq_id}"},
            "messages": [{"$ref": f"#/channels/{dlq_id}/messages/DeadLetter"}],
        }

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:ankommen:events",
        "info": {
            "title": "Ankommen events",
            "version": _version(),
            "description": (
                "Public event contract of Ankommen, a platform for a city's refugee reception "
                "and integration work. Each publishing service owns one topic "
                "`<service>.events`, keyed by the envelope's `subject`. Every value is a JSON "
                "envelope (`event_id`, `type`, `schema_version`, `source`, `subject`, "
                "`occurred_at`, `recorded_at`, `correlation_id`, `causation_id`, `sequence`, "
                "`data`); "
                "`sequence` counts 1, 2, 3, … per subject, so a consumer can tell a "
                "redelivery, a gap or a stale event. Delivery is at least once: deduplicate "
                "by `event_id`. Ignore (and count) types you do not know, and versions newer "
                "than yours. Events carry pseudonymous ids and coarse attributes only."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": _component_schemas(models),
            "messages": {
                **{m.TYPE: _message(m) for m in models},
                "DeadLetter": _dead_letter_message(),
            },
        },
    }


def dumps(document: Mapping[str, Any]) -> str:
    """The one canonical text form of a generated document (stable diffs)."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
