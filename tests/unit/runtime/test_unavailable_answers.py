"""A 503 says whether the change may have been applied (issue 14, hole 10)."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from ankommen_runtime.service import ServiceSpec, create_service_app
from ankommen_runtime.settings import ServiceSettings
from fastapi import APIRouter

router = APIRouter()


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
