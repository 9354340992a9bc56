"""The first vertical slice: housing opens a site → ShelterOpened → reporting's capacity view."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import housing.app
import reporting.app
from ankommen_contracts import decode
from ankommen_local.infra import Endpoints
from ankommen_runtime.db import create_pool
from ankommen_runtime.settings import ServiceSettings
from support import eventually, read_topic, running


def settings(service: str, dsn: str, infra: Endpoints, prefix: str) -> ServiceSettings:
    return ServiceSettings(
        service=service,
        database_url=dsn,
        kafka_bootstrap=infra.kafka_bootstrap,
        topic_prefix=prefix,
        consumer_group=f"{prefix}{service}",
        relay_poll_seconds=0.2,
    )


async def test_a_site_opened_in_housing_shows_in_the_capacity_view(
    infra: Endpoints, new_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> None:
    housing_app = housing.app.create_app(
        settings("housing", await new_database(), infra, topic_prefix)
    )
    reporting_app = reporting.app.create_app(
        settings("reporting", await new_database(), infra, topic_prefix)
    )
    async with running(housing_app) as housing_api, running(reporting_app) as reporting_api:
        site = {
            "name": "Wohnheim Am Listholze",
            "pillar": "wohnheim",
            "district": 2,
            "operator": "Johanniter",
            "capacity": 120,
        }
        correlation = uuid.uuid4()
        created = await housing_api.post(
            "/sites", json=site, headers={"x-correlation-id": str(correlation)}
        )
        assert created.status_code == 201, created.text
        site_id = created.json()["site_id"]
        assert created.json()["free"] == 120

        flat = {
            **site,
            "name": "Wohnung Limmerstraße",
            "pillar": "wohnung",
            "district": 10,
            "capacity": 4,
        }
        assert (await housing_api.post("/sites", json=flat)).status_code == 201

        async def both_projected() -> dict | None:
            view = (await reporting_api.get("/views/capacity")).json()
            return view if view["total"]["sites"] == 2 else None

        view = await eventually(both_projected)
        assert view, "the capacity view shows both sites"
        pillars = {row["key"]: row for row in view["by_pillar"]}
        assert pillars["wohnheim"]["capacity"] == 120
        assert pillars["wohnheim"]["free"] == 120
        assert pillars["wohnung"]["capacity"] == 4
        assert pillars["notunterkunft"]["sites"] == 0
        districts = {row["key"]: row for row in view["by_district"]}
        assert districts["02"]["label"] == "Vahrenwald-List"
        assert districts["02"]["capacity"] == 120
        assert districts["10"]["capacity"] == 4
        assert len(view["by_district"]) == 13
        assert view["total"]["capacity"] == 124

        ready = await reporting_api.get("/health/ready")
        assert ready.status_code == 200, ready.text
        metrics = (await housing_api.get("/metrics")).text
        assert 'ankommen_outbox_published_total{service="housing"}' in metrics

    records = await read_topic(
        infra.kafka_bootstrap, f"{topic_prefix}housing.events", until=lambda rs: len(rs) >= 2
    )
    event = next(decode(r.value) for r in records if r.key == site_id.encode())
    assert event.type == "ShelterOpened"
    assert event.correlation_id == correlation, "the caller's correlation id travels on"
    assert event.sequence == 1
    assert dict(records[0].headers)["ce_type"] == b"ShelterOpened"


async def test_invalid_site_gets_422_naming_the_field_and_changes_nothing(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    app = housing.app.create_app(settings("housing", database, infra, topic_prefix))
    async with running(app) as api:
        bad = {"name": "X", "pillar": "zelt", "district": 14, "operator": "DRK", "capacity": -1}
        response = await api.post("/sites", json=bad)
        assert response.status_code == 422
        fields = {tuple(e["loc"])[-1] for e in response.json()["detail"]}
        assert fields == {"pillar", "district", "capacity"}
        assert (await api.get("/sites")).json()["items"] == []
        missing = await api.get(f"/sites/{uuid.uuid4()}")
        assert missing.status_code == 404
        site_id = str(uuid.uuid4())
        good = {
            "name": "Halle",
            "pillar": "notunterkunft",
            "district": 5,
            "operator": "DRK",
            "capacity": 200,
            "site_id": site_id,
        }
        assert (await api.post("/sites", json=good)).status_code == 201
        again = await api.post("/sites", json=good)
        assert again.status_code == 409
        assert site_id in again.json()["detail"]


async def test_a_command_while_the_database_is_gone_gets_503_and_changes_nothing(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    app = housing.app.create_app(settings("housing", database, infra, topic_prefix))
    async with running(app) as api:
        runtime = app.state.runtime
        healthy_pool = runtime.pool
        healthy_pool.terminate()  # as if PostgreSQL went away under the service
        body = {
            "name": "Halle",
            "pillar": "notunterkunft",
            "district": 5,
            "operator": "DRK",
            "capacity": 80,
        }
        response = await api.post("/sites", json=body)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert "retry" in response.json()["detail"]
        ready = await api.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"].startswith("unreachable")
        runtime.pool = await create_pool(database)  # back again
        assert (await api.get("/sites")).json()["items"] == []
        assert (await api.post("/sites", json=body)).status_code == 201
