"""``/health/live``, ``/health/ready`` and ``/metrics`` for every service."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response


class Checkable(Protocol):
    async def readiness(self) -> dict[str, str]: ...


router = APIRouter(tags=["operations"])


@router.get("/health/live", summary="The process is up")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready", summary="The service can do its job (reasons when not)")
async def ready(request: Request) -> JSONResponse:
    runtime: Checkable | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    try:
        checks = await asyncio.wait_for(runtime.readiness(), timeout=5.0)
    except TimeoutError:
        checks = {"readiness": "timed out"}
    # "ok" or "ok, degraded: …" / "ok: 3 events parked" (informative, still ready).
    ok = all(v == "ok" or v.startswith(("ok,", "ok:")) for v in checks.values())
    body: dict[str, Any] = {"status": "ok" if ok else "unavailable", "checks": checks}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
