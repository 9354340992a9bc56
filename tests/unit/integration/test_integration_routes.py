"""Every integration route declares who may call it; personal details are social workers' only."""

from __future__ import annotations

from ankommen_runtime.auth import Role, declared_roles
from fastapi.routing import APIRoute
from integration import api


def routes() -> list[APIRoute]:
    return [r for router in api.ROUTERS for r in router.routes if isinstance(r, APIRoute)]


def test_every_route_declares_its_roles() -> None:
    undeclared = [r.path for r in routes() if not declared_roles(r)]
    assert undeclared == []
    assert len(routes()) >= 15


def test_only_social_workers_see_or_record_personal_details_and_change_cases() -> None:
    for route in routes():
        roles = declared_roles(route)
        assert roles is not None
        writes = route.methods & {"POST", "PUT", "PATCH", "DELETE"}
        changes_cases = route.path.startswith(("/cases", "/casework"))
        if "/people" in route.path or (writes and changes_cases):
            assert roles == {Role.SOCIAL_WORKER}, route.path
        assert Role.VOLUNTEER_COORDINATOR not in roles, "never household data"
        assert Role.PUBLIC_READER not in roles
