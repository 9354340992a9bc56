"""Reporting's API on real PostgreSQL: published views for everyone, internal ones by role,
CSV for every view, the operators' statement, as-of and known-at."""

from __future__ import annotations

import contextlib
import csv
import io
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import reporting.app
from ankommen_contracts import EventData, Pillar, new_envelope
from ankommen_contracts.events import housing as ho
from ankommen_local.infra import Endpoints
from ankommen_runtime.auth import Role
from ankommen_runtime.local_issuer import LocalIssuer
from reporting import store
from reporting.domain import VIEWS
from reporting.domain.facts import fact_row
from support import running

DAY = datetime(2016, 3, 1, 9, tzinfo=UTC)
HEIM, FLAT = uuid.uuid4(), uuid.uuid4()


def envelopes() -> list[Any]:
    """A Wohnheim (4 residents, rated) and a flat (20 residents) in two districts."""
    events: list[tuple[int, EventData]] = [
        (
            0,
            ho.ShelterOpened(
                site_id=HEIM,
                name="Wohnheim A",
                pillar=Pillar.WOHNHEIM,
                district=9,
                operator="DRK",
                capacity=100,
                daily_rate=Decimal("20.00"),
            ),
        ),
        (
            0,
            ho.ShelterOpened(
                site_id=FLAT,
                name="Wohnheim B",
                pillar=Pillar.WOHNHEIM,
                district=2,
                operator="AWO",
                capacity=50,
                daily_rate=Decimal("18.00"),
            ),
        ),
        (1, ho.OccupantCheckedIn(site_id=HEIM, household_id=uuid.uuid4(), persons=4)),
        *(
            (1, ho.OccupantCheckedIn(site_id=FLAT, household_id=uuid.uuid4(), persons=5))
            for _ in range(4)
        ),
        (40, ho.OccupantCheckedIn(site_id=FLAT, household_id=uuid.uuid4(), persons=3)),
    ]
    seq: dict[str, int] = {}
    out = []
    for days, data in events:
        s = seq[data.subject()] = seq.get(data.subject(), 0) + 1
        at = DAY + timedelta(days=days)
        out.append(
            new_envelope(
                data,
                sequence=s,
                correlation_id=uuid.uuid4(),
                occurred_at=at,
                recorded_at=at + timedelta(days=1),
            )
        )
    return out


def _reporting(
    infra: Endpoints, dsn: str, topic_prefix: str, issuer: LocalIssuer, **own: Any
) -> Any:
    """Reporting's app on ``dsn``; ``own``: reporting's own settings."""
    return reporting.app.create_app(
        reporting.app.ReportingSettings(
            database_url=dsn,
            kafka_bootstrap=infra.kafka_bootstrap,
            topic_prefix=topic_prefix,
            consumer_group="api",
            oidc_jwks_url=issuer.jwks_url,
            **own,
        )
    )


async def _record(dsn: str, events: list[Any]) -> None:
    """The facts as reporting's consumer would have kept them."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await store.PgReportingStore(conn).add_facts([fact_row(e) for e in events])
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def _serving(
    infra: Endpoints, dsn: str, topic_prefix: str, tmp_path: Path, **own: Any
) -> AsyncIterator[Any]:
    """Reporting running on ``dsn`` with ``envelopes()`` kept; ``own``: its own settings."""
    issuer = LocalIssuer(tmp_path).ensure()
    async with running(_reporting(infra, dsn, topic_prefix, issuer, **own)) as api:
        await _record(dsn, envelopes())
        yield api


async def test_published_views_are_public_and_suppressed_internal_ones_need_a_role(
    infra: Endpoints,
    new_database: Callable[[], Awaitable[str]],
    topic_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    issuer = LocalIssuer(tmp_path).ensure()
    dsn = await new_database()
    app = _reporting(infra, dsn, topic_prefix, issuer)

    def bearer(*roles: Role, sites: tuple[uuid.UUID, ...] = ()) -> dict[str, str]:
        token = issuer.mint(roles, audience="ankommen-reporting", sites=sites)
        return {"Authorization": f"Bearer {token}"}

    async with running(app) as api:
        await _record(dsn, envelopes())
        as_of = {"as_of": "2016-03-31"}

        index = (await api.get("/views")).json()
        assert [v["number"] for v in index] == list(range(1, 12))
        for key in VIEWS:
            published = await api.get(f"/published/{key}", params=as_of)
            assert published.status_code == 200, (key, published.text)
            assert published.json()["published"] is True
            sheet = await api.get(f"/published/{key}.csv", params=as_of)
            assert sheet.status_code == 200
            assert sheet.headers["content-type"].startswith("text/csv")
            assert sheet.text.startswith(f"# {VIEWS[key].number} ")

        public = (await api.get("/published/capacity", params=as_of)).json()
        districts = {r["key"]: r for r in public["tables"][1]["rows"]}
        assert districts["09"]["occupied"] is None, "4 persons: suppressed"
        assert districts["02"]["occupied"] is None, "the only other cell: secondary"

        assert (await api.get("/internal/views/capacity", params=as_of)).status_code == 401
        wrong = await api.get(
            "/internal/views/capacity", params=as_of, headers=bearer(Role.PUBLIC_READER)
        )
        assert wrong.status_code == 403
        council = await api.get(
            "/internal/views/capacity", params=as_of, headers=bearer(Role.COUNCIL_READER)
        )
        assert council.status_code == 200
        rows = {r["key"]: r for r in council.json()["tables"][1]["rows"]}
        assert (rows["09"]["occupied"], rows["02"]["occupied"]) == (4, 20)
        assert council.json()["published"] is False

        # As of the first check-ins plus 1 day, what had been *recorded* by then (a day later).
        early = {"as_of": "2016-03-02", "known_at": "2016-03-02T12:00:00Z"}
        known = await api.get(
            "/internal/views/capacity", params=early, headers=bearer(Role.HOUSING_STAFF)
        )
        assert known.json()["notes"]["total"]["occupied"] == 0, "recorded on 3 March"
        later = await api.get(
            "/internal/views/capacity",
            params={"as_of": "2016-04-30"},
            headers=bearer(Role.HOUSING_STAFF),
        )
        assert later.json()["notes"]["total"]["occupied"] == 27

        future = await api.get("/published/capacity", params={"as_of": "2999-01-01"})
        assert future.status_code == 422
        assert "as_of" in future.text

        sheet = await api.get(
            "/internal/statement.csv", params=as_of, headers=bearer(Role.HOUSING_STAFF)
        )
        lines = list(csv.reader(io.StringIO(sheet.text)))
        assert lines[0][:3] == ["Monat", "Betreiber", "Unterkunft"]
        march = {r[2]: r for r in lines[1:] if r[0] == "2016-03"}
        # 4 persons from 2 to 31 March (30 place-days) at 20 €.
        assert march["Wohnheim A"][6] == "120"
        assert float(march["Wohnheim A"][8]) == 2400.0
        own = await api.get(
            "/internal/statement.csv",
            params=as_of,
            headers=bearer(Role.SITE_OPERATOR, sites=(HEIM,)),
        )
        assert {r[2] for r in list(csv.reader(io.StringIO(own.text)))[1:-1]} == {"Wohnheim A"}
        assert (await api.get("/internal/statement.csv")).status_code == 401

        schema = (await api.get("/openapi.json")).json()
        assert "/published/{key}" in schema["paths"]
        assert "/internal/views/{key}" in schema["paths"]
        mine = {**as_of, "intake_per_week": 40, "horizon_weeks": 8}
        own = await api.get("/outlook", params={**mine, "reserve_share": 0})
        steady = next(r for r in own.json()["tables"][0]["rows"] if r["scenario"] == "steady")
        # 150 places, 24 occupied: 126 free, 40 a week -> below zero in the 4th week (25 Apr).
        assert steady["runs_out_week"] == "2016-W17"
        assert steady["places_needed"] == 8 * 40 - 126
        assert own.json()["notes"]["assumptions"]["horizon_weeks"] == 8
        reserved = await api.get("/outlook", params=mine)  # the default reserve: 6 %
        steady = next(r for r in reserved.json()["tables"][0]["rows"] if r["scenario"] == "steady")
        # in the 3rd week 6 free against a reserve of 0.06 × 144 residents
        assert steady["runs_out_week"] == "2016-W16"
        assert steady["places_needed"] == round(8 * 40 - 126 + 0.06 * (24 + 8 * 40))
        for name, value in (("intake_per_week", -1), ("reserve_share", 0.9)):
            bad = await api.get("/outlook", params={name: value})
            assert bad.status_code == 422
            assert name in bad.text
        brief = (await api.get("/views/capacity", params=as_of)).json()
        assert brief["total"]["occupied"] == 24

        # More facts: the API reads only those (the version moved, the generation not).
        reads: list[int | None] = []
        load = store.load_facts

        async def counted(db: Any, table: str = store.LIVE, *, after: int | None = None) -> Any:
            reads.append(after)
            return await load(db, table, after=after)

        monkeypatch.setattr(store, "load_facts", counted)
        extra = new_envelope(
            ho.OccupantCheckedIn(site_id=FLAT, household_id=uuid.uuid4(), persons=6),
            sequence=7,
            correlation_id=uuid.uuid4(),
            occurred_at=DAY + timedelta(days=20),
        )
        conn = await asyncpg.connect(dsn)
        try:
            async with conn.transaction():
                await store.PgReportingStore(conn).add_facts([fact_row(extra)])
        finally:
            await conn.close()
        again = (await api.get("/views/capacity", params=as_of)).json()
        assert again["total"]["occupied"] == 30
        assert reads == [1], "only the facts of versions after the first batch's"


async def test_the_outlook_keeps_the_operating_reserve_the_city_set_for_its_deployment(
    infra: Endpoints,
    new_database: Callable[[], Awaitable[str]],
    topic_prefix: str,
    tmp_path: Path,
) -> None:
    quarter = {"outlook_reserve_share": 0.25}
    async with _serving(infra, await new_database(), topic_prefix, tmp_path, **quarter) as api:
        as_of = {"as_of": "2016-03-31"}
        published = (await api.get("/published/outlook", params=as_of)).json()
        assert published["notes"]["reserve_now"] == 6, "a quarter of the 24 residents"
        assert published["notes"]["assumptions"]["reserve_share"] == 0.25
        mine = {**as_of, "intake_per_week": 40, "horizon_weeks": 8}
        city = (await api.get("/outlook", params=mine)).json()
        assert city["notes"]["assumptions"]["reserve_share"] == 0.25
        steady = next(r for r in city["tables"][0]["rows"] if r["scenario"] == "steady")
        # 126 free, 40 a week: in the 2nd week 46 free against 0.25 × 104 residents = 26,
        # in the 3rd 6 free against 0.25 × 144 = 36
        assert steady["runs_out_week"] == "2016-W16"
        assert steady["places_needed"] == round(8 * 40 - 126 + 0.25 * (24 + 8 * 40))
        own = (await api.get("/outlook", params={**mine, "reserve_share": 0})).json()
        assert own["notes"]["assumptions"]["reserve_share"] == 0, "a reader's own wins"
        report = await api.get("/report", params=as_of)
        assert re.search(r"Betriebsreserve 25(,0)? %", report.text), "the report states it"


async def test_a_district_report_of_a_district_hannover_does_not_have_is_not_found(
    infra: Endpoints,
    new_database: Callable[[], Awaitable[str]],
    topic_prefix: str,
    tmp_path: Path,
) -> None:
    async with _serving(infra, await new_database(), topic_prefix, tmp_path) as api:
        for path in ("/report/district/14", "/report/district/0.pdf"):
            missing = await api.get(path)
            assert missing.status_code == 404, path
            assert "Stadtbezirke 1 to 13" in missing.text
        nord = await api.get("/report/district/13", params={"as_of": "2016-03-31"})
        assert nord.status_code == 200
