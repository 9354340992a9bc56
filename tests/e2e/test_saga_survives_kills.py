"""End to end with the services as OS processes: a SIGKILLed service resumes the saga.

Allocation and housing run as their own uvicorn processes (as ops would run them); the
test kills each in the middle of placing a weekly batch and restarts it. Every household
must still end in exactly one checked-in bed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from ankommen_local.infra import Endpoints
from ankommen_local.supervisor import ServiceProcess, service_env
from ankommen_local.util import free_port
from ankommen_runtime.local_issuer import local_tool_headers
from support import eventually

pytestmark = pytest.mark.e2e


def process(
    name: str, port: int, dsn: str, infra: Endpoints, prefix: str, logs: Path
) -> ServiceProcess:
    env = service_env(
        name,
        kafka_bootstrap=infra.kafka_bootstrap,
        database_url=dsn,
        topic_prefix=prefix,
        consumer_group=f"{prefix}{name}",
        relay_poll_seconds="0.2",
    )
    return ServiceProcess(name=name, port=port, env=env, log_path=logs / f"{name}.log")


def household(n: int, prefix: str) -> dict[str, object]:
    member = {
        "person_id": str(uuid.uuid4()),
        "age_band": "27-49",
        "gender": "female",
        "country_of_origin": "SYR",
        "unaccompanied_minor": False,
        "special_needs": [],
    }
    return {"land_reference": f"NI-{prefix}{n:03d}", "members": [member]}


async def test_killed_allocation_and_housing_resume_the_saga(
    infra: Endpoints,
    new_database: Callable[[], Awaitable[str]],
    topic_prefix: str,
    tmp_path: Path,
) -> None:
    housing_dsn, allocation_dsn = await new_database(), await new_database()
    # Ports the OS hands out now: another run (or another worktree's) may hold fixed ones.
    housing = process("housing", free_port(), housing_dsn, infra, topic_prefix, tmp_path)
    allocation = process("allocation", free_port(), allocation_dsn, infra, topic_prefix, tmp_path)
    for proc in (housing, allocation):
        proc.start()
    try:
        for proc in (housing, allocation):
            await asyncio.to_thread(proc.wait_ready)
        async with httpx.AsyncClient(timeout=10, headers=local_tool_headers()) as client:
            site = await client.post(
                f"{housing.url}/sites",
                json={
                    "name": "Wohnheim Am Bahndamm",
                    "pillar": "wohnheim",
                    "district": 11,
                    "operator": "Johanniter",
                    "capacity": 30,
                },
            )
            assert site.status_code == 201, site.text

            async def allocation_knows_the_site() -> bool:
                return (await client.get(f"{allocation.url}/sites")).json()["total"] == 1

            assert await eventually(allocation_knows_the_site)
            batch = {"assignments": [household(n, topic_prefix) for n in range(20)]}
            posted = await client.post(f"{allocation.url}/assignments/batch", json=batch)
            assert posted.status_code == 201, posted.text
            # Housing dies before it can answer every PlacementDecided, allocation soon after.
            housing.kill()
            await asyncio.sleep(0.3)
            allocation.kill()
            housing.start()
            allocation.start()
            for proc in (housing, allocation):
                await asyncio.to_thread(proc.wait_ready)

            async def all_checked_in() -> bool:
                held = (
                    await client.get(f"{housing.url}/reservations", params={"status": "held"})
                ).json()["items"]
                for reservation in held:
                    await client.post(
                        f"{housing.url}/reservations/{reservation['reservation_id']}/check-in"
                    )
                summary = (await client.get(f"{allocation.url}/placements/summary")).json()
                return summary["by_status"].get("housed", {}).get("households") == 20

            assert await eventually(all_checked_in, timeout=90), housing.tail() + allocation.tail()
            again = await client.post(f"{allocation.url}/assignments/batch", json=batch)
            assert again.status_code == 200, "the Land's repeat creates nothing new"
    finally:
        for proc in (housing, allocation):
            proc.stop()

    conn = await asyncpg.connect(housing_dsn)
    try:
        occupied = await conn.fetchval("SELECT occupied FROM sites")
        occupants = await conn.fetchval("SELECT count(*) FROM occupants")
        checked_in = await conn.fetch(
            "SELECT household_id, count(*) FROM reservations WHERE status = 'checked_in'"
            " GROUP BY household_id"
        )
    finally:
        await conn.close()
    assert occupied == occupants == 20
    assert len(checked_in) == 20
    assert all(r["count"] == 1 for r in checked_in), "one bed per household, never two"
