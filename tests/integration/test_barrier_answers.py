"""The barrier's answer on real Kafka and PostgreSQL: ``GET /_simulation/backlog?wait=``
comes when the service's own work has run out (its relay has published what a command
recorded; its consumer has handled what another service published), not the moment it
is asked, and it is still the outbox's and the consumer group's own account."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from ankommen_local.infra import Endpoints
from simulation_support import Simulated, simulated

MONDAY = datetime(2015, 10, 5, 6, 0, tzinfo=UTC)


async def answer(sim: Simulated, service: str, wait: float) -> dict[str, Any]:
    api = sim.allocation if service == "allocation" else sim.housing
    response = await api.get(
        f"/_simulation/backlog?wait={wait}", headers=sim.driver.headers[service]
    )
    assert response.status_code == 200, response.text
    backlog: dict[str, Any] = response.json()
    return backlog


async def test_an_answer_waits_for_the_relay_and_then_for_the_consumer_of_its_event(
    infra: Endpoints, new_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> None:
    async with simulated(infra, new_database, topic_prefix, start=MONDAY) as sim:
        before = await sim.driver.backlog()
        for n in range(3):  # housing records SiteOpened; allocation consumes it
            opened = await sim.housing.post(
                "/sites",
                json={
                    "name": f"Wohnheim Barriere {n}",
                    "pillar": "wohnheim",
                    "district": 9,
                    "operator": "DRK",
                    "capacity": 20,
                    "occurred_at": MONDAY.isoformat(),
                },
            )
            assert opened.status_code == 201, opened.text
            # Right after the command: housing's answer waits for its relay's round.
            housing = await answer(sim, "housing", wait=30)
            assert housing["recorded"] > before["housing"]["recorded"]
            assert housing["outbox"] == 0, "answered before the relay had published"
            # The event is on the topic now; allocation's answer waits until it is handled.
            allocation = await answer(sim, "allocation", wait=30)
            assert allocation["lag"] == 0, "answered before the consumer had handled it"
            recorded = housing["recorded"] - before["housing"]["recorded"]  # ids: 1, 2, …
            handled = allocation["handled"] - before["allocation"]["handled"]  # offsets
            assert handled == recorded, "every event housing recorded since, handled"
            before = {"housing": housing, "allocation": allocation}
        # Without ``wait`` the answer comes at once, as it is: nothing left here now.
        assert (await answer(sim, "allocation", wait=0)) == allocation
