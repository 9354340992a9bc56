"""Settings from the environment, and the JSON log line every service writes."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from ankommen_runtime.context import message_context, request_context
from ankommen_runtime.logging import configure_logging, get_logger
from ankommen_runtime.settings import ServiceSettings


def test_database_url_falls_back_to_the_per_service_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ANKOMMEN_DATABASE_URL", raising=False)
    monkeypatch.setenv("ANKOMMEN_HOUSING_DATABASE_URL", "postgresql://h@db:5432/housing")
    assert ServiceSettings(service="housing").dsn == "postgresql://h@db:5432/housing"
    monkeypatch.setenv("ANKOMMEN_DATABASE_URL", "postgresql://x@db:5432/x")
    assert ServiceSettings(service="housing").dsn == "postgresql://x@db:5432/x"


def test_topics_carry_the_environment_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANKOMMEN_TOPIC_PREFIX", "staging.")
    settings = ServiceSettings(service="reporting")
    assert settings.topic("housing") == "staging.housing.events"
    assert settings.group == "reporting"


def test_bad_setting_is_rejected_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANKOMMEN_RELAY_BATCH_SIZE", "0")
    with pytest.raises(ValueError, match="relay_batch_size"):
        ServiceSettings(service="housing")


def test_log_lines_are_json_with_service_event_and_correlation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("housing")
    log = get_logger("test")
    correlation, event_id = uuid.uuid4(), uuid.uuid4()
    with request_context(correlation):
        log.info("site opened", site="s1")
    with message_context(event_id, correlation):
        log.warning("event handled")
    logging.getLogger("aiokafka").warning("library line")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["event"] for line in lines] == ["site opened", "event handled", "library line"]
    assert all(line["service"] == "housing" for line in lines)
    assert lines[0]["correlation_id"] == str(correlation)
    assert lines[0]["event_id"] is None
    assert lines[1]["event_id"] == str(event_id)
    assert lines[2]["correlation_id"] is None, "outside any work, the key is there and null"


def test_uvicorn_access_lines_stay_off_when_uvicorn_was_told_no_access_log(
    capsys: pytest.CaptureFixture[str],
) -> None:
    access = logging.getLogger("uvicorn.access")
    saved = access.propagate, access.handlers[:], access.level
    access.setLevel(logging.INFO)  # an in-process uvicorn of another test may have raised it
    try:
        # what uvicorn's --no-access-log leaves behind before the app factory runs
        access.handlers[:], access.propagate = [], False
        configure_logging("housing")
        assert not access.hasHandlers(), "uvicorn logs access lines only when it finds one"
        access.propagate, access.handlers[:] = True, [logging.NullHandler()]
        configure_logging("housing")  # with access lines wanted, they reach the JSON root
        access.info('127.0.0.1 - "GET /cases HTTP/1.1" 200')
        [line] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert line["service"] == "housing"
    finally:
        access.propagate, access.handlers[:], level = saved
        access.setLevel(level)
