"""A service never guesses its database outside local development; Kafka security options."""

from __future__ import annotations

import pytest
from ankommen_runtime.settings import ServiceSettings


@pytest.fixture
def no_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANKOMMEN_DATABASE_URL", "ANKOMMEN_HOUSING_DATABASE_URL", "ANKOMMEN_LOCAL_DEV"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_database_url")
def test_without_a_database_url_the_service_refuses_to_start_naming_the_variable() -> None:
    settings = ServiceSettings(service="housing")
    with pytest.raises(RuntimeError, match="ANKOMMEN_DATABASE_URL"):
        _ = settings.dsn


@pytest.mark.usefixtures("no_database_url")
def test_local_development_mode_falls_back_to_the_local_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANKOMMEN_LOCAL_DEV", "true")
    assert ServiceSettings(service="housing").dsn.endswith("@127.0.0.1:55432/housing")


def test_plaintext_kafka_needs_no_client_options() -> None:
    assert ServiceSettings(service="housing").kafka_client_options() == {}


def test_sasl_options_carry_mechanism_and_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANKOMMEN_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("ANKOMMEN_KAFKA_SASL_USERNAME", "housing")
    monkeypatch.setenv("ANKOMMEN_KAFKA_SASL_PASSWORD", "s3cret")
    settings = ServiceSettings(service="housing")
    assert "s3cret" not in repr(settings)  # a SecretStr never lands in a log line
    assert settings.kafka_client_options() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "housing",
        "sasl_plain_password": "s3cret",
    }


def locked_down(monkeypatch: pytest.MonkeyPatch, protocol: str = "SASL_PLAINTEXT") -> None:
    """A locked-down broker, and neither user nor password named outright."""
    monkeypatch.setenv("ANKOMMEN_KAFKA_SECURITY_PROTOCOL", protocol)
    monkeypatch.delenv("ANKOMMEN_KAFKA_SASL_USERNAME", raising=False)
    monkeypatch.delenv("ANKOMMEN_KAFKA_SASL_PASSWORD", raising=False)


def test_sasl_without_credentials_is_refused_naming_the_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    locked_down(monkeypatch, "SASL_SSL")
    with pytest.raises(ValueError, match="ANKOMMEN_KAFKA_SASL_USERNAME"):
        ServiceSettings(service="housing").kafka_client_options()


def test_the_per_service_password_variable_and_the_service_as_user_are_the_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    locked_down(monkeypatch)
    monkeypatch.setenv("ANKOMMEN_REPORTING_KAFKA_SASL_PASSWORD", "r-pw")
    options = ServiceSettings(service="reporting").kafka_client_options()
    assert options["sasl_plain_username"] == "reporting"
    assert options["sasl_plain_password"] == "r-pw"


def test_the_consumers_broker_gets_the_same_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    from ankommen_runtime.kafka_security import broker_security
    from faststream.security import SASLScram512

    assert broker_security(ServiceSettings(service="housing")) is None
    monkeypatch.setenv("ANKOMMEN_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("ANKOMMEN_KAFKA_SASL_USERNAME", "housing")
    monkeypatch.setenv("ANKOMMEN_KAFKA_SASL_PASSWORD", "h-pw")
    security = broker_security(ServiceSettings(service="housing"))
    assert isinstance(security, SASLScram512)
    assert (security.username, security.password) == ("housing", "h-pw")
    assert not security.use_ssl


def test_the_dead_letter_commands_run_as_operations_with_its_own_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ankommen_runtime.cli import _security

    locked_down(monkeypatch)
    monkeypatch.setenv("ANKOMMEN_HOUSING_KAFKA_SASL_PASSWORD", "housing-secret")
    monkeypatch.setenv("ANKOMMEN_OPERATIONS_KAFKA_SASL_PASSWORD", "ops-secret")
    options = _security()
    assert options["sasl_plain_username"] == "operations"
    assert options["sasl_plain_password"] == "ops-secret"


def test_a_dead_letter_command_without_credentials_says_which_are_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ankommen_runtime.cli import app
    from typer.testing import CliRunner

    locked_down(monkeypatch, "SASL_SSL")
    monkeypatch.delenv("ANKOMMEN_OPERATIONS_KAFKA_SASL_PASSWORD", raising=False)
    result = CliRunner().invoke(app, ["dlq", "list"])
    assert result.exit_code == 2
    assert "ANKOMMEN_KAFKA_SASL_PASSWORD" in result.output
