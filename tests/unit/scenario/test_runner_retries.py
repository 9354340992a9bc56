"""The scenario runner is a well-behaved client: a command answered 503 "nothing was
changed" (a deadlock's victim) is sent again, one whose outcome is unknown is not."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from ankommen_local.scenario import plan as plan_module
from ankommen_local.scenario import runner as runner_module
from ankommen_local.scenario.runner import ScenarioRunner
from ankommen_runtime.auth import Role


def _runner(answers: list[httpx.Response]) -> tuple[ScenarioRunner, list[httpx.Request]]:
    plan = plan_module.build(
        plan_module.load("hannover"), start=date(2011, 1, 1), end=date(2011, 1, 14)
    )
    runner = ScenarioRunner(plan, {})
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answers.pop(0)

    runner.clients = {
        "housing": httpx.AsyncClient(
            base_url="http://housing", transport=httpx.MockTransport(answer)
        )
    }
    return runner, sent


def _unavailable(outcome: str) -> httpx.Response:
    return httpx.Response(
        503,
        json={"detail": "temporarily unavailable", "outcome": outcome},
        headers={"retry-after": "0"},
    )


async def test_a_command_nothing_was_changed_by_is_sent_again_until_it_is_applied() -> None:
    runner, sent = _runner(
        [_unavailable("not-applied"), _unavailable("not-applied"), httpx.Response(201, json={})]
    )
    response = await runner._call("housing", "POST", "/reservations/r/check-in", Role.HOUSING_STAFF)
    assert response.status_code == 201
    assert len(sent) == 3
    assert runner.tally.retried == 2
    assert runner.tally.http_calls == 3


async def test_a_command_whose_outcome_is_unknown_is_not_sent_again() -> None:
    runner, sent = _runner([_unavailable("unknown"), httpx.Response(201, json={})])
    with pytest.raises(RuntimeError, match="503"):
        await runner._call("housing", "POST", "/reservations/r/check-in", Role.HOUSING_STAFF)
    assert len(sent) == 1
    assert runner.tally.retried == 0


async def test_a_command_refused_every_time_fails_the_run_after_the_last_attempt() -> None:
    attempts = runner_module.NOT_APPLIED_ATTEMPTS
    runner, sent = _runner([_unavailable("not-applied") for _ in range(attempts)])
    with pytest.raises(RuntimeError, match="503"):
        await runner._call("housing", "POST", "/reservations/r/check-in", Role.HOUSING_STAFF)
    assert len(sent) == attempts
