"""Issue 13's placement rules where they cross the saga: allocation and housing together on
real Kafka and PostgreSQL (and housing alone for the resident list)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
from allocation_support import a_member, allocation_events, household, of_type, until_sites
from ankommen_local.infra import Endpoints
from ankommen_runtime.auth import Role
from ankommen_runtime.local_issuer import LocalIssuer
from housing_support import housing, outbox
from housing_support import open_site as open_wohnheim
from support import eventually, without_token
from test_allocation_with_housing import both_services, check_in_everyone_reserved, sites_of


async def add_site(housing_api: httpx.AsyncClient, name: str, pillar: str, **extra: Any) -> str:
    body = {"name": name, "pillar": pillar, "district": 10, "operator": "DRK", **extra}
    response = await housing_api.post("/sites", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["site_id"])


async def assign(api: httpx.AsyncClient, reference: str, *members: dict[str, Any]) -> str:
    response = await api.post(
        "/assignments", json={"land_reference": reference, "members": list(members)}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["household_id"])


async def until_held(api: httpx.AsyncClient, household_id: str) -> dict[str, Any]:
    async def held() -> dict[str, Any] | None:
        found = await household(api, household_id)
        pending = found["pending"]
        return found if pending and pending["reserved_until"] else None

    found = await eventually(held, timeout=60)
    assert found, f"no places held for {household_id}: {await household(api, household_id)}"
    return found


async def until_free(api: httpx.AsyncClient, site_id: str, free: int) -> None:
    """Wait until allocation's replica shows ``free`` places at the site."""

    async def seen() -> bool:
        sites = {s["site_id"]: s for s in (await api.get("/sites")).json()["items"]}
        return site_id in sites and sites[site_id]["free"] == free

    assert await eventually(seen, timeout=60), f"allocation never saw {free} free at {site_id}"


async def until_status(api: httpx.AsyncClient, household_id: str, status: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        found = await household(api, household_id)
        return found if found["status"] == status else None

    found = await eventually(reached, timeout=60)
    assert found, f"{household_id} never became {status}: {await household(api, household_id)}"
    return found


async def test_rule_2_a_minor_with_an_adult_brother_is_referred_to_youth_welfare(
    infra: Endpoints, new_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> None:
    async with both_services(infra, new_database, topic_prefix) as (api, housing_api):
        home = await add_site(housing_api, "Wohnheim Am Bahndamm", "wohnheim", capacity=10)
        await until_sites(api, 1)
        quota = await api.post(
            "/quota-periods",
            json={
                "starts_on": "2015-10-01",
                "ends_on": "2016-01-31",
                "expected_persons": 3700,
                "weekly_quota": 150,
            },
        )
        assert quota.status_code == 201, quota.text
        period = quota.json()["quota_period_id"]
        brother = a_member(age_band="18-26", gender="male", country_of_origin="AFG")
        minor = a_member(
            age_band="6-17", gender="male", country_of_origin="AFG", unaccompanied_minor=True
        )
        response = await api.post(
            "/assignments",
            json={"land_reference": "NI-UMF-1", "quota_period_id": period,
                  "members": [brother, minor]},
        )  # fmt: skip
        assert response.status_code == 201, response.text
        household_id = response.json()["household_id"]

        held = await until_held(api, household_id)
        assert held["pending"]["site_id"] == home
        assert (await sites_of(housing_api))[home]["reserved"] == 1, "the brother only"

        events = await allocation_events(
            infra, topic_prefix, lambda es: bool(of_type(es, "MinorReferredToYouthWelfare"))
        )
        [referral] = of_type(events, "MinorReferredToYouthWelfare", household_id)
        assert referral.travels_with_adult is True
        assert str(referral.quota_period_id) == period

        youth = (await api.get("/youth-welfare")).json()
        assert (youth["households"], youth["persons"]) == (1, 1)
        assert youth["items"][0]["placed_persons"] == 1
        [counted] = (await api.get("/quota-periods")).json()["items"]
        assert (counted["assigned_persons"], counted["unaccompanied_minors"]) == (1, 1)


async def test_rule_3_and_4_protection_rules_and_one_household_per_flat_across_the_saga(
    infra: Endpoints, new_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> None:
    async with both_services(infra, new_database, topic_prefix) as (api, housing_api):
        # A hall for single men and the city's flats: the family may not go to the hall;
        # as nothing else fits it gets a flat (for review) rather than no place (rule 7).
        men = await add_site(
            housing_api, "Ex-Möbel Boss", "notunterkunft", capacity=200,
            suitability=["single_adults"], building="former_store", owner="city",
        )  # fmt: skip
        flats = await add_site(
            housing_api, "Wohnungen Linden-Limmer", "wohnung", capacity=6,
            building="flats", owner="housing_company", flats=[2, 4],
        )  # fmt: skip
        await until_sites(api, 2)
        mother, child = a_member(), a_member(age_band="0-5")
        family = await assign(api, "NI-FLAT-1", mother, child)
        first = await until_held(api, family)
        assert first["pending"]["site_id"] == flats
        assert first["pending"]["for_review"] is True
        assert "not_single_adults" in first["pending"]["requirements"]

        man = await assign(api, "NI-FLAT-2", a_member(gender="male"))
        assert (await until_held(api, man))["pending"]["site_id"] == men

        father = await assign(api, "NI-FLAT-3", a_member(gender="male"), a_member(age_band="6-17"))
        assert (await until_held(api, father))["pending"]["site_id"] == flats

        # Both flats are let: a third household finds no flat, though places are "left".
        mother2, child2 = a_member(), a_member(age_band="6-17")
        third = await assign(api, "NI-FLAT-4", mother2, child2)
        await until_status(api, third, "waitlisted")

        reservations = (await housing_api.get("/reservations", params={"site_id": flats})).json()[
            "items"
        ]
        held = [r for r in reservations if r["status"] == "held"]
        assert len(held) == 2
        assert len({r["unit_id"] for r in held}) == 2, "two households never share a flat"
        site = (await sites_of(housing_api))[flats]
        assert (site["units"], site["free_units"], site["free"]) == (2, 0, 0)
        occupancy = (await housing_api.get("/occupancy")).json()
        by_pillar = {row["key"]: row for row in occupancy["by_pillar"]}
        assert by_pillar["wohnung"]["sites"] == 1, "views count sites, not flats"


async def test_rule_5_a_house_ban_raises_a_follow_up_and_a_new_placement(
    infra: Endpoints, new_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> None:
    async with both_services(infra, new_database, topic_prefix) as (api, housing_api):
        first = await add_site(housing_api, "Wohnheim A", "wohnheim", capacity=10)
        await until_sites(api, 1)
        household_id = await assign(api, "NI-BAN-1", a_member(gender="male"))
        await until_held(api, household_id)
        await check_in_everyone_reserved(api, housing_api, [household_id])
        await until_status(api, household_id, "housed")
        second = await add_site(housing_api, "Wohnheim B", "wohnheim", capacity=5)
        await until_sites(api, 2)

        out = await housing_api.post(
            f"/sites/{first}/check-outs",
            json={"household_id": household_id, "reason": "house_ban"},
        )
        assert out.status_code == 201, out.text
        follow_up_id = out.json()["follow_up_id"]
        assert follow_up_id is not None

        again = await until_held(api, household_id)
        assert again["pending"]["site_id"] == second, "never back where it was banned"

        staff = LocalIssuer().ensure().mint([Role.HOUSING_STAFF], audience="ankommen-housing")
        auth = {"Authorization": f"Bearer {staff}"}
        follow_ups = (await housing_api.get("/follow-ups", headers=auth)).json()["items"]
        assert [(f["follow_up_id"], f["reason"]) for f in follow_ups] == [
            (follow_up_id, "house_ban")
        ]
        resolved = await housing_api.post(
            f"/follow-ups/{follow_up_id}/resolve",
            json={"note": "placed at Wohnheim B by allocation"},
            headers=auth,
        )
        assert resolved.status_code == 200, resolved.text
        assert (await housing_api.get("/follow-ups", headers=auth)).json()["items"] == []
        assert (await without_token(housing_api, "GET", "/follow-ups")).status_code == 401


async def test_rule_6_the_school_sports_hall_is_emptied_before_the_hotel(
    infra: Endpoints, new_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> None:
    async with both_services(infra, new_database, topic_prefix) as (api, housing_api):
        hotel = await add_site(
            housing_api, "Ex-Maritim", "notunterkunft", capacity=10, building="hotel",
            owner="private",
        )  # fmt: skip
        await until_sites(api, 1)
        longest = await assign(api, "NI-DIS-1", a_member(gender="male"))
        await until_held(api, longest)
        await check_in_everyone_reserved(api, housing_api, [longest])
        await until_status(api, longest, "housed")

        # The hotel is full now (its free places blocked); the next goes to a school hall.
        blocked = await housing_api.post(f"/sites/{hotel}/block", json={"places": 9})
        assert blocked.status_code == 200, blocked.text
        await until_free(api, hotel, 0)
        hall = await add_site(
            housing_api, "Turnhalle Goetheschule", "notunterkunft", capacity=10,
            building="school_sports_hall", owner="school",
        )  # fmt: skip
        await until_sites(api, 2)
        later = await assign(api, "NI-DIS-2", a_member(gender="male"))
        assert (await until_held(api, later))["pending"]["site_id"] == hall
        await check_in_everyone_reserved(api, housing_api, [later])
        await until_status(api, later, "housed")

        # One regular place: the school hall's resident moves first, though the hotel's
        # resident has stayed longer (school sports halls go back to the schools first).
        home = await add_site(housing_api, "Wohnheim Tresckowstraße", "wohnheim", capacity=1)
        moved = await until_held(api, later)
        assert moved["pending"]["site_id"] == home
        assert (await household(api, longest))["pending"] is None


async def test_rule_6_the_shelter_due_to_close_first_is_emptied_first(
    infra: Endpoints, new_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> None:
    async with both_services(infra, new_database, topic_prefix) as (api, housing_api):
        hall = await add_site(
            housing_api, "Turnhalle Voltmerstraße", "notunterkunft", capacity=10,
            building="club_sports_hall", owner="sports_club",
        )  # fmt: skip
        await until_sites(api, 1)
        in_hall = await assign(api, "NI-DATE-1", a_member(gender="male"))
        await until_held(api, in_hall)
        await check_in_everyone_reserved(api, housing_api, [in_hall])
        await until_status(api, in_hall, "housed")
        blocked = await housing_api.post(f"/sites/{hall}/block", json={"places": 9})
        assert blocked.status_code == 200, blocked.text
        await until_free(api, hall, 0)

        tents = await add_site(
            housing_api, "Zeltdorf Carlo-Schmid-Allee", "notunterkunft", capacity=10,
            building="tent_village", owner="private",
        )  # fmt: skip
        await until_sites(api, 2)
        in_tents = await assign(api, "NI-DATE-2", a_member(gender="male"))
        assert (await until_held(api, in_tents))["pending"]["site_id"] == tents
        await check_in_everyone_reserved(api, housing_api, [in_tents])
        await until_status(api, in_tents, "housed")

        # The lease of the tent village ends first: its residents go before the hall's,
        # though halls go back first when no date decides.
        dated = await housing_api.put(
            f"/sites/{tents}/closing-date", json={"closes_on": "2016-04-30"}
        )
        assert dated.status_code == 200, dated.text

        async def date_seen() -> bool:
            sites = {s["site_id"]: s for s in (await api.get("/sites")).json()["items"]}
            return sites[tents]["closes_on"] == "2016-04-30"

        assert await eventually(date_seen, timeout=60)
        home = await add_site(housing_api, "Wohnheim Steigertahlstraße", "wohnheim", capacity=1)
        assert (await until_held(api, in_tents))["pending"]["site_id"] == home
        assert (await household(api, in_hall))["pending"] is None


async def test_rule_8_operators_keep_a_resident_list_only_in_housing(
    infra: Endpoints, new_database: Callable[[], Awaitable[str]], topic_prefix: str
) -> None:
    dsn = await new_database()
    async with housing(dsn, infra, topic_prefix) as api:
        site_id = await open_wohnheim(api, 10)
        other_site = await open_wohnheim(api, 10)
        household_id = str(uuid.uuid4())
        reservation = await api.post(
            "/reservations",
            json={"reservation_id": str(uuid.uuid4()), "site_id": site_id,
                  "household_id": household_id, "places": 2},
        )  # fmt: skip
        assert reservation.status_code == 201, reservation.text
        check_in = await api.post(
            f"/reservations/{reservation.json()['reservation_id']}/check-in",
            json={"residents": [
                {"family_name": "Haddad", "given_names": "Rania"},
                {"family_name": "Haddad", "given_names": "Omar Karim"},
            ]},
        )  # fmt: skip
        assert check_in.status_code == 201, check_in.text

        issuer = LocalIssuer().ensure()
        staff = issuer.mint([Role.HOUSING_STAFF], audience="ankommen-housing")
        own = issuer.mint([Role.SITE_OPERATOR], audience="ankommen-housing", sites=[site_id])
        other = issuer.mint([Role.SITE_OPERATOR], audience="ankommen-housing", sites=[other_site])
        social = issuer.mint([Role.SOCIAL_WORKER], audience="ankommen-housing", district=9)

        def bearer(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}

        url = f"/sites/{site_id}/residents"
        listed = await api.get(url, headers=bearer(own))
        assert listed.status_code == 200, listed.text
        names = [(r["family_name"], r["given_names"]) for r in listed.json()["items"]]
        assert names == [("Haddad", "Omar Karim"), ("Haddad", "Rania")]
        assert (await api.get(url, headers=bearer(staff))).status_code == 200
        assert (await api.get(url, headers=bearer(other))).status_code == 403
        assert (await api.get(url, headers=bearer(social))).status_code == 403
        assert (await without_token(api, "GET", url)).status_code == 401

        # Never in an event: nothing housing committed to its outbox carries a name.
        conn = await asyncpg.connect(dsn)
        try:
            payloads = [r["payload"] for r in await conn.fetch("SELECT payload FROM outbox")]
        finally:
            await conn.close()
        assert payloads, "housing published its events"
        assert not [p for p in payloads if "Haddad" in str(p) or "Rania" in str(p)]
        assert await outbox(dsn, "OccupantCheckedIn")

        # Erasable per person: by the site's own operator, not by another one.
        rania = next(r for r in listed.json()["items"] if r["given_names"] == "Rania")
        erase = f"/residents/{rania['resident_id']}"
        assert (await api.delete(erase, headers=bearer(other))).status_code == 403
        assert (await api.delete(erase, headers=bearer(own))).status_code == 204
        assert (await api.delete(erase, headers=bearer(own))).status_code == 404
        left = (await api.get(url, headers=bearer(staff))).json()["items"]
        assert [r["given_names"] for r in left] == ["Omar Karim"]

        # Gone with the household: the operator no longer keeps names of who left.
        out = await api.post(
            f"/sites/{site_id}/check-outs",
            json={"household_id": household_id, "reason": "moved_out"},
        )
        assert out.status_code == 201, out.text
        assert out.json()["follow_up_id"] is None
        assert (await api.get(url, headers=bearer(staff))).json()["items"] == []
