"""Views as CSV and as HTML pages (dashboard, interim report, district reports).

Numbers are written the German way in German pages (1.234,5) and the English way in
English ones; a suppressed cell is shown as "<5" with a footnote, never as 0. CSV uses
plain machine-readable numbers (suppressed cells empty, marked in a column).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from . import charts
from .domain.outlook import SCENARIO_COLUMN
from .domain.tables import Column, Table, ViewResult

UI: dict[str, dict[str, str]] = {
    "de": {
        "title": "Ankommen – Flüchtlingsunterbringung in Hannover",
        "dashboard": "Lagebild",
        "as_of": "Stand",
        "by": "Zeitraster",
        "week": "Wochen",
        "month": "Monate",
        "show": "Anzeigen",
        "language": "Sprache",
        "suppressed": "Werte unter 5 Personen sind zum Schutz der Betroffenen unterdrückt (<5).",
        "csv": "CSV herunterladen",
        "lag": "Aktualität der Auswertungen",
        "topic": "Ereignisstrom",
        "behind": "Noch nicht verarbeitet",
        "rebuilt": "Zuletzt neu aufgebaut",
        "never": "noch nie",
        "notes": "Erläuterungen",
        "skip": "Zum Inhalt springen",
        "contents": "Inhalt",
        "report": "Zwischenbilanz (Druckfassung)",
        "districts": "Berichte für die Stadtbezirksräte",
        "total": "Insgesamt",
        "no_data": "Keine Daten bis zu diesem Stand.",
    },
    "en": {
        "title": "Ankommen – refugee accommodation in Hannover",
        "dashboard": "Situation report",
        "as_of": "As of",
        "by": "Periods",
        "week": "weeks",
        "month": "months",
        "show": "Show",
        "language": "Language",
        "suppressed": "Counts below 5 persons are suppressed to protect those concerned (<5).",
        "csv": "Download CSV",
        "lag": "How current the views are",
        "topic": "Event stream",
        "behind": "Not processed yet",
        "rebuilt": "Last rebuilt",
        "never": "never",
        "notes": "Notes",
        "skip": "Skip to content",
        "contents": "Contents",
        "report": "Interim report (print version)",
        "districts": "Reports for the district councils",
        "total": "Total",
        "no_data": "No data up to this day.",
    },
}


def number(value: Any, column: Column | None = None, lang: str = "de") -> str:
    if value is None:
        return "<5" if column is not None and column.kind == "count" else "–"
    if isinstance(value, bool):
        return ("ja" if value else "nein") if lang == "de" else ("yes" if value else "no")
    if isinstance(value, datetime):
        return value.strftime("%d.%m.%Y %H:%M" if lang == "de" else "%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y") if lang == "de" else value.isoformat()
    kind = column.kind if column else "number"
    if isinstance(value, float) and kind == "rate":
        text = f"{value * 100:,.1f} %"
    elif isinstance(value, float) and kind == "money":
        text = f"{value:,.2f} €"
    elif isinstance(value, float):
        text = f"{value:,.1f}" if value != int(value) else f"{int(value):,}"
    elif isinstance(value, int):
        text = f"{value:,}"
    elif isinstance(value, str) and column is not None:
        return column.name_of(value, lang)
    else:
        return str(value)
    if lang == "de":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def table_csv(table: Table, lang: str = "de") -> str:
    """One table as CSV: a header of labels, a row per row, the total last."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.label(lang) for c in table.columns])
    for row in [*table.rows, *([table.total] if table.total else [])]:
        writer.writerow(
            ["" if row.get(c.key) is None else _plain(row.get(c.key)) for c in table.columns]
        )
    return out.getvalue()


def view_csv(view: ViewResult, lang: str = "de") -> str:
    """Every table of a view, each under a line naming it (one file per view)."""
    parts = []
    for table in view.tables:
        parts.append(
            f"# {view.number} {view.title(lang)} – {table.title(lang)}; "
            f"{'as of' if lang == 'en' else 'Stand'} {view.as_of}"
            + ("; <5 suppressed" if view.published else "")
        )
        parts.append(table_csv(table, lang))
    return "\n".join(parts)


def _plain(value: Any) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


_env = Environment(
    loader=PackageLoader("reporting", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["number"] = number


def _chart(table: Table, lang: str) -> Markup:
    return Markup(charts.svg(table, lang))


_env.globals["chart"] = _chart
_env.globals["scenario_label"] = SCENARIO_COLUMN.name_of


def page(template: str, lang: str = "de", **context: Any) -> str:
    return _env.get_template(template).render(lang=lang, t=UI[lang], **context)
