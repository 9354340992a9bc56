"""Simulated step: what one step of a simulation run costs (issue 13, budget of issue 20).

All five services run under uvicorn in simulation mode on fresh databases and topics.
One step is what a scenario does between two weeks of the city's history: advance every
service's simulated clock by a week (``POST /_simulation/clock``, which runs the business
sweeps due), then the barrier: wait until every outbox is empty and every consumer group
has caught up (``SimulationDriver.settle``). Measured on an empty week, so the figure is
the floor a scenario pays per step. Issue 20 replays 2010–2016 in about 365 weekly steps
within two minutes: the target is 365 steps ≤ 120 s (≈ 330 ms a step).
"""

from __future__ import annotations

import contextlib
import statistics
from datetime import datetime, timedelta

import httpx
from ankommen_runtime.auth import Role
from ankommen_runtime.local_issuer import LocalIssuer, audience_of
from ankommen_runtime.simulation_driver import CITY_STAGES, SimulationDriver

from .common import Bench, Figure, Result, ServiceChild, Target, running, service_topics

SERVICES = {
    "allocation": "allocation.app:create_app",
    "housing": "housing.app:create_app",
    "integration": "integration.app:create_app",
    "volunteers": "volunteers.app:create_app",
    "reporting": "reporting.app:create_app",
}
START = datetime.fromisoformat("2010-01-04T00:00:00+01:00")  # a Monday in Hannover
HISTORY_STEPS = 365  # weekly steps 2010–2016 (issue 20)
WARMUP = 3
STEPS = {"full": 100, "tiny": 8}


async def run(bench: Bench) -> Result:
    result = Result("simulated_step", "Simulated step (advance every clock, then the barrier)")
    steps = STEPS.get(bench.size.name, STEPS["tiny"])
    prefix = bench.prefix("simstep")
    # One partition per topic: the log order is the handling order (a repeatable run).
    topics = service_topics(prefix, *SERVICES, partitions=1)
    issuer = LocalIssuer()
    tokens = {name: issuer.mint([Role.OPERATIONS], audience=audience_of(name)) for name in SERVICES}
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(bench.topics(topics))
        dsns = {
            name: await stack.enter_async_context(bench.database(f"simstep_{name}"))
            for name in SERVICES
        }
        children = [
            ServiceChild(
                f"simstep-{name}",
                factory,
                {
                    "ANKOMMEN_DATABASE_URL": dsns[name],
                    "ANKOMMEN_KAFKA_BOOTSTRAP": bench.ep.kafka_bootstrap,
                    "ANKOMMEN_TOPIC_PREFIX": prefix,
                    "ANKOMMEN_CONSUMER_GROUP": f"bench-{bench.run_id}-simstep-{name}",
                    "ANKOMMEN_ENVIRONMENT": "bench",
                    "ANKOMMEN_SIMULATION": "true",
                    "ANKOMMEN_SIMULATION_SEED": "2010",
                    "ANKOMMEN_SIMULATION_START": START.isoformat(),
                    "ANKOMMEN_TOPIC_PARTITIONS": "1",
                },
                bench.logdir,
            )
            for name, factory in SERVICES.items()
        ]
        await stack.enter_async_context(running(*children))
        clients = {
            name: await stack.enter_async_context(httpx.AsyncClient(base_url=child.url, timeout=60))
            for name, child in zip(SERVICES, children, strict=True)
        }
        driver = SimulationDriver(clients, tokens, stages=CITY_STAGES)
        await driver.settle()
        costs = []
        with bench.ui.step(f"simulated steps: {steps}", steps + WARMUP) as ui_step:
            for week in range(1, steps + WARMUP + 1):
                cost = await driver.advance(START + timedelta(weeks=week))
                if week > WARMUP:
                    costs.append(cost)
                ui_step.update(week)
        end = START + timedelta(weeks=steps + WARMUP)
        clocks = {}
        for name, client in clients.items():
            answer = await client.get("/_simulation/clock", headers=driver.headers[name])
            clocks[name] = answer.json()["now"]
    totals = [c.total * 1000 for c in costs]
    mean = statistics.fmean(totals)
    p99 = sorted(totals)[max(0, int(len(totals) * 0.99) - 1)]
    result.figures += [
        Figure("simulated_step.mean_ms", "one weekly step, mean", mean, "ms"),
        Figure("simulated_step.p50_ms", "one weekly step, median", statistics.median(totals), "ms"),
        Figure("simulated_step.p99_ms", "one weekly step, p99", p99, "ms"),
        Figure(
            "simulated_step.advance_ms",
            "of which advancing the five clocks (sweeps included)",
            statistics.fmean(c.advance * 1000 for c in costs),
            "ms",
        ),
        Figure(
            "simulated_step.history_s",
            f"{HISTORY_STEPS} weekly steps (2010–2016), projected",
            mean * HISTORY_STEPS / 1000,
            "s",
            target=Target("<=", 120),
        ),
    ]
    result.checks.update(
        {
            "every service's clock at the last step": all(
                datetime.fromisoformat(now) == end for now in clocks.values()
            ),
            "every step settled": len(costs) == steps,
        }
    )
    result.details.update(
        steps=steps,
        warmup_steps=WARMUP,
        services=list(SERVICES),
        barrier_rounds_mean=round(statistics.fmean(c.rounds for c in costs), 2),
    )
    return result
