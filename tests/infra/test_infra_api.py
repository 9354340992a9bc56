"""Backend selection and endpoint helpers of ankommen_local.infra (no servers needed)."""

from __future__ import annotations

import pytest
from ankommen_local import infra
from ankommen_local.config import TOPICS, Settings


def test_auto_picks_native_without_a_docker_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANKOMMEN_INFRA", raising=False)
    monkeypatch.setattr(infra, "docker_available", lambda: False)
    assert infra.selected_backend() == "native"
    monkeypatch.setattr(infra, "docker_available", lambda: True)
    assert infra.selected_backend() == "testcontainers"


def test_docker_probe_fails_without_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert infra.docker_available() is False


@pytest.mark.parametrize("value", ["native", "external", "testcontainers", " Native "])
def test_explicit_backend_is_taken_as_is(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ANKOMMEN_INFRA", value)
    assert infra.selected_backend() == value.strip().lower()


def test_unknown_backend_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANKOMMEN_INFRA", "podman")
    with pytest.raises(ValueError, match="ANKOMMEN_INFRA"):
        infra.selected_backend()


def test_external_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANKOMMEN_INFRA", "external")
    monkeypatch.setenv("ANKOMMEN_KAFKA_BOOTSTRAP", "kafka.test:9092")
    monkeypatch.setenv("ANKOMMEN_PG_ADMIN_DSN", "postgresql://admin:pw@db.test:5432/postgres")
    with infra.endpoints() as ep:
        assert ep == infra.Endpoints(
            "kafka.test:9092", "postgresql://admin:pw@db.test:5432/postgres"
        )


def test_external_names_the_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANKOMMEN_INFRA", "external")
    monkeypatch.delenv("ANKOMMEN_KAFKA_BOOTSTRAP", raising=False)
    with pytest.raises(RuntimeError, match="ANKOMMEN_KAFKA_BOOTSTRAP"), infra.endpoints():
        pass


def test_dsn_helpers() -> None:
    ep = infra.Endpoints("127.0.0.1:19092", "postgresql://postgres@127.0.0.1:55432/postgres")
    assert ep.dsn_for("t_1") == "postgresql://postgres@127.0.0.1:55432/t_1"
    assert ep.service_dsn("housing") == "postgresql://housing:housing@127.0.0.1:55432/housing"
    assert ep.service_dsn("housing", "run1_housing") == (
        "postgresql://housing:housing@127.0.0.1:55432/run1_housing"
    )


def test_a_local_server_is_reached_through_its_socket_and_any_other_over_tcp() -> None:
    dsn = "postgresql://housing:pw@127.0.0.1:55432/run1_housing"
    local = infra.Endpoints("127.0.0.1:19092", dsn, pg_socket_dir="/work/.state/pg/run")
    assert local.through_socket(dsn) == (
        "postgresql://housing:pw@/run1_housing?host=%2Fwork%2F.state%2Fpg%2Frun&port=55432"
    )
    elsewhere = infra.Endpoints("kafka.test:9092", "postgresql://admin:pw@db.test:5432/postgres")
    assert elsewhere.through_socket(dsn) == dsn


def test_settings_follow_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("ANKOMMEN_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("ANKOMMEN_KAFKA_PORT", "29092")
    monkeypatch.setenv("ANKOMMEN_PG_PORT", "25432")
    s = Settings.from_env()
    assert (s.state_dir, s.kafka_bootstrap, s.kafka_controller_port) == (
        tmp_path,
        "127.0.0.1:29092",
        29093,
    )
    assert s.env()["ANKOMMEN_REPORTING_DATABASE_URL"] == (
        "postgresql://reporting:reporting@127.0.0.1:25432/reporting"
    )


def test_topic_list() -> None:
    names = {t.name: t.partitions for t in TOPICS}
    for stream in ("allocation", "housing", "integration", "volunteers"):
        assert names[f"{stream}.events"] == 3
    # One dead-letter topic per consumer and source topic it reads (`<consumer>.dlq.<topic>`).
    subscriptions = {
        "allocation": ("housing", "integration"),
        "housing": ("allocation", "integration"),
        "integration": ("allocation", "housing"),
        "volunteers": ("integration",),
        "reporting": ("allocation", "housing", "integration", "volunteers"),
    }
    dead_letters = {
        f"{consumer}.dlq.{source}.events"
        for consumer, sources in subscriptions.items()
        for source in sources
    }
    assert {name for name in names if ".dlq." in name} == dead_letters
    assert all(names[name] == 1 for name in dead_letters)
    assert len(names) == 4 + len(dead_letters)
