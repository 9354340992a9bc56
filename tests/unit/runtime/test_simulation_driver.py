"""The simulation driver's barrier: settled only when two rounds saw nothing move."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from ankommen_runtime.simulation_driver import NotSettled, SimulationDriver


def service(answers: Iterator[dict[str, int]], log: list[str], name: str) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer token-{name}"
        if request.method == "POST":
            log.append(f"{name} advanced to {json.loads(request.content)['to']}")
            return httpx.Response(200, json={"now": "x", "seed": 1, "sweeps": {"s": 1}})
        return httpx.Response(200, json=next(answers))

    return httpx.AsyncClient(transport=httpx.MockTransport(handle), base_url="http://svc")


def idle(recorded: int, handled: int) -> dict[str, int]:
    return {"outbox": 0, "lag": 0, "recorded": recorded, "handled": handled}


async def test_the_barrier_waits_until_two_idle_rounds_agree_on_the_counters() -> None:
    log: list[str] = []
    # Both look idle from the first round, but housing's counters move between rounds 1
    # and 2 (an event passed through between two answers): not settled before round 3.
    housing = iter([idle(4, 4), idle(5, 5), idle(5, 5)])
    allocation = iter([idle(3, 3), idle(3, 3), idle(3, 3)])
    clients = {
        "allocation": service(allocation, log, "allocation"),
        "housing": service(housing, log, "housing"),
    }
    tokens = {"allocation": "token-allocation", "housing": "token-housing"}
    driver = SimulationDriver(clients, tokens, poll_seconds=0)
    assert await driver.settle() == 3


async def test_stages_advance_in_order_and_every_service_is_staged_once() -> None:
    log: list[str] = []
    always = iter([idle(0, 0)] * 10)
    clients = {n: service(always, log, n) for n in ("allocation", "housing", "reporting")}
    tokens = {n: f"token-{n}" for n in clients}
    with pytest.raises(ValueError, match="exactly once"):
        SimulationDriver(clients, tokens, stages=[["allocation"], ["housing"]])
    driver = SimulationDriver(clients, tokens, stages=[["allocation", "reporting"], ["housing"]])
    to = datetime(2015, 10, 12, tzinfo=UTC)
    cost = await driver.advance(to)
    assert log[-1] == f"housing advanced to {to.isoformat()}", "housing's stage comes last"
    assert set(cost.sweeps) == {"allocation", "housing", "reporting"}


async def test_the_barrier_says_what_is_left_when_it_times_out() -> None:
    busy = iter([{"outbox": 2, "lag": 1, "recorded": 9, "handled": 1}] * 1000)
    driver = SimulationDriver(
        {"housing": service(busy, [], "housing")}, {"housing": "token-housing"}, poll_seconds=0
    )
    with pytest.raises(NotSettled, match="'outbox': 2"):
        await driver.settle(timeout=0.05)


async def test_a_backlog_is_waited_out() -> None:
    busy = [{"outbox": 1, "lag": 0, "recorded": 3, "handled": 2}]
    housing = iter([*busy, idle(3, 3), idle(3, 3)])
    driver = SimulationDriver(
        {"housing": service(housing, [], "housing")}, {"housing": "token-housing"}, poll_seconds=0
    )
    assert await driver.settle() == 3


async def test_a_long_backlog_is_asked_about_less_and_less_often_up_to_a_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pauses: list[float] = []

    async def no_sleep(seconds: float) -> None:
        pauses.append(round(seconds, 4))

    monkeypatch.setattr("ankommen_runtime.simulation_driver.asyncio.sleep", no_sleep)
    busy = {"outbox": 1, "lag": 0, "recorded": 3, "handled": 2}
    # busy six rounds, idle once (its counters differ from the next), busy again, settled
    housing = iter([*[busy] * 6, idle(3, 2), busy, idle(3, 3), idle(3, 3)])
    driver = SimulationDriver(
        {"housing": service(housing, [], "housing")},
        {"housing": "token-housing"},
        poll_seconds=0.02,
        max_poll_seconds=0.05,
        wait_seconds=0,  # the services answer at once: the driver paces the rounds
    )
    assert await driver.settle() == 10
    assert pauses == [0.02, 0.03, 0.045, 0.05, 0.05, 0.05, 0.02], (
        "growing while busy, capped, and back to the first pause once a round was idle"
    )


async def test_each_service_answers_when_its_work_has_run_out_and_the_driver_never_sleeps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pauses: list[float] = []

    async def no_sleep(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr("ankommen_runtime.simulation_driver.asyncio.sleep", no_sleep)
    waits: list[str] = []
    busy = {"outbox": 1, "lag": 0, "recorded": 3, "handled": 2}
    answers = iter([busy, busy, idle(3, 3), idle(3, 3)])

    def handle(request: httpx.Request) -> httpx.Response:
        waits.append(request.url.params["wait"])
        return httpx.Response(200, json=next(answers))

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle), base_url="http://svc")
    driver = SimulationDriver({"housing": client}, {"housing": "t"}, wait_seconds=2.0)
    assert await driver.settle(timeout=60) == 4
    assert waits == ["2.000"] * 4, "every answer may wait for the service's work"
    assert pauses == [], "the services' answers pace the rounds"
    # near the deadline an answer may wait only for what is left of it
    answers = iter([busy, idle(3, 3), idle(3, 3)])
    waits.clear()
    assert await driver.settle(timeout=0.5) == 3
    assert all(float(w) <= 0.5 for w in waits), waits
