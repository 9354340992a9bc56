"""Allocation and housing together on real Kafka and PostgreSQL: the whole placement saga,
from the Land's assignment to a checked-in bed, with housing as the authority on places."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import housing.app
import httpx
from allocation_support import allocation_service, an_assignment, household, until_sites
from ankommen_local.infra import Endpoints
from ankommen_runtime.settings import ServiceSettings
from support import eventually, running


@contextlib.asynccontextmanager
async def both_services(
    infra: Endpoints, new_database: Callable[[], Awaitable[str]], prefix: str
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    housing_settings = ServiceSettings(
        service="housing",
        database_url=await new_database(),
        kafka_bootstrap=infra.kafka_bootstrap,
        topic_prefix=prefix,
        consumer_group=f"{prefix}housing",
        relay_poll_seconds=0.2,
    )
    async with (
        allocation_service(
            infra, await new_database(), prefix, pool_max_size=20, waitlist_retry_seconds=0.5
        ) as allocation,
        running(housing.app.create_app(housing_settings)) as housing_api,
    ):
        yield allocation, housing_api


async def open_site(housing_api: httpx.AsyncClient, name: str, pillar: str, capacity: int) -> str:
    body = {"name": name, "pillar": pillar, "district": 9, "operator": "DRK", "capacity": capacity}
    response = await housing_api.post("/sites", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["site_id"])


async def counts(api: httpx.AsyncClient) -> dict[str, int]:
    by_status = (await api.get("/placements/summary")).json()["by_status"]
    return {status: c["households"] for status, c in by_status.items() if c["households"]}


async def until_counts(api: httpx.AsyncClient, expected: dict[str, int]) -> None:
    async def reached() -> bool:
        return await counts(api) == expected

    assert await eventually(reached, timeout=60), f"{await counts(api)} != {expected}"


async def sites_of(housing_api: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    return {s["site_id"]: s for s in (await housing_api.get("/sites")).json()["items"]}


async def check_in_everyone_reserved(
    api: httpx.AsyncClient, housing_api: httpx.AsyncClient, household_ids: list[str]
) -> None:
    for household_id in household_ids:
        pending = (await household(api, household_id))["pending"]
        if pending and pending["reserved_until"]:
            response = await housing_api.post(f"/reservations/{pending['reservation_id']}/check-in")
            assert response.status_code == 201, response.text


async def test_200_assignments_at_50_free_places_none_lost_none_overbooked(
    infra: Endpoints, new_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> None:
    async with both_services(infra, new_database, topic_prefix) as (api, housing_api):
        home = await open_site(housing_api, "Wohnheim Tresckowstraße", "wohnheim", 50)

        await until_sites(api, 1)
        answers = await asyncio.gather(
            *(api.post("/assignments", json=an_assignment(f"NI-{i:03d}", 1)) for i in range(200))
        )
        assert Counter(a.status_code for a in answers) == {201: 200}
        ids = [a.json()["household_id"] for a in answers]

        await until_counts(api, {"reserved": 50, "waitlisted": 150})
        site = (await sites_of(housing_api))[home]
        assert (site["reserved"], site["free"]) == (50, 0), "never over capacity"
        assert (await api.get("/alerts")).json()["total"] == 150, "nobody waits silently"

        # An emergency shelter opens: everyone waiting gets a place there, nobody is lost.
        hall = await open_site(housing_api, "Deutscher Pavillon", "notunterkunft", 400)
        await until_counts(api, {"reserved": 200})
        assert (await api.get("/alerts")).json()["items"] == []

        await check_in_everyone_reserved(api, housing_api, ids)
        await until_counts(api, {"housed": 200})
        sites = await sites_of(housing_api)
        assert (sites[home]["occupied"], sites[hall]["occupied"]) == (50, 150)
        living = (await api.get("/placements/summary")).json()["living_by_pillar"]
        assert (living["wohnheim"]["persons"], living["notunterkunft"]["persons"]) == (50, 150)


async def test_emergency_residents_move_on_and_a_closing_site_is_emptied(
    infra: Endpoints, new_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> None:
    async with both_services(infra, new_database, topic_prefix) as (api, housing_api):
        hall = await open_site(housing_api, "Turnhalle Fröbelstraße", "notunterkunft", 30)

        await until_sites(api, 1)
        ids = []
        for i in range(6):
            created = await api.post("/assignments", json=an_assignment(f"NI-H-{i}", 2))
            ids.append(created.json()["household_id"])
        await until_counts(api, {"reserved": 6})
        await check_in_everyone_reserved(api, housing_api, ids)
        await until_counts(api, {"housed": 6})

        # A small Wohnheim opens: the two longest in the hall move there.
        home = await open_site(housing_api, "Wohnheim Am Bahndamm", "wohnheim", 4)

        async def moving() -> list[str] | None:
            found = [await household(api, h) for h in ids]
            held = [
                h["household_id"] for h in found if h["pending"] and h["pending"]["reserved_until"]
            ]
            return held if len(held) == 2 else None

        movers = await eventually(moving)
        assert movers == ids[:2], "longest stay in the Notunterkunft first"
        await check_in_everyone_reserved(api, housing_api, movers)

        async def relocated() -> bool:
            found = [await household(api, h) for h in movers]
            return all(h["site"]["site_id"] == home for h in found)

        assert await eventually(relocated)
        kinds = [h["kind"] for h in (await household(api, movers[0]))["history"]]
        assert kinds[-3:] == ["reserved", "relocated", "housed"]
        sites = await sites_of(housing_api)
        assert (sites[hall]["occupied"], sites[home]["occupied"]) == (8, 4)

        # The hall closes with 4 households in it and no regular place free: they keep
        # their beds, "relocation pending" (rule 5: not homelessness alerts), until a new
        # Wohnheim takes them; then the hall can close.
        closing = await housing_api.post(
            f"/sites/{hall}/closing", json={"reason": "emergency_dissolution"}
        )
        assert closing.status_code == 200, closing.text
        await until_counts(api, {"housed": 2, "relocation_pending": 4})
        assert (await api.get("/alerts")).json()["total"] == 0
        assert (await housing_api.post(f"/sites/{hall}/close")).status_code == 409

        await open_site(housing_api, "Wohnheim Karlsruher Straße", "wohnheim", 20)

        async def all_held() -> bool:
            found = [await household(api, h) for h in ids[2:]]
            return all(h["pending"] and h["pending"]["reserved_until"] for h in found)

        assert await eventually(all_held)
        await check_in_everyone_reserved(api, housing_api, ids[2:])
        await until_counts(api, {"housed": 6})
        assert (await sites_of(housing_api))[hall]["occupied"] == 0
        assert (await housing_api.post(f"/sites/{hall}/close")).status_code == 200
