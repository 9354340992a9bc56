"""The pipeline benchmark's consumer: a projection service built like reporting.

One handler per event type doing an idempotent upsert guarded by the per-subject
sequence, subscribed through the runtime (inbox, consumer policy, offsets after effects).
Run with ``uvicorn --factory bench.projection:create_app`` and ``ANKOMMEN_*`` variables.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ankommen_contracts import Envelope
from ankommen_runtime import Transaction
from ankommen_runtime.consumer import Subscription, batched
from ankommen_runtime.service import ServiceSpec, create_service_app
from ankommen_runtime.settings import ServiceSettings
from fastapi import FastAPI

SERVICE = "benchprojection"
MIGRATIONS = Path(__file__).parent / "sql" / "projection"

UPSERT = """
INSERT INTO assignment_view (household_id, land_reference, quota_period_id, persons, origin,
                             last_sequence, assigned_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (household_id) DO UPDATE SET
    land_reference = EXCLUDED.land_reference, quota_period_id = EXCLUDED.quota_period_id,
    persons = EXCLUDED.persons, origin = EXCLUDED.origin,
    last_sequence = EXCLUDED.last_sequence, assigned_at = EXCLUDED.assigned_at
WHERE assignment_view.last_sequence < EXCLUDED.last_sequence"""


def _row(event: Envelope[Any]) -> tuple[Any, ...]:
    data = event.data
    return (
        data.household_id,
        data.land_reference_pseudonym,
        data.quota_period_id,
        data.household_size,
        data.members[0].country_of_origin,
        event.sequence,
        event.occurred_at,
    )


async def on_assigned(tx: Transaction, event: Envelope[Any]) -> None:
    """One round trip per event: the shape of reporting's handlers today."""
    await tx.conn.execute(UPSERT, *_row(event))


UPSERT_MANY = """
INSERT INTO assignment_view (household_id, land_reference, quota_period_id, persons, origin,
                             last_sequence, assigned_at)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::int[], $5::text[], $6::bigint[],
                     $7::timestamptz[])
ON CONFLICT (household_id) DO UPDATE SET
    land_reference = EXCLUDED.land_reference, quota_period_id = EXCLUDED.quota_period_id,
    persons = EXCLUDED.persons, origin = EXCLUDED.origin,
    last_sequence = EXCLUDED.last_sequence, assigned_at = EXCLUDED.assigned_at
WHERE assignment_view.last_sequence < EXCLUDED.last_sequence"""


async def on_assigned_many(tx: Transaction, events: Sequence[Envelope[Any]]) -> None:
    """The same fold for a run of events in one statement (runtime's ``batched``).

    One row per household, the highest sequence winning, exactly as applying them one by
    one would leave it (an upsert cannot touch one row twice in a statement).
    """
    latest: dict[Any, Envelope[Any]] = {}
    for event in events:
        seen = latest.get(event.data.household_id)
        if seen is None or seen.sequence < event.sequence:
            latest[event.data.household_id] = event
    rows = [_row(e) for e in latest.values()]
    await tx.conn.execute(UPSERT_MANY, *(list(col) for col in zip(*rows, strict=True)))


def spec(mode: str = "batched") -> ServiceSpec:
    """``batched`` (one statement per run of events) or ``each`` (one per event)."""
    handler = batched(on_assigned_many) if mode == "batched" else on_assigned
    return ServiceSpec(
        name=SERVICE,
        title="Benchmark projection",
        migrations=MIGRATIONS,
        subscriptions=[Subscription("allocation", {"RefugeeAssigned": handler})],
        publishes=False,
    )


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    mode = os.environ.get("BENCH_PROJECTION", "batched")
    return create_service_app(spec(mode), settings or ServiceSettings(service=SERVICE))
