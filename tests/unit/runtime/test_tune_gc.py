"""The runtime makes CPython's garbage collector cheap for event handling (see tune_gc)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from ankommen_runtime.service import tune_gc
from ankommen_runtime.settings import ServiceSettings


@pytest.fixture
def thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


@pytest.mark.usefixtures("thresholds")
def test_the_young_generation_is_collected_less_often() -> None:
    tune_gc(10_000)
    assert gc.get_threshold()[0] == 10_000
    assert gc.get_freeze_count() > 0, "what start-up made is out of the collector's way"


@pytest.mark.usefixtures("thresholds")
def test_zero_leaves_the_interpreters_threshold() -> None:
    gc.set_threshold(700, 10, 10)
    tune_gc(0)
    assert gc.get_threshold() == (700, 10, 10)


def test_services_tune_by_default() -> None:
    assert ServiceSettings(service="housing").gc_threshold == 10_000
