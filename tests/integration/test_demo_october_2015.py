"""``make demo``'s scenario, run through its own functions against the shared Kafka and
PostgreSQL (never ``make demo`` itself): its October 2015 weeks carry October 2015 dates."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path

from ankommen_local import demo
from ankommen_local.config import SERVICES
from ankommen_local.infra import Endpoints
from ankommen_local.util import free_port
from support import read_events


async def test_the_demo_replays_october_2015_with_october_2015_dates_in_its_events(
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
    try:
        result = await demo.scenario({p.name: p.url for p in procs}, demo.operations_tokens())
    finally:
        for proc in procs:
            await asyncio.to_thread(proc.stop)

    households = demo.WEEKS * demo.HOUSEHOLDS_PER_WEEK
    assert result["summary"]["total"]["households"] == households
    assert result["dates"]["first_assignment"].startswith("2015-10-02")
    assert result["dates"]["last_assignment"].startswith("2015-10-16")

    assigned = await read_events(
        infra.kafka_bootstrap,
        f"{topic_prefix}allocation.events",
        until=lambda es: sum(e.type == "RefugeeAssigned" for e in es) == households,
    )
    decisions = {e.occurred_at.date() for e in assigned if e.type == "RefugeeAssigned"}
    assert decisions == {date(2015, 10, 2), date(2015, 10, 9), date(2015, 10, 16)}, "Fridays"
    housing = await read_events(
        infra.kafka_bootstrap,
        f"{topic_prefix}housing.events",
        until=lambda es: any(e.type == "OccupantCheckedIn" for e in es),
    )
    check_ins = {e.occurred_at.date() for e in housing if e.type == "OccupantCheckedIn"}
    assert check_ins == {date(2015, 10, 5), date(2015, 10, 12), date(2015, 10, 19)}, "Mondays"
    # Everything happens in October 2015 but the integration story's move-out, in 2016.
    dated = {
        (e.occurred_at.year, e.occurred_at.month)
        if e.occurred_at.date() != demo.STORY_DAY.date()
        else "story"
        for e in [*assigned, *housing]
    }
    assert dated <= {(2015, 10), "story"}, dated
    assert result["integration"]["case"]["move_out"]["completed_on"] == "2016-06-01"
    assert all(e.recorded_at > e.occurred_at for e in [*assigned, *housing]), "recorded later"
