"""The service keeps the project's shape: a pure domain, routes for coordinators only."""

from __future__ import annotations

import ast
from pathlib import Path

import volunteers
from ankommen_contracts import Skill
from ankommen_runtime.auth import Role, declared_roles
from volunteers.api import ROUTERS
from volunteers.domain import Weekday
from volunteers.store import SKILL_BITS, WEEKDAY_BITS, districts_mask, skills_mask

PACKAGE = Path(volunteers.__file__).parent
IO_MODULES = {
    "asyncio",
    "asyncpg",
    "aiokafka",
    "faststream",
    "fastapi",
    "httpx",
    "io",
    "importlib",
    "json",
    "os",
    "pathlib",
    "socket",
    "subprocess",
    "urllib",
    "ankommen_runtime.service",
    "ankommen_runtime.uow",
    "ankommen_runtime.db",
    "ankommen_runtime.kafka",
    "ankommen_runtime.consumer",
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_domain_imports_no_io() -> None:
    imports = _imports(PACKAGE / "domain.py")
    io = {m for m in imports if m in IO_MODULES or m.split(".")[0] in IO_MODULES}
    assert not io, f"domain.py imports I/O: {sorted(io)}"
    assert imports, "parsed no imports at all"


def test_neither_domain_nor_handlers_read_the_wall_clock() -> None:
    for name in ("domain.py", "handlers.py"):
        tree = ast.parse((PACKAGE / name).read_text("utf-8"))
        calls = [
            f"{node.func.value.id}.{node.func.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
        ]
        assert calls, f"parsed no calls in {name}"
        for wall in ("datetime.now", "datetime.utcnow", "date.today", "time.time"):
            assert wall not in calls, f"{name} calls {wall}()"


def test_every_route_admits_the_volunteer_coordinators_and_nobody_else() -> None:
    routes = [r for router in ROUTERS for r in router.routes]
    assert len(routes) >= 15
    for route in routes:
        assert declared_roles(route) == {Role.VOLUNTEER_COORDINATOR}, route.path


def test_every_skill_weekday_and_district_has_a_bit_of_its_own() -> None:
    assert set(SKILL_BITS) == set(Skill), "a new skill needs the next free bit"
    assert len(set(SKILL_BITS.values())) == len(SKILL_BITS)
    assert set(WEEKDAY_BITS) == set(Weekday)
    assert sorted(WEEKDAY_BITS.values()) == list(range(7))
    assert skills_mask(Skill) == 2 ** len(Skill) - 1
    assert districts_mask(range(1, 14)) == 2**14 - 2
