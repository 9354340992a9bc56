"""An own PostgreSQL cluster from the system packages, run by the `postgres` OS user."""

from __future__ import annotations

import asyncio
import glob
import hashlib
import os
import pwd
import stat
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

import asyncpg

from . import secrets
from .config import SERVICES, Settings
from .util import (
    Echo,
    InfraError,
    cmdline,
    pid_alive,
    port_open,
    quiet,
    run,
    run_sync,
    tail,
    write_if_changed,
)

PG_USER = "postgres"
READY_TIMEOUT = 60.0
# A unix socket path must fit in sun_path (108 bytes on Linux).
SOCKET_PATH_LIMIT = 100
CREATECLUSTER_CONF = Path("/etc/postgresql-common/createcluster.d/50-ankommen.conf")


# --- installation -------------------------------------------------------------------------
def find_bin() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin that has initdb."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")

    def version(path: str) -> float:
        try:
            return float(Path(path).parents[1].name)
        except ValueError:
            return 0.0

    return Path(max(found, key=version)).parent if found else None


def ensure_installed(echo: Echo = quiet) -> Path:
    """Install Debian's postgresql package when no server binaries are present."""
    bindir = find_bin()
    if bindir is not None:
        return bindir
    if os.geteuid() != 0:
        raise InfraError("PostgreSQL is not installed: run `sudo apt-get install -y postgresql`")
    echo("installing PostgreSQL (apt-get) …")
    # The package would otherwise create and start a default cluster on port 5432 that
    # nobody here uses; our own cluster lives in the state dir.
    CREATECLUSTER_CONF.parent.mkdir(parents=True, exist_ok=True)
    CREATECLUSTER_CONF.write_text(
        "# ankommen-local runs its own cluster\ncreate_main_cluster = false\n"
    )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update"], what="apt-get update", timeout=600, env=env)
    run(
        ["apt-get", "install", "-y", "postgresql"],
        what="apt-get install postgresql",
        env=env,
        timeout=900,
    )
    bindir = find_bin()
    if bindir is None:
        raise InfraError("apt-get installed postgresql but no initdb was found")
    return bindir


# --- running as the postgres user -----------------------------------------------------------
def _as_root() -> bool:
    return os.geteuid() == 0


def _pg_cmd(*cmd: str | os.PathLike[str]) -> list[str]:
    # The server refuses to run as root; a normal user runs it as themselves.
    args = [os.fspath(c) for c in cmd]
    return ["runuser", "-u", PG_USER, "--", *args] if _as_root() else args


def _owner() -> tuple[int, int]:
    if not _as_root():
        return os.getuid(), os.getgid()
    try:
        entry = pwd.getpwnam(PG_USER)
    except KeyError as exc:
        raise InfraError(f"OS user {PG_USER!r} is missing (is postgresql installed?)") from exc
    return entry.pw_uid, entry.pw_gid


def socket_dir(s: Settings) -> Path:
    """Unix socket dir: under the state dir unless that path is too long for a socket."""
    if len(str(s.pg_run)) + len(f"/.s.PGSQL.{s.pg_port}") <= SOCKET_PATH_LIMIT:
        return s.pg_run
    digest = hashlib.sha256(str(s.state_dir).encode()).hexdigest()[:10]
    return Path("/tmp") / f"ankommen-pg-{digest}"


def _make_traversable(path: Path, echo: Echo) -> None:
    """Let the postgres user reach ``path``: add only the search (x) bit where missing."""
    if not _as_root():
        return
    probe = subprocess.run(
        ["runuser", "-u", PG_USER, "--", "test", "-x", str(path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    if probe.returncode == 0:
        return
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            echo(f"allowing other users to traverse {parent} (chmod o+x) for PostgreSQL")
            parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def prepare_dirs(s: Settings, echo: Echo = quiet) -> None:
    uid, gid = _owner()
    dirs = [s.pg_dir, s.pg_data, s.pg_logs, socket_dir(s)]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    for d in dirs:
        if d.stat().st_uid != uid:
            os.chown(d, uid, gid)
    s.pg_data.chmod(0o700)  # initdb and the server insist on it
    _make_traversable(s.pg_dir, echo)


# --- cluster --------------------------------------------------------------------------------
def init_cluster(s: Settings, bindir: Path, echo: Echo = quiet) -> bool:
    """initdb once, with scram-sha-256 and a generated password per role; False if the
    data dir already holds a cluster (which keeps the authentication it was made with)."""
    if (s.pg_data / "PG_VERSION").is_file():
        return False
    echo(f"initialising PostgreSQL cluster in {s.pg_data} (scram-sha-256) …")
    passwords = secrets.load_or_create(s.pg_passwords_file, (PG_USER, *SERVICES))
    # initdb reads the superuser's password from a file the postgres OS user can read;
    # it lives only for the initdb call.
    pwfile = s.pg_dir / ".initdb-pw"
    secrets.write_private(pwfile, passwords[PG_USER] + "\n")
    uid, gid = _owner()
    os.chown(pwfile, uid, gid)
    try:
        run(
            _pg_cmd(
                bindir / "initdb",
                "-D",
                s.pg_data,
                "-U",
                PG_USER,
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
            ),
            what="initdb",
            timeout=300,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    s.pg_scram_marker.write_text("scram-sha-256\n")
    return True


def server_conf(s: Settings) -> str:
    return f"""\
# Written by ankommen-local on every start; included from postgresql.conf.
listen_addresses = '{s.host}'
port = {s.pg_port}
unix_socket_directories = '{socket_dir(s)}'
max_connections = 200
shared_buffers = 256MB
# Durability settings (fsync, synchronous_commit, full_page_writes) stay at their safe
# defaults: the demo and the benchmarks must measure real commits.
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
"""


SCRAM_HBA_CONF = """\
# Written by ankommen-local: every role logs in with its password (scram-sha-256); the
# passwords are generated per role in the state folder's secrets/ (mode 0600).
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  scram-sha-256
host    all       all   127.0.0.1/32   scram-sha-256
"""

HBA_CONF = """\
# Written by ankommen-local. LOCAL DEVELOPMENT ONLY: `trust` accepts any role without a
# password. The server listens on 127.0.0.1 only; never copy this file anywhere else.
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   trust
"""


def hba_conf(s: Settings) -> str:
    """scram for clusters made by this version; `trust` only for older ones (their roles
    have no generated password to switch to)."""
    return SCRAM_HBA_CONF if s.pg_scram else HBA_CONF


def write_config(s: Settings) -> None:
    uid, gid = _owner()
    conf = s.pg_data / "postgresql.conf"
    include = "include = 'ankommen.conf'"
    text = conf.read_text()
    if include not in text:
        conf.write_text(text.rstrip("\n") + f"\n\n# ankommen-local settings\n{include}\n")
    for path, content in (
        (s.pg_data / "ankommen.conf", server_conf(s)),
        (s.pg_data / "pg_hba.conf", hba_conf(s)),
    ):
        write_if_changed(path, content)
        os.chown(path, uid, gid)


def running_pid(s: Settings) -> int | None:
    """The postmaster's pid from postmaster.pid, if that process lives."""
    try:
        pid = int((s.pg_data / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    if not pid_alive(pid):
        return None
    line = cmdline(pid)
    if line and "postgres" not in line:
        return None
    return pid


def start(s: Settings, bindir: Path, echo: Echo = quiet) -> tuple[int, bool]:
    """Start the cluster unless it runs; (pid, started_now)."""
    pid = running_pid(s)
    if pid is not None:
        return pid, False
    if port_open(s.host, s.pg_port):
        raise InfraError(
            f"port {s.host}:{s.pg_port} is taken by another process: stop it or set "
            "ANKOMMEN_PG_PORT"
        )
    write_config(s)
    uid, gid = _owner()
    s.pg_logfile.touch()
    os.chown(s.pg_logfile, uid, gid)
    echo(f"starting PostgreSQL on {s.host}:{s.pg_port} …")
    try:
        run(
            _pg_cmd(
                bindir / "pg_ctl", "-D", s.pg_data, "-l", s.pg_logfile, "-w", "-t", "60", "start"
            ),
            what="pg_ctl start",
            timeout=90,
        )
    except InfraError as exc:
        raise InfraError(f"{exc}\n--- {s.pg_logfile} (tail) ---\n{tail(s.pg_logfile)}") from exc
    pid = running_pid(s)
    if pid is None:
        raise InfraError(f"PostgreSQL did not stay up\n{tail(s.pg_logfile)}")
    return pid, True


def stop(s: Settings, bindir: Path | None, echo: Echo = quiet) -> bool:
    """pg_ctl stop -m fast; False if it was not running."""
    pid = running_pid(s)
    if pid is None:
        return False
    echo(f"stopping PostgreSQL (pid {pid}) …")
    if bindir is None:
        raise InfraError("PostgreSQL runs but no pg_ctl was found to stop it")
    run(
        _pg_cmd(bindir / "pg_ctl", "-D", s.pg_data, "-m", "fast", "-w", "-t", "60", "stop"),
        what="pg_ctl stop",
        timeout=90,
    )
    return True


# --- readiness and provisioning -------------------------------------------------------------
async def is_ready(dsn: str, timeout: float = 3.0) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=timeout)
    except Exception:
        return False
    try:
        return await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()


async def wait_ready(s: Settings, timeout: float = READY_TIMEOUT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await is_ready(s.pg_admin_dsn):
            return
        await asyncio.sleep(0.3)
    raise InfraError(
        f"PostgreSQL did not answer on {s.host}:{s.pg_port} within {timeout:.0f}s\n"
        f"--- {s.pg_logfile} (tail) ---\n{tail(s.pg_logfile)}"
    )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def ensure_databases(
    admin_dsn: str,
    services: Iterable[str],
    echo: Echo = quiet,
    passwords: Mapping[str, str] | None = None,
) -> None:
    """One login role and one database per service, idempotently; each role's password
    from ``passwords`` (generated), else the role's name (an older trusted cluster)."""
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        for name in services:
            role, db = _ident(name), _ident(name)
            password = (passwords or {}).get(name, name)
            if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name) is None:
                # DDL takes no bind parameters, hence the quoting helpers.
                await conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD {_literal(password)}")
                echo(f"created role {name}")
            else:
                await conn.execute(f"ALTER ROLE {role} LOGIN PASSWORD {_literal(password)}")
            if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name) is None:
                await conn.execute(f"CREATE DATABASE {db} OWNER {role}")
                echo(f"created database {name}")
            else:
                await conn.execute(f"ALTER DATABASE {db} OWNER TO {role}")
    finally:
        await conn.close()


def ready_now(s: Settings, timeout: float = 3.0) -> bool:
    return run_sync(is_ready(s.pg_admin_dsn, timeout))
