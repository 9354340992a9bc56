"""Placement: the Land's weekly batches through the allocation ↔ housing saga to a bed.

The real allocation and housing apps run under uvicorn, each with its own database. The
Land's assignments arrive as weekly batches (``POST /assignments/batch``); allocation
decides, housing reserves or rejects, and staff at the sites check households in
(``POST /reservations/{id}/check-in``) as soon as a reservation is held. Measured:
assignments per second from the first batch to the last household housed (allocation has
folded its OccupantCheckedIn), and the share of households that needed more than one
attempt (a rejected reservation: allocation's replica of the sites was stale).
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx
from ankommen_runtime.local_issuer import local_tool_headers

from .common import Bench, Figure, Result, ServiceChild, rate, running, service_topics

BATCH = 100  # assignments per weekly batch
CHECK_IN_CONCURRENCY = 8
PARTITIONS = 3
HOUSEHOLD_SIZES = (1, 1, 2, 3, 4, 5)  # single adults and families, 2.7 persons on average
AGE_BANDS = ("18-26", "27-49", "50-64")


def _assignment(rng: random.Random, week: int, i: int) -> dict[str, Any]:
    size = rng.choice(HOUSEHOLD_SIZES)
    return {
        "land_reference": f"NI-BENCH-KW{week:03d}-{i:06d}",
        "members": [
            {
                "age_band": rng.choice(AGE_BANDS),
                "gender": rng.choice(("female", "male")),
                "country_of_origin": rng.choice(("SYR", "AFG", "IRQ", "ERI")),
            }
            for _ in range(size)
        ],
    }


def _sites(rng: random.Random, persons: int) -> list[dict[str, Any]]:
    """Wohnheime for about 80 % of the persons, Notunterkünfte for 50 % more: every
    household fits somewhere, and the last ones go to emergency shelters, as in 2015/16."""
    sites = []
    for pillar, share in (("wohnheim", 0.8), ("notunterkunft", 0.5)):
        places = int(persons * share) + 10
        while places > 0:
            capacity = min(places, rng.randint(40, 120))
            sites.append(
                {
                    "name": f"Bench-{pillar}-{len(sites)}",
                    "pillar": pillar,
                    "district": rng.randint(1, 13),
                    "operator": rng.choice(("DRK", "Johanniter", "Malteser", "AWO")),
                    "capacity": max(capacity, 5),
                }
            )
            places -= capacity
    return sites


def _service(
    bench: Bench, name: str, factory: str, dsn: str, prefix: str, extra: dict[str, str]
) -> ServiceChild:
    return ServiceChild(
        name,
        factory,
        {
            "ANKOMMEN_DATABASE_URL": dsn,
            "ANKOMMEN_KAFKA_BOOTSTRAP": bench.ep.kafka_bootstrap,
            "ANKOMMEN_TOPIC_PREFIX": prefix,
            "ANKOMMEN_CONSUMER_GROUP": f"bench-{bench.run_id}-{name}",
            **extra,
        },
        bench.logdir,
    )


async def _until(check: Any, what: str, children: list[ServiceChild], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        for child in children:
            child.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"placement: {what} did not happen within {timeout:.0f}s")
        await asyncio.sleep(0.1)


async def run(bench: Bench) -> Result:
    result = Result("placement", "Placement (allocation ↔ housing saga to a checked-in bed)")
    n = bench.size.placement_assignments
    rng = random.Random(2016)
    assignments = [_assignment(rng, i // BATCH, i) for i in range(n)]
    persons = sum(len(a["members"]) for a in assignments)
    sites = _sites(rng, persons)
    prefix = bench.prefix("placement")
    topics = service_topics(prefix, "allocation", "housing", partitions=PARTITIONS)
    async with (
        bench.database("placement_allocation") as allocation_dsn,
        bench.database("placement_housing") as housing_dsn,
        bench.topics(topics),
    ):
        allocation = _service(
            bench,
            "placement-allocation",
            "allocation.app:create_app",
            allocation_dsn,
            prefix,
            {},
        )
        housing = _service(
            bench, "placement-housing", "housing.app:create_app", housing_dsn, prefix, {}
        )
        children = [allocation, housing]
        auth = local_tool_headers()
        async with (
            running(allocation, housing),
            httpx.AsyncClient(base_url=allocation.url, timeout=60, headers=auth) as alloc,
            httpx.AsyncClient(base_url=housing.url, timeout=60, headers=auth) as house,
        ):
            with bench.ui.step(f"placement: open {len(sites)} sites", len(sites)) as step:
                for i, site in enumerate(sites):
                    response = await house.post("/sites", json=site)
                    response.raise_for_status()
                    step.update(i + 1)

            async def replica_ready() -> bool:
                return len((await alloc.get("/sites")).json()["items"]) >= len(sites)

            await _until(replica_ready, "allocation learning every site", children, 120)
            measured = await _place(bench, alloc, house, assignments, children)
            outcome = await _outcome(alloc, house)
    seconds = measured["housed_at"] - measured["started"]
    result.figures += [
        Figure(
            "placement.assignments_per_s",
            "assignments/s, first batch to last household housed",
            rate(n, seconds),
            "assignments/s",
        ),
        Figure(
            "placement.retry_share",
            "share needing a retry (attempt > 1)",
            outcome["retried"] / n if n else None,
            "share",
        ),
    ]
    result.checks.update(
        {
            "every household housed once": outcome["housed"] == n,
            "housing has one occupant per household": outcome["occupants"] == n,
            "no site over capacity": outcome["over_capacity"] == 0,
        }
    )
    result.details.update(
        assignments=n,
        persons=persons,
        sites=len(sites),
        assignments_per_batch=BATCH,
        seconds=round(seconds, 2),
        batches_posted_after_s=round(measured["posted_at"] - measured["started"], 2),
        check_ins=measured["check_ins"],
        check_ins_refused=measured["refused"],
        households_retried=outcome["retried"],
        max_attempts=outcome["max_attempts"],
        by_pillar=outcome["by_pillar"],
    )
    return result


async def _place(
    bench: Bench,
    alloc: httpx.AsyncClient,
    house: httpx.AsyncClient,
    assignments: list[dict[str, Any]],
    children: list[ServiceChild],
) -> dict[str, Any]:
    n = len(assignments)
    state = {"check_ins": 0, "refused": 0}
    checked: set[str] = set()
    posting_done = asyncio.Event()
    limit = asyncio.Semaphore(CHECK_IN_CONCURRENCY)

    async def check_in(reservation_id: str) -> None:
        async with limit:
            response = await house.post(f"/reservations/{reservation_id}/check-in")
        if response.status_code == 201:
            state["check_ins"] += 1
        else:  # released or cancelled meanwhile: allocation places the household again
            state["refused"] += 1

    async def staff() -> None:
        """Staff at the sites: check in every held reservation as soon as it shows."""
        while True:
            held = await house.get("/reservations", params={"status": "held", "limit": 1000})
            fresh = [
                r["reservation_id"]
                for r in held.json()["items"]
                if r["reservation_id"] not in checked
            ]
            checked.update(fresh)
            await asyncio.gather(*(check_in(r) for r in fresh))
            if not fresh:
                await asyncio.sleep(0.05)

    async def housed() -> int:
        summary = (await alloc.get("/placements/summary")).json()
        return int(summary["by_status"].get("housed", {}).get("households", 0))

    started = time.time()
    staff_task = asyncio.create_task(staff())
    try:
        with bench.ui.step(f"placement: {n:,} assignments to a bed", n) as step:

            async def post_batches() -> None:
                for i in range(0, n, BATCH):
                    response = await alloc.post(
                        "/assignments/batch", json={"assignments": assignments[i : i + BATCH]}
                    )
                    if response.status_code not in (200, 201):
                        raise RuntimeError(
                            f"batch answered {response.status_code}: {response.text[:500]}"
                        )
                posting_done.set()

            poster = asyncio.create_task(post_batches())
            posted_at = None
            last, last_change = -1, time.monotonic()
            while True:
                count = await housed()
                step.update(count)
                if poster.done():
                    poster.result()  # raises if a batch failed
                    posted_at = posted_at or time.time()
                if count >= n:
                    housed_at = time.time()
                    break
                if count != last:
                    last, last_change = count, time.monotonic()
                elif time.monotonic() - last_change > 120:
                    raise RuntimeError(f"placement stalled at {count}/{n} households housed")
                if staff_task.done():
                    staff_task.result()
                for child in children:
                    child.check_alive()
                await asyncio.sleep(0.1)
    finally:
        staff_task.cancel()
        await asyncio.gather(staff_task, return_exceptions=True)
    return {
        "started": started,
        "posted_at": posted_at or housed_at,
        "housed_at": housed_at,
        **state,
    }


async def _every(client: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    """Every item of a paged list (the runtime's pages: 100 items unless asked for more)."""
    items: list[dict[str, Any]] = []
    while True:
        page = (await client.get(path, params={"limit": 1000, "offset": len(items)})).json()
        items += page["items"]
        if not page["items"] or len(items) >= page["total"]:
            return items


async def _outcome(alloc: httpx.AsyncClient, house: httpx.AsyncClient) -> dict[str, Any]:
    households = await _every(alloc, "/households")
    summary = (await alloc.get("/placements/summary")).json()
    # Paged like every list: the first page alone had 100 of 2,000 occupants, and the check
    # "one occupant per household" failed on the bench, not on housing.
    sites = await _every(house, "/sites")
    occupants = await _every(house, "/occupants")
    over = [s for s in sites if s["occupied"] + s["reserved"] + s["blocked"] > s["capacity"]]
    attempts = [h["attempts"] for h in households]
    return {
        "housed": sum(1 for h in households if h["status"] == "housed"),
        "retried": sum(1 for a in attempts if a > 1),
        "max_attempts": max(attempts, default=0),
        "occupants": len(occupants),
        "over_capacity": len(over),
        "by_pillar": {p: c["households"] for p, c in summary["living_by_pillar"].items()},
    }
