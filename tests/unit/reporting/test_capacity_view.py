"""View 3 of the interim review: places by pillar and Stadtbezirk."""

from __future__ import annotations

from ankommen_contracts import Pillar
from reporting.domain import SiteCapacity, capacity_view


def site(
    pillar: Pillar,
    district: int,
    capacity: int,
    occupied: int = 0,
    blocked: int = 0,
    open: bool = True,
) -> SiteCapacity:
    return SiteCapacity(pillar, district, capacity, blocked, occupied, open)


def test_capacity_is_summed_by_pillar_and_district_over_open_sites() -> None:
    by_pillar, by_district, total = capacity_view(
        [
            site(Pillar.WOHNHEIM, 1, 100, occupied=90, blocked=5),
            site(Pillar.WOHNHEIM, 2, 50, occupied=10),
            site(Pillar.NOTUNTERKUNFT, 1, 300, occupied=300),
            site(Pillar.WOHNUNG, 13, 4, open=False),
        ]
    )
    assert [r.key for r in by_pillar] == ["wohnheim", "wohnprojekt", "wohnung", "notunterkunft"]
    heime = by_pillar[0]
    assert (heime.sites, heime.capacity, heime.occupied, heime.blocked, heime.free) == (
        2,
        150,
        100,
        5,
        45,
    )
    assert heime.occupancy_rate == round(100 / 145, 4)
    assert by_pillar[2].sites == 0, "a closed site counts nowhere"
    assert len(by_district) == 13
    mitte = by_district[0]
    assert (mitte.key, mitte.label, mitte.capacity, mitte.free) == ("01", "Mitte", 400, 5)
    assert (total.sites, total.capacity, total.occupied) == (3, 450, 400)


def test_an_empty_city_has_zero_rows_not_errors() -> None:
    by_pillar, by_district, total = capacity_view([])
    assert all(r.capacity == 0 and r.occupancy_rate == 0.0 for r in [*by_pillar, *by_district])
    assert total.sites == 0
