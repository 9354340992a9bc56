"""Pages and CSV from the views: German numbers, "<5" for hidden cells, district rows."""

from __future__ import annotations

from datetime import date

from reporting import render, reports
from reporting.domain import Ledger, build, publish
from reporting.domain.views import VIEWS
from scenario import Scenario


def small_city() -> Ledger:
    s = Scenario()
    heim = s.site(name="Wohnheim Ricklingen", district=9, capacity=1200)
    for _ in range(300):
        s.check_in(heim, 4)
    s.check_in(s.site(name="Wohnung Mitte", district=1, capacity=6), 3)
    s.check_in(s.site(name="Wohnung List", district=2, capacity=20), 8)
    return Ledger.fold(s.facts, as_of=date(2015, 2, 1))


def test_every_view_has_a_csv_whose_suppressed_cells_are_empty() -> None:
    ledger = small_city()
    for key in VIEWS:
        text = render.view_csv(publish(build(ledger, key)), "de")
        assert text.startswith(f"# {VIEWS[key].number} ")
    capacity = render.view_csv(publish(build(ledger, "capacity")))
    mitte = next(line for line in capacity.splitlines() if line.startswith("Mitte,"))
    assert mitte.split(",")[3] == "", "3 persons: empty in the published CSV"


def test_german_pages_write_german_numbers_and_mark_hidden_counts() -> None:
    ledger = small_city()
    html = render.page(
        "dashboard.html",
        "de",
        views=[publish(build(ledger, k)) for k in VIEWS],
        as_of=ledger.last_day(),
        by="month",
        status={"lag": None, "last_rebuild": None, "facts": 0},
        districts={1: "Mitte"},
    )
    assert '<html lang="de">' in html
    assert "1.200" in html, "thousands with a dot"
    assert "&lt;5" in html, "a hidden count is shown as <5"
    english = render.page(
        "dashboard.html",
        "en",
        views=[publish(build(ledger, "capacity"))],
        as_of=ledger.last_day(),
        by="month",
        status={"lag": None, "last_rebuild": None, "facts": 0},
        districts={},
    )
    assert "1,200" in english
    assert "Places by district" in english


def test_a_district_report_shows_the_districts_own_figures() -> None:
    html = reports.district_report(small_city(), 9, "de")
    own = html.split("Rückblick: die Stadt")[0]
    assert "Stadtbezirk 09 Ricklingen" in own
    assert "1.200" in own, "the district's places"
    assert "1.200" in own.split("Plätze nach Stadtbezirk")[1]
    for section in ("Ausblick", "Kostentabelle", "Berücksichtigung von Gender-Aspekten"):
        assert section in html


def test_the_interim_report_has_the_drucksache_sections_in_order() -> None:
    html = reports.interim_report(small_city(), "de")
    positions = [
        html.index(f">{title}<")
        for title in (
            "Rückblick",
            "Ausblick",
            "Ein erstes Fazit",
            "Berücksichtigung von Gender-Aspekten",
            "Kostentabelle",
        )
    ]
    assert positions == sorted(positions)
    assert "Aktuell leben 1.211 Geflüchtete" in html
