"""A service's work in progress (``Activity``): the relay and the consumers count on it,
and the barrier's answer (``simulation.backlog`` with ``wait``) asks the database again
only when that work has run out, never missing work that ended meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition
from ankommen_runtime import simulation
from ankommen_runtime.activity import Activity
from ankommen_runtime.outbox import OutboxRelay
from ankommen_runtime.positions import Positions


async def test_nothing_running_is_quiet_at_once() -> None:
    activity = Activity()
    assert await activity.quiet_since(None, timeout=0)


async def test_a_waiter_wakes_when_the_last_piece_of_work_ends() -> None:
    activity = Activity()
    activity.begin()
    activity.begin()
    waiter = asyncio.create_task(activity.quiet_since(None, timeout=5))
    await asyncio.sleep(0)
    activity.end()
    await asyncio.sleep(0)
    assert not waiter.done(), "one piece of work still runs"
    activity.end()
    assert await waiter
    assert activity.quieted == 1


async def test_work_that_ended_after_the_count_was_read_is_not_missed() -> None:
    activity = Activity()
    seen = activity.quieted
    with activity.working():  # begins and ends while the waiter was asking the database
        pass
    assert await activity.quiet_since(seen, timeout=0), "it ran out after ``seen``: no wait"


async def test_a_waiter_for_work_not_yet_begun_waits_for_it_to_begin_and_end() -> None:
    activity = Activity()
    waiter = asyncio.create_task(activity.quiet_since(activity.quieted, timeout=5))
    await asyncio.sleep(0.01)
    assert not waiter.done(), "nothing has run since: an event still on its way"
    with activity.working():
        await asyncio.sleep(0)
    assert await waiter


async def test_a_waiter_gives_up_after_its_time() -> None:
    activity = Activity()
    activity.begin()
    assert not await activity.quiet_since(None, timeout=0.01)
    assert not await activity.quiet_since(activity.quieted, timeout=0.01)


def test_an_end_without_a_begin_is_a_bug() -> None:
    with pytest.raises(RuntimeError, match="without a begin"):
        Activity().end()


# -- the relay -------------------------------------------------------------------------------


class Rounds:
    """The relay's rounds, each held until the test lets it finish."""

    def __init__(self, relay: OutboxRelay, fail: bool = False) -> None:
        self.relay, self.fail = relay, fail
        self.started = asyncio.Event()  # a round waits for ``go``
        self.go = asyncio.Event()
        self.running_during: list[int] = []

    async def __call__(self) -> int:
        self.running_during.append(self.relay.activity.running)
        self.started.set()
        await self.go.wait()
        self.go.clear()
        self.started.clear()
        if self.fail:
            raise ConnectionError("broker gone")
        return 0


@contextlib.asynccontextmanager
async def relay_with_rounds(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[OutboxRelay, Rounds]]:
    """A relay running its rounds (``Rounds``), past its first round at start; stopped after."""
    relay = OutboxRelay(None, None, service="test", poll_seconds=60)  # type: ignore[arg-type]
    rounds = Rounds(relay)
    monkeypatch.setattr(relay, "publish_batch", rounds)
    monkeypatch.setattr(relay, "_maybe_purge", _nothing)
    task = asyncio.create_task(relay.run())
    try:
        await rounds.started.wait()  # the first round, at start
        rounds.go.set()
        await _until(lambda: relay.activity.running == 0)
        yield relay, rounds
    finally:
        task.cancel()


async def _nothing() -> None:
    return None


async def _until(condition: Any, timeout: float = 5.0) -> None:
    """Until ``condition()`` holds; fails after ``timeout`` (the relay's task runs on)."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 (a state of the relay's, not an event)
            await asyncio.sleep(0.001)


async def test_a_wake_is_work_from_the_moment_it_is_given_to_the_end_of_its_round(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with relay_with_rounds(monkeypatch) as (relay, rounds):
        relay.wake()
        relay.wake()  # the same wake: one round answers both
        assert relay.activity.running == 1, "rows committed: not quiet before the relay ran"
        await rounds.started.wait()
        assert rounds.running_during[-1] == 2, "the wake and the round itself"
        quieted = relay.activity.quieted
        rounds.go.set()
        await _until(lambda: relay.activity.running == 0)
        assert relay.activity.quieted == quieted + 1


async def test_a_wake_during_a_round_keeps_the_relay_at_work_for_one_more_round(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with relay_with_rounds(monkeypatch) as (relay, rounds):
        relay.wake()
        await rounds.started.wait()
        relay.wake()  # rows committed while the round runs: they may be after its claim
        rounds.go.set()
        await _until(lambda: len(rounds.running_during) == 3)  # the next comes at once
        assert relay.activity.running == 2, "the second wake and its round"
        rounds.go.set()
        await _until(lambda: relay.activity.running == 0)


async def test_failed_rounds_keep_a_wake_open_until_one_succeeds_and_leak_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with relay_with_rounds(monkeypatch) as (relay, rounds):
        rounds.fail = True
        relay.wake()
        for n in (2, 3):  # two rounds fail (0.1 s back-off between them)
            await _until(lambda n=n: len(rounds.running_during) == n)
            assert relay.activity.running >= 2, "the rows are not published: not quiet"
            rounds.go.set()
        await _until(lambda: len(rounds.running_during) == 4)
        rounds.fail = False
        rounds.go.set()
        await _until(lambda: relay.activity.running == 0)
        await asyncio.sleep(0.01)
        assert relay.activity.running == 0, "every begin has had its end"


# -- the barrier's answer ------------------------------------------------------------------------


class Service:
    """A runtime whose outbox and committed offsets the test sets; counts the questions."""

    def __init__(self) -> None:
        self.activity = Activity()
        self.positions = Positions()
        self.positions.seed({}, {PARTITION: 0})
        self.outbox = 0
        self.asked = 0
        self.during_query: Any = None  # work that runs while the database answers
        self.pool = SimpleNamespace(fetchval=self._fetchval)
        self.highwater: int | None = None  # what the consumer's last fetch heard
        consumer = SimpleNamespace(
            assignment=lambda: [PARTITION], highwater=lambda tp: self.highwater
        )
        self.policy = SimpleNamespace(kafka_consumer=consumer)  # ConsumerPolicy's part asked
        self.spec = SimpleNamespace(name="allocation", publishes=True)
        self.settings = SimpleNamespace(topic=lambda source: f"{source}.events")

    async def _fetchval(self, sql: str) -> int:
        self.asked += 1
        if self.during_query is not None:
            self.during_query()
            self.during_query = None
        return self.outbox

    def handle_up_to(self, offset: int) -> None:
        """The consumer's batch: handled and committed."""
        with self.activity.working():
            self.positions.committed_to({PARTITION: offset})


PARTITION = TopicPartition("allocation.events", 0)
UNTIL = {"allocation.events:0": 3}


async def test_without_wait_the_answer_comes_at_once_as_it_is() -> None:
    service = Service()
    service.outbox = 1
    answer = await simulation.backlog(service, 0, UNTIL)  # type: ignore[arg-type]
    assert (answer.outbox, answer.committed, service.asked) == (1, {"allocation.events:0": 0}, 1)
    assert answer.writes == ["allocation.events"], "a writer names its topic"
    service.spec.publishes = False
    assert (await simulation.backlog(service, 0)).writes == [], "a sink names none"  # type: ignore[arg-type]


async def test_the_answer_waits_for_the_offsets_it_was_told_looking_only_after_work() -> None:
    service = Service()  # the writer reported the end at 3; nothing fetched here yet
    answer = asyncio.create_task(simulation.backlog(service, 5, UNTIL))  # type: ignore[arg-type]
    await asyncio.sleep(0.02)
    assert not answer.done()
    assert service.asked == 1, "not asked again while nothing in this process ran"
    service.handle_up_to(2)
    await asyncio.sleep(0.02)
    assert not answer.done(), "answered before the group had committed up to 3"
    service.handle_up_to(3)
    caught_up = await answer
    assert caught_up.quiet
    assert caught_up.caught_up(UNTIL)
    assert service.asked == 3


async def test_the_answer_also_waits_for_events_its_consumer_has_heard_of() -> None:
    service = Service()
    service.highwater = 2  # fetched, not yet handled: on its way here
    answer = asyncio.create_task(simulation.backlog(service, 5))  # type: ignore[arg-type]
    await asyncio.sleep(0.02)
    assert not answer.done(), "answered with events on their way to its own consumer"
    service.handle_up_to(2)
    assert (await answer).committed == {"allocation.events:0": 2}


async def test_partitions_it_does_not_read_are_not_waited_for() -> None:
    service = Service()
    until = {"volunteers.events:0": 9}
    answer = await simulation.backlog(service, 5, until)  # type: ignore[arg-type]
    assert answer.quiet
    assert answer.caught_up(until)
    assert service.asked == 1


async def test_work_that_ran_while_the_database_answered_makes_the_answer_not_quiet() -> None:
    service = Service()
    service.during_query = lambda: service.handle_up_to(1)
    answer = await simulation.backlog(service, 0)  # type: ignore[arg-type]
    assert not answer.quiet, "the outbox's count and the offsets are of different moments"
    service.during_query = lambda: service.handle_up_to(2)
    answer = await simulation.backlog(service, 5)  # type: ignore[arg-type]
    assert answer.quiet, "with time to wait it looks again once the work has run out"
    assert (answer.committed, service.asked) == ({"allocation.events:0": 2}, 3)


async def test_an_answer_whose_time_is_up_says_what_is_left() -> None:
    service = Service()
    service.outbox = 2
    answer = await simulation.backlog(service, 0.02)  # type: ignore[arg-type]
    assert answer.outbox == 2
