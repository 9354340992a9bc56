"""Pages and CSV from the views: German numbers, "<5" for hidden cells, district rows."""

from __future__ import annotations

import re
from datetime import date, timedelta

from ankommen_contracts import Pillar
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


def test_the_interim_report_s_prose_keeps_its_spaces_and_names_the_scenarios_in_german() -> None:
    s = Scenario()
    heim = s.site(name="Wohnheim Ricklingen", district=9, capacity=400)
    s.site(name="Messehalle 27", pillar=Pillar.NOTUNTERKUNFT, district=6, capacity=300)
    for week in range(10):  # assignments every week: peak weeks and an outlook to state
        s.on(date(2015, 9, 7) + timedelta(weeks=week))
        for _ in range(3 + week):
            s.assigned(2)
            s.check_in(heim, 2)
    ledger = Ledger.fold(s.facts, as_of=date(2015, 11, 15))

    html = re.sub(
        r"<(style|script)\b.*?</\1>", " ", reports.interim_report(ledger, "de"), flags=re.S
    )
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))  # the words a reader sees
    peaks = text.split("Rückblick ")[1][:80]
    assert re.match(r"Die meisten Zuweisungen kamen in den Wochen 2015-W\d\d \(", peaks), peaks
    assumptions = text.split("Annahmen: Zugang je Woche ")[1]
    assert assumptions.startswith("sinkend "), assumptions[:80]
    assert "gleichbleibend" in assumptions
    assert "steigend" in assumptions
    for english in ("falling", "steady", "rising"):
        assert english not in text, f"{english!r} in the German report"
    glued = re.findall(r"[a-zäöüß][.;][A-ZÄÖÜ]", text)
    assert not glued, f"sentences without a space between them: {glued}"
