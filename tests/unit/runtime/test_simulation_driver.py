"""The simulation driver's barrier: settled by one round in which every reader has
committed exactly to the ends its partitions' writers reported, nothing in any outbox and
no service busy while it answered."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from ankommen_runtime.simulation_driver import NotSettled, SimulationDriver, lags, settled

TOPIC = "housing.events:0"


def service(
    answers: Iterator[dict[str, Any]],
    log: list[str],
    name: str,
    asked: list[str] | None = None,
    after_advance: dict[str, Any] | None = None,
) -> httpx.AsyncClient:
    """A service answering the barrier's questions from ``answers``; its answer to the
    clock carries ``after_advance`` as its part of the barrier (None: a service that does
    not say, as before ``ClockView.backlog``)."""

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer token-{name}"
        if request.method == "POST":
            log.append(f"{name} advanced to {json.loads(request.content)['to']}")
            clock = {"now": "x", "seed": 1, "sweeps": {"s": 1}}
            if after_advance is not None:
                clock["backlog"] = after_advance
            return httpx.Response(200, json=clock)
        if asked is not None:
            asked.append(str(request.url.query, "ascii"))
        return httpx.Response(200, json=next(answers))

    return httpx.AsyncClient(transport=httpx.MockTransport(handle), base_url="http://svc")


def writer(end: int, outbox: int = 0, quiet: bool = True) -> dict[str, Any]:
    """Housing: writes housing.events (one partition), reads nothing here."""
    return {
        "outbox": outbox,
        "ends": {TOPIC: end},
        "committed": {},
        "quiet": quiet,
        "writes": ["housing.events"],
    }


def reader(committed: int, quiet: bool = True) -> dict[str, Any]:
    """Allocation: reads housing.events; knew its end as 0 when it started."""
    return {
        "outbox": 0,
        "ends": {TOPIC: 0},
        "committed": {TOPIC: committed},
        "quiet": quiet,
        "writes": ["allocation.events"],
    }


def sink(committed: int) -> dict[str, Any]:
    """Reporting: reads housing.events, writes no topic."""
    return {**reader(committed), "writes": []}


def driver_of(
    housing: Iterator[dict[str, Any]],
    allocation: Iterator[dict[str, Any]],
    asked: list[str] | None = None,
    **options: Any,
) -> SimulationDriver:
    clients = {
        "housing": service(housing, [], "housing"),
        "allocation": service(allocation, [], "allocation", asked),
    }
    return SimulationDriver(clients, {n: f"token-{n}" for n in clients}, **options)


async def test_one_round_settles_when_every_reader_committed_to_its_writers_end() -> None:
    driver = driver_of(iter([writer(3)]), iter([reader(3)]), poll_seconds=0)
    assert await driver.settle() == 1


async def test_a_reader_behind_its_writer_is_told_the_end_to_wait_for() -> None:
    asked: list[str] = []
    driver = driver_of(
        iter([writer(3), writer(3)]), iter([reader(2), reader(3)]), asked, wait_seconds=2.0
    )
    assert await driver.settle() == 2
    assert asked == ["wait=2.000", "wait=2.000&until=housing.events%3A0%3A3"], (
        "the second round tells the reader the end the writer reported in the first"
    )


async def test_a_reader_past_its_writers_end_saw_a_world_that_moved_and_is_asked_again() -> None:
    # housing answered before its relay wrote the fourth event, allocation after it had
    # handled it: both look done, but the two moments saw different worlds
    driver = driver_of(iter([writer(3), writer(4)]), iter([reader(4), reader(4)]), poll_seconds=0)
    assert await driver.settle() == 2


@pytest.mark.parametrize(
    ("housing", "allocation"),
    [
        (writer(3, outbox=1), reader(3)),  # an event not yet published
        (writer(3, quiet=False), reader(3)),  # a relay round ran while it answered
        (writer(3), reader(3, quiet=False)),  # a batch ran while it answered
    ],
)
def test_an_outbox_with_rows_or_a_busy_answer_is_not_settled(
    housing: dict[str, Any], allocation: dict[str, Any]
) -> None:
    assert not settled({"housing": housing, "allocation": allocation})
    assert settled({"housing": writer(3), "allocation": reader(3)})


def test_the_lag_of_a_reader_is_counted_against_the_ends_of_the_same_round() -> None:
    assert lags({"housing": writer(7), "allocation": reader(3)}) == {"housing": 0, "allocation": 4}


async def test_stages_advance_in_order_and_every_service_is_staged_once() -> None:
    log: list[str] = []
    always = iter([writer(0)] * 10)
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
    driver = driver_of(iter([writer(9, outbox=2)] * 1000), iter([reader(1)] * 1000), poll_seconds=0)
    with pytest.raises(NotSettled, match=r"'outbox': 2.*'lag': 8"):
        await driver.settle(timeout=0.05)


async def test_a_long_backlog_is_asked_about_less_and_less_often_up_to_a_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pauses: list[float] = []

    async def no_sleep(seconds: float) -> None:
        pauses.append(round(seconds, 4))

    monkeypatch.setattr("ankommen_runtime.simulation_driver.asyncio.sleep", no_sleep)
    driver = driver_of(
        iter([*[writer(3, outbox=1)] * 6, writer(3)]),
        iter([reader(3)] * 7),
        poll_seconds=0.02,
        max_poll_seconds=0.05,
        wait_seconds=0,  # the services answer at once: the driver paces the rounds
    )
    assert await driver.settle() == 7
    assert pauses == [0.02, 0.03, 0.045, 0.05, 0.05, 0.05], "growing while busy, capped"


async def test_each_service_answers_when_its_work_has_run_out_and_the_driver_never_sleeps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pauses: list[float] = []

    async def no_sleep(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr("ankommen_runtime.simulation_driver.asyncio.sleep", no_sleep)
    waits: list[str] = []
    answers = iter([writer(3, outbox=1), writer(3, outbox=1), writer(3)])

    def handle(request: httpx.Request) -> httpx.Response:
        waits.append(request.url.params["wait"])
        return httpx.Response(200, json=next(answers))

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle), base_url="http://svc")
    driver = SimulationDriver({"housing": client}, {"housing": "t"}, wait_seconds=2.0)
    assert await driver.settle(timeout=60) == 3
    assert waits == ["2.000"] * 3, "every answer may wait for the service's work"
    assert pauses == [], "the services' answers pace the rounds"
    # near the deadline an answer may wait only for what is left of it
    answers = iter([writer(3, outbox=1), writer(3)])
    waits.clear()
    assert await driver.settle(timeout=0.5) == 2
    assert all(float(w) <= 0.5 for w in waits), waits


def three_services(
    housing: list[dict[str, Any]],
    allocation: list[dict[str, Any]],
    reporting: list[dict[str, Any]],
) -> tuple[SimulationDriver, list[str]]:
    """Housing writes, allocation and reporting read it; the driver's questions to
    reporting are counted."""
    asked: list[str] = []
    clients = {
        "housing": service(iter(housing), [], "housing"),
        "allocation": service(iter(allocation), [], "allocation"),
        "reporting": service(iter(reporting), [], "reporting", asked),
    }
    driver = SimulationDriver(clients, {n: f"token-{n}" for n in clients}, poll_seconds=0)
    return driver, asked


async def test_a_sink_behind_does_not_hold_a_barrier_that_skips_sinks() -> None:
    driver, asked = three_services(
        [writer(0), writer(5)], [reader(0), reader(5)], [sink(0), sink(2)]
    )
    assert await driver.settle() == 1, "a round of all: the driver learns the sinks"
    assert driver.sinks == {"reporting"}
    assert await driver.settle(skip_sinks=True) == 1
    assert len(asked) == 1, "reporting, two events behind, was not asked"


async def test_a_barrier_that_does_not_skip_sinks_waits_for_them() -> None:
    driver, asked = three_services(
        [writer(0), writer(5), writer(5)],
        [reader(0), reader(5), reader(5)],
        [sink(0), sink(2), sink(5)],
    )
    await driver.settle()
    assert await driver.settle() == 2, "reporting two events behind, then caught up"
    assert len(asked) == 3


async def test_before_a_round_of_all_no_service_is_known_to_be_a_sink() -> None:
    driver, _ = three_services([writer(3), writer(3)], [reader(3)] * 2, [sink(2), sink(3)])
    assert await driver.settle(skip_sinks=True) == 2, "reporting asked, and waited for"
    assert driver.sinks == {"reporting"}


async def test_a_service_that_writes_is_never_skipped() -> None:
    driver, _ = three_services([writer(3)] * 3, [reader(3), reader(2), reader(3)], [sink(3)])
    await driver.settle()
    assert await driver.settle(skip_sinks=True) == 2, "allocation, a writer, waited for"


def advancing(
    housing: dict[str, Any] | None,
    allocation: dict[str, Any] | None,
    barrier: Sequence[tuple[dict[str, Any], dict[str, Any]]] = (),
    reporting: dict[str, Any] | None = None,
) -> tuple[SimulationDriver, list[str]]:
    """Services whose answers to the clock carry these parts of the barrier, and whose
    barrier rounds (if asked) answer ``barrier``; the driver's questions are counted."""
    asked: list[str] = []
    parts = {"housing": housing, "allocation": allocation, "reporting": reporting}
    rounds = {
        "housing": iter([h for h, _ in barrier]),
        "allocation": iter([a for _, a in barrier]),
        "reporting": iter([sink(a["committed"][TOPIC]) for _, a in barrier]),
    }
    names = ["housing", "allocation"] + (["reporting"] if reporting is not None else [])
    clients = {n: service(rounds[n], [], n, asked, after_advance=parts[n]) for n in names}
    driver = SimulationDriver(clients, {n: f"token-{n}" for n in clients}, poll_seconds=0)
    return driver, asked


async def test_a_step_whose_clocks_answer_settled_needs_no_barrier() -> None:
    driver, asked = advancing(writer(3), reader(3))
    cost = await driver.advance(datetime(2011, 3, 7, tzinfo=UTC))
    assert cost.rounds == 0, "no sweep left anything on its way"
    assert asked == [], "nobody was asked for the barrier"


async def test_a_sweep_that_published_is_followed_by_the_barrier() -> None:
    # housing's sweep released a hold: its event is out (end 4), allocation not there yet
    driver, asked = advancing(writer(4), reader(3), barrier=[(writer(4), reader(4))])
    cost = await driver.advance(datetime(2011, 3, 7, tzinfo=UTC))
    assert cost.rounds == 1
    assert len(asked) == 2, "both services were asked once"


@pytest.mark.parametrize(
    ("housing", "allocation"),
    [
        (writer(3, outbox=1), reader(3)),  # the sweep's event not yet published
        (writer(3, quiet=False), reader(3)),  # its relay round ran while it answered
        (writer(3), None),  # a service that does not say where it stands
    ],
)
async def test_clocks_that_answer_anything_but_settled_leave_the_step_to_the_barrier(
    housing: dict[str, Any], allocation: dict[str, Any] | None
) -> None:
    driver, _ = advancing(housing, allocation)
    moved = await driver.move_clocks(datetime(2011, 3, 7, tzinfo=UTC))
    assert not moved.settled
    assert set(moved.sweeps) == {"housing", "allocation"}


async def test_a_sink_behind_does_not_unsettle_clocks_that_skip_sinks() -> None:
    driver, _ = advancing(writer(3), reader(3), barrier=[(writer(3), reader(3))], reporting=sink(1))
    monday = datetime(2011, 3, 7, tzinfo=UTC)
    assert not (await driver.move_clocks(monday, skip_sinks=True)).settled, (
        "before a round of all, no service is known to be a sink"
    )
    await driver.settle()
    assert driver.sinks == {"reporting"}
    assert (await driver.move_clocks(monday, skip_sinks=True)).settled
    assert not (await driver.move_clocks(monday)).settled, "waiting for sinks: reporting is behind"
