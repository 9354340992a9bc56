"""Every API route of an app with its full path, for the role table and the route walk.

FastAPI (0.165+) keeps included routers as lazy ``_IncludedRouter`` entries in
``app.routes``; this walks into them (and their prefixes) so nothing is missed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute


def api_routes(
    routes: Iterable[BaseRoute] | Any, prefix: str = ""
) -> Iterator[tuple[str, APIRoute]]:
    """``(full path, route)`` of every ``APIRoute`` under ``routes`` (an app or a list)."""
    for route in getattr(routes, "routes", routes):
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
            continue
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from api_routes(included.routes, prefix + getattr(context, "prefix", ""))


__all__ = ["api_routes"]
