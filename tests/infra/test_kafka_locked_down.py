"""The locked-down local broker (ANKOMMEN_KAFKA_SASL=true): SCRAM users, per-service ACLs.

Runs a broker of its own (own state folder, free ports, SASL/SCRAM + ACLs as `ankommen-local
up` sets them) and proves what each service's credentials may do; the shared broker is never
touched. The users and rules are the ones deploy/k8s gives the KafkaUsers (both come from
ankommen_runtime.topology).
"""

from __future__ import annotations

import os
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
from ankommen_local.util import free_ports

pytestmark = pytest.mark.integration

EVENT_TOPICS = ("allocation.events", "housing.events", "integration.events", "volunteers.events")


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
    kafka_port, controller_port, pg_port = free_ports(3)
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


async def _dead_letter(s: Settings, topic: str, key: bytes) -> None:
    """A dead letter as housing's consumer parks one (it may write its own letters)."""
    producer = AIOKafkaProducer(**_as(s, "housing", acks="all", request_timeout_ms=10_000))
    await producer.start()
    try:
        await producer.send_and_wait(
            topic,
            b'{"poison": true}',
            key=key,
            headers=[("dlq_error", b"test"), ("dlq_original_topic", b"allocation.events")],
        )
    finally:
        await producer.stop()


async def _keys_in(s: Settings, topic: str) -> list[bytes | None]:
    consumer = AIOKafkaConsumer(
        topic, **_as(s, "operations", group_id=None, auto_offset_reset="earliest")
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=10_000)
        return [r.key for records in batch.values() for r in records]
    finally:
        await consumer.stop()


def test_the_operator_lists_redrives_and_purges_dead_letters_as_operations(
    locked: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ankommen dlq` runs as its own user with the password `ankommen-local env` prints
    (a sync test: the commands run their own event loop)."""
    import asyncio

    from ankommen_local.cli import app as local_app
    from ankommen_runtime import cli
    from ankommen_runtime.cli import app
    from rich.console import Console
    from typer.testing import CliRunner

    letters_topic = "housing.dlq.allocation.events"
    marker = uuid.uuid4().hex.encode()
    asyncio.run(_dead_letter(locked, letters_topic, marker))

    for key in ("STATE_DIR", "KAFKA_PORT", "KAFKA_CONTROLLER_PORT"):
        monkeypatch.setenv(f"ANKOMMEN_{key}", str(getattr(locked, key.lower())))
    monkeypatch.setenv("ANKOMMEN_KAFKA_SASL", "true")
    exported = CliRunner().invoke(local_app, ["env"])
    assert exported.exit_code == 0, exported.output
    for line in exported.output.splitlines():
        key, value = line.removeprefix("export ").split("=", 1)
        monkeypatch.setenv(key, value.strip("'"))
    monkeypatch.delenv("ANKOMMEN_KAFKA_SASL_USERNAME", raising=False)
    monkeypatch.delenv("ANKOMMEN_KAFKA_SASL_PASSWORD", raising=False)

    # wide enough for a whole subject on one line: the console is made at import, so a
    # COLUMNS set for the invocation alone would not reach it
    monkeypatch.setattr(cli, "console", Console(width=250))

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, ["dlq", *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert marker.decode() in run("list", letters_topic, "--pending")
    assert "re-driven: 1" in run("redrive", letters_topic, "--all")
    assert marker in asyncio.run(_keys_in(locked, "allocation.events")), "back in its topic"
    assert "purged: 1" in run("purge", letters_topic, "--yes")
    assert "0 dead letters" in run("list", letters_topic)

    monkeypatch.setenv("ANKOMMEN_KAFKA_SASL_USERNAME", "housing")  # a service's own user
    monkeypatch.setenv("ANKOMMEN_KAFKA_SASL_PASSWORD", kafka_acls.credentials(locked)["housing"])
    refused = CliRunner().invoke(app, ["dlq", "purge", letters_topic, "--yes"])
    assert refused.exit_code != 0, "a service's user may not purge dead letters"
    assert "Authorization" in type(refused.exception).__name__, repr(refused.exception)


async def test_reporting_reads_its_lag_and_rebuild_offsets_with_its_own_credentials(
    locked: Settings,
) -> None:
    from ankommen_runtime.settings import ServiceSettings
    from reporting.monitor import consumer_lag
    from reporting.rebuild import _end_offsets

    await _write(locked, "allocation", "allocation.events")
    settings = ServiceSettings(
        service="reporting",
        kafka_bootstrap=locked.kafka_bootstrap,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_password=kafka_acls.credentials(locked)["reporting"],
    )
    lag = {t.topic: t for t in await consumer_lag(settings)}
    assert lag["allocation.events"].end >= 1
    ends = await _end_offsets(locked.kafka_bootstrap, ["allocation.events"], settings)
    assert sum(ends.values()) == lag["allocation.events"].end
