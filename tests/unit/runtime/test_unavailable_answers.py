"""A 503 says whether the change may have been applied (issue 14, hole 10); a request
that lost a deadlock is run again before anyone hears 503 (issue 20: concurrent check-ins
and housing's consumer lock the same sites)."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from ankommen_runtime.service import ServiceSpec, create_service_app
from ankommen_runtime.settings import ServiceSettings
from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter()
bodies: list[bytes] = []  # what the conflicting route was given, attempt by attempt
LOSSES = {"deadlock": 0}  # how many more times the route loses its conflict


class Note(BaseModel):
    text: str


@router.post("/conflicting", status_code=201)
async def conflicting(note: Note) -> Note:
    bodies.append(note.model_dump_json().encode())
    if LOSSES["deadlock"] > 0:
        LOSSES["deadlock"] -= 1
        raise asyncpg.DeadlockDetectedError("deadlock detected")
    return note


@router.post("/drop-during-commit")
async def drop_during_commit() -> None:
    raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")


@router.post("/cannot-connect")
async def cannot_connect() -> None:
    raise asyncpg.CannotConnectNowError("the database system is starting up")


@pytest.fixture
def client() -> httpx.AsyncClient:
    app = create_service_app(
        ServiceSpec(name="housing", title="t", routers=[router]),
        ServiceSettings(service="housing", database_url="postgresql://x@127.0.0.1:1/x"),
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_connection_lost_during_commit_does_not_claim_nothing_changed(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/drop-during-commit")
    assert response.status_code == 503
    body = response.json()
    assert body["outcome"] == "unknown"
    assert "may or may not have been applied" in body["detail"]
    assert "nothing was changed" not in body["detail"]


async def test_a_database_that_refuses_connections_changed_nothing(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/cannot-connect")
    assert response.status_code == 503
    assert response.json()["outcome"] == "not-applied"
    assert response.headers["retry-after"] == "1"


@pytest.fixture
def losing(request: pytest.FixtureRequest) -> int:
    bodies.clear()
    LOSSES["deadlock"] = request.param
    return int(request.param)


@pytest.mark.parametrize("losing", [1, 2], indirect=True)
async def test_a_request_that_lost_a_deadlock_is_run_again_with_the_same_body(
    client: httpx.AsyncClient, losing: int
) -> None:
    response = await client.post("/conflicting", json={"text": "Bus aus Friedland"})
    assert response.status_code == 201, response.text
    assert response.json() == {"text": "Bus aus Friedland"}
    assert len(bodies) == losing + 1
    assert set(bodies) == {b'{"text":"Bus aus Friedland"}'}


@pytest.mark.parametrize("losing", [3], indirect=True)
async def test_a_request_that_loses_every_time_is_answered_503_nothing_changed(
    client: httpx.AsyncClient, losing: int
) -> None:
    response = await client.post("/conflicting", json={"text": "x"})
    assert response.status_code == 503
    assert response.json()["outcome"] == "not-applied"
    assert len(bodies) == 3, "three attempts, then the answer"


async def test_a_database_that_refuses_connections_is_not_asked_again_at_once(
    client: httpx.AsyncClient,
) -> None:
    """Only a lost conflict is run again: a database that is down gets the client's own
    retry, after ``retry-after``, not a burst of attempts from the service."""
    calls = []

    @router.post("/down-counted")
    async def down_counted() -> None:
        calls.append(1)
        raise asyncpg.CannotConnectNowError("the database system is starting up")

    app = create_service_app(
        ServiceSpec(name="housing", title="t", routers=[router]),
        ServiceSettings(service="housing", database_url="postgresql://x@127.0.0.1:1/x"),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as fresh:
        assert (await fresh.post("/down-counted")).status_code == 503
    assert calls == [1]
