"""Every route of every service: 401 without a token, 403 for each role not allowed, and
through the checks (neither 401 nor 403, no server error) for each role allowed.

The services run for real (database, broker), so the answer an allowed role gets is the
route's own: 404 for the unknown ids used here, 422 for an empty body, 200 for a list.
"""

from __future__ import annotations

import importlib
import re
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from ankommen_local.infra import Endpoints
from ankommen_runtime.auth import Role, declared_roles
from ankommen_runtime.local_issuer import LocalIssuer, audience_of
from ankommen_runtime.routes import api_routes
from ankommen_runtime.settings import ServiceSettings
from support import running

from scripts.roles import API_DESCRIPTION, SERVICES, public_paths

# One id in every path; a site operator's token names it as its site, so the operator's
# requests reach the route (and find nothing there).
THE_ID = uuid.UUID("00000000-0000-4000-8000-000000000009")
DISTRICT = 9


def claims_for(role: Role) -> dict[str, object]:
    if role is Role.SITE_OPERATOR:
        return {"sites": [THE_ID]}
    if role is Role.SOCIAL_WORKER:
        return {"district": DISTRICT}
    return {}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("service", SERVICES)
async def test_every_route_admits_exactly_its_roles(
    service: str, infra: Endpoints, new_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> None:
    settings = ServiceSettings(
        service=service,
        database_url=await new_database(),
        kafka_bootstrap=infra.kafka_bootstrap,
        topic_prefix=topic_prefix,
        consumer_group=f"{topic_prefix}{service}",
    )
    app = importlib.import_module(f"{service}.app").create_app(settings)
    issuer = LocalIssuer()
    walked = 0
    async with running(app, roles=[]) as api:
        api.headers.pop("authorization")
        public = {p for p, r in api_routes(app) if declared_roles(r) is None}
        assert public == public_paths(service), (
            "only probes, metrics and reporting's published outputs go without a token"
        )
        assert (await api.get("/health/live")).status_code == 200
        assert (await api.get("/metrics")).status_code == 200
        for path, route in api_routes(app):
            allowed = declared_roles(route)
            if allowed is None:
                continue
            url = re.sub(r"\{[a-z_]+\}", str(THE_ID), path)
            for method in sorted(route.methods):

                async def call(
                    headers: dict[str, str], method: str = method, url: str = url
                ) -> httpx.Response:
                    return await api.request(
                        method,
                        url,
                        headers=headers,
                        params={"site_id": str(THE_ID)} if method == "GET" else None,
                        json={} if method in ("POST", "PUT") else None,
                    )

                where = f"{service}: {method} {path}"
                assert (await call({})).status_code == 401, f"{where} without a token"
                wrong_audience = issuer.bearer(list(Role), audience=audience_of("elsewhere"))
                assert (await call(wrong_audience)).status_code == 401, f"{where}: audience"
                for role in Role:
                    headers = issuer.bearer([role], audience=settings.audience, **claims_for(role))
                    status = (await call(headers)).status_code
                    if role in allowed:
                        assert status not in (401, 403), f"{where} refused {role}: {status}"
                        assert status < 500, f"{where} failed for {role}: {status}"
                    else:
                        assert status == 403, f"{where} let {role} through: {status}"
                walked += 1
    assert walked == sum(
        len(r.methods) for _, r in api_routes(app) if declared_roles(r) is not None
    )
    if service in ("allocation", "housing", "reporting"):
        assert walked > 0, f"{service} has routes to walk"


def test_the_api_description_is_the_only_other_thing_served_without_a_token() -> None:
    for service in SERVICES:
        app = importlib.import_module(f"{service}.app").create_app()
        others = {getattr(r, "path", "") for r in app.routes if not hasattr(r, "original_router")}
        assert others <= API_DESCRIPTION, f"{service} serves {others - API_DESCRIPTION}"
