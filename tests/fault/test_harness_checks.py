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
