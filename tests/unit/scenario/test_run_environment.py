"""What each service of a scenario run is started with."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ankommen_local.config import SERVICES
from ankommen_local.scenario import cli


def _envs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, dict[str, str]]:
    monkeypatch.setattr(cli, "start_all", lambda procs: None)  # nothing is started
    procs = cli.start_services(
        SimpleNamespace(state_dir=tmp_path),  # type: ignore[arg-type]
        SimpleNamespace(kafka_bootstrap="127.0.0.1:1"),  # type: ignore[arg-type]
        {name: f"postgresql://run_{name}@127.0.0.1/run_{name}" for name in SERVICES},
        "run",
        datetime(2010, 1, 4, 12, tzinfo=UTC),
        2010,
        dict.fromkeys(SERVICES, 1),
    )
    return {proc.name: proc.env for proc in procs}


def test_only_reporting_reads_in_larger_fetches(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No step waits for reporting (the sink), so it may trade a second of its views'
    freshness for fewer transactions; every other service's fetch answers at once, or
    each hop of a step's chain of events would wait for it."""
    envs = _envs(monkeypatch, tmp_path)
    reporting: dict[str, Any] = envs.pop("reporting")
    assert reporting["ANKOMMEN_CONSUMER_FETCH_MIN_BYTES"] == str(1024 * 1024)
    assert reporting["ANKOMMEN_CONSUMER_FETCH_MAX_WAIT_MS"] == "1000"
    assert sorted(envs) == sorted(set(SERVICES) - {"reporting"})
    for name, env in envs.items():
        assert "ANKOMMEN_CONSUMER_FETCH_MIN_BYTES" not in env, name
        assert "ANKOMMEN_CONSUMER_FETCH_MAX_WAIT_MS" not in env, name
        assert env["ANKOMMEN_SIMULATION"] == "true"
