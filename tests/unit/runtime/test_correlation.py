"""Every request runs under one correlation id: the caller's, or a new one, echoed back."""

from __future__ import annotations

import uuid
from contextvars import ContextVar

import httpx
from ankommen_runtime.context import current_correlation_id
from ankommen_runtime.http import Correlation
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

REQUEST_ONLY: ContextVar[str | None] = ContextVar("request_only", default=None)


async def seen(request: Request) -> JSONResponse:
    REQUEST_ONLY.set("set for the rest of this request")  # as ``audit.enter`` does
    return JSONResponse({"correlation_id": str(current_correlation_id())})


def client() -> httpx.AsyncClient:
    app = Correlation(Starlette(routes=[Route("/", seen, methods=["GET", "POST"])]))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_a_request_runs_under_the_callers_correlation_id_and_answers_with_it() -> None:
    given = uuid.uuid4()
    async with client() as api:
        response = await api.post("/", headers={"x-correlation-id": str(given)})
    assert response.json() == {"correlation_id": str(given)}
    assert response.headers["x-correlation-id"] == str(given)


async def test_a_command_without_a_usable_id_runs_under_a_new_one() -> None:
    async with client() as api:
        response = await api.post("/", headers={"x-correlation-id": "not-a-uuid"})
        other = await api.post("/")
    made = response.headers["x-correlation-id"]
    assert str(uuid.UUID(made)) == made != "not-a-uuid"
    assert response.json() == {"correlation_id": made}
    assert other.headers["x-correlation-id"] != made


async def test_a_read_gets_a_random_id_that_never_shifts_a_seeded_runs_ids() -> None:
    async with client() as api:
        first = (await api.get("/")).headers["x-correlation-id"]
        second = (await api.get("/")).headers["x-correlation-id"]
    assert first != second
    assert uuid.UUID(first).version == 4


async def test_what_a_route_sets_for_its_request_ends_with_it() -> None:
    # The test client runs the app in the caller's own task, as the in-process services
    # of the integration tests do: nothing of one request may reach the next.
    async with client() as api:
        assert (await api.post("/")).status_code == 200
    assert REQUEST_ONLY.get() is None
