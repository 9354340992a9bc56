"""Fixtures shared by every test folder.

Infrastructure is requested only by the tests that need it (integration, e2e), so unit and
contract tests run without a broker. ``ANKOMMEN_INFRA`` picks native processes,
testcontainers or external servers (see deploy/local/README.md).
"""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from ankommen_local.infra import Endpoints, endpoints
from ankommen_local.kafka import delete_topics

# Folders whose tests start or need servers even without the ``infra`` fixture.
_SERVER_FOLDERS = ("integration", "e2e", "fault")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs a server ``integration``, so ``-m "not integration"``
    (``make unit``) starts none: by fixture (``infra``, directly or through another
    fixture) or by folder."""
    tests = Path(__file__).parent
    for item in items:
        # The folder right under tests/: tests/unit/integration holds unit tests.
        parts = item.path.relative_to(tests).parts if item.path.is_relative_to(tests) else ()
        folder = parts[0] if len(parts) > 1 else ""
        needs_server = "infra" in getattr(item, "fixturenames", ())
        if needs_server or (
            folder in _SERVER_FOLDERS and item.path.name != "test_harness_checks.py"
        ):
            item.add_marker(pytest.mark.integration)


# The topic prefixes this test process handed out (``topic_prefix``). Databases are dropped
# after each test; topics stayed, and a developer's broker had 1,900 partitions of old
# test runs, each loaded again at every start.
_TOPIC_PREFIXES: set[str] = set()


@pytest.fixture(scope="session")
def infra() -> Iterator[Endpoints]:
    with endpoints() as ep:
        yield ep
        # last of all: every service a test started has stopped before this teardown
        if _TOPIC_PREFIXES:
            _delete_test_topics(ep.kafka_bootstrap)


def _delete_test_topics(bootstrap: str) -> None:
    """Tidying, not a check: a broker a fault test left down warns, it fails nothing."""

    async def delete() -> None:
        async with asyncio.timeout(60):
            await delete_topics(bootstrap, prefixes=_TOPIC_PREFIXES)

    loop = asyncio.new_event_loop()  # its own: the tests' loop is not this fixture's
    try:
        loop.run_until_complete(delete())
    except Exception as exc:  # any failure only leaves topics behind
        warnings.warn(f"the session's test topics were not deleted: {exc!r}", stacklevel=1)
    finally:
        loop.close()


@pytest.fixture
async def new_database(infra: Endpoints) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Make fresh, empty databases for one test (one per service); dropped afterwards."""
    names: list[str] = []

    async def make() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(infra.pg_admin_dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        names.append(name)
        return infra.dsn_for(name)

    yield make
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def database(new_database: Callable[[], Awaitable[str]]) -> str:
    """A fresh, empty database for one test; its DSN."""
    return await new_database()


@pytest.fixture
def topic_prefix() -> str:
    """A namespace of topics for one test: nothing it publishes reaches another test. Its
    topics are deleted when the test session ends."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    _TOPIC_PREFIXES.add(prefix)
    return prefix
