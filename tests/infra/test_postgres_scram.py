"""A new local PostgreSQL cluster: scram-sha-256 with a generated password per role.

Runs on a cluster of its own (own state folder and port); the shared cluster (initialised
before this change, `trust`) is never restarted or re-initialised.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from ankommen_local import postgres, stack
from ankommen_local.cli import app
from ankommen_local.config import SERVICES, Settings
from ankommen_local.infra import endpoints_of, external_endpoints
from ankommen_local.util import free_port
from typer.testing import CliRunner

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster() -> Iterator[Settings]:
    # Not under pytest's tmp folder: every new pytest session (other helpers run theirs)
    # resets that folder to 0700, and the postgres OS user could no longer reach its data.
    base = Path(tempfile.mkdtemp(prefix="ankommen-scram-", dir="/tmp"))
    base.chmod(0o711)
    own = Settings(
        state_dir=base / "s",
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        pg_port=free_port(),
    )
    try:
        stack.up(own, components=("postgres",))
        yield own
    finally:
        stack.down(own, components=("postgres",))
        shutil.rmtree(base, ignore_errors=True)


def test_a_new_cluster_uses_scram_and_no_trust_line(cluster: Settings) -> None:
    assert cluster.pg_scram
    hba = (cluster.pg_data / "pg_hba.conf").read_text()
    lines = [line.split() for line in hba.splitlines() if line and not line.startswith("#")]
    assert {line[-1] for line in lines} == {"scram-sha-256"}


def test_passwords_are_generated_per_role_and_kept_private(cluster: Settings) -> None:
    path: Path = cluster.pg_passwords_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    passwords = {role: cluster.pg_password(role) for role in ("postgres", *SERVICES)}
    assert len(set(passwords.values())) == len(passwords)
    assert all(p is not None and len(p) >= 32 for p in passwords.values())
    assert all(passwords[s] != s for s in SERVICES)


@pytest.mark.parametrize("service", SERVICES)
async def test_each_role_logs_in_with_its_password_into_its_own_database(
    cluster: Settings, service: str
) -> None:
    conn = await asyncpg.connect(cluster.service_dsn(service))
    try:
        assert await conn.fetchval("SELECT current_user") == service
    finally:
        await conn.close()
    admin = await asyncpg.connect(cluster.pg_admin_dsn)
    try:
        stored = await admin.fetchval(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1", service
        )
    finally:
        await admin.close()
    assert stored.startswith("SCRAM-SHA-256$")


async def test_the_old_role_equals_password_and_no_password_are_refused(
    cluster: Settings,
) -> None:
    host, port = cluster.host, cluster.pg_port
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(f"postgresql://housing:housing@{host}:{port}/housing")
    with pytest.raises((asyncpg.InvalidPasswordError, asyncpg.ClientCannotConnectError)):
        await asyncpg.connect(f"postgresql://postgres@{host}:{port}/postgres")


def test_env_prints_the_dsns_with_the_generated_passwords(
    cluster: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANKOMMEN_STATE_DIR", str(cluster.state_dir))
    monkeypatch.setenv("ANKOMMEN_PG_PORT", str(cluster.pg_port))
    result = CliRunner().invoke(app, ["env"])
    assert result.exit_code == 0, result.output
    for service in SERVICES:
        password = cluster.pg_password(service)
        assert password is not None
        url = f"postgresql://{service}:{password}@127.0.0.1:{cluster.pg_port}/{service}"
        assert f"export ANKOMMEN_{service.upper()}_DATABASE_URL={url}" in result.output


async def test_the_tests_endpoints_pick_up_the_passwords(
    cluster: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    native = endpoints_of(cluster)  # what ANKOMMEN_INFRA=native yields after `up`
    for key, value in cluster.env().items():
        monkeypatch.setenv(key, value)
    for ep in (native, external_endpoints()):
        conn = await asyncpg.connect(ep.service_dsn("reporting"))
        try:
            assert await conn.fetchval("SELECT current_database()") == "reporting"
        finally:
            await conn.close()


def test_a_cluster_from_before_keeps_trust_so_running_setups_are_untouched(
    tmp_path: Path,
) -> None:
    old = Settings(state_dir=tmp_path)  # no scram marker: initialised by an older version
    assert not old.pg_scram
    assert "trust" in postgres.hba_conf(old)
    assert old.service_dsn("housing").startswith("postgresql://housing:housing@")


# --- backup and restore of every service database, on the same cluster of its own ------
@pytest.fixture
def own_env(cluster: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ANKOMMEN_STATE_DIR", str(cluster.state_dir))
    monkeypatch.setenv("ANKOMMEN_PG_PORT", str(cluster.pg_port))
    return cluster


async def _rows(dsn: str) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [tuple(r) for r in await conn.fetch("SELECT id, note FROM drill ORDER BY id")]
    finally:
        await conn.close()


async def _seed(cluster: Settings) -> None:
    for service in SERVICES:
        conn = await asyncpg.connect(cluster.service_dsn(service))
        try:
            await conn.execute(
                "DROP TABLE IF EXISTS drill; CREATE TABLE drill (id int PRIMARY KEY, note text)"
            )
            await conn.executemany(
                "INSERT INTO drill VALUES ($1, $2)", [(i, f"{service}-{i}") for i in range(50)]
            )
        finally:
            await conn.close()


async def test_backup_then_restore_as_copies_reproduces_every_database(
    own_env: Settings, tmp_path: Path
) -> None:
    await _seed(own_env)
    out = tmp_path / "backup"
    result = CliRunner().invoke(app, ["backup", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert sorted(p.name for p in out.glob("*.dump")) == sorted(f"{s}.dump" for s in SERVICES)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in out.glob("*.dump"))

    result = CliRunner().invoke(app, ["restore", str(out), "--as-copy", "_drill"])
    assert result.exit_code == 0, result.output
    admin = await asyncpg.connect(own_env.pg_admin_dsn)
    try:
        owners = dict(
            await admin.fetch(
                "SELECT datname, pg_get_userbyid(datdba) FROM pg_database "
                "WHERE datname LIKE '%\\_drill'"
            )
        )
    finally:
        await admin.close()
    assert owners == {f"{s}_drill": s for s in SERVICES}
    for service in SERVICES:
        original = await _rows(own_env.service_dsn(service))
        copy_dsn = own_env.service_dsn(service).rsplit("/", 1)[0] + f"/{service}_drill"
        assert len(original) == 50
        assert await _rows(copy_dsn) == original


async def test_restore_over_the_live_database_undoes_a_damaging_change(
    own_env: Settings, tmp_path: Path
) -> None:
    await _seed(own_env)
    out = tmp_path / "b"
    assert CliRunner().invoke(app, ["backup", "--out", str(out), "housing"]).exit_code == 0
    before = await _rows(own_env.service_dsn("housing"))
    conn = await asyncpg.connect(own_env.service_dsn("housing"))
    try:
        await conn.execute("DELETE FROM drill WHERE id < 25")
    finally:
        await conn.close()
    refused = CliRunner().invoke(app, ["restore", str(out), "housing"])
    assert refused.exit_code == 2  # neither --yes nor --as-copy
    result = CliRunner().invoke(app, ["restore", str(out), "housing", "--yes"])
    assert result.exit_code == 0, result.output
    assert await _rows(own_env.service_dsn("housing")) == before


def test_a_damaged_dump_is_refused_before_anything_is_dropped(
    own_env: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "c"
    assert CliRunner().invoke(app, ["backup", "--out", str(out), "reporting"]).exit_code == 0
    dump = out / "reporting.dump"
    dump.write_bytes(dump.read_bytes()[:-10])
    result = CliRunner().invoke(app, ["restore", str(out), "reporting", "--as-copy", "_x"])
    assert result.exit_code == 1
    assert "checksum" in result.output
