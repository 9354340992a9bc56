"""Roles narrowed by a claim: site operators act on their own sites only, district social
workers see the households living in their own Stadtbezirk only (and assess readiness in
integration, for the cases of their own Stadtbezirk only)."""

from __future__ import annotations

from typing import Any

from allocation_support import (
    FakeHousing,
    allocation_events,
    allocation_service,
    an_assignment,
    of_type,
    until_sites,
    until_status,
)
from ankommen_contracts import Pillar
from ankommen_local.infra import Endpoints
from ankommen_runtime.auth import Role
from ankommen_runtime.local_issuer import LocalIssuer, audience_of
from housing_support import housing, open_site, reservation


def as_(role: Role, service: str, **claims: Any) -> dict[str, str]:
    return LocalIssuer().bearer([role], audience=audience_of(service), **claims)


async def test_a_site_operator_sees_and_serves_its_own_sites_only(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with housing(database, infra, topic_prefix) as api:
        own, other = await open_site(api, 10), await open_site(api, 10)
        operator = as_(Role.SITE_OPERATOR, "housing", sites=[own])

        listed = await api.get("/sites", headers=operator)
        assert [s["site_id"] for s in listed.json()["items"]] == [own]
        assert (await api.get(f"/sites/{own}", headers=operator)).status_code == 200
        assert (await api.get(f"/sites/{other}", headers=operator)).status_code == 403
        assert (await api.get("/occupants", headers=operator)).status_code == 403
        here = await api.get("/occupants", params={"site_id": own}, headers=operator)
        assert here.status_code == 200
        blocked = await api.post(f"/sites/{other}/block", json={"places": 1}, headers=operator)
        assert blocked.status_code == 403

        at_own, at_other = reservation(own, 2), reservation(other, 2)
        for body in (at_own, at_other):
            assert (await api.post("/reservations", json=body)).status_code == 201
        check_in = "/reservations/{}/check-in"
        refused = await api.post(check_in.format(at_other["reservation_id"]), headers=operator)
        assert refused.status_code == 403
        admitted = await api.post(check_in.format(at_own["reservation_id"]), headers=operator)
        assert admitted.status_code == 201, admitted.text
        assert (await api.get(f"/sites/{other}")).json()["reserved"] == 2, "nothing changed"


async def test_a_social_worker_sees_the_households_of_its_own_district_only(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    async with (
        allocation_service(infra, database, topic_prefix) as api,
        FakeHousing(infra, topic_prefix) as fake_housing,
    ):
        await fake_housing.open("Wohnheim Tresckowstraße", Pillar.WOHNHEIM, 100, district=9)
        await until_sites(api, 1)
        created = await api.post("/assignments", json=an_assignment("NI-2016-0777", size=2))
        household_id = created.json()["household_id"]
        events = await allocation_events(
            infra, topic_prefix, lambda es: len(of_type(es, "PlacementDecided")) >= 1
        )
        [request] = of_type(events, "PlacementDecided")
        await fake_housing.reserve(request)
        await fake_housing.check_in(request)
        await until_status(api, household_id, "housed")

        ricklingen = as_(Role.SOCIAL_WORKER, "allocation", district=9)
        mitte = as_(Role.SOCIAL_WORKER, "allocation", district=1)
        url = f"/households/{household_id}"
        assert (await api.get(url, headers=ricklingen)).status_code == 200
        assert (await api.get(url, headers=mitte)).status_code == 403
        assert (
            await api.get(url, headers=as_(Role.YOUTH_WELFARE, "allocation"))
        ).status_code == 403
        assert (await api.get("/households", headers=ricklingen)).status_code == 403
