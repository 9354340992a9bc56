"""Allocation, housing and integration in-process on real Kafka and PostgreSQL, with tokens
from a local issuer of the test's own (social workers per district)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import allocation.app
import housing.app
import httpx
import integration.app
from allocation_support import household
from allocation_support import settings as allocation_settings
from ankommen_local.infra import Endpoints
from ankommen_runtime.auth import Role
from ankommen_runtime.clock import CITY_TZ
from ankommen_runtime.local_issuer import LocalIssuer, audience_of
from ankommen_runtime.topics import event_topic
from support import create_topics, eventually, running


class ShiftedClock:
    """Business time ``offset`` after the wall clock: the test lets months pass."""

    def __init__(self, offset: timedelta = timedelta()) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def today(self) -> date:
        return self.now().astimezone(CITY_TZ).date()


@dataclass
class City:
    """The three services, an HTTP client each, and a way to act as a social worker."""

    allocation: httpx.AsyncClient
    housing: httpx.AsyncClient
    integration: httpx.AsyncClient
    issuer: LocalIssuer
    integration_app: Any
    dsns: dict[str, str]
    clock: ShiftedClock

    def as_(self, *roles: Role, district: int | None = None, subject: str | None = None) -> dict:
        token = self.issuer.mint(
            roles, audience=audience_of("integration"), district=district, subject=subject
        )
        return {"authorization": f"Bearer {token}"}

    def social_worker(self, district: int, subject: str | None = None) -> dict:
        return self.as_(Role.SOCIAL_WORKER, district=district, subject=subject)

    def let_months_pass(self, months: int) -> None:
        """Months pass in the whole city: every service's business clock moves (events
        carry their business time from one service to the next)."""
        self.clock.offset = timedelta(days=30 * months)


@contextlib.asynccontextmanager
async def city(
    infra: Endpoints,
    new_database: Callable[[], Awaitable[str]],
    prefix: str,
    state: Path,
    **integration_extra: Any,
) -> AsyncIterator[City]:
    issuer = LocalIssuer(state).ensure()
    common: dict[str, Any] = {
        "kafka_bootstrap": infra.kafka_bootstrap,
        "topic_prefix": prefix,
        "relay_poll_seconds": 0.2,
        "oidc_jwks_url": issuer.jwks_url,
    }
    dsns = {name: await new_database() for name in ("allocation", "housing", "integration")}
    housing_settings = housing.app.HousingSettings(
        database_url=dsns["housing"], consumer_group=f"{prefix}housing", **common
    )
    integration_settings = integration.app.IntegrationSettings(
        database_url=dsns["integration"],
        consumer_group=f"{prefix}integration",
        **common,
        **integration_extra,
    )
    integration_app = integration.app.create_app(integration_settings)
    housing_app = housing.app.create_app(housing_settings)
    allocation_app = allocation.app.create_app(
        allocation_settings(
            infra,
            dsns["allocation"],
            prefix,
            pool_max_size=10,
            waitlist_retry_seconds=0.5,
            oidc_jwks_url=issuer.jwks_url,
        )
    )
    await create_topics(infra.kafka_bootstrap, event_topic("housing", prefix), partitions=3)
    async with (
        running(allocation_app, issuer=issuer) as allocation_api,
        running(housing_app, issuer=issuer) as housing_api,
        running(integration_app, issuer=issuer) as integration_api,
    ):
        # One business clock for the city, so letting months pass moves every service.
        clock = ShiftedClock()
        for app in (allocation_app, housing_app, integration_app):
            app.state.runtime.clock = clock
        yield City(
            allocation_api, housing_api, integration_api, issuer, integration_app, dsns, clock
        )


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 60) -> Any:
    """``check()``'s first truthy value; fails naming ``what`` if it never comes."""
    value = await eventually(check, timeout=timeout)
    assert value, f"timed out after {timeout}s waiting for {what}"
    return value


async def open_site(city: City, name: str, pillar: str, district: int, capacity: int) -> str:
    body = {
        "name": name,
        "pillar": pillar,
        "district": district,
        "operator": "DRK",
        "capacity": capacity,
    }
    response = await city.housing.post("/sites", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["site_id"])


async def check_in(
    city: City, household_id: str, residents: list[dict[str, str]] | None = None
) -> str:
    """Check in the household's held reservation in housing (with the ``residents`` its
    operator saw at the door, for the site's resident list); the site id."""

    async def held() -> dict[str, Any] | None:
        pending = (await household(city.allocation, household_id))["pending"]
        return pending if pending and pending["reserved_until"] else None

    pending = await until(held, f"a held reservation of household {household_id}")
    response = await city.housing.post(
        f"/reservations/{pending['reservation_id']}/check-in",
        json={"residents": residents or []},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["site_id"])


async def case_of(city: City, household_id: str, seen_by: int, **expect: Any) -> dict[str, Any]:
    """The household's case as a social worker of district ``seen_by`` (or of the expected
    district) sees it, once it shows ``expect`` (e.g. ``district=10``)."""

    async def check() -> dict[str, Any] | None:
        for d in {seen_by, expect.get("district", seen_by)}:
            response = await city.integration.get(
                "/cases", params={"household_id": household_id}, headers=city.social_worker(d)
            )
            assert response.status_code == 200, response.text
            for case in response.json()["items"]:
                if all(case[k] == v for k, v in expect.items()):
                    return case
        return None

    return await until(check, f"a case of household {household_id} with {expect}")
