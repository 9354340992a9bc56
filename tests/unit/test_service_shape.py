"""Every service has the same shape: a pure domain, a short composition root, an API module."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from ankommen_runtime.service import Periodic, ServiceSpec
from ankommen_runtime.settings import ServiceSettings

SERVICES = ("allocation", "housing", "integration", "volunteers", "reporting")
IO_MODULES = ("asyncpg", "aiokafka", "faststream", "fastapi", "pydantic_settings", "httpx")


@pytest.mark.parametrize("service", SERVICES)
def test_a_domain_imports_no_io_library(service: str) -> None:
    # A fresh interpreter: this test process has imported everything long ago.
    probe = (
        f"import sys, {service}.domain; "
        f"print(','.join(m for m in {IO_MODULES!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "", f"{service}.domain pulled in {loaded}"


@pytest.mark.parametrize("service", SERVICES)
def test_app_is_only_the_composition_root(service: str) -> None:
    app = importlib.import_module(f"{service}.app")
    api = importlib.import_module(f"{service}.api")
    source = Path(app.__file__ or "").read_text()
    assert len(source.splitlines()) < 100, "routes and views belong in api.py"
    assert "APIRouter" not in source
    assert "BaseModel" not in source
    assert isinstance(app.SPEC, ServiceSpec)
    assert tuple(app.SPEC.routers) == tuple(api.ROUTERS)
    assert callable(app.SPEC.subscriptions), "handlers.subscriptions(settings) is the convention"
    assert issubclass(app.SPEC.settings, ServiceSettings)


@pytest.mark.parametrize("service", SERVICES)
def test_handlers_reach_their_data_only_through_the_store(service: str) -> None:
    # A handler that used a connection again would need PostgreSQL, and its unit tests on
    # the in-memory unit of work could not run it (docs/service-shape.md, store convention).
    handlers = importlib.import_module(f"{service}.handlers")
    app = importlib.import_module(f"{service}.app")
    source = Path(handlers.__file__ or "").read_text()
    tree = ast.parse(source)
    attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    imported = {
        alias.name.split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for alias in (n.names if isinstance(n, ast.Import) else [ast.alias(n.module or "")])
    }
    assert "store" in attributes, "handlers use tx.store"
    assert not {"conn", "pool"} & attributes
    assert "asyncpg" not in imported
    assert app.SPEC.store is not None, "the spec names the service's store"


def test_a_spec_builds_its_own_settings_class_keeping_what_the_caller_set() -> None:
    class PilotSettings(ServiceSettings):
        sweep_seconds: float = 7.0

    spec = ServiceSpec(name="pilot", title="Pilot", settings=PilotSettings)
    given = ServiceSettings(service="pilot", topic_prefix="t1.", database_url="postgresql://x/y")
    settings = spec.configure(given)
    assert isinstance(settings, PilotSettings)
    assert (settings.topic_prefix, settings.dsn, settings.sweep_seconds) == (
        "t1.",
        "postgresql://x/y",
        7.0,
    )
    assert spec.configure(None).service == "pilot"


def test_periodic_work_becomes_a_named_task_and_subscriptions_are_resolved() -> None:
    async def sweep(_: object) -> bool:
        return False

    spec = ServiceSpec(
        name="pilot",
        title="Pilot",
        subscriptions=lambda settings: [],
        periodic=[Periodic("expiry-sweeper", sweep, lambda s: 1.0)],
    )
    bound = spec.bind(ServiceSettings(service="pilot"))
    assert bound.subscriptions == ()
    assert [t.__name__ for t in bound.background] == ["expiry_sweeper"]
    assert bound.periodic == ()


# Reads a file (the district teams), so it runs in FastAPI's worker threads on purpose.
BLOCKING_DEPENDENCIES = {("integration", "_teams")}


@pytest.mark.parametrize("service", SERVICES)
def test_no_route_or_dependency_hops_to_a_worker_thread(service: str) -> None:
    # FastAPI runs a plain ``def`` in its thread pool: a thread hop per request and per
    # dependency (about a tenth of housing's time per check-in in the scenario's profile)
    # for functions that only read the app's state.
    api = importlib.import_module(f"{service}.api")
    blocking = set()
    for router in api.ROUTERS:
        for route in router.routes:
            stack = [route.dependant]
            while stack:
                dependant = stack.pop()
                call = dependant.call
                if call is not None and not (
                    inspect.iscoroutinefunction(call)
                    or inspect.iscoroutinefunction(type(call).__call__)
                ):
                    blocking.add((service, call.__name__))
                stack.extend(dependant.dependencies)
    assert blocking <= BLOCKING_DEPENDENCIES, f"make these async def: {blocking}"
