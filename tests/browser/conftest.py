"""A reporting service on a real port with a year of facts, for the browser tests."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
import reporting.app
import uvicorn
from ankommen_local.infra import Endpoints
from ankommen_local.util import free_port
from ankommen_runtime.settings import ServiceSettings
from reporting import store
from reporting.domain.facts import fact_row

sys.path.insert(0, str(Path(__file__).parent))

from city import city

ARTIFACTS = Path(os.environ.get("ANKOMMEN_TEST_ARTIFACTS", Path(__file__).parent / "artifacts"))


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
async def served(
    infra: Endpoints, new_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> AsyncIterator[str]:
    """The base URL of a started reporting service whose facts are ``city()``."""
    dsn = await new_database()
    app = reporting.app.create_app(
        ServiceSettings(
            service="reporting",
            database_url=dsn,
            kafka_bootstrap=infra.kafka_bootstrap,
            topic_prefix=topic_prefix,
            consumer_group="browser",
        )
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(600):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    assert server.started, "the reporting service did not start"
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await store.PgReportingStore(conn).add_facts([fact_row(e) for e in city()])
    finally:
        await conn.close()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
