"""Back up and restore the service databases with pg_dump / pg_restore.

    ankommen-local backup [--out DIR] [SERVICE ...]
    ankommen-local restore DIR [SERVICE ...] [--as-copy SUFFIX | --yes]

One custom-format dump per database plus a manifest (sizes, SHA-256, server version), so
a restore can check it got what was written. A restore either replaces the service's
database (``--yes``, the service must be stopped) or loads into a new database
``<service><suffix>`` owned by the service's role, for a drill or to pick rows out.
In Kubernetes the CloudNativePG cluster's own backups and point-in-time recovery are the
primary mechanism (docs/deploy.md); these logical dumps are the portable second copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from .util import InfraError, run, run_sync

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class DumpRecord:
    database: str
    file: str
    bytes: int
    sha256: str


def _tool(name: str) -> str:
    from .postgres import find_bin

    bindir = find_bin()
    if bindir is not None and (bindir / name).is_file():
        return str(bindir / name)
    found = shutil.which(name)
    if found is None:
        raise InfraError(f"{name} not found: apt-get install -y postgresql-client")
    return found


def _conn_args(dsn: str, database: str) -> tuple[list[str], dict[str, str]]:
    """libpq arguments for ``database`` with the password in PGPASSWORD, never in argv."""
    parts = urlsplit(dsn)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or "postgres"
    url = urlunsplit((parts.scheme, f"{user}@{netloc}", f"/{database}", parts.query, ""))
    env = {**os.environ}
    if parts.password is not None:
        env["PGPASSWORD"] = parts.password
    return [f"--dbname={url}"], env


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def backup(admin_dsn: str, databases: Mapping[str, str], out: Path) -> list[DumpRecord]:
    """Dump each ``{service: database}`` into ``out`` (created 0700) with a manifest."""
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o700)  # the dumps hold the city's data
    records = []
    for service, database in databases.items():
        target = out / f"{service}.dump"
        args, env = _conn_args(admin_dsn, database)
        run(
            [_tool("pg_dump"), *args, "--format=custom", "--no-owner", f"--file={target}"],
            what=f"pg_dump {database}",
            timeout=3600,
            env=env,
        )
        target.chmod(0o600)
        records.append(DumpRecord(database, target.name, target.stat().st_size, _sha256(target)))
    manifest = {
        "written_at": datetime.now(UTC).isoformat(),
        "dumps": {svc: rec.__dict__ for svc, rec in zip(databases, records, strict=True)},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return records


def read_manifest(folder: Path) -> dict[str, DumpRecord]:
    try:
        raw = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError as exc:
        raise InfraError(f"{folder} holds no {MANIFEST}: not a backup folder") from exc
    return {svc: DumpRecord(**rec) for svc, rec in raw["dumps"].items()}


async def _recreate(admin_dsn: str, database: str, owner: str) -> None:
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        # Nobody may stay connected to a database that is being replaced.
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            database,
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
        await conn.execute(f'CREATE DATABASE "{database}" OWNER "{owner}"')
    finally:
        await conn.close()


def restore(
    admin_dsn: str,
    folder: Path,
    targets: Mapping[str, str],
    owners: Mapping[str, str] | None = None,
) -> list[str]:
    """Load each service's dump into ``targets[service]`` (dropped and re-created, owned
    by the service's role), after checking the dump against the manifest."""
    manifest = read_manifest(folder)
    restored = []
    for service, database in targets.items():
        record = manifest.get(service)
        if record is None:
            raise InfraError(f"the backup in {folder} has no dump of {service}")
        dump = folder / record.file
        if _sha256(dump) != record.sha256:
            raise InfraError(f"{dump} does not match its manifest checksum: damaged or altered")
        owner = (owners or {}).get(service, service)
        run_sync(_recreate(admin_dsn, database, owner))
        args, env = _conn_args(admin_dsn, database)
        run(
            [
                _tool("pg_restore"),
                *args,
                "--no-owner",
                f"--role={owner}",
                "--exit-on-error",
                "--single-transaction",
                str(dump),
            ],
            what=f"pg_restore {service} into {database}",
            timeout=3600,
            env=env,
        )
        restored.append(database)
    return restored
