"""Bad input is refused cleanly by the runtime, before and after a route runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import asyncpg
import pytest
from ankommen_contracts import Text, UniqueList
from ankommen_runtime.commands import Command
from ankommen_runtime.pagination import MAX_LIMIT, MAX_OFFSET, Page, PageQuery
from ankommen_runtime.service import ServiceSpec, create_service_app
from ankommen_runtime.settings import ServiceSettings
from fastapi import APIRouter
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

router = APIRouter()


class Note(BaseModel):
    text: str
    tags: list[str] = []


class TypedNote(BaseModel):
    text: Text


@router.post("/notes")
async def add_note(note: Note) -> Note:
    return note


@router.post("/typed-notes")
async def add_typed_note(note: TypedNote) -> TypedNote:
    return note


@router.get("/notes")
async def list_notes(page: PageQuery) -> Page[int]:
    return Page.slice_of(list(range(250)), page)


@router.post("/notes/{note_id}/store")
async def store_note(note_id: uuid.UUID, note: Note) -> Note:
    # What asyncpg raises when PostgreSQL refuses a value as data (SQLSTATE class 22).
    raise asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence for encoding")


LIMIT = 4096


@pytest.fixture
def client() -> TestClient:
    spec = ServiceSpec(name="volunteers", title="test", routers=[router])
    settings = ServiceSettings(service="volunteers", max_body_bytes=LIMIT)
    return TestClient(create_service_app(spec, settings), raise_server_exceptions=False)


def test_a_body_over_the_limit_is_answered_413_before_parsing(client: TestClient) -> None:
    answer = client.post("/notes", json={"text": "x" * LIMIT})
    assert answer.status_code == 413
    assert str(LIMIT) in answer.json()["detail"]


def test_a_chunked_body_over_the_limit_is_answered_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    answer = client.post("/notes", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413


def test_a_body_under_the_limit_reaches_the_route_unchanged(client: TestClient) -> None:
    answer = client.post("/notes", json={"text": "Grüße", "tags": ["a"]})
    assert answer.status_code == 200
    assert answer.json() == {"text": "Grüße", "tags": ["a"]}


@pytest.mark.parametrize("bad", ["a\u0000b", "\ud800"])
def test_a_string_postgresql_cannot_store_is_a_422_naming_the_field(
    client: TestClient, bad: str
) -> None:
    raw = '{"text": "ok", "tags": ["fine", %s]}' % ('"a\\u0000b"' if "\x00" in bad else '"\\ud800"')
    answer = client.post("/notes", content=raw, headers={"content-type": "application/json"})
    assert answer.status_code == 422
    [problem] = answer.json()["detail"]
    assert problem["loc"] == ["body", "tags", 1]


def test_a_nul_in_a_query_parameter_is_a_422_naming_it(client: TestClient) -> None:
    answer = client.get("/notes?limit=5&x=%00")
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "x"]


def test_the_shared_text_type_refuses_a_nul_by_field() -> None:
    with pytest.raises(ValueError, match="NUL"):
        TypedNote(text="a\x00b")


def test_a_value_the_database_refuses_is_a_422_not_a_500(client: TestClient) -> None:
    answer = client.post(f"/notes/{uuid.uuid4()}/store", json={"text": "x"})
    assert answer.status_code == 422
    assert "cannot be stored" in answer.json()["detail"][0]["msg"]


def test_pages_are_bounded_and_say_what_they_hold(client: TestClient) -> None:
    page = client.get("/notes", params={"limit": 100, "offset": 200}).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (250, 100, 200, 50)
    assert client.get("/notes", params={"limit": MAX_LIMIT + 1}).status_code == 422
    assert client.get("/notes", params={"offset": MAX_OFFSET + 1}).status_code == 422
    assert client.get("/notes", params={"offset": 2**70}).status_code == 422


def test_every_operation_documents_the_runtime_statuses(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    posted = paths["/notes/{note_id}/store"]["post"]["responses"]
    assert {"400", "404", "409", "413", "422", "503"} <= set(posted)
    listed = paths["/notes"]["get"]["responses"]
    assert {"422", "503"} <= set(listed)
    assert "413" not in listed
    assert "503" not in paths["/health/live"]["get"]["responses"]


class Quota(Command):
    persons: int
    starts_on: date
    urgent: bool = False
    districts: UniqueList[int] | None = None
    days: list[date] | None = None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("persons", True),
        ("persons", "5"),
        ("starts_on", 0.0),
        ("urgent", 1),
        ("urgent", 0.0),
        ("districts", [1, True]),
        ("districts", ["9"]),
        ("days", [0]),
    ],
)
def test_a_command_takes_json_types_at_their_word(field: str, value: object) -> None:
    body = {"persons": 5, "starts_on": "2016-01-04", field: value}
    with pytest.raises(ValidationError) as refused:
        Quota.model_validate(body)
    assert refused.value.errors()[0]["loc"] == (field,)


def test_a_command_still_reads_ids_dates_and_enums_from_strings() -> None:
    quota = Quota.model_validate(
        {"persons": 5, "starts_on": "2016-01-04", "urgent": True, "districts": [9, 1],
         "days": ["2016-01-05"]}
    )  # fmt: skip
    assert (quota.persons, quota.starts_on, quota.urgent) == (5, date(2016, 1, 4), True)
    assert (quota.districts, quota.days) == ([9, 1], [date(2016, 1, 5)])
