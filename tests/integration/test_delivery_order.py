"""Order and once-only per subject across upgrades, dead letters and group renames (issue 14).

Against real Kafka and PostgreSQL. Before the fix a newer schema version was skipped and
committed past, a re-driven event was applied after its subject's later events (and so
dropped by folds that ignore old sequences), and a renamed consumer group applied
everything again.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
from ankommen_contracts import Envelope, encode, new_envelope
from ankommen_contracts.events.housing import (
    CapacityChangeReason,
    ShelterCapacityChanged,
    ShelterOpened,
)
from ankommen_contracts.registry import UPCASTERS
from ankommen_local.infra import Endpoints
from ankommen_runtime import dlq
from ankommen_runtime import inbox as inbox_module
from ankommen_runtime.consumer import dead_letter_topic
from ankommen_runtime.service import Runtime
from ankommen_runtime.uow import Transaction
from procs import record_effect
from support import create_topics
from test_consumer_policy import consumer_runtime, effects, envelope
from test_delivery_consumer import _committed, produce_to_partition_0, wait_for


def newer_version(env: Envelope[Any]) -> bytes:
    """The same event as a producer that upgraded ShelterOpened to the next version (one
    past what this service reads) would write it."""
    body = json.loads(encode(env))
    body["schema_version"] = CURRENT + 1
    return json.dumps(body).encode()


# The version this service reads before the upgrade (every type is at the wave's version).
CURRENT = ShelterOpened.VERSION


class OrderRecorder:
    """A handler that records the order in which events of each subject are applied."""

    def __init__(self) -> None:
        self.order: list[tuple[str, int]] = []
        self.broken: set[str] = set()

    async def __call__(self, tx: Transaction, env: Envelope[Any]) -> None:
        if env.subject in self.broken:
            raise ValueError(f"projection bug for {env.subject}")
        await record_effect(tx, env)
        self.order.append((env.subject, env.sequence))

    def of(self, subject: uuid.UUID) -> list[int]:
        return [seq for s, seq in self.order if s == str(subject)]


async def held_and_parked(dsn: str) -> tuple[int, int]:
    conn = await asyncpg.connect(dsn)
    try:
        held = await conn.fetchval("SELECT count(*) FROM consumer_hold")
        parked = await conn.fetchval("SELECT count(*) FROM consumer_parked")
    finally:
        await conn.close()
    return held, parked


async def test_a_newer_schema_version_is_parked_with_its_subject_and_applied_after_the_upgrade(
    infra: Endpoints, database: str, topic_prefix: str, monkeypatch: Any
) -> None:
    topic = f"{topic_prefix}housing.events"
    await create_topics(infra.kafka_bootstrap, topic)
    upgraded, other = uuid.uuid4(), uuid.uuid4()
    a1, a2, a3 = (envelope(upgraded, n) for n in (1, 2, 3))
    b1, b2 = envelope(other, 1), envelope(other, 2)
    values = [encode(a1), newer_version(a2), encode(b1), encode(a3), encode(b2)]
    await produce_to_partition_0(infra.kafka_bootstrap, topic, [(v, []) for v in values])
    recorder = OrderRecorder()
    runtime = consumer_runtime(infra, database, topic_prefix, "upgrade", recorder)
    await runtime.start()
    try:
        await wait_for("all 5 committed", lambda: _committed(infra, topic, "upgrade", 5))
        assert recorder.of(upgraded) == [1], "the newer version and the event after it wait"
        assert recorder.of(other) == [1, 2], "another subject is not stalled"
        assert await held_and_parked(database) == (1, 2)
        checks = await wait_for("readiness to count them", lambda: _parked_check(runtime))
        assert "2 events parked" in checks
        assert "newer_version: 1" in checks

        # The upgrade: this service now reads the next version (the current one upcasts
        # unchanged).
        monkeypatch.setattr(ShelterOpened, "VERSION", CURRENT + 1)
        monkeypatch.setitem(UPCASTERS, ("ShelterOpened", CURRENT), lambda data: data)
        assert runtime.policy is not None
        runtime.policy.wake_drain()
        await wait_for("the parked events applied", lambda: len(recorder.of(upgraded)) == 3)
    finally:
        await runtime.stop()
    assert recorder.of(upgraded) == [1, 2, 3], "in sequence order"
    assert await held_and_parked(database) == (0, 0)
    rows = await effects(database)
    assert len(rows) == 5
    assert all(r["applied"] == 1 for r in rows)


async def _parked_check(runtime: Runtime) -> str:
    checks = await runtime.readiness()
    value = checks.get("held-subjects", "")
    return value if "parked" in value and not value.startswith("ok: 0") else ""


async def test_a_dead_lettered_event_holds_its_subject_and_the_redrive_applies_it_first(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}housing.events"
    dead = dead_letter_topic("reporting", topic, topic_prefix)
    await create_topics(infra.kafka_bootstrap, topic, dead)
    broken, fine = uuid.uuid4(), uuid.uuid4()
    recorder = OrderRecorder()
    recorder.broken.add(str(broken))
    sent = [envelope(broken, 1), envelope(fine, 1), envelope(broken, 2), envelope(broken, 3)]
    await produce_to_partition_0(infra.kafka_bootstrap, topic, [(encode(e), []) for e in sent])
    runtime = consumer_runtime(infra, database, topic_prefix, "hold", recorder)
    await runtime.start()
    try:
        await wait_for("all 4 committed", lambda: _committed(infra, topic, "hold", 4))
        assert recorder.of(broken) == [], "later events of the subject wait for the first"
        assert recorder.of(fine) == [1]
        assert await held_and_parked(database) == (1, 2)

        recorder.broken.clear()  # the fix is deployed; the operator re-drives
        letters = await dlq.read_letters(infra.kafka_bootstrap, [dead])
        assert len(letters) == 1
        await dlq.redrive(infra.kafka_bootstrap, letters)
        await wait_for("the subject applied", lambda: len(recorder.of(broken)) == 3)
    finally:
        await runtime.stop()
    assert recorder.of(broken) == [1, 2, 3], "the re-driven event first, then the parked ones"
    assert await held_and_parked(database) == (0, 0)
    assert all(r["applied"] == 1 for r in await effects(database))


async def test_renaming_the_consumer_group_replays_without_applying_anything_twice(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}housing.events"
    await create_topics(infra.kafka_bootstrap, topic)
    sent = [envelope(uuid.uuid4(), 1) for _ in range(6)]
    await produce_to_partition_0(infra.kafka_bootstrap, topic, [(encode(e), []) for e in sent])
    for group in ("reporting-v1", "reporting-v2"):  # v2 starts from the beginning
        runtime = consumer_runtime(infra, database, topic_prefix, group)
        await runtime.start()
        try:
            await wait_for(f"{group} committed", lambda g=group: _committed(infra, topic, g, 6))
        finally:
            await runtime.stop()
    rows = await effects(database)
    assert {r["event_id"] for r in rows} == {e.event_id for e in sent}
    assert all(r["applied"] == 1 for r in rows), "the inbox is the consumer's, not the group's"


async def test_a_purged_inbox_still_recognises_a_replay_and_counts_gaps(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}housing.events"
    await create_topics(infra.kafka_bootstrap, topic)
    site = uuid.uuid4()
    sent = [envelope(site, n) for n in (1, 2, 5)]  # 3 and 4 never arrive
    await produce_to_partition_0(infra.kafka_bootstrap, topic, [(encode(e), []) for e in sent])
    runtime = consumer_runtime(infra, database, topic_prefix, "purge-1")
    await runtime.start()
    try:
        await wait_for("committed", lambda: _committed(infra, topic, "purge-1", 3))
        assert runtime.pool is not None
        purged = await inbox_module.purge(runtime.pool, "reporting", older_than_hours=0)
        assert purged == 3
        position = await runtime.pool.fetchrow(
            "SELECT last_sequence, purged_through, gaps FROM consumer_subject_position"
        )
    finally:
        await runtime.stop()
    assert dict(position) == {"last_sequence": 5, "purged_through": 5, "gaps": 2}

    replay = consumer_runtime(infra, database, topic_prefix, "purge-2")
    await replay.start()
    try:
        await wait_for("replay committed", lambda: _committed(infra, topic, "purge-2", 3))
    finally:
        await replay.stop()
    assert all(r["applied"] == 1 for r in await effects(database)), "no row, still recognised"


async def test_events_a_consumer_does_not_handle_are_no_gap_among_those_it_does(
    infra: Endpoints, database: str, topic_prefix: str
) -> None:
    """One batch of a subject: 1 handled, 2 of a type this consumer ignores, 3 handled.
    Every sequence arrived, so no gap is counted (the ignored event's position was once
    moved before the handled ones of the same batch, and counted 1 missing)."""
    topic = f"{topic_prefix}housing.events"
    await create_topics(infra.kafka_bootstrap, topic)
    site = uuid.uuid4()
    resized = ShelterCapacityChanged(
        site_id=site, capacity=9, blocked_places=0, reason=CapacityChangeReason.EXPANDED
    )
    sent = [
        envelope(site, 1),
        new_envelope(resized, sequence=2, correlation_id=uuid.uuid4()),
        envelope(site, 3),
    ]
    await produce_to_partition_0(infra.kafka_bootstrap, topic, [(encode(e), []) for e in sent])
    runtime = consumer_runtime(infra, database, topic_prefix, "gaps-1")
    await runtime.start()
    try:
        await wait_for("committed", lambda: _committed(infra, topic, "gaps-1", 3))
        assert runtime.pool is not None
        position = await runtime.pool.fetchrow(
            "SELECT last_sequence, gaps FROM consumer_subject_position"
        )
    finally:
        await runtime.stop()
    assert dict(position) == {"last_sequence": 3, "gaps": 0}
    assert len(await effects(database)) == 2, "the two it handles, applied"
