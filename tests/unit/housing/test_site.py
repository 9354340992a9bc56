"""The housing domain: a site and its places."""

from __future__ import annotations

from ankommen_contracts import Pillar
from ankommen_contracts.events.housing import ShelterOpened
from housing.domain import Site, SiteStatus


def test_opening_a_site_records_shelter_opened() -> None:
    site = Site.open_new(
        name="Oststadtkrankenhaus",
        pillar=Pillar.NOTUNTERKUNFT,
        district=4,
        operator="DRK",
        capacity=800,
    )
    assert site.status is SiteStatus.OPEN
    assert site.free == 800
    [event] = site.events
    assert isinstance(event, ShelterOpened)
    assert event.subject() == str(site.site_id)
    assert (event.pillar, event.district, event.capacity) == (Pillar.NOTUNTERKUNFT, 4, 800)


def test_free_places_exclude_blocked_and_occupied() -> None:
    site = Site.open_new(
        name="Wohnheim", pillar=Pillar.WOHNHEIM, district=1, operator="AWO", capacity=100
    )
    site.blocked, site.occupied = 10, 85
    assert site.usable == 90
    assert site.free == 5
