"""The scenario runner's move-on step against the real services (Kafka and PostgreSQL):
the household's social worker assesses readiness in integration, the only place it is
assessed; the runner waits for allocation to take the assessment, then asks for the move,
and allocation relocates the household into the free Wohnung by ``ready_for``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from allocation_support import an_assignment, household, until_sites, until_status
from ankommen_local.infra import Endpoints
from ankommen_local.scenario.plan import Week, build, load
from ankommen_local.scenario.runner import ScenarioRunner, Tokens
from ankommen_runtime.auth import Role
from integration_support import case_of, check_in, city, open_site, until


async def test_the_runner_has_integration_assess_and_allocation_relocate_by_ready_for(
    infra: Endpoints,
    new_database: Callable[[], Awaitable[str]],
    topic_prefix: str,
    tmp_path: Path,
) -> None:
    async with city(infra, new_database, topic_prefix, tmp_path) as c:
        home = await open_site(c, "Wohnheim Tresckowstraße", "wohnheim", 9, 10)
        flat = await open_site(c, "Wohnungen Linden-Süd", "wohnung", 10, 4)
        await until_sites(c.allocation, 2)
        created = await c.allocation.post("/assignments", json=an_assignment("NI-SC-1", 2))
        assert created.status_code == 201, created.text
        family = str(created.json()["household_id"])
        arrived = c.clock.today()
        assert await check_in(c, family) == home
        await until_status(c.allocation, family, "housed")
        await case_of(c, family, 9)

        c.let_months_pass(7)
        # The move-on step reads no URLs (the clients are the in-process apps) and nothing of
        # the plan: a one-week plan of the Hannover data stands in for the whole.
        one_week = build(
            load("hannover"), scale=0.01, start=date(2015, 10, 5), end=date(2015, 10, 11)
        )
        runner = ScenarioRunner(one_week, {}, tokens=Tokens(issuer=c.issuer))
        runner.clients = {
            "allocation": c.allocation,
            "housing": c.housing,
            "integration": c.integration,
        }
        runner.households, runner.sizes, runner.living = (
            {"NI-SC-1": family},
            {"NI-SC-1": 2},
            {"NI-SC-1": arrived},
        )
        # The runner dates the week's moves on its Monday at 11:00 (Hannover), as a
        # simulated week starts at noon; here the clock is the wall clock moved on, so the
        # step's day is yesterday: today's 11:00 is still ahead before noon (the clean-clone
        # run at 22:27 UTC, 00:27 in Hannover, was refused "in the future").
        await runner._move_on(Week(monday=c.clock.today() - timedelta(days=1)))

        assert runner.tally.moved_on == 1
        cases = await c.integration.get(
            "/cases", params={"household_id": family}, headers=c.as_(Role.ALLOCATION_STAFF)
        )
        [case] = cases.json()["items"]
        assert case["readiness"]["ready_for"] == "wohnung", "assessed in integration"
        now = await household(c.allocation, family)
        assert now["readiness"]["reason"] == case["readiness"]["reason"]
        pending: dict[str, Any] = now["pending"]
        assert (pending["site_id"], pending["pillar"]) == (flat, "wohnung")
        assert "assessed by Integrationsmanagement" in pending["reason"]
        assert await check_in(c, family) == flat

        async def moved() -> bool:
            return (await household(c.allocation, family))["site"]["site_id"] == flat

        await until(moved, "allocation to record the move into the Wohnung")
