"""The demo's integration story, run by its own function against allocation, housing and
integration served over HTTP (uvicorn in-process) on the shared Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import allocation.app
import housing.app
import httpx
import integration.app
import uvicorn
from allocation_support import an_assignment, until_sites
from ankommen_local import demo
from ankommen_local.infra import Endpoints
from ankommen_runtime.local_issuer import LocalIssuer
from fastapi import FastAPI
from integration_support import until


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port; its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None))
    task = asyncio.create_task(server.serve())
    await until(lambda: asyncio.sleep(0.05, server.started), "uvicorn to start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_the_demo_moves_a_family_out_and_hands_its_case_over(
    infra: Endpoints,
    new_database: Callable[[], Awaitable[str]],
    topic_prefix: str,
    tmp_path: Path,
) -> None:
    issuer = LocalIssuer(tmp_path).ensure()
    common: dict[str, Any] = {
        "kafka_bootstrap": infra.kafka_bootstrap,
        "topic_prefix": topic_prefix,
        "relay_poll_seconds": 0.2,
        "oidc_jwks_url": issuer.jwks_url,
    }
    apps = {
        "allocation": allocation.app.create_app(
            allocation.app.AllocationSettings(
                database_url=await new_database(),
                consumer_group=f"{topic_prefix}allocation",
                **common,
            )
        ),
        "housing": housing.app.create_app(
            housing.app.HousingSettings(
                database_url=await new_database(),
                consumer_group=f"{topic_prefix}housing",
                **common,
            )
        ),
        "integration": integration.app.create_app(
            integration.app.IntegrationSettings(
                database_url=await new_database(),
                consumer_group=f"{topic_prefix}integration",
                **common,
            )
        ),
    }
    async with (
        served(apps["allocation"]) as allocation_url,
        served(apps["housing"]) as housing_url,
        served(apps["integration"]) as integration_url,
    ):
        urls = {
            "allocation": allocation_url,
            "housing": housing_url,
            "integration": integration_url,
        }
        async with httpx.AsyncClient(timeout=30) as client:
            site = {"name": "Tresckowstraße", "pillar": "wohnheim", "district": 9}
            opened = await client.post(
                f"{housing_url}/sites", json={**site, "operator": "DRK", "capacity": 20}
            )
            assert opened.status_code == 201, opened.text
            async with httpx.AsyncClient(base_url=allocation_url) as api:
                await until_sites(api, 1)
            for reference in ("NI-DEMO-1", "NI-DEMO-2"):
                created = await client.post(
                    f"{allocation_url}/assignments", json=an_assignment(reference, 3)
                )
                assert created.status_code == 201, created.text
            await asyncio.to_thread(
                demo._check_in_arrivals, httpx.Client(), allocation_url, housing_url
            )

        story = await asyncio.to_thread(demo._integration_story, urls, issuer)

        case = story["case"]
        assert (case["status"], case["close_reason"]) == ("closed", "handed_over")
        assert case["handover"]["receiving_partner"] == "Stadtteilzentrum im Stadtbezirk 10"
        assert case["move_out"]["target_district"] == 10
        assert story["readiness"]["ready_for_own_tenancy"] is True
        by_team = {t["team_id"]: t["cases"] for t in story["caseloads"]}
        assert (by_team["im-09"], by_team["im-10"]) == (1, 0), "one still counselled in 09"
        async with httpx.AsyncClient(timeout=10) as client:
            sites = (await client.get(f"{housing_url}/sites")).json()
        assert [s["occupied"] for s in sites] == [3], "the moved-out family's places are free"
