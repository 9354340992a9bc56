"""Reporting's fold on the in-memory unit of work: a consumed batch becomes its facts under
one version, a redelivered batch changes nothing, reporting publishes nothing; no server."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from ankommen_contracts.examples import example_envelope
from ankommen_runtime.memory import InMemoryUnitOfWork
from fakes.reporting import InMemoryReportingStore
from reporting import handlers
from reporting.domain.facts import REPORTED, fact_of

Uow = InMemoryUnitOfWork[InMemoryReportingStore]


@pytest.fixture
def uow() -> Uow:
    return InMemoryUnitOfWork(store=InMemoryReportingStore())


def kept(uow: Uow) -> InMemoryReportingStore:
    assert uow.store is not None
    return uow.store


def batch(*types: str) -> list[Any]:
    return [example_envelope(t).model_copy(update={"event_id": uuid.uuid4()}) for t in types]


async def fold(uow: Uow, events: list[Any]) -> None:
    async with uow() as tx:
        await handlers.FOLD.fn(tx, events)


async def test_a_consumed_batch_becomes_its_facts_under_one_version(uow: Uow) -> None:
    events = batch("ShelterOpened", "OccupantCheckedIn", "RefugeeAssigned")
    await fold(uow, events)
    assert kept(uow).version == 1
    assert kept(uow).decoded() == [fact_of(e) for e in events]
    assert uow.committed == [], "reporting publishes nothing"


async def test_a_redelivered_batch_keeps_nothing_twice(uow: Uow) -> None:
    events = batch("ShelterOpened", "OccupantCheckedIn")
    await fold(uow, events)
    await fold(uow, events)
    assert [row[0] for row in kept(uow).rows()] == [e.event_id for e in events]
    assert [row[0] for row in kept(uow).rows(after=1)] == []


async def _fold_then_fail(uow: Uow, events: list[Any]) -> None:
    async with uow() as tx:
        await handlers.FOLD.fn(tx, events)
        raise RuntimeError("broker gone")


async def test_a_fold_that_fails_keeps_none_of_its_batch(uow: Uow) -> None:
    with pytest.raises(RuntimeError, match="broker gone"):
        await _fold_then_fail(uow, batch("ShelterOpened"))
    assert (kept(uow).facts, kept(uow).version) == ({}, 0)


def test_every_reported_type_has_an_example_the_fold_keeps() -> None:
    # the types subscribed are the types folded: each must make a fact
    for types in REPORTED.values():
        for t in types:
            assert fact_of(example_envelope(t)).type == t
