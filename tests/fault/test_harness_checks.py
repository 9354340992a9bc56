"""The fault run's order check must be able to fail: it is what proves ordering held."""

from __future__ import annotations

import uuid

from ankommen_contracts import Pillar, encode, new_envelope
from ankommen_contracts.events.housing import ShelterOpened
from harness import order_violations


def record(
    site_id: uuid.UUID, sequence: int, event_id: uuid.UUID | None = None
) -> tuple[bytes, bytes]:
    data = ShelterOpened(
        site_id=site_id,
        name="Halle",
        pillar=Pillar.NOTUNTERKUNFT,
        district=5,
        operator="DRK",
        capacity=sequence,
    )
    env = new_envelope(data, sequence=sequence, correlation_id=uuid.uuid4(), event_id=event_id)
    return str(site_id).encode(), encode(env)


def test_in_order_with_redeliveries_passes() -> None:
    site = uuid.uuid4()
    first, second = uuid.uuid4(), uuid.uuid4()
    records = [
        record(site, 1, first),
        record(site, 2, second),
        record(site, 1, first),
        record(site, 2, second),
        record(site, 3),
    ]
    assert order_violations(records) == []


def test_a_swap_or_a_gap_is_reported() -> None:
    site, other = uuid.uuid4(), uuid.uuid4()
    swapped = [record(site, 2), record(site, 1)]
    assert len(order_violations(swapped)) == 2
    gap = [record(other, 1), record(other, 3)]
    assert order_violations(gap) == [f"{other}: sequence 3 after 1"]


def test_set_equality_reports_both_directions() -> None:
    from harness import set_differences

    assert set_differences("outbox vs topic", {1, 2}, {1, 2}) == []
    problems = set_differences("outbox vs topic", {1, 2, 3}, {2, 3, 4})
    assert problems == [
        "outbox vs topic: 1 missing, e.g. ['1']",
        "outbox vs topic: 1 unexpected, e.g. ['4']",
    ]


def test_records_that_are_not_events_are_counted_not_skipped() -> None:
    from harness import topic_event_ids

    site = uuid.uuid4()
    good = record(site, 1)
    ids, undecodable = topic_event_ids([good, (b"k", b"\x00garbage"), (b"k", None)])  # type: ignore[list-item]
    assert len(ids) == 1
    assert undecodable == 2


def test_an_event_applied_twice_missing_or_never_delivered_fails() -> None:
    from harness import applied_once

    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert applied_once({a, b}, [a, b], "reporting") == []
    assert "applied more than once" in applied_once({a, b}, [a, b, b], "reporting")[0]
    assert "1 missing" in applied_once({a, b}, [a], "reporting")[0]
    assert "1 unexpected" in applied_once({a}, [a, c], "reporting")[0]


def test_effects_applied_out_of_sequence_order_fail() -> None:
    from harness import applied_out_of_order

    in_order = [("s", 1, 10), ("s", 2, 11), ("t", 5, 3), ("s", 4, 30)]
    assert applied_out_of_order(in_order) == []
    swapped = [("s", 2, 10), ("s", 1, 11)]
    assert applied_out_of_order(swapped) == ["s: applied in the order [2, 1]"]


def test_an_error_line_no_fault_explains_fails_the_run() -> None:
    import json

    from harness import unexpected_errors

    dead = json.dumps({"level": "error", "event": "event dead-lettered", "service": "r"})
    kafka = json.dumps({"level": "error", "event": "Kafka error occurred", "service": "r"})
    bug = json.dumps({"level": "error", "event": "batch not settled", "service": "r"})
    info = json.dumps({"level": "info", "event": "batch not settled", "service": "r"})
    assert unexpected_errors([dead, kafka, info], {"poison", "broker"}) == []
    assert unexpected_errors([dead], set()) == ["r: event dead-lettered "]
    assert unexpected_errors([kafka], {"postgres"}) == ["r: Kafka error occurred "]
    assert unexpected_errors([bug], {"poison", "broker", "partition"}) == ["r: batch not settled "]


def test_only_a_reset_connection_may_go_unretrieved_while_a_server_is_killed() -> None:
    import json

    from harness import unexpected_errors

    def unretrieved(exception: str) -> str:
        event = (
            f"Future exception was never retrieved\nfuture: <Future finished exception={exception}>"
        )
        return json.dumps({"level": "error", "event": event, "service": "housing"})

    reset = unretrieved("ConnectionResetError(104, 'Connection reset by peer')")
    other = unretrieved("KeyError('site')")
    assert unexpected_errors([reset], {"broker"}) == []
    assert unexpected_errors([reset], {"postgres"}) == []
    assert len(unexpected_errors([reset], {"poison"})) == 1, "no server was killed"
    assert len(unexpected_errors([other], {"broker", "postgres", "partition"})) == 1
