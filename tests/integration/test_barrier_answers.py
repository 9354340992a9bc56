"""The barrier's answer on real Kafka and PostgreSQL: ``GET /_simulation/backlog?wait=``
comes when the service's own work has run out (its relay has published what a command
recorded; its consumer has handled what another service published), not the moment it
is asked; it reports where the partitions it writes end and how far its group has
committed, as the process noted them, and one round of such answers settles a step."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from ankommen_local.infra import Endpoints
from ankommen_runtime.kafka_clients import positions_on_kafka
from ankommen_runtime.positions import key
from ankommen_runtime.simulation_driver import ends_of, settled
from simulation_support import Simulated, simulated

MONDAY = datetime(2015, 10, 5, 6, 0, tzinfo=UTC)


async def answer(
    sim: Simulated, service: str, wait: float, until: dict[str, int] | None = None
) -> dict[str, Any]:
    api = sim.allocation if service == "allocation" else sim.housing
    response = await api.get(
        "/_simulation/backlog",
        params=[("wait", wait)] + [("until", f"{p}:{o}") for p, o in (until or {}).items()],
        headers=sim.driver.headers[service],
    )
    assert response.status_code == 200, response.text
    backlog: dict[str, Any] = response.json()
    return backlog


def written(backlog: dict[str, Any], topic: str) -> int:
    """Events on ``topic`` as the answer knows its end (the sum over its partitions)."""
    return sum(end for p, end in backlog["ends"].items() if p.startswith(f"{topic}:"))


async def test_an_answer_waits_for_the_relay_and_then_for_the_consumer_of_its_event(
    infra: Endpoints, new_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> None:
    async with simulated(infra, new_database, topic_prefix, start=MONDAY) as sim:
        housing_topic = f"{topic_prefix}housing.events"
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
            assert housing["outbox"] == 0, "answered before the relay had published"
            assert housing["quiet"]
            assert housing["writes"] == [housing_topic], "a writer, never skipped as a sink"
            assert written(housing, housing_topic) == written(before["housing"], housing_topic) + 1
            # Told where housing's partitions end, allocation's answer waits until its
            # group has committed up to there: the event handled.
            ends = {p: e for p, e in housing["ends"].items() if p.startswith(housing_topic)}
            allocation = await answer(sim, "allocation", wait=30, until=ends)
            committed = allocation["committed"]
            assert {p: committed[p] for p in ends} == ends, "answered before it was handled"
            assert settled({"housing": housing, "allocation": allocation})
            before = {"housing": housing, "allocation": allocation}
        # A malformed ``until`` is refused, naming the item.
        refused = await sim.allocation.get(
            "/_simulation/backlog",
            params=[("until", f"{housing_topic}:0:7"), ("until", "housing.events:0")],
            headers=sim.driver.headers["allocation"],
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["loc"] == ["query", "until", 1]
        # Without ``wait`` the answer comes at once, as it is: nothing left here now. (Not
        # always quiet: the relay's idle look at its outbox, once a second, is work too.)
        now = await answer(sim, "allocation", wait=0)
        assert {**now, "quiet": True} == {**allocation, "quiet": True}
        assert await sim.driver.settle() == 1, "one round of such answers settles"
        # What the two processes noted of their writes and commits is what Kafka has.
        read = sorted({p.rpartition(":")[0] for p in allocation["committed"]})
        assert housing_topic in read
        kafka_ends, kafka_committed = await positions_on_kafka(
            infra.kafka_bootstrap,
            f"{topic_prefix}allocation",
            read,
            written=[f"{topic_prefix}allocation.events"],
        )
        noted = ends_of({"housing": housing, "allocation": allocation})
        assert {key(tp.topic, tp.partition): e for tp, e in kafka_ends.items()} == noted
        assert {key(tp.topic, tp.partition): c for tp, c in kafka_committed.items()} == allocation[
            "committed"
        ]
