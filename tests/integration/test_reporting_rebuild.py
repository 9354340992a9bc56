"""Reporting's live facts from real Kafka and PostgreSQL, and the rebuild beside them.

The live service keeps the facts of two topics; the rebuild replays both from the
beginning in two processes, proves the rebuilt facts equal the live ones and switches
while the live service runs; the live consumer goes on into the switched table, and
every view folded afterwards equals the one folded before.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest
import reporting.app
from aiokafka import AIOKafkaProducer
from ankommen_contracts import EventData, Pillar, encode, new_envelope
from ankommen_contracts.common import AgeBand, Gender, Skill
from ankommen_contracts.events import allocation as al
from ankommen_contracts.events import housing as ho
from ankommen_contracts.events import integration as it
from ankommen_contracts.events import volunteers as vo
from ankommen_local.infra import Endpoints
from ankommen_runtime.settings import ServiceSettings
from reporting import cli, store
from reporting.domain import VIEWS, Ledger, build
from reporting.rebuild import (
    RebuildFailed,
    Slice,
    _end_offsets,
    rebuild,
    replay,
    reported_topics,
)
from support import create_topics, eventually, running
from typer.testing import CliRunner

START = datetime(2016, 1, 4, 9, tzinfo=UTC)


def sites_and_people(rng: random.Random, sites: int) -> list[EventData]:
    events: list[EventData] = []
    for i in range(sites):
        site_id = uuid.uuid4()
        district = rng.randint(1, 13)
        events.append(
            ho.ShelterOpened(
                site_id=site_id,
                name=f"Unterkunft {i}",
                pillar=rng.choice(list(Pillar)),
                district=district,
                operator="DRK",
                capacity=200,
            )
        )
        for _ in range(3):
            household = uuid.uuid4()
            persons = rng.randint(1, 6)
            events.append(
                al.RefugeeAssigned(
                    household_id=household,
                    land_reference_pseudonym=household.hex * 2,
                    household_size=persons,
                    members=[
                        al.Member(
                            person_id=uuid.uuid4(),
                            age_band=rng.choice(list(AgeBand)),
                            gender=rng.choice([Gender.FEMALE, Gender.MALE]),
                            country_of_origin=rng.choice(["SYR", "AFG", "IRQ"]),
                            unaccompanied_minor=False,
                        )
                        for _ in range(persons)
                    ],
                    expected_arrival_at=START,
                )
            )
            events.append(
                ho.OccupantCheckedIn(site_id=site_id, household_id=household, persons=persons)
            )
        events.append(
            it.CaseOpened(
                case_id=uuid.uuid4(),
                household_id=household,
                district=district,
                focus_areas=[it.FocusArea.HOUSING],
            )
        )
        events.append(
            vo.VolunteerRegistered(
                volunteer_id=uuid.uuid4(),
                districts=[district],
                languages=["de"],
                skills=[Skill.TRANSLATION],
                hours_per_week=2,
                mso=i % 2 == 0,
            )
        )
    return events


async def publish(bootstrap: str, prefix: str, events: list[EventData], day: int = 0) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sequences: dict[str, int] = {}
        for i, data in enumerate(events):
            seq = sequences[data.subject()] = sequences.get(data.subject(), 0) + 1
            at = START + timedelta(days=day, minutes=i)
            env = new_envelope(
                data, sequence=seq, correlation_id=uuid.uuid4(), occurred_at=at, recorded_at=at
            )
            await producer.send(
                f"{prefix}{data.SOURCE}.events",
                encode(env),
                key=env.subject.encode(),
                headers=env.kafka_headers(),
            )
        await producer.flush()
    finally:
        await producer.stop()


async def folded(dsn: str) -> dict[str, object]:
    conn = await asyncpg.connect(dsn)
    try:
        ledger = Ledger.fold(await store.load_facts(conn), as_of=date(2016, 3, 1))
    finally:
        await conn.close()
    return {key: build(ledger, key) for key in VIEWS}


async def count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await store.count_facts(conn)
    finally:
        await conn.close()


@pytest.mark.parametrize("processes", [2])
async def test_a_rebuild_beside_the_live_facts_equals_them_and_switches_while_live(
    infra: Endpoints,
    new_database: Callable[[], Awaitable[str]],
    topic_prefix: str,
    processes: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for source in ("housing", "allocation", "integration", "volunteers"):
        topic = f"{topic_prefix}{source}.events"
        await create_topics(infra.kafka_bootstrap, topic, f"{topic}.dlq", partitions=3)
    first = sites_and_people(random.Random(7), 12)
    await publish(infra.kafka_bootstrap, topic_prefix, first)
    dsn = await new_database()
    app = reporting.app.create_app(
        ServiceSettings(
            service="reporting",
            database_url=dsn,
            kafka_bootstrap=infra.kafka_bootstrap,
            topic_prefix=topic_prefix,
            consumer_group="live",
        )
    )
    async with running(app) as api:
        assert await eventually(lambda: _reached(dsn, len(first))), "live facts caught up"
        before = await folded(dsn)
        assert before["integration"].notes["cases"] == 12, "integration's events, live"
        assert before["volunteers"].notes["volunteers"] == 12, "volunteers' events, live"
        result = await rebuild(dsn, infra.kafka_bootstrap, topic_prefix, processes=processes)
        assert result.events == len(first)
        assert result.facts == len(first)
        assert result.checksum == result.live_checksum
        assert result.behind_live == 0
        assert await folded(dsn) == before, "every view from the rebuilt facts equals the live"

        later = sites_and_people(random.Random(8), 2)
        await publish(infra.kafka_bootstrap, topic_prefix, later, day=10)
        total = len(first) + len(later)
        assert await eventually(lambda: _reached(dsn, total)), "live goes on after the switch"
        status = (await api.get("/status")).json()
        assert status["last_rebuild"]["facts"] == len(first)
        assert status["facts"] == total
        behind = {row["source"]: row["behind"] for row in status["lag"]}
        assert behind == dict.fromkeys(("allocation", "housing", "integration", "volunteers"), 0)
        capacity = (await api.get("/views/capacity", params={"as_of": "2016-03-01"})).json()
        assert capacity["total"]["sites"] == 14
        # The later volunteers registered on day 10: not yet as of day 5.
        early = (await api.get("/published/volunteers", params={"as_of": "2016-01-09"})).json()
        assert early["notes"]["volunteers"] == 12

        # Interrupted after one partition: --resume replays only what is left.
        conn = await asyncpg.connect(dsn)
        try:
            await store.prepare_next(conn, resume=False)
        finally:
            await conn.close()
        ends = await _end_offsets(infra.kafka_bootstrap, list(reported_topics(topic_prefix)))
        (topic, partition), end = next((k, v) for k, v in sorted(ends.items()) if v > 0)
        done = await replay(
            dsn,
            infra.kafka_bootstrap,
            [Slice(topic, partition, 0, end)],
            reported_topics(topic_prefix),
        )
        assert done.events == end
        resumed = await rebuild(dsn, infra.kafka_bootstrap, topic_prefix, resume=True)
        assert resumed.events == total - end
        assert (resumed.facts, resumed.checksum) == (total, resumed.live_checksum)

        # One rebuild at a time: a second one is refused and changes nothing.
        holder = await asyncpg.connect(dsn)
        try:
            assert await store.claim_rebuild(holder)
            with pytest.raises(RebuildFailed, match="another rebuild"):
                await rebuild(dsn, infra.kafka_bootstrap, topic_prefix)
        finally:
            await holder.close()

        # The command itself, with its progress bar, as an operator runs it.
        monkeypatch.setenv("ANKOMMEN_KAFKA_BOOTSTRAP", infra.kafka_bootstrap)
        monkeypatch.setenv("ANKOMMEN_TOPIC_PREFIX", topic_prefix)
        outcome = await asyncio.to_thread(
            CliRunner().invoke, cli.app, ["rebuild", "-p", "2", "--database-url", dsn]
        )
        assert outcome.exit_code == 0, outcome.output
        assert f"rebuilt {total:,} facts" in outcome.output
        assert await folded(dsn) != before, "the later sites are in the views now"


async def _reached(dsn: str, n: int) -> bool:
    return await count(dsn) >= n
