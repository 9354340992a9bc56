"""The native servers of `ankommen-local up`: reachable, provisioned, idempotent.

These tests use the shared servers of the default state dir and never stop them (other
tests run against them). The stop/start round trip runs on its own state dir and ports.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from ankommen_local import kafka, postgres, stack
from ankommen_local.cli import app
from ankommen_local.config import SERVICES, TOPICS, Settings
from ankommen_local.infra import endpoints_of, selected_backend
from ankommen_local.util import free_ports, pid_alive
from typer.testing import CliRunner

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def native() -> tuple[Settings, stack.UpReport]:
    if selected_backend() != "native":
        pytest.skip("ANKOMMEN_INFRA selects another backend than the native servers")
    settings = Settings.from_env()
    return settings, stack.up(settings)


async def test_broker_answers_metadata_and_has_the_project_topics(
    native: tuple[Settings, stack.UpReport],
) -> None:
    settings, _ = native
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([t.name for t in TOPICS])
    finally:
        await admin.close()
    partitions = {d["topic"]: len(d["partitions"]) for d in described if d["error_code"] == 0}
    assert partitions == {t.name: t.partitions for t in TOPICS}
    assert partitions["allocation.events"] == 3
    assert partitions["reporting.dlq.housing.events"] == 1


@pytest.mark.parametrize("service", SERVICES)
async def test_each_service_role_owns_its_database(
    native: tuple[Settings, stack.UpReport], service: str
) -> None:
    settings, _ = native
    conn = await asyncpg.connect(settings.service_dsn(service))
    try:
        row = await conn.fetchrow(
            "SELECT current_user AS usr, current_database() AS db, "
            "pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = current_database()"
        )
        assert (row["usr"], row["db"], row["owner"]) == (service, service, service)
        # The owner may create tables in its database's public schema (PG 15 rules).
        async with conn.transaction():
            await conn.execute("CREATE TABLE infra_probe (id int)")
            await conn.execute("DROP TABLE infra_probe")
    finally:
        await conn.close()


async def test_a_service_role_logs_in_through_the_servers_socket(
    native: tuple[Settings, stack.UpReport],
) -> None:
    settings, _ = native
    ep = endpoints_of(settings)
    conn = await asyncpg.connect(ep.through_socket(ep.service_dsn("housing")))
    try:
        # no client address: the connection came through the Unix socket, not TCP
        row = await conn.fetchrow("SELECT current_user AS usr, inet_client_addr() AS addr")
        assert (row["usr"], row["addr"]) == ("housing", None)
    finally:
        await conn.close()
    tcp = await asyncpg.connect(ep.service_dsn("housing"))
    try:
        assert str(await tcp.fetchval("SELECT inet_client_addr()")) == "127.0.0.1"
    finally:
        await tcp.close()


async def test_second_up_is_quick_and_keeps_the_servers(
    native: tuple[Settings, stack.UpReport],
) -> None:
    # Called from inside the running event loop on purpose: fixtures do the same.
    settings, first = native
    began = time.monotonic()
    again = stack.up(settings)
    elapsed = time.monotonic() - began
    assert again.started == []
    assert (again.kafka_pid, again.pg_pid) == (first.kafka_pid, first.pg_pid)
    assert elapsed < 10, f"second up took {elapsed:.1f}s"


def test_status_reports_running(native: tuple[Settings, stack.UpReport]) -> None:
    rows = {r.name: r for r in stack.status(native[0])}
    assert all(r.running and r.ready for r in rows.values()), rows
    result = CliRunner().invoke(app, ["status", "--check"])
    assert result.exit_code == 0, result.output
    assert result.output.count("running") == 2


def test_env_prints_exports_for_every_service(native: tuple[Settings, stack.UpReport]) -> None:
    settings, _ = native
    result = CliRunner().invoke(app, ["env"])
    assert result.exit_code == 0
    lines = set(result.output.splitlines())
    assert f"export ANKOMMEN_KAFKA_BOOTSTRAP={settings.kafka_bootstrap}" in lines
    assert f"export ANKOMMEN_PG_ADMIN_DSN={settings.pg_admin_dsn}" in lines
    for service in SERVICES:
        assert (
            f"export ANKOMMEN_{service.upper()}_DATABASE_URL={settings.service_dsn(service)}"
        ) in lines


def _processes_under(path: Path) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(path) in line and pid_alive(int(entry.name)):
                found.append(f"{entry.name}: {line[:120]}")
    return found


def test_round_trip_on_a_separate_state_dir(
    native: tuple[Settings, stack.UpReport], tmp_path: Path
) -> None:
    shared, _ = native
    kafka_port, controller_port, pg_port = free_ports(3)
    own = Settings(
        state_dir=tmp_path / "state",
        kafka_port=kafka_port,
        kafka_controller_port=controller_port,
        pg_port=pg_port,
    )
    # Borrow the shared jars instead of a second Maven run.
    own.kafka_dir.mkdir(parents=True)
    os.symlink(shared.kafka_lib, own.kafka_lib)
    try:
        report = stack.up(own)
        assert sorted(report.started) == ["kafka", "postgres"]
        assert kafka.ready_now(own)
        assert postgres.ready_now(own)
        assert stack.down(own) == ["kafka", "postgres"]
        assert not pid_alive(report.kafka_pid or -1)
        assert not pid_alive(report.pg_pid or -1)
        assert _processes_under(own.state_dir) == []
        assert stack.down(own) == []  # idempotent
        assert [r.running for r in stack.status(own)] == [False, False]
    finally:
        stack.down(own)
    # The shared servers were not touched.
    assert all(r.running for r in stack.status(shared))
