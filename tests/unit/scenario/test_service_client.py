"""The scenario's aiohttp client reads like the httpx client the runner was written for."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from ankommen_local.scenario.client import HTTPStatusError, ServiceClient


async def _echo(request: web.Request) -> web.Response:
    body = await request.json() if request.can_read_body else None
    return web.json_response(
        {
            "method": request.method,
            "path": request.path,
            "query": [[k, v] for k, v in request.query.items()],
            "authorization": request.headers.get("authorization"),
            "body": body,
        },
        status=int(request.query.get("answer", "200")),
        headers={"Retry-After": "2"},
    )


@pytest.fixture
async def client() -> AsyncIterator[ServiceClient]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _echo)
    async with TestServer(app, host="127.0.0.1") as server:
        service = ServiceClient(str(server.make_url("/")), timeout=10, keepalive_seconds=5)
        yield service
        await service.aclose()


async def test_a_list_query_repeats_its_key_and_writes_numbers_and_booleans_as_httpx_does(
    client: ServiceClient,
) -> None:
    answer = await client.get(
        "/households",
        headers={"authorization": "Bearer t"},
        params=[
            ("status", "open"),
            ("limit", 1000),
            ("household_id", "a"),
            ("household_id", "b"),
            ("archived", False),
        ],
    )
    assert answer.status_code == 200
    assert answer.json()["query"] == [
        ["status", "open"],
        ["limit", "1000"],
        ["household_id", "a"],
        ["household_id", "b"],
        ["archived", "false"],
    ]
    assert answer.json()["authorization"] == "Bearer t"


async def test_a_command_sends_its_json_and_the_answer_keeps_status_headers_and_body(
    client: ServiceClient,
) -> None:
    answer = await client.request(
        "POST", "/check-ins", json={"items": [1, 2]}, params={"answer": 503}
    )
    assert answer.status_code == 503
    assert answer.headers.get("retry-after") == "2", "header names in any case"
    assert answer.json()["body"] == {"items": [1, 2]}
    assert '"path": "/check-ins"' in answer.text
    with pytest.raises(HTTPStatusError, match="POST /check-ins: 503"):
        answer.raise_for_status()


async def test_a_good_answer_raises_nothing(client: ServiceClient) -> None:
    answer = await client.post("/_simulation/clock", json={"to": "2015-10-05"})
    answer.raise_for_status()
    assert answer.json()["method"] == "POST"
