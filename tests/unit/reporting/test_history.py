"""The read model keeps facts in fold order between views (``History``): folding its
prefix must give exactly the ledger ``Ledger.fold`` gives from the same facts in any order,
redelivered or not, whichever way they arrived."""

from __future__ import annotations

import dataclasses
import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from ankommen_runtime.clock import local_date
from reporting.domain import ledger as ledger_module
from reporting.domain.ledger import History, Ledger
from test_views import city

DAYS = [date(2015, 1, 5), date(2015, 1, 10), date(2015, 2, 15), date(2015, 3, 19), None]


def _arrivals(facts: list, seed: int) -> list[list]:
    """The facts shuffled, a third redelivered, in batches of random sizes."""
    rng = random.Random(seed)
    shuffled = facts[:]
    rng.shuffle(shuffled)
    shuffled += shuffled[: len(shuffled) // 3]
    batches, at = [], 0
    while at < len(shuffled):
        size = rng.randint(1, 12)
        batches.append(shuffled[at : at + size])
        at += size
    return batches


@pytest.mark.parametrize("sort_all_above", [1_000, 0])  # put in place / sorted in
def test_a_history_fed_in_batches_folds_like_all_facts_at_once(
    sort_all_above: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_module, "SORT_ALL_ABOVE", sort_all_above)
    s, _ = city()
    s.volunteer([9, 10], mso=True)
    known_at = datetime(2015, 2, 1, 12, tzinfo=UTC)
    for seed in range(5):
        history = History()
        for batch in _arrivals(s.facts, seed):
            history.add(batch)
        assert len(history) == len(s.facts), "each event once"
        for day in DAYS:
            assert Ledger.fold_history(history, as_of=day) == Ledger.fold(s.facts, as_of=day)
            assert Ledger.fold_history(history, as_of=day, known_at=known_at) == Ledger.fold(
                s.facts, as_of=day, known_at=known_at
            )


def test_the_as_of_day_ends_at_midnight_in_hannover_in_winter_and_summer() -> None:
    s, _ = city()
    base = s.facts[0]
    instants = [
        datetime(2015, 1, 9, 22, 59, tzinfo=UTC),  # 23:59 CET, 9 Jan
        datetime(2015, 1, 9, 23, 1, tzinfo=UTC),  # 00:01 CET, 10 Jan
        datetime(2015, 7, 9, 21, 59, tzinfo=UTC),  # 23:59 CEST, 9 Jul
        datetime(2015, 7, 9, 22, 1, tzinfo=UTC),  # 00:01 CEST, 10 Jul
        datetime(2015, 3, 28, 23, 30, tzinfo=UTC),  # 00:30 CET, 29 Mar (clocks go forward)
        datetime(2015, 10, 24, 22, 30, tzinfo=UTC),  # 00:30 CEST, 25 Oct (clocks go back)
    ]
    facts = [
        dataclasses.replace(base, event_id=uuid.UUID(int=i + 1), occurred_at=at)
        for i, at in enumerate(instants)
    ]
    history = History(facts)
    for at in instants:
        for day in (local_date(at) - timedelta(days=1), local_date(at)):
            expected = [f for f in facts if local_date(f.occurred_at) <= day]
            assert sorted(f.event_id for f in history.until(day)) == sorted(
                f.event_id for f in expected
            ), day
