"""The scenario's HTTP client: one keep-alive connection pool per service, on aiohttp.

The runner is a single client driving five services in a long chain of requests that
mostly wait for one another (a barrier's rounds, a household's move-out step by step), so
its own cost per request lies on the run's critical path. httpx spent about 0.5 ms of CPU
per request here against 0.13 ms for aiohttp (the same loopback round trip, uvloop,
measured 2 Dec 2026), and was nine tenths of the runner's CPU in a simulated year (py-spy).

``ServiceClient.request``, ``.get`` and ``.post`` take the arguments the runner and
:class:`ankommen_runtime.simulation_driver.SimulationDriver` pass (``headers``, ``json``,
``params``) and answer an :class:`Answer` that reads like the ``httpx.Response`` they were
written against (``status_code``, ``headers``, ``text``, ``json()``,
``raise_for_status()``), so the in-process test clients (httpx over ASGI) still stand in
for it.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

Params = Mapping[str, Any] | Sequence[tuple[str, Any]]


class HTTPStatusError(RuntimeError):
    """``Answer.raise_for_status`` on a 4xx or 5xx answer."""


@dataclass(frozen=True)
class Answer:
    """A service's complete answer (the body is read before the connection goes back)."""

    status_code: int
    headers: CIMultiDictProxy[str]
    content: bytes
    method: str
    url: str

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise HTTPStatusError(f"{self.method} {self.url}: {self.status_code} {self.text[:500]}")


class ServiceClient:
    """Requests to one service at ``base_url``; create inside the running event loop."""

    def __init__(self, base_url: str, *, timeout: float, keepalive_seconds: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = aiohttp.ClientSession(
            base_url=self.base_url,
            timeout=aiohttp.ClientTimeout(total=timeout),
            # the services close idle connections after their keep-alive; reusing one the
            # server is closing fails, so the client lets go sooner
            connector=aiohttp.TCPConnector(keepalive_timeout=keepalive_seconds),
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        params: Params | None = None,
    ) -> Answer:
        async with self._session.request(
            method, path, headers=headers, json=json, params=_query(params)
        ) as response:
            content = await response.read()
            return Answer(response.status, response.headers, content, method, path)

    async def get(
        self, path: str, *, headers: Mapping[str, str] | None = None, params: Params | None = None
    ) -> Answer:
        return await self.request("GET", path, headers=headers, params=params)

    async def post(
        self, path: str, *, headers: Mapping[str, str] | None = None, json: Any = None
    ) -> Answer:
        return await self.request("POST", path, headers=headers, json=json)

    async def aclose(self) -> None:
        await self._session.close()


def _query(params: Params | None) -> list[tuple[str, str]] | None:
    """Query parameters as httpx takes them (a mapping or pairs, a key repeated by pairs;
    numbers and booleans as httpx writes them), for aiohttp, which takes only strings."""
    if params is None:
        return None
    pairs = params.items() if isinstance(params, Mapping) else params
    return [(key, _text(value)) for key, value in pairs]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
