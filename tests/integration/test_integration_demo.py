"""The demo's integration story, run through the demo's own scenario (a simulation run, one
October 2015 week, few households) against the five services as processes on the shared
Kafka and PostgreSQL: in spring 2016 a family moves out of its communal home and its case is
handed over, through integration's HTTP API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from ankommen_local import demo
from ankommen_local.config import SERVICES
from ankommen_local.infra import Endpoints
from ankommen_local.util import free_port
from ankommen_runtime.local_issuer import LocalIssuer
from support import read_events


async def test_the_demo_moves_a_family_out_and_hands_its_case_over(
    infra: Endpoints,
    new_database: Callable[[], Awaitable[str]],
    topic_prefix: str,
    tmp_path: Path,
) -> None:
    envs = {
        name: demo.demo_env(
            name,
            kafka_bootstrap=infra.kafka_bootstrap,
            database_url=await new_database(),
            prefix=topic_prefix,
        )
        for name in SERVICES
    }
    ports = {name: free_port() for name in SERVICES}
    procs = await asyncio.to_thread(demo._start_services, envs, ports, tmp_path)
    urls = {p.name: p.url for p in procs}
    try:
        result = await demo.scenario(
            urls, demo.operations_tokens(), weeks=1, households_per_week=12
        )
        story = result["integration"]
        case = story["case"]
        desks = demo.desk_headers(LocalIssuer())
        async with httpx.AsyncClient(base_url=urls["allocation"], headers=desks["allocation"]) as a:
            household = (await a.get(f"/households/{case['household_id']}")).json()
    finally:
        for proc in procs:
            await asyncio.to_thread(proc.stop)

    here, there = story["from_district"], case["move_out"]["target_district"]
    assert here != there
    assert (case["status"], case["close_reason"]) == ("closed", "handed_over")
    assert case["handover"]["receiving_partner"] == f"Stadtteilzentrum im Stadtbezirk {there:02d}"
    assert case["handover"]["handed_over_on"] == demo.STORY_DAY.date().isoformat()
    assert story["readiness"]["ready_for_own_tenancy"] is True
    assert household["status"] == "moved_out"

    before = {t["team_id"]: t["cases"] for t in story["caseloads_before"]}
    after = {t["team_id"]: t["cases"] for t in story["caseloads"]}
    home_team, target_team = f"im-{here:02d}", f"im-{there:02d}"
    assert after[home_team] == before[home_team] - 1, "the case left the home team"
    assert after[target_team] == before[target_team], "and closed at the target team"
    assert story["occupied_after"] == story["occupied_before"] - case["persons"], (
        "the moved-out family's places are free"
    )

    events = await read_events(
        infra.kafka_bootstrap,
        f"{topic_prefix}integration.events",
        until=lambda es: any(e.type == "CaseClosed" for e in es),
    )
    moved = [e for e in events if e.type == "MoveOutCompleted"]
    assert [e.occurred_at.date() for e in moved] == [demo.STORY_DAY.date()], "dated in 2016"
