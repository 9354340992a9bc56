"""The coordination office on real Kafka and PostgreSQL: a request is matched to the best
volunteer and VolunteerMatched goes out; work with children needs a valid certificate;
SupportRequested from integration becomes one open request however often it arrives; the
periodic check flags old requests and ends matches whose certificate expired."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg
from ankommen_contracts.events.integration import CaseClosed, CaseCloseReason
from ankommen_local.infra import Endpoints
from volunteers_support import (
    call,
    clock,
    integration_event,
    integration_topic,
    need,
    produce,
    register,
    support_requested,
    volunteer_events,
    volunteers,
    wait_for,
)


async def test_a_request_is_matched_to_the_best_volunteer_and_volunteer_matched_is_published(
    infra: Endpoints, database: str, topic_prefix: str, tmp_path: Path
) -> None:
    async with volunteers(database, infra, topic_prefix, tmp_path, clock()) as (api, _):
        here = await register(api, districts=[10], name="Amal Haddad")
        next_door = await register(api, districts=[9])  # Ricklingen borders Linden-Limmer
        far = await register(api, districts=[5])  # Misburg-Anderten does not
        request = await call(api, "POST", "/requests", need(district=10), expect=201)
        assert (request["status"], request["requested_on"]) == ("open", "2016-11-15")

        ranked = await call(api, "GET", f"/requests/{request['request_id']}/proposals")
        ids = [p["volunteer_id"] for p in ranked["proposals"]]
        assert ids == [here["volunteer_id"], next_door["volunteer_id"]]
        assert ranked["qualified"] == 2
        assert far["volunteer_id"] not in ids
        best = ranked["proposals"][0]
        assert [c["name"] for c in best["components"]] == [
            "district",
            "language",
            "skill",
            "schedule",
            "load",
        ]
        assert best["score"] == sum(c["points"] for c in best["components"])
        assert "10 Linden-Limmer" in best["components"][0]["detail"]

        match = await call(api, "POST", f"/requests/{request['request_id']}/matches", expect=201)
        assert match["volunteer_id"] == here["volunteer_id"]
        assert match["matched_on"] == "2016-11-15"
        again = await call(api, "POST", f"/requests/{request['request_id']}/matches", expect=409)
        assert "matched, not open" in again["detail"]
        helper = await call(api, "GET", f"/volunteers/{here['volunteer_id']}")
        assert (helper["committed_hours"], helper["free_hours"]) == (2, 2)

        hours = {"hours": 1.5, "match_id": match["match_id"]}
        logged = await call(api, "POST", f"/volunteers/{here['volunteer_id']}/hours", hours, 201)
        assert (logged["district"], logged["worked_on"]) == (10, "2016-11-15")
        sheet = {
            "lines": [
                {"volunteer_id": here["volunteer_id"], "hours": 6, "match_id": match["match_id"]},
                {"volunteer_id": far["volunteer_id"], "hours": 2, "match_id": match["match_id"]},
            ]
        }
        logged_sheet = await call(api, "POST", "/hours", sheet)
        assert (logged_sheet["logged"], logged_sheet["refused"]) == (1, 1)
        first, second = logged_sheet["items"]
        assert (first["outcome"], first["entry"]["district"], first["entry"]["hours"]) == (
            "logged",
            10,
            6,
        )
        assert second["outcome"] == "refused"
        assert "is not volunteer" in second["reason"]
        malformed = await call(api, "POST", "/hours", {"lines": [{"hours": 1}]}, 422)
        assert "volunteer_id" in str(malformed["detail"])
        ended = await call(
            api, "POST", f"/matches/{match['match_id']}/end", {"reason": "completed"}
        )
        assert (ended["status"], ended["end_reason"]) == ("ended", "completed")
        closed = await call(api, "GET", f"/requests/{request['request_id']}")
        assert closed["status"] == "closed"

        events = await volunteer_events(
            infra,
            topic_prefix,
            lambda es: any(e.type == "MatchEnded" for e in es),
            "VolunteerMatched, hours and MatchEnded",
        )
        mine = [e for e in events if e.subject == here["volunteer_id"]]
        assert [e.type for e in mine] == [
            "VolunteerRegistered",
            "VolunteerMatched",
            "VolunteerHoursLogged",
            "VolunteerHoursLogged",  # the sheet's line
            "MatchEnded",
        ]
        assert [e.sequence for e in mine] == [1, 2, 3, 4, 5]
        matched = mine[1].data
        assert (str(matched.match_id), str(matched.request_id), matched.district) == (
            match["match_id"],
            request["request_id"],
            10,
        )
        assert matched.skill.value == "accompaniment"
        assert str(matched.matched_on) == "2016-11-15"
        assert mine[4].data.reason.value == "completed"
        raw = "".join(e.model_dump_json() for e in events)
        assert "Amal" not in raw, "no name in any event"
        assert "example.org" not in raw, "no contact data in any event"


async def test_work_with_children_needs_a_valid_certificate_and_ends_when_it_expires(
    infra: Endpoints, database: str, topic_prefix: str, tmp_path: Path
) -> None:
    business = clock()
    async with volunteers(database, infra, topic_prefix, tmp_path, business) as (api, _):
        helper = await register(api)
        vid = helper["volunteer_id"]
        homework = need(kind="homework_help", involves_children=True)
        refused = await call(
            api, "POST", "/requests", {**homework, "involves_children": False}, 422
        )
        assert any("involves_children" in e["msg"] for e in refused["detail"])
        request = await call(api, "POST", "/requests", homework, expect=201)
        rid = request["request_id"]

        ranked = await call(api, "GET", f"/requests/{rid}/proposals")
        assert ranked["proposals"] == []
        chosen = await call(api, "POST", f"/requests/{rid}/matches", {"volunteer_id": vid}, 409)
        assert "extended police certificate" in chosen["detail"]
        best = await call(api, "POST", f"/requests/{rid}/matches", expect=409)
        assert "no volunteer qualifies" in best["detail"]

        stale = {"certificate_issued_on": "2016-06-01"}  # older than three months when shown
        too_old = await call(api, "POST", f"/volunteers/{vid}/vetting", stale, expect=409)
        assert "older than 90 days" in too_old["detail"]
        vetted = await call(
            api, "POST", f"/volunteers/{vid}/vetting", {"certificate_issued_on": "2016-11-01"}
        )
        assert vetted["certified_today"] is True
        ranked = await call(api, "GET", f"/requests/{rid}/proposals")
        assert [p["volunteer_id"] for p in ranked["proposals"]] == [vid]
        assert "vetting" in [c["name"] for c in ranked["proposals"][0]["components"]]
        match = await call(api, "POST", f"/requests/{rid}/matches", {"volunteer_id": vid}, 201)

        # Five years on, the certificate has run out: the periodic check ends the match.
        valid_until = vetted["certificate_valid_until"]
        business.advance(timedelta(days=5 * 365 + 1))

        async def reopened() -> bool:
            body = await call(api, "GET", f"/requests/{rid}")
            return bool(body["status"] == "open")

        await wait_for(reopened, "the request to open again after the certificate expired")
        ended = await call(api, "GET", "/matches", None)
        (row,) = [m for m in ended["items"] if m["match_id"] == match["match_id"]]
        assert (row["status"], row["end_reason"]) == ("ended", "certificate_expired")
        ranked = await call(api, "GET", f"/requests/{rid}/proposals")
        assert ranked["proposals"] == []
        assert ranked["excluded"] == {}, "the pre-filter already leaves expired certificates out"
        expiring = await call(api, "GET", "/vetting/expiring")
        assert [(e["volunteer_id"], e["certificate_valid_until"]) for e in expiring["items"]] == [
            (vid, valid_until)
        ]
        assert expiring["items"][0]["days_left"] < 0

        events = await volunteer_events(
            infra,
            topic_prefix,
            lambda es: any(e.type == "MatchEnded" for e in es),
            "MatchEnded certificate_expired",
        )
        assert [e.type for e in events if e.subject == vid] == [
            "VolunteerRegistered",
            "VolunteerVetted",
            "VolunteerMatched",
            "MatchEnded",
        ]
        ended_event = next(e for e in events if e.type == "MatchEnded")
        assert ended_event.data.reason.value == "certificate_expired"
        matched_event = next(e for e in events if e.type == "VolunteerMatched")
        assert matched_event.data.involves_children is True


async def test_support_requested_from_integration_becomes_one_open_request_however_often_it_arrives(
    infra: Endpoints, database: str, topic_prefix: str, tmp_path: Path
) -> None:
    async with volunteers(database, infra, topic_prefix, tmp_path, clock()) as (api, _):
        helper = await register(api)
        case, rid = uuid.uuid4(), uuid.uuid4()
        requested = support_requested(case, rid)
        topic = integration_topic(topic_prefix)
        await produce(infra.kafka_bootstrap, topic, requested)

        async def arrived() -> dict | None:
            response = await api.get(f"/requests/{rid}")
            return response.json() if response.status_code == 200 else None

        request = await wait_for(arrived, "SupportRequested to become a request")
        assert (request["source"], request["status"], request["case_id"]) == (
            "integration",
            "open",
            str(case),
        )
        assert request["weekdays"] == [], "integration gives no schedule: any day suits"
        match = await call(api, "POST", f"/requests/{rid}/matches", expect=201)
        assert match["volunteer_id"] == helper["volunteer_id"]

        # The same event again (a redelivery), the request re-sent as a new event, and a
        # marker request of the same case (same key, same partition: it comes after them).
        resent = support_requested(case, rid, sequence=2, district=1)
        marker = support_requested(case, uuid.uuid4(), sequence=3)
        await produce(infra.kafka_bootstrap, topic, requested, resent, marker)

        async def marker_arrived() -> bool:
            return (await api.get(f"/requests/{marker.data.request_id}")).status_code == 200

        await wait_for(marker_arrived, "the marker request behind the redeliveries")
        after = await call(api, "GET", f"/requests/{rid}")
        assert (after["status"], after["district"]) == ("matched", 10), "nothing changed"
        listed = await call(api, "GET", "/requests", None)
        assert sorted(r["request_id"] for r in listed["items"]) == sorted(
            [str(rid), str(marker.data.request_id)]
        )
        conn = await asyncpg.connect(database)
        try:
            inbox = await conn.fetchval(
                "SELECT count(*) FROM inbox WHERE event_id = $1", requested.event_id
            )
        finally:
            await conn.close()
        assert inbox == 1

        # The case closes: its requests are withdrawn and the running match ends.
        closed = integration_event(CaseClosed(case_id=case, reason=CaseCloseReason.HANDED_OVER), 4)
        await produce(infra.kafka_bootstrap, topic, closed)

        async def withdrawn() -> bool:
            body = await call(api, "GET", f"/requests/{rid}")
            return bool(body["status"] == "closed")

        await wait_for(withdrawn, "CaseClosed to close the case's requests")
        marker_after = await call(api, "GET", f"/requests/{marker.data.request_id}")
        assert marker_after["status"] == "closed"
        events = await volunteer_events(
            infra,
            topic_prefix,
            lambda es: any(e.type == "MatchEnded" for e in es),
            "MatchEnded request_withdrawn",
        )
        assert [e.type for e in events] == ["VolunteerRegistered", "VolunteerMatched", "MatchEnded"]
        assert events[-1].data.reason.value == "request_withdrawn"
        assert events[-1].causation_id == closed.event_id


async def test_a_request_open_longer_than_the_setting_is_flagged_by_the_periodic_check(
    infra: Endpoints, database: str, topic_prefix: str, tmp_path: Path
) -> None:
    business = clock()
    async with volunteers(
        database, infra, topic_prefix, tmp_path, business, request_overdue_days=7
    ) as (api, _):
        old = await call(
            api, "POST", "/requests", need(requested_on="2016-11-01", district=5), expect=201
        )
        fresh = await call(api, "POST", "/requests", need(), expect=201)

        async def flagged() -> list | None:
            page = await call(api, "GET", "/requests?overdue=true")
            return page["items"] or None

        items = await wait_for(flagged, "the periodic check to flag the old request")
        assert [r["request_id"] for r in items] == [old["request_id"]]
        assert (items[0]["flagged_overdue_on"], items[0]["open_days"]) == ("2016-11-15", 14)
        business.advance(timedelta(days=8))

        async def both_flagged() -> bool:
            page = await call(api, "GET", "/requests?overdue=true")
            return len(page["items"]) == 2

        await wait_for(both_flagged, "the fresh request to be flagged a week later")
        coverage = await call(api, "GET", "/coverage")
        misburg = coverage["districts"][4]
        assert (misburg["open_requests"], misburg["overdue_requests"]) == (1, 1)
        assert misburg["nobody_helps"] is True
        assert "1 open requests and nobody to take them" in misburg["gaps"]
        assert fresh["request_id"] != old["request_id"]
