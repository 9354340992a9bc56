"""The rebuild decodes exactly as the live consumer and keeps exactly the same rows."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any

from ankommen_contracts import encode
from ankommen_contracts.events import housing as ho
from fakes.reporting import InMemoryReportingStore
from reporting import handlers
from reporting.domain.facts import REPORTED
from reporting.rebuild import Slice, _share, facts_of
from scenario import Scenario
from support import consumer_record


class _Tx:
    """The consumer's transaction as far as the live fold uses it: the store."""

    def __init__(self) -> None:
        self.store = InMemoryReportingStore()


def envelopes() -> list[Any]:
    s = Scenario()
    site = s.site(daily_rate="21.00")
    household = s.check_in(site, 3)
    s.on(date(2015, 2, 1)).check_out(site, household, 3)
    s.emit(
        ho.ReservationRejected(
            site_id=site,
            reservation_id=uuid.uuid4(),
            household_id=uuid.uuid4(),
            places=2,
            reason=ho.RejectionReason.NO_FREE_PLACES,
            free_places=0,
        )
    )
    from ankommen_contracts import new_envelope

    return [
        new_envelope(
            f.data,
            sequence=f.sequence,
            correlation_id=uuid.uuid4(),
            occurred_at=f.occurred_at,
            recorded_at=f.recorded_at,
            event_id=f.event_id,
        )
        for f in s.facts
    ]


def test_the_rebuild_keeps_the_rows_the_live_fold_keeps_with_or_without_headers() -> None:
    events = envelopes()
    reported = [e for e in events if e.type in REPORTED["housing"]]
    tx = _Tx()
    asyncio.run(handlers.keep_facts(tx, reported))  # type: ignore[arg-type]
    with_headers = [
        consumer_record(encode(e), e.kafka_headers(), offset=i) for i, e in enumerate(events)
    ]
    without = [consumer_record(encode(e), offset=i) for i, e in enumerate(events)]
    skipped: dict[str, int] = {}
    assert facts_of(with_headers, frozenset(REPORTED["housing"]), skipped) == tx.store.rows()
    assert facts_of(without, frozenset(REPORTED["housing"]), {}) == tx.store.rows()
    assert skipped == {"not_reported": 1}, "ReservationRejected is not reported on"


def test_bytes_that_are_no_event_and_unknown_types_are_counted_not_kept() -> None:
    unknown = (
        b'{"event_id": "%s", "type": "SomethingNew", "schema_version": 1, '
        % str(uuid.uuid4()).encode()
    )
    unknown += (
        b'"source": "housing", "subject": "x", "occurred_at": "2016-01-01T00:00:00Z", '
        b'"recorded_at": "2016-01-01T00:00:00Z", "correlation_id": "%s", "sequence": 1, '
        b'"data": {}}' % str(uuid.uuid4()).encode()
    )
    skipped: dict[str, int] = {}
    rows = facts_of(
        [consumer_record(b"not json", offset=0), consumer_record(unknown, offset=1)],
        frozenset(REPORTED["housing"]),
        skipped,
    )
    assert rows == []
    assert skipped == {"invalid": 1, "unknown": 1}


def test_partitions_are_dealt_to_processes_by_their_record_counts() -> None:
    slices = [Slice("t", p, 0, n) for p, n in enumerate([100, 90, 10, 10, 5, 0])]
    groups = _share(slices, 2)
    loads = sorted(sum(s.end - s.start for s in g) for g in groups)
    assert loads == [105, 110]
    assert sum(len(g) for g in groups) == 6
