"""Business time in the runtime: the simulated clock, seeded ids, dated commands, the guard."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from ankommen_runtime import Conflict
from ankommen_runtime import ids as id_source
from ankommen_runtime.clock import (
    BusinessTime,
    IsoDate,
    IsoInstant,
    SimulatedClock,
    occurred,
    quota_week,
    start_of_day,
    week_start,
)
from ankommen_runtime.context import message_context, request_context
from ankommen_runtime.errors import Unprocessable
from ankommen_runtime.service import Periodic
from ankommen_runtime.settings import ServiceSettings
from pydantic import TypeAdapter, ValidationError

START = datetime(2015, 10, 5, 8, 0, tzinfo=UTC)


def test_the_simulated_clock_moves_only_forward() -> None:
    clock = SimulatedClock(START)
    assert clock.advance_to(START + timedelta(days=7)) == START + timedelta(days=7)
    assert clock.today() == date(2015, 10, 12)
    with pytest.raises(Conflict, match="never goes back"):
        clock.advance_to(START)
    assert clock.now() == START + timedelta(days=7)


def test_quota_weeks_are_iso_weeks_in_hannovers_calendar() -> None:
    # Sunday 11 Oct 2015, 23:30 in Hannover is 21:30 UTC: still ISO week 41 there.
    late_sunday = datetime(2015, 10, 11, 21, 30, tzinfo=UTC)
    assert quota_week(late_sunday) == (2015, 41)
    assert week_start(late_sunday) == date(2015, 10, 5)
    # Monday 00:30 in Hannover is still Sunday in UTC: already week 42 in Hannover.
    early_monday = datetime(2015, 10, 11, 22, 30, tzinfo=UTC)
    assert quota_week(early_monday) == (2015, 42)


def test_a_plain_date_means_the_start_of_that_day_in_hannover() -> None:
    parsed = TypeAdapter(BusinessTime).validate_python("2015-10-12")
    assert parsed == start_of_day(date(2015, 10, 12))
    assert parsed == datetime(2015, 10, 11, 22, 0, tzinfo=UTC)  # CEST, UTC+2
    with pytest.raises(ValidationError):
        TypeAdapter(BusinessTime).validate_python("2015-10-12T08:00:00")  # no offset


@pytest.mark.parametrize("ancient", ["0001-01-01", "0001-01-01T00:00:00+01:00", "1899-12-31"])
def test_a_business_time_before_1900_is_refused(ancient: str) -> None:
    with pytest.raises(ValidationError, match="not before 1900-01-01"):
        TypeAdapter(BusinessTime).validate_python(ancient)
    assert TypeAdapter(BusinessTime).validate_python("1900-01-01T12:00:00+01:00")


def test_a_command_without_a_date_happened_now_and_one_in_the_future_is_refused() -> None:
    clock = SimulatedClock(START)
    assert occurred(None, clock) == START
    past = START - timedelta(days=30)
    assert occurred(past, clock) == past
    with pytest.raises(Unprocessable, match="in the future") as refused:
        occurred(START + timedelta(days=2), clock)
    assert refused.value.loc == ("body", "occurred_at")


def test_seeded_ids_depend_only_on_seed_scope_and_position() -> None:
    try:
        id_source.seed(7)
        event = uuid.UUID(int=1)
        with message_context(event, uuid.UUID(int=2)):
            first = [id_source.new_id() for _ in range(3)]
        with message_context(event, uuid.UUID(int=2)):
            again = [id_source.new_id() for _ in range(3)]
        with message_context(uuid.UUID(int=3), uuid.UUID(int=2)):
            other = id_source.new_id()
        assert first == again, "same seed, same event, same ids"
        assert len(set(first)) == 3
        assert other not in first
        assert all(i.version == 4 for i in first)
        id_source.seed(8)
        with message_context(event, uuid.UUID(int=2)):
            assert id_source.new_id() != first[0], "another seed, other ids"
    finally:
        id_source.seed(None)
    with request_context():
        assert id_source.new_id() != id_source.new_id()


def test_services_seeded_alike_make_ids_of_their_own() -> None:
    # issue 20: five processes of one run share the seed; the n-th command of each had the
    # same correlation id and so the same event ids, and reporting dropped one of each pair
    try:
        made: dict[str, list[uuid.UUID]] = {}
        for service in ("housing", "integration"):
            id_source.seed(2015, namespace=service)
            with request_context() as cid:
                made[service] = [cid, id_source.new_id(), id_source.new_id()]
        assert not set(made["housing"]) & set(made["integration"])
        id_source.seed(2015, namespace="housing")
        with request_context() as cid:
            again = [cid, id_source.new_id(), id_source.new_id()]
        assert again == made["housing"], "the same service and seed: the same ids"
    finally:
        id_source.seed(None)


async def test_every_round_of_a_wall_clock_sweep_makes_ids_of_its_own_in_a_seeded_run() -> None:
    # The hundredfold run: allocation's resend sweep made the same event id in every round,
    # and from its second resend on failed on the outbox's unique key, every 5 s, for good.
    made: list[uuid.UUID] = []

    async def resend(runtime: object) -> bool:
        made.append(id_source.new_id())
        if len(made) == 3:
            raise asyncio.CancelledError  # ends the loop (not an Exception it retries)
        return True  # more waiting: the next round at once

    runtime = SimpleNamespace(settings=None, spec=SimpleNamespace(name="pilot"))
    sweep = Periodic("placement-timeouts", resend, lambda s: 0.0, timer="wall")
    try:
        id_source.seed(2015, namespace="pilot")
        with pytest.raises(asyncio.CancelledError):
            await sweep.run(runtime)  # type: ignore[arg-type]
    finally:
        id_source.seed(None)
    assert len(set(made)) == 3, made


def test_a_consumed_event_sets_the_business_time_of_what_its_handler_raises() -> None:
    from ankommen_runtime.uow import Transaction

    tx = Transaction(conn=None, clock=SimulatedClock(START))  # type: ignore[arg-type]
    assert tx.now() == START
    happened = datetime(2015, 10, 1, 12, 0, tzinfo=UTC)
    with message_context(uuid.uuid4(), uuid.uuid4(), happened):
        assert tx.now() == happened
    assert tx.now() == START


def test_simulation_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="production"):
        ServiceSettings(service="housing", simulation=True, environment="production")
    assert ServiceSettings(service="housing", simulation=True, environment="test").simulation


@pytest.mark.parametrize("kind", [IsoDate, IsoInstant])
def test_query_dates_are_iso_text_from_1900_on(kind: object) -> None:
    adapter = TypeAdapter(kind)
    assert adapter.validate_python(
        "2015-10-12T00:00:00+02:00" if kind is IsoInstant else "2015-10-12"
    )
    for bad, why in [(0.3, "not a number"), ("1445", "not a number"), ("0001-01-01", "1900")]:
        text = f"{bad}T00:00:00Z" if kind is IsoInstant and bad == "0001-01-01" else bad
        with pytest.raises(ValidationError, match=why):
            adapter.validate_python(text)
