"""docs/roles.md and docs/events.md are generated; the checked-in files must be current."""

from __future__ import annotations

from scripts import events, roles


def test_the_checked_in_role_table_matches_the_routes() -> None:
    assert roles.TARGET.read_text() == roles.render(), (
        "docs/roles.md is stale: run `uv run python scripts/roles.py`"
    )


def test_every_route_is_either_public_by_name_or_declares_its_roles() -> None:
    for service in roles.SERVICES:
        for method, path, allowed, _ in roles.routes(roles.service_app(service)):
            if allowed is None:
                assert path in roles.public_paths(service), (
                    f"{service}: {method} {path} declares no roles"
                )
            else:
                assert allowed, f"{service}: {method} {path} allows nobody"


def test_the_checked_in_event_catalogue_matches_the_contract() -> None:
    assert events.TARGET.read_text() == events.render(), (
        "docs/events.md is stale: run `uv run python scripts/events.py`"
    )
