"""PostgreSQL: the connection pool and a migration runner for plain SQL files."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from .logging import get_logger

log = get_logger(__name__)

RUNTIME_MIGRATIONS = Path(__file__).parent / "migrations"
# One fixed key: replicas of a service starting together apply migrations one at a time.
_MIGRATION_LOCK = 0x616E6B6D  # "ankm"


# Without JIT: the services' statements are short, and a plan estimated above
# ``jit_above_cost`` was compiled by LLVM on every execution. At a hundred times Hannover
# allocation's board (a few rows; subqueries over 170,000 occupants estimated dear, though
# never run) spent 0.3-0.6 s of each read compiling, for a query that runs in 1 ms.
SERVER_SETTINGS = {"jit": "off"}


async def keep_session(conn: asyncpg.Connection) -> None:
    """What a connection going back to the pool needs beyond asyncpg's own clean-up (an
    open transaction rolled back, listeners dropped): nothing.

    asyncpg's default sends ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``
    on every release: a round trip, one in eight of a service's statements in the busiest
    weeks of the scenario, and each round trip costs these 2-core machines more CPU than
    the statements themselves. Nothing the services run leaves session state behind:
    settings are the connection's own (``SERVER_SETTINGS``) or ``set_config(…, true)``
    for one transaction, advisory locks are transaction locks or released where taken
    (``migrate``), nothing LISTENs (the relay is woken in its own process), and no
    cursor outlives its transaction. A new use of session state must end it where it starts."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        server_settings=SERVER_SETTINGS,
        reset=keep_session,
    )
    assert pool is not None
    return pool


async def migrate(pool: asyncpg.Pool, folders: Sequence[tuple[str, Path]]) -> list[str]:
    """Apply each ``NNNN_name.sql`` not yet applied, in name order, one transaction each.

    ``folders`` is ``(component, path)``: the runtime's tables first, then the service's.
    A file already applied whose text changed is an error: migrations are append-only.
    Returns the names applied now.
    """
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       component text NOT NULL,
                       name text NOT NULL,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now(),
                       PRIMARY KEY (component, name))"""
            )
            rows = await conn.fetch("SELECT component, name, checksum FROM schema_migrations")
            done = {(r["component"], r["name"]): r["checksum"] for r in rows}
            for component, folder in folders:
                for path in sorted(folder.glob("*.sql")):
                    sql = path.read_text()
                    checksum = hashlib.sha256(sql.encode()).hexdigest()
                    known = done.get((component, path.name))
                    if known == checksum:
                        continue
                    if known is not None:
                        raise RuntimeError(
                            f"migration {component}/{path.name} changed after it was applied"
                        )
                    async with conn.transaction():
                        await conn.execute(sql)
                        await conn.execute(
                            "INSERT INTO schema_migrations (component, name, checksum)"
                            " VALUES ($1, $2, $3)",
                            component,
                            path.name,
                            checksum,
                        )
                    applied_now.append(f"{component}/{path.name}")
                    log.info("migration applied", migration=f"{component}/{path.name}")
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied_now
