"""docs/roles.md is generated from the routes; the checked-in file must be the current one."""

from __future__ import annotations

from scripts import roles


def test_the_checked_in_role_table_matches_the_routes() -> None:
    assert roles.TARGET.read_text() == roles.render(), (
        "docs/roles.md is stale: run `uv run python scripts/roles.py`"
    )


def test_every_route_is_either_public_by_name_or_declares_its_roles() -> None:
    for service in roles.SERVICES:
        for method, path, allowed, _ in roles.routes(roles.service_app(service)):
            if allowed is None:
                assert path in roles.PUBLIC, f"{service}: {method} {path} declares no roles"
            else:
                assert allowed, f"{service}: {method} {path} allows nobody"
