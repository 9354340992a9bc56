"""The interim review's views (DESIGN.md, "Reporting"), each a function of a ledger.

``build(ledger, key, by)`` gives the internal (unsuppressed) view; ``tables.publish``
turns it into the published one. Every figure is on business time, as of the ledger's
day, by week or month.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from ankommen_contracts import PILLAR_LABELS, Pillar
from ankommen_contracts.common import DISTRICT_NAMES, district_label, roll_up
from ankommen_contracts.events.integration import Milestone

from .calendar import By, Period, period_of, periods, week_of
from .capacity import SiteCapacity
from .ledger import Ledger, Site
from .outlook import PLANNING, Planning
from .tables import Chart, Column, Table, ViewResult

BASE_YEAR = 2012
"""The growth factor compares with the residents at the end of this year (Drucksache)."""

PILLAR_EN = {
    Pillar.WOHNHEIM: "Communal homes",
    Pillar.WOHNPROJEKT: "Housing projects",
    Pillar.WOHNUNG: "Flats",
    Pillar.NOTUNTERKUNFT: "Emergency shelters",
}


def _period_col() -> Column:
    return Column("period", "Zeitraum", "Period", "text")


def _district_col() -> Column:
    return Column("district", "Stadtbezirk", "District", "text")


def _pillar_cols(kind: str = "count") -> tuple[Column, ...]:
    return tuple(Column(p.value, PILLAR_LABELS[p], PILLAR_EN[p], kind) for p in Pillar)  # type: ignore[arg-type]


def _spans(ledger: Ledger, by: By, *, places: bool = False) -> list[tuple[Period, date]]:
    """The periods up to the as-of day, each with the day its stock figures are taken; from
    the first fact, or with ``places`` from the first site (a series of residents or sites
    before the city had any would be a row of zeros: the scenario's stock is assigned a
    year before its window's sites open)."""
    last = ledger.last_day()
    first = (ledger.sites_since if places else None) or ledger.first_day or last
    return [(p, min(p.last, last)) for p in periods(first, last, by)]


def _sum_to(deltas: dict[date, int], day: date) -> int:
    return sum(v for d, v in deltas.items() if d <= day)


def residents_on(site: Site, day: date) -> int:
    return max(_sum_to(site.occupancy, day), 0)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# -- 1 residents --------------------------------------------------------------------------


def residents(ledger: Ledger, by: By) -> ViewResult:
    by_pillar: dict[Pillar, dict[date, int]] = {p: defaultdict(int) for p in Pillar}
    for site in ledger.sites.values():
        for day, delta in site.occupancy.items():
            by_pillar[site.pillar][day] += delta
    rows = []
    for period, day in _spans(ledger, by, places=True):
        row: dict[str, Any] = {"period": period.label}
        for pillar in Pillar:
            row[pillar.value] = max(_sum_to(by_pillar[pillar], day), 0)
        row["total"] = sum(row[p.value] for p in Pillar)
        rows.append(row)
    base_day = date(BASE_YEAR, 12, 31)
    base = sum(max(_sum_to(d, base_day), 0) for d in by_pillar.values())
    now = rows[-1]["total"] if rows else 0
    table = Table(
        "residents",
        "Bewohner*innen nach Säule",
        "Residents by pillar",
        (_period_col(), *_pillar_cols(), Column("total", "Insgesamt", "Total", "count")),
        tuple(rows),
        chart=Chart("stacked", "period", tuple(p.value for p in Pillar)),
    )
    return _view(
        ledger,
        "residents",
        1,
        "Bewohner*innen im Zeitverlauf",
        "Residents over time",
        by,
        (table,),
        {
            "base_year": BASE_YEAR,
            "base_residents": base,
            "residents": now,
            "growth_factor": round(now / base, 2) if base else None,
        },
    )


# -- 2 assignments against the quota ------------------------------------------------------


def _quota_for(ledger: Ledger, period: Period) -> int | None:
    """Places the Land's quota expects in ``period``: weekly quota per day in force."""
    total, known = 0.0, False
    day = period.first
    while day <= period.last:
        for quota in ledger.quota_periods.values():
            if quota.starts_on <= day <= quota.ends_on:
                total += quota.weekly_quota / 7
                known = True
                break
        day += timedelta(days=1)
    return round(total) if known else None


def assignments(ledger: Ledger, by: By) -> ViewResult:
    persons: Counter[str] = Counter()
    households: Counter[str] = Counter()
    weekly: Counter[str] = Counter()
    spans = _spans(ledger, by)
    label_of = {p.label: p for p, _ in spans}
    for household in ledger.households.values():
        label = period_of(household.assigned_on, by).label
        if label in label_of:
            persons[label] += household.persons
            households[label] += 1
        weekly[week_of(household.assigned_on).label] += household.persons
    rows = []
    for label, period in label_of.items():
        quota = _quota_for(ledger, period)
        rows.append(
            {
                "period": label,
                "persons": persons[label],
                "households": households[label],
                "quota": quota,
                "fulfilment": _share(persons[label], quota) if quota else None,
            }
        )
    peaks = [{"week": w, "persons": n} for w, n in weekly.most_common(3)]
    table = Table(
        "assignments",
        "Zuweisungen und Aufnahmequote",
        "Assignments and the Land's quota",
        (
            _period_col(),
            Column("persons", "Zugewiesene Personen", "Persons assigned", "count"),
            Column("households", "Haushalte", "Households", "count"),
            Column("quota", "Quote (Soll)", "Quota (expected)", "number"),
            Column("fulfilment", "Erfüllung", "Fulfilment", "rate", derived=True),
        ),
        tuple(rows),
        total={
            "period": "Σ",
            "persons": sum(persons.values()),
            "households": sum(households.values()),
            "quota": None,
            "fulfilment": None,
        },
        chart=Chart("bar", "period", ("persons", "quota")),
    )
    return _view(
        ledger,
        "assignments",
        2,
        "Zuweisungen je Woche gegen die Landesquote",
        "Weekly assignments against the Land quota",
        by,
        (table,),
        {"peak_weeks": peaks},
    )


# -- 3 capacity ---------------------------------------------------------------------------


def _capacity_columns() -> tuple[Column, ...]:
    return (
        Column("sites", "Unterkünfte", "Sites", "number"),
        Column("capacity", "Plätze", "Places", "number"),
        Column("occupied", "Belegt", "Occupied", "count"),
        Column("reserved", "Reserviert", "Reserved", "number"),
        Column("blocked", "Gesperrt", "Blocked", "number"),
        Column("free", "Frei", "Free", "number", derived=True),
        Column("occupancy_rate", "Auslastung", "Occupancy", "rate", derived=True),
    )


def site_capacities(ledger: Ledger, day: date | None = None) -> list[SiteCapacity]:
    day = day or ledger.last_day()
    return [
        SiteCapacity(
            s.pillar,
            s.district,
            s.capacity,
            s.blocked,
            residents_on(s, day),
            s.is_open,
            s.reserved,
        )
        for s in ledger.sites.values()
    ]


def _places_row(row: Any) -> dict[str, Any]:
    return {
        "sites": row.sites,
        "capacity": row.capacity,
        "occupied": row.occupied,
        "reserved": row.reserved,
        "blocked": row.blocked,
        "free": row.free,
        "occupancy_rate": round(row.occupancy_rate, 4),
    }


def capacity(ledger: Ledger, by: By) -> ViewResult:
    by_pillar, by_district, total = roll_up(s for s in site_capacities(ledger) if s.open)
    summary = _places_row(total)
    pillar_table = Table(
        "by_pillar",
        "Plätze nach Säule",
        "Places by pillar",
        (Column("group", "Säule", "Pillar", "text"), *_capacity_columns()),
        tuple({"group": r.label, "key": r.key, **_places_row(r)} for r in by_pillar),
        total={"group": "Insgesamt", **summary},
        chart=Chart("stacked", "group", ("occupied", "reserved", "blocked", "free")),
    )
    district_table = Table(
        "by_district",
        "Plätze nach Stadtbezirk",
        "Places by district",
        (_district_col(), *_capacity_columns()),
        tuple({"district": r.label, "key": r.key, **_places_row(r)} for r in by_district),
        total={"district": "Insgesamt", **summary},
        chart=Chart("stacked", "district", ("occupied", "reserved", "blocked", "free")),
    )
    return _view(
        ledger,
        "capacity",
        3,
        "Kapazität, Belegung, freie und gesperrte Plätze",
        "Capacity, occupancy, free and blocked places",
        by,
        (pillar_table, district_table),
        {"total": summary},
    )


# -- 4 emergency shelters -----------------------------------------------------------------


def emergency(ledger: Ledger, by: By) -> ViewResult:
    sites = [s for s in ledger.sites.values() if s.pillar is Pillar.NOTUNTERKUNFT]
    ids = {s.site_id for s in sites}
    rows = []
    for period, day in _spans(ledger, by, places=True):
        rows.append(
            {
                "period": period.label,
                "residents": sum(residents_on(s, day) for s in sites),
                "sites_open": sum(
                    1
                    for s in sites
                    if s.opened_on
                    and s.opened_on <= day
                    and not (s.closed_on and s.closed_on <= day)
                ),
                "relocations": sum(
                    1 for d, src, _ in ledger.relocations if src in ids and period.first <= d <= day
                ),
                "closed": sum(1 for s in sites if s.closed_on and s.closed_on <= day),
            }
        )
    series = Table(
        "series",
        "Notunterkünfte im Zeitverlauf",
        "Emergency shelters over time",
        (
            _period_col(),
            Column("residents", "Bewohner*innen", "Residents", "count"),
            Column("sites_open", "Offene Standorte", "Sites open", "number"),
            Column("relocations", "Umzüge heraus (Haushalte)", "Relocations out (households)"),
            Column("closed", "Aufgelöst (kumuliert)", "Dissolved (cumulative)"),
        ),
        tuple(rows),
        chart=Chart("line", "period", ("residents",)),
    )
    day = ledger.last_day()
    listing = Table(
        "sites",
        "Notunterkünfte",
        "Emergency shelters",
        (
            Column("name", "Standort", "Site", "text"),
            _district_col(),
            Column("capacity", "Plätze", "Places"),
            Column("residents", "Bewohner*innen", "Residents", "count"),
            Column("status", "Status", "Status", "text"),
            Column("opened_on", "Eröffnet", "Opened", "date"),
            Column("closing_on", "Schließt", "Closes", "date"),
            Column("closed_on", "Aufgelöst", "Dissolved", "date"),
        ),
        tuple(
            {
                "name": s.name,
                "district": district_label(s.district),
                "capacity": s.capacity,
                "residents": residents_on(s, day),
                "status": s.status,
                "opened_on": s.opened_on,
                "closing_on": s.closing_on,
                "closed_on": s.closed_on,
            }
            for s in sorted(sites, key=lambda s: (s.district, s.name))
        ),
    )
    opened = sum(1 for s in sites if s.opened_on)
    closed = sum(1 for s in sites if s.closed_on)
    return _view(
        ledger,
        "emergency",
        4,
        "Notunterkünfte: Bewohner*innen, Standorte, Umzüge, Auflösung",
        "Emergency shelters: residents, sites, relocations, dissolution",
        by,
        (series, listing),
        {
            "sites_opened": opened,
            "sites_dissolved": closed,
            "dissolution_progress": _share(closed, opened),
        },
    )


# -- 5 move-outs and length of stay -------------------------------------------------------


def move_outs(ledger: Ledger, by: By) -> ViewResult:
    done = [m for m in ledger.move_outs.values() if m.completed]
    rows = []
    for period, day in _spans(ledger, by, places=True):
        inside = [m for m in done if period.first <= m.on <= day]
        rows.append(
            {
                "period": period.label,
                "persons": sum(m.persons for m in inside),
                "households": len(inside),
            }
        )
    series = Table(
        "series",
        "Auszüge in eigenen Wohnraum",
        "Move-outs into own housing",
        (
            _period_col(),
            Column("persons", "Personen", "Persons", "count"),
            Column("households", "Haushalte", "Households", "count"),
        ),
        tuple(rows),
        total={
            "period": "Σ",
            "persons": sum(m.persons for m in done),
            "households": len(done),
        },
        chart=Chart("bar", "period", ("persons",)),
    )
    targets: Counter[int] = Counter()
    outside = 0
    for m in done:
        if m.target_district is None:
            outside += m.persons
        else:
            targets[m.target_district] += m.persons
    target_rows = [
        {"district": district_label(d), "persons": targets[d]} for d in DISTRICT_NAMES
    ] + [{"district": "Außerhalb / unbekannt", "persons": outside}]
    by_target = Table(
        "by_target",
        "Auszüge nach Zielbezirk",
        "Move-outs by target district",
        (_district_col(), Column("persons", "Personen", "Persons", "count")),
        tuple(target_rows),
        total={"district": "Insgesamt", "persons": sum(m.persons for m in done)},
    )
    stay_rows = []
    day = ledger.last_day()
    for pillar in Pillar:
        lengths = [
            ((s.checked_out or day) - s.checked_in).days
            for stays in ledger.stays.values()
            for s in stays
            if (site := ledger.sites.get(s.site_id)) and site.pillar is pillar
        ]
        ended = [
            (s.checked_out - s.checked_in).days
            for stays in ledger.stays.values()
            for s in stays
            if s.checked_out and (site := ledger.sites.get(s.site_id)) and site.pillar is pillar
        ]
        stay_rows.append(
            {
                "pillar": PILLAR_LABELS[pillar],
                "stays": len(lengths),
                "ended": len(ended),
                "median_days": statistics.median(ended) if ended else None,
                "mean_days_all": round(statistics.fmean(lengths), 1) if lengths else None,
            }
        )
    stays = Table(
        "length_of_stay",
        "Aufenthaltsdauer nach Säule (Tage)",
        "Length of stay by pillar (days)",
        (
            Column("pillar", "Säule", "Pillar", "text"),
            Column("stays", "Aufenthalte (Haushalte)", "Stays (households)", "count"),
            Column("ended", "Beendet", "Ended", "count"),
            Column("median_days", "Median beendeter (Tage)", "Median of ended (days)"),
            Column("mean_days_all", "Mittel inkl. laufender", "Mean incl. ongoing"),
        ),
        tuple(stay_rows),
    )
    return _view(
        ledger,
        "move_outs",
        5,
        "Auszüge je Monat, Zielbezirke, Aufenthaltsdauer",
        "Move-outs per month, target districts, length of stay",
        by,
        (series, by_target, stays),
        {"planned": sum(1 for m in ledger.move_outs.values() if not m.completed)},
    )


# -- 6 integration ------------------------------------------------------------------------


MILESTONE_NAMES: dict[Milestone, tuple[str, str]] = {
    Milestone.LANGUAGE_COURSE: ("Sprach-/Integrationskurs", "Language or integration course"),
    Milestone.LANGUAGE_LEVEL: ("Sprachniveau erreicht", "Language level reached"),
    Milestone.SCHOOL: ("Schule", "School"),
    Milestone.KITA: ("Kita-Platz", "Kita place"),
    Milestone.TRAINING: ("Ausbildung", "Vocational training"),
    Milestone.WORK: ("Arbeit", "Work"),
    Milestone.RESIDENCE_STATUS: ("Aufenthaltstitel", "Residence status"),
    Milestone.EVERYDAY_SKILLS: ("Alltagskompetenzen", "Everyday skills"),
    Milestone.HOUSING: ("Eigener Mietvertrag", "Own tenancy"),
}
"""Every milestone's name (German, English). The rows carry the German one (``key`` the
contract's value), as published; English pages name it in English."""
MILESTONE_COLUMN = Column(
    "milestone",
    "Meilenstein",
    "Milestone",
    "text",
    names=tuple((de, de, en) for de, en in MILESTONE_NAMES.values()),
)


def integration(ledger: Ledger, by: By) -> ViewResult:
    day = ledger.last_day()
    rows = []
    for d in DISTRICT_NAMES:
        cases = [c for c in ledger.cases.values() if c.district == d]
        rows.append(
            {
                "district": district_label(d),
                "open_cases": sum(1 for c in cases if c.closed_on is None),
                "handed_over": sum(
                    1 for c in ledger.cases.values() if c.handed_district == d and c.handed_over_on
                ),
                "milestone_persons": sum(p for _, dd, _, p in ledger.milestones if dd == d),
            }
        )
    by_district = Table(
        "by_district",
        "Integrationsmanagement nach Stadtbezirk",
        "Integration management by district",
        (
            _district_col(),
            Column("open_cases", "Offene Fälle (Haushalte)", "Open cases (households)", "count"),
            Column("handed_over", "An Bezirksstrukturen übergeben", "Handed over", "count"),
            Column("milestone_persons", "Meilensteine (Personen)", "Milestones (persons)", "count"),
        ),
        tuple(rows),
        total={
            "district": "Insgesamt",
            "open_cases": sum(r["open_cases"] for r in rows),
            "handed_over": sum(r["handed_over"] for r in rows),
            "milestone_persons": sum(r["milestone_persons"] for r in rows),
        },
        chart=Chart("bar", "district", ("open_cases",)),
    )
    counts: Counter[str] = Counter()
    for _, _, milestone, persons in ledger.milestones:
        counts[milestone] += persons
    milestone_rows = [
        {"milestone": MILESTONE_NAMES.get(m, (m, m))[0], "key": m, "persons": counts[m]}
        for m in sorted(counts)
    ]
    milestones = Table(
        "milestones",
        "Erreichte Meilensteine",
        "Milestones reached",
        (
            MILESTONE_COLUMN,
            Column("persons", "Personen", "Persons", "count"),
        ),
        tuple(milestone_rows),
        total={"milestone": "Insgesamt", "persons": sum(counts.values())},
        chart=Chart("bar", "milestone", ("persons",)),
    )
    return _view(
        ledger,
        "integration",
        6,
        "Integration: offene Fälle, Meilensteine, Übergaben",
        "Integration: open cases, milestones, handovers",
        by,
        (by_district, milestones),
        {"cases": len(ledger.cases), "as_of": day},
    )


# -- 7 volunteers -------------------------------------------------------------------------


def volunteers(ledger: Ledger, by: By) -> ViewResult:
    day = ledger.last_day()
    matched = {m.request_id for m in ledger.matches.values() if m.ended_on is None}
    hours: Counter[int] = Counter()
    for _, d, h in ledger.hours:
        hours[d] += h  # type: ignore[assignment]
    rows = []
    for d in DISTRICT_NAMES:
        offering = [v for v in ledger.volunteers.values() if d in v.districts]
        rows.append(
            {
                "district": district_label(d),
                "registered": len(offering),
                "vetted": sum(
                    1 for v in offering if v.vetted_until is not None and v.vetted_until >= day
                ),
                "active_matches": sum(
                    1 for m in ledger.matches.values() if m.district == d and m.ended_on is None
                ),
                "hours": round(hours[d], 2),
                "open_requests": sum(
                    1
                    for r in ledger.requests.values()
                    if r.district == d and r.request_id not in matched
                ),
            }
        )
    table = Table(
        "by_district",
        "Ehrenamt nach Stadtbezirk",
        "Volunteering by district",
        (
            _district_col(),
            Column("registered", "Registriert", "Registered", "count"),
            Column("vetted", "Führungszeugnis gültig", "Vetted (certificate valid)", "count"),
            Column("active_matches", "Aktive Tandems", "Active matches", "count"),
            Column("hours", "Stunden", "Hours"),
            Column("open_requests", "Offene Anfragen", "Open requests"),
        ),
        tuple(rows),
        total={
            "district": "Insgesamt",
            "registered": len(ledger.volunteers),
            "vetted": sum(
                1
                for v in ledger.volunteers.values()
                if v.vetted_until is not None and v.vetted_until >= day
            ),
            "active_matches": sum(1 for m in ledger.matches.values() if m.ended_on is None),
            "hours": round(sum(hours.values()), 2),
            "open_requests": sum(1 for r in ledger.requests if r not in matched),
        },
        chart=Chart("bar", "district", ("registered", "active_matches")),
    )
    mso = sum(1 for v in ledger.volunteers.values() if v.mso)
    return _view(
        ledger,
        "volunteers",
        7,
        "Ehrenamt: Registrierte, Überprüfte, Tandems, Stunden, MSO-Anteil",
        "Volunteers: registered, vetted, matches, hours, MSO share",
        by,
        (table,),
        {"mso_share": _share(mso, len(ledger.volunteers)), "volunteers": len(ledger.volunteers)},
    )


# -- 8 gender and demographics ------------------------------------------------------------

GENDER_DE = {"female": "weiblich", "male": "männlich", "diverse": "divers", "unknown": "unbekannt"}


def demographics(ledger: Ledger, by: By) -> ViewResult:
    members = [m for h in ledger.households.values() for m in h.members]
    genders = Counter(m.gender.value for m in members)
    ages = Counter(m.age_band.value for m in members)
    origins = Counter(m.country_of_origin for m in members)
    minors = sum(1 for m in members if m.unaccompanied_minor)
    by_age_gender: dict[str, Counter[str]] = defaultdict(Counter)
    for m in members:
        by_age_gender[m.age_band.value][m.gender.value] += 1
    total = len(members)
    age_rows = []
    from ankommen_contracts.common import AgeBand

    for band in AgeBand:
        counted = by_age_gender[band.value]
        age_rows.append(
            {
                "age_band": band.value,
                "female": counted["female"],
                "male": counted["male"],
                "other": counted["diverse"] + counted["unknown"],
                "persons": ages[band.value],
            }
        )
    age_table = Table(
        "age_gender",
        "Personen nach Altersgruppe und Geschlecht",
        "Persons by age band and gender",
        (
            Column("age_band", "Altersgruppe", "Age band", "text"),
            Column("female", "weiblich", "female", "count"),
            Column("male", "männlich", "male", "count"),
            Column("other", "divers/unbekannt", "diverse/unknown", "count"),
            Column("persons", "Insgesamt", "Total", "count"),
        ),
        tuple(age_rows),
        total={
            "age_band": "Insgesamt",
            "female": genders["female"],
            "male": genders["male"],
            "other": genders["diverse"] + genders["unknown"],
            "persons": total,
        },
        chart=Chart("stacked", "age_band", ("female", "male", "other")),
    )
    origin_rows = [
        {"origin": code, "persons": n, "share": _share(n, total)}
        for code, n in origins.most_common(10)
    ]
    rest = total - sum(r["persons"] for r in origin_rows)
    if rest:
        origin_rows.append({"origin": "andere", "persons": rest, "share": _share(rest, total)})
    origin_table = Table(
        "origin",
        "Herkunftsländer",
        "Countries of origin",
        (
            Column("origin", "Land (ISO)", "Country (ISO)", "text"),
            Column("persons", "Personen", "Persons", "count"),
            Column("share", "Anteil", "Share", "rate", derived=True),
        ),
        tuple(origin_rows),
        total={"origin": "Insgesamt", "persons": total, "share": 1.0 if total else None},
        chart=Chart("bar", "origin", ("persons",)),
    )
    return _view(
        ledger,
        "demographics",
        8,
        "Geschlecht und Demografie der Zugewiesenen",
        "Gender and demographics of assigned persons",
        by,
        (age_table, origin_table),
        {
            "persons": total,
            "female_share": _share(genders["female"], total),
            "unaccompanied_minors": minors,
            "nationalities": len(origins),
        },
    )


# -- 11 sports halls and schools ----------------------------------------------------------


def halls(ledger: Ledger, by: By) -> ViewResult:
    day = ledger.last_day()
    sites = sorted(
        (s for s in ledger.sites.values() if s.is_hall), key=lambda s: s.opened_on or day
    )
    listing = Table(
        "halls",
        "Sporthallen und Schulen als Notunterkunft",
        "Sports halls and schools used as emergency shelters",
        (
            Column("name", "Standort", "Site", "text"),
            _district_col(),
            Column("capacity", "Plätze", "Places"),
            Column("opened_on", "Belegt seit", "Taken", "date"),
            Column("handed_back_on", "Zurückgegeben", "Handed back", "date"),
            Column("days", "Tage in Nutzung", "Days in use"),
            Column("residents", "Bewohner*innen", "Residents", "count"),
        ),
        tuple(
            {
                "name": s.name,
                "district": district_label(s.district),
                "capacity": s.capacity,
                "opened_on": s.opened_on,
                "handed_back_on": s.closed_on,
                "days": ((s.closed_on or day) - s.opened_on).days if s.opened_on else None,
                "residents": residents_on(s, day),
            }
            for s in sites
        ),
    )
    rows = [
        {
            "period": period.label,
            "in_use": sum(
                1
                for s in sites
                if s.opened_on and s.opened_on <= end and not (s.closed_on and s.closed_on <= end)
            ),
            "residents": sum(residents_on(s, end) for s in sites),
        }
        for period, end in _spans(ledger, by, places=True)
    ]
    series = Table(
        "series",
        "Hallen in Nutzung",
        "Halls in use",
        (
            _period_col(),
            Column("in_use", "Hallen in Nutzung", "Halls in use"),
            Column("residents", "Bewohner*innen", "Residents", "count"),
        ),
        tuple(rows),
        chart=Chart("line", "period", ("in_use",)),
    )
    return _view(
        ledger,
        "halls",
        11,
        "Sporthallen und Schulen",
        "Sports halls and schools",
        by,
        (series, listing),
        {
            "taken": len(sites),
            "handed_back": sum(1 for s in sites if s.closed_on),
            "rule": "kind, else name or closing reason building_needed",
        },
    )


# -- registry -----------------------------------------------------------------------------


def _view(
    ledger: Ledger,
    key: str,
    number: int,
    de: str,
    en: str,
    by: By,
    tables: tuple[Table, ...],
    notes: dict[str, Any] | None = None,
) -> ViewResult:
    return ViewResult(key, number, de, en, ledger.last_day(), by, tables, notes or {})


@dataclass(frozen=True)
class ViewSpec:
    key: str
    number: int
    build: Callable[[Ledger, By, Planning], ViewResult]


def _registry() -> dict[str, ViewSpec]:
    from .costs import costs
    from .outlook import outlook

    def unplanned(fn: Callable[[Ledger, By], ViewResult]) -> Callable[..., ViewResult]:
        # A view of facts only: the city's planning settings do not change it.
        return lambda ledger, by, planning: fn(ledger, by)

    fns: list[tuple[int, str, Callable[[Ledger, By, Planning], ViewResult]]] = [
        (1, "residents", unplanned(residents)),
        (2, "assignments", unplanned(assignments)),
        (3, "capacity", unplanned(capacity)),
        (4, "emergency", unplanned(emergency)),
        (5, "move_outs", unplanned(move_outs)),
        (6, "integration", unplanned(integration)),
        (7, "volunteers", unplanned(volunteers)),
        (8, "demographics", unplanned(demographics)),
        (9, "outlook", lambda ledger, by, planning: outlook(ledger, by, planning=planning)),
        (10, "costs", unplanned(costs)),
        (11, "halls", unplanned(halls)),
    ]
    return {key: ViewSpec(key, n, fn) for n, key, fn in fns}


VIEWS = _registry()


def build(ledger: Ledger, key: str, by: By = "month", planning: Planning = PLANNING) -> ViewResult:
    """View ``key`` (internal, unsuppressed) as of the ledger's day, under the city's
    ``planning`` settings (view 9's operating reserve)."""
    return VIEWS[key].build(ledger, by, planning)
