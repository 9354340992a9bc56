"""Personal data stays home: names, birth dates and phone numbers typed into any field of any
command reach no topic, no dead-letter topic and no log line.

Allocation and housing run together (real Kafka and PostgreSQL) with DEBUG logging
captured as the JSON lines an operator would ship. The commands are found by walking each
app's OpenAPI: every POST and PUT with a body. For every string field of every command, a
body that is valid except for that field gets a marker (a name, a birth date in two
spellings, a phone number in two spellings); path ids name a site, a household and a
reservation that exist, so commands reach the domain instead of stopping at a 404.

A site's public name and its operator are published by design (organisations, listed in
docs/records-of-processing.md): a person's name cannot be told from a site's name, so a
name typed there travels, and only there; contact data and dates are refused there too.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from allocation_support import allocation_service
from ankommen_local.infra import Endpoints
from ankommen_runtime.consumer import is_dead_letter_topic
from ankommen_runtime.topics import dead_letter_topic, event_topic
from fastapi import FastAPI
from housing_support import housing, open_site
from hypothesis import strategies as st
from hypothesis.errors import NonInteractiveExampleWarning
from support import eventually

pytestmark = pytest.mark.integration

NAMES = ("Zainab Al-Haddad", "Mustafa Rahimi")
BIRTH_DATES = ("1987-03-14", "14.03.1987")
PHONES = ("+49 511 16847731", "017612345678")
MARKERS = (*NAMES, *BIRTH_DATES, *PHONES)
# The name typed into a published field: it may travel in exactly those fields.
PUBLIC_NAME = "Yusuf Haddadi"
PUBLIC_BY_DESIGN = {("housing", "name"), ("housing", "operator")}
PUBLISHED_NAME_FIELDS = {
    ("ShelterPlanned", "name"),
    ("ShelterPlanned", "operator"),
    ("ShelterOpened", "name"),
    ("ShelterOpened", "operator"),
}


# -- bodies from the OpenAPI ----------------------------------------------------------------


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _options(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    schema = _resolve(schema, spec)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [_resolve(o, spec) for o in schema[key]]
            return next((o for o in options if o.get("type") != "null"), options[0])
    return schema


def string_paths(
    schema: dict[str, Any], spec: dict[str, Any], at: tuple[str | int, ...] = ()
) -> Iterator[tuple[str | int, ...]]:
    """Every place in a body where a string goes (enums and uuids included).

    Not date fields: a date typed there is a date of the event it describes (a period, an
    opening), which the contract scan keeps away from persons; a name there is a 422.
    """
    schema = _options(schema, spec)
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") not in ("date", "date-time"):
            yield at
    elif kind == "array" and "items" in schema:
        yield from string_paths(schema["items"], spec, (*at, 0))
    elif kind == "object" or "properties" in schema:
        for name, prop in schema.get("properties", {}).items():
            yield from string_paths(prop, spec, (*at, name))


def sample(
    schema: dict[str, Any],
    spec: dict[str, Any],
    ids: dict[str, str],
    *,
    marker: tuple[tuple[str | int, ...], str] | None,
    at: tuple[str | int, ...] = (),
) -> Any:
    """A body that is valid (as far as the schema says) except for the marked field."""
    schema = _options(schema, spec)
    if marker is not None and marker[0] == at:
        return marker[1]
    if "enum" in schema:
        return schema["enum"][-1]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    name = str(at[-1]) if at else ""
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "uuid":
            return ids.get(name, str(uuid.uuid4()))
        if fmt == "date":
            return "2016-03-01"
        if fmt == "date-time":
            return "2016-03-01T10:00:00Z"
        if "pattern" in schema:
            return _matching(schema["pattern"])
        return "Haus am See"
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        return max(1, low) if schema.get("maximum", 10**9) >= 1 else schema["maximum"]
    if kind == "boolean":
        return False
    if kind == "array":
        wanted = schema.get("minItems", 0) > 0 or (
            marker is not None and marker[0][: len(at)] == at
        )
        return [sample(schema["items"], spec, ids, marker=marker, at=(*at, 0))] if wanted else []
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    body = {}
    for prop, prop_schema in properties.items():
        on_marker_path = marker is not None and marker[0][: len(at) + 1] == (*at, prop)
        if prop in required or on_marker_path:
            body[prop] = sample(prop_schema, spec, ids, marker=marker, at=(*at, prop))
    return body


def _matching(pattern: str) -> str:
    """Some text the pattern accepts (hypothesis writes it), free of any marker."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        while True:
            text = st.from_regex(pattern, fullmatch=True).example()
            if text.isprintable() and not any(m in text for m in MARKERS):
                return text


def commands(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method in ("post", "put") and "requestBody" in operation:
                schema = operation["requestBody"]["content"]["application/json"]["schema"]
                yield method, path, schema


# -- what the services let out ----------------------------------------------------------------


@contextlib.asynccontextmanager
async def captured_logs() -> AsyncIterator[io.StringIO]:
    """Every log line of the services, rendered as the JSON the operators receive.

    Installed once the apps exist: each app's factory configures the root logger afresh.
    """
    buffer = io.StringIO()
    root = logging.getLogger()
    assert root.handlers, "the services configured no log handler"
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(root.handlers[0].formatter)
    root.addHandler(handler)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)


async def everything_on(bootstrap: str, topics: list[str]) -> list[Any]:
    """Every record on ``topics``, read up to their end offsets at the time of the call."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in (consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[Any] = []
        async with asyncio.timeout(60):
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                batch = await consumer.getmany(timeout_ms=500)
                for part in batch.values():
                    records.extend(part)
        return records
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


async def outbox_drained(app: FastAPI) -> bool:
    pool = app.state.runtime.pool
    return not await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")


async def test_names_birth_dates_and_phone_numbers_reach_no_topic_dead_letter_or_log(
    infra: Endpoints, new_database: Any, topic_prefix: str
) -> None:
    allocation_db, housing_db = await new_database(), await new_database()
    async with (
        housing(housing_db, infra, topic_prefix, log_level="DEBUG") as housing_api,
        allocation_service(infra, allocation_db, topic_prefix, log_level="DEBUG") as alloc_api,
        captured_logs() as logs,
    ):
        apps = {
            "housing": (housing_api, housing_api._transport.app),  # type: ignore[attr-defined]
            "allocation": (alloc_api, alloc_api._transport.app),  # type: ignore[attr-defined]
        }
        # Things the commands can name, so they reach the domain instead of a 404.
        site_id = await open_site(housing_api, 200, suitability=["families", "accessible"])
        assert await eventually(lambda: _knows_site(alloc_api, site_id)), (
            "allocation never saw the site"
        )
        registered = await alloc_api.post(
            "/assignments",
            json={
                "land_reference": "NI-SETUP-1",
                "members": [{"age_band": "27-49", "gender": "female", "country_of_origin": "SYR"}],
            },
        )
        assert registered.status_code == 201, registered.text
        household_id = registered.json()["household_id"]
        reservation = await housing_api.post(
            "/reservations",
            json={
                "reservation_id": str(uuid.uuid4()),
                "household_id": str(uuid.uuid4()),
                "site_id": site_id,
                "places": 1,
            },
        )
        assert reservation.status_code == 201, reservation.text
        # A household that left with a house ban: a follow-up for staff to resolve.
        banned, held = str(uuid.uuid4()), str(uuid.uuid4())
        reserved = await housing_api.post(
            "/reservations",
            json={"reservation_id": held, "household_id": banned, "site_id": site_id, "places": 1},
        )
        assert reserved.status_code == 201, reserved.text
        checked_in = await housing_api.post(f"/reservations/{held}/check-in", json={})
        assert checked_in.status_code == 201, checked_in.text
        left = await housing_api.post(
            f"/sites/{site_id}/check-outs", json={"household_id": banned, "reason": "house_ban"}
        )
        assert left.status_code == 201, left.text
        ids = {
            "site_id": site_id,
            "household_id": household_id,
            "reservation_id": reservation.json()["reservation_id"],
            "follow_up_id": left.json()["follow_up_id"],
        }

        answers: dict[tuple[str, str, str], int] = {}
        for service, (api, app) in apps.items():
            spec = app.openapi()
            for method, path, schema in commands(spec):
                url = path.format(**ids)
                for place in string_paths(schema, spec):
                    field = str(next((p for p in reversed(place) if isinstance(p, str)), ""))
                    public = (service, field) in PUBLIC_BY_DESIGN
                    for marker in (*MARKERS, *((PUBLIC_NAME,) if public else ())):
                        if public and marker in NAMES:
                            continue  # names go into published fields as PUBLIC_NAME only
                        body = sample(schema, spec, ids, marker=(place, marker))
                        response = await api.request(method.upper(), url, json=body)
                        key = (
                            service,
                            f"{method.upper()} {path} {'.'.join(map(str, place))}",
                            marker,
                        )
                        answers[key] = response.status_code
                        assert response.status_code < 500, (key, response.text)

        accepted = {k for k, status in answers.items() if status < 300}
        assert len(answers) >= 100, f"only {len(answers)} marked commands: the walk found too few"
        # The Land's reference takes dates and numbers: they must stay in allocation's database.
        assert any(k[2] in MARKERS for k in accepted), "no marker ever reached a domain"
        assert any(k[2] == PUBLIC_NAME for k in accepted), "no site was ever named"

        for service, (_, app) in apps.items():
            drained = await eventually(lambda app=app: outbox_drained(app), timeout=30)
            assert drained, f"{service}'s outbox still holds unpublished events after 30 s"

    streams = [event_topic(source, topic_prefix) for source in ("allocation", "housing")]
    consumers = {"allocation": "housing", "housing": "allocation"}  # who consumes whose stream
    topics = streams + [
        dead_letter_topic(consumer, event_topic(source, topic_prefix), topic_prefix)
        for consumer, source in consumers.items()
    ]
    records = await everything_on(infra.kafka_bootstrap, topics)
    assert len(records) >= 10, f"only {len(records)} records: the commands published nothing"

    leaks = []
    for record in records:
        raw = b" ".join(
            [record.value or b"", record.key or b"", *(v for _, v in record.headers or [])]
        ).decode("utf-8", "replace")
        leaks += [(record.topic, m) for m in MARKERS if m in raw]
        if PUBLIC_NAME in raw:
            data = json.loads(record.value)
            holders = {(data["type"], k) for k, v in data["data"].items() if v == PUBLIC_NAME}
            if (
                not holders
                or not holders <= PUBLISHED_NAME_FIELDS
                or is_dead_letter_topic(record.topic)
            ):
                leaks.append((record.topic, f"{PUBLIC_NAME} outside the published fields"))
    assert leaks == [], leaks

    lines = logs.getvalue().splitlines()
    assert lines, "no log line was captured"
    logged = [(m, line[:300]) for line in lines for m in (*MARKERS, PUBLIC_NAME) if m in line]
    assert logged == [], logged


async def _knows_site(api: httpx.AsyncClient, site_id: str) -> bool:
    sites = (await api.get("/sites", params={"limit": 1000})).json()["items"]
    return any(s["site_id"] == site_id for s in sites)
