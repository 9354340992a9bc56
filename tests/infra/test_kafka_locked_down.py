"""The locked-down local broker (ANKOMMEN_KAFKA_SASL=true): SCRAM users, per-service ACLs.

Runs a broker of its own (own state folder, free ports, SASL/SCRAM + ACLs as `ankommen-local
up` sets them) and proves what each service's credentials may do; the shared broker is never
touched. The users and rules are the ones deploy/k8s gives the KafkaUsers (both come from
ankommen_runtime.topology).
"""

from __future__ import annotations

import os
import socket
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from ankommen_local import kafka, kafka_acls, stack
from ankommen_local.config import REPO_ROOT, Settings

pytestmark = pytest.mark.integration

EVENT_TOPICS = ("allocation.events", "housing.events", "integration.events", "volunteers.events")


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _borrow_jars(own: Settings) -> None:
    """Link the jars of an existing local installation instead of a second Maven run."""
    for candidate in (Settings.from_env(), Settings(state_dir=REPO_ROOT / ".state")):
        if kafka.jars_present(candidate):
            own.kafka_dir.mkdir(parents=True, exist_ok=True)
            os.symlink(candidate.kafka_lib, own.kafka_lib)
            return
    for parent in REPO_ROOT.parent.glob("*/.state/kafka"):
        probe = Settings(state_dir=parent.parent)
        if kafka.jars_present(probe):
            own.kafka_dir.mkdir(parents=True, exist_ok=True)
            os.symlink(probe.kafka_lib, own.kafka_lib)
            return
    kafka.fetch_jars(own)  # Maven, from its local repository when cached


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    kafka_port, controller_port, pg_port = _free_ports(3)
    own = Settings(
        state_dir=tmp_path_factory.mktemp("sasl") / "state",
        kafka_port=kafka_port,
        kafka_controller_port=controller_port,
        pg_port=pg_port,
        kafka_sasl=True,
    )
    _borrow_jars(own)
    try:
        stack.up(own, components=("kafka",))
        yield own
    finally:
        stack.down(own, components=("kafka",))


def _as(s: Settings, user: str, **extra: object) -> dict[str, object]:
    return {"bootstrap_servers": s.kafka_bootstrap, **kafka_acls.client_options(s, user), **extra}


async def _write(s: Settings, user: str, topic: str) -> None:
    producer = AIOKafkaProducer(**_as(s, user, acks="all", request_timeout_ms=10_000))
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{}", key=b"k")
    finally:
        await producer.stop()


async def test_housing_writes_its_own_topic(locked: Settings) -> None:
    await _write(locked, "housing", "housing.events")


async def test_housing_credentials_cannot_write_allocation_events(locked: Settings) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await _write(locked, "housing", "allocation.events")


@pytest.mark.parametrize("topic", EVENT_TOPICS)
async def test_reporting_cannot_write_any_event_topic(locked: Settings, topic: str) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await _write(locked, "reporting", topic)


async def test_an_unauthenticated_client_is_refused(locked: Settings) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=locked.kafka_bootstrap, request_timeout_ms=5000)
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()


async def test_a_wrong_password_is_refused(locked: Settings) -> None:
    options = kafka_acls.client_options(locked, "housing")
    options["sasl_plain_password"] = "not-" + str(options["sasl_plain_password"])
    producer = AIOKafkaProducer(
        bootstrap_servers=locked.kafka_bootstrap, request_timeout_ms=5000, **options
    )
    with pytest.raises(KafkaError):
        await producer.start()
    await producer.stop()


async def test_housing_reads_allocation_events_only_in_its_own_group(locked: Settings) -> None:
    await _write(locked, "allocation", "allocation.events")
    own = AIOKafkaConsumer(
        "allocation.events",
        **_as(locked, "housing", group_id="housing", auto_offset_reset="earliest"),
    )
    await own.start()
    try:
        batch = await own.getmany(timeout_ms=10_000)
        assert sum(len(records) for records in batch.values()) >= 1
    finally:
        await own.stop()
    foreign = AIOKafkaConsumer(
        "allocation.events",
        **_as(locked, "housing", group_id=f"other-{uuid.uuid4().hex[:6]}"),
    )
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            await foreign.start()  # joining a group it has no ACL for
    finally:
        await foreign.stop()


def test_passwords_are_kept_private_in_the_state_folder(locked: Settings) -> None:
    path: Path = locked.kafka_credentials_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(locked.kafka_properties.stat().st_mode) == 0o600
    passwords = kafka_acls.credentials(locked)
    assert len(set(passwords.values())) == len(passwords)


async def test_env_gives_each_service_settings_that_reach_the_locked_broker(
    locked: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ankommen_local.cli import app
    from ankommen_runtime.settings import ServiceSettings
    from typer.testing import CliRunner

    monkeypatch.setenv("ANKOMMEN_STATE_DIR", str(locked.state_dir))
    monkeypatch.setenv("ANKOMMEN_KAFKA_PORT", str(locked.kafka_port))
    monkeypatch.setenv("ANKOMMEN_KAFKA_CONTROLLER_PORT", str(locked.kafka_controller_port))
    monkeypatch.setenv("ANKOMMEN_KAFKA_SASL", "true")
    result = CliRunner().invoke(app, ["env"])
    assert result.exit_code == 0, result.output
    exported = dict(
        line.removeprefix("export ").split("=", 1) for line in result.output.splitlines()
    )
    assert exported["ANKOMMEN_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
    for key, value in exported.items():
        monkeypatch.setenv(key, value.strip("'"))
    monkeypatch.delenv("ANKOMMEN_KAFKA_SASL_USERNAME", raising=False)
    monkeypatch.delenv("ANKOMMEN_KAFKA_SASL_PASSWORD", raising=False)
    settings = ServiceSettings(service="housing")
    assert settings.kafka_bootstrap == locked.kafka_bootstrap
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, **settings.kafka_client_options()
    )
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic("housing"), b"{}", key=b"k")
    finally:
        await producer.stop()
