"""The coordinators' HTTP API on real PostgreSQL and Kafka: who may call it, the errors
they see (401/403, 422 naming the field, 409 with the reason), pagination, pause and
withdrawal, initiatives and the coverage view."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from ankommen_local.infra import Endpoints
from ankommen_runtime.auth import Role
from volunteers_support import (
    AUDIENCE,
    call,
    clock,
    need,
    offer,
    register,
    volunteer_events,
    volunteers,
)


def _fields(body: dict) -> list[str]:
    return [".".join(str(p) for p in error["loc"]) for error in body["detail"]]


async def test_only_volunteer_coordinators_may_call_the_api_and_health_stays_open(
    infra: Endpoints, database: str, topic_prefix: str, tmp_path: Path
) -> None:
    async with volunteers(database, infra, topic_prefix, tmp_path, clock()) as (api, issuer):
        transport = api._transport  # the same app, without the coordinator's token
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as bare:
            assert (await bare.get("/volunteers")).status_code == 401
            assert (await bare.get("/health/live")).status_code == 200
            for role in (Role.SOCIAL_WORKER, Role.OPERATIONS, Role.HOUSING_STAFF):
                token = issuer.mint([role], audience=AUDIENCE)
                answer = await bare.get("/coverage", headers={"authorization": f"Bearer {token}"})
                assert answer.status_code == 403, role
            elsewhere = issuer.mint([Role.VOLUNTEER_COORDINATOR], audience="ankommen-housing")
            answer = await bare.get("/coverage", headers={"authorization": f"Bearer {elsewhere}"})
            assert answer.status_code == 401, "a token for another service is refused"
        assert (await api.get("/coverage")).status_code == 200
        schema = (await api.get("/openapi.json")).json()
        assert "/requests/{request_id}/proposals" in schema["paths"]


async def test_bad_input_is_a_422_naming_the_field_and_a_clash_is_a_409_with_the_reason(
    infra: Endpoints, database: str, topic_prefix: str, tmp_path: Path
) -> None:
    async with volunteers(database, infra, topic_prefix, tmp_path, clock()) as (api, _):
        bad = offer(hours_per_week=50, districts=[14], languages=["arabic"], shoe_size=44)
        body = await call(api, "POST", "/volunteers", bad, expect=422)
        fields = _fields(body)
        for field in ("hours_per_week", "districts.0", "languages.0", "shoe_size"):
            assert f"body.{field}" in fields, fields
        twice = await call(
            api, "POST", "/volunteers", offer(skills=["childcare", "childcare"]), 422
        )
        assert "body.skills" in _fields(twice)
        hours = await call(api, "POST", f"/volunteers/{uuid.uuid4()}/hours", {"hours": 1}, 422)
        assert any("district is required" in e["msg"] for e in hours["detail"])

        helper = await register(api)
        vid = helper["volunteer_id"]
        future = await call(
            api, "POST", f"/volunteers/{vid}/vetting", {"certificate_issued_on": "2016-12-01"}, 409
        )
        assert "after it was shown" in future["detail"]
        unknown = await call(api, "POST", f"/volunteers/{uuid.uuid4()}/pause", None, 404)
        assert "no volunteer" in unknown["detail"]
        no_initiative = await call(
            api, "POST", "/volunteers", offer(initiative_id=str(uuid.uuid4())), 409
        )
        assert "initiative_id" in no_initiative["detail"]

        paused = await call(api, "POST", f"/volunteers/{vid}/pause", {"until": "2017-01-09"})
        assert (paused["status"], paused["paused_until"]) == ("paused", "2017-01-09")
        request = await call(api, "POST", "/requests", need(), expect=201)
        ranked = await call(api, "GET", f"/requests/{request['request_id']}/proposals")
        assert ranked["proposals"] == [], "a paused volunteer is not proposed"
        resumed = await call(api, "POST", f"/volunteers/{vid}/resume")
        assert resumed["status"] == "active"
        match = await call(api, "POST", f"/requests/{request['request_id']}/matches", None, 201)

        gone = await call(api, "POST", f"/volunteers/{vid}/withdraw", {})
        assert (gone["status"], gone["withdrawn_on"], gone["committed_hours"]) == (
            "withdrawn",
            "2016-11-15",
            0,
        )
        reopened = await call(api, "GET", f"/requests/{request['request_id']}")
        assert reopened["status"] == "open", "the request waits for someone else"
        again = await call(api, "POST", f"/volunteers/{vid}/pause", {}, expect=409)
        assert "withdrew on 2016-11-15" in again["detail"]
        ended = await call(api, "GET", f"/matches?volunteer_id={vid}")
        assert [(m["match_id"], m["end_reason"]) for m in ended["items"]] == [
            (match["match_id"], "volunteer_withdrew")
        ]
        events = await volunteer_events(
            infra,
            topic_prefix,
            lambda es: any(e.type == "MatchEnded" for e in es),
            "MatchEnded volunteer_withdrew",
        )
        assert [e.type for e in events] == ["VolunteerRegistered", "VolunteerMatched", "MatchEnded"]


async def test_lists_are_paginated_with_bounded_limits(
    infra: Endpoints, database: str, topic_prefix: str, tmp_path: Path
) -> None:
    async with volunteers(database, infra, topic_prefix, tmp_path, clock()) as (api, _):
        registered = [await register(api, registered_on=f"2016-0{m}-01") for m in range(1, 6)]
        first = await call(api, "GET", "/volunteers?limit=2")
        assert (len(first["items"]), first["next_offset"]) == (2, 2)
        second = await call(api, "GET", f"/volunteers?limit=2&offset={first['next_offset']}")
        last = await call(api, "GET", "/volunteers?limit=2&offset=4")
        assert last["next_offset"] is None
        seen = [v["volunteer_id"] for page in (first, second, last) for v in page["items"]]
        assert seen == [v["volunteer_id"] for v in reversed(registered)], "newest first, once"
        too_many = await call(api, "GET", "/volunteers?limit=201", expect=422)
        assert "query.limit" in _fields(too_many)
        negative = await call(api, "GET", "/requests?offset=-1", expect=422)
        assert "query.offset" in _fields(negative)


async def test_coverage_shows_who_helps_where_and_where_nobody_does(
    infra: Endpoints, database: str, topic_prefix: str, tmp_path: Path
) -> None:
    async with volunteers(database, infra, topic_prefix, tmp_path, clock()) as (api, _):
        site = str(uuid.uuid4())
        circle = await call(
            api,
            "POST",
            "/initiatives",
            {"name": "Unterstützerkreis Linden", "kind": "support_circle", "districts": [10]},
            expect=201,
        )
        mso = await call(
            api,
            "POST",
            "/initiatives",
            {"name": "Syrischer Verein", "kind": "mso", "districts": [1], "site_ids": [site]},
            expect=201,
        )
        assert mso["mso"] is True
        linked = await call(
            api,
            "PUT",
            f"/initiatives/{circle['initiative_id']}/links",
            {"districts": [10, 9], "site_ids": [site]},
        )
        assert linked["districts"] == [9, 10]
        helper = await register(api, districts=[1, 13], initiative_id=mso["initiative_id"])
        assert helper["mso"] is True, "an MSO initiative makes its volunteers MSO volunteers"
        await register(api, districts=[10])
        mine = await call(api, "GET", "/initiatives?district=9")
        assert [i["name"] for i in mine["items"]] == ["Unterstützerkreis Linden"]

        coverage = await call(api, "GET", "/coverage")
        rows = {row["district"]: row for row in coverage["districts"]}
        assert sorted(rows) == list(range(1, 14))
        assert coverage["as_of"] == "2016-11-15"
        assert (rows[1]["active_volunteers"], rows[1]["mso_volunteers"]) == (1, 1)
        assert rows[1]["initiatives"] == ["Syrischer Verein"]
        assert rows[10]["initiatives"] == ["Unterstützerkreis Linden"]
        assert rows[10]["sites_with_initiatives"] == 1
        assert rows[9]["active_volunteers"] == 0
        assert rows[9]["nobody_helps"] is False, "an initiative helps in Ricklingen"
        assert coverage["uncovered"] == [2, 3, 4, 5, 6, 7, 8, 11, 12]
        assert "nobody vetted for work with children" in rows[10]["gaps"]
