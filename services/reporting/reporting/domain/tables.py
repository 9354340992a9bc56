"""What every view is made of: tables of labelled columns, and the rule of suppression.

One shape for all eleven views lets one code path write the JSON, the CSV, the charts,
the dashboard and the printed report, and apply suppression in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

Kind = Literal["text", "count", "number", "money", "rate", "date"]

SUPPRESS_BELOW = 5
"""Published outputs show no count of persons below 5 in a breakdown (Geheimhaltung)."""


@dataclass(frozen=True)
class Column:
    key: str
    de: str
    en: str
    kind: Kind = "number"
    """``count``: a number of persons, suppressed in published outputs when below 5."""
    derived: bool = False
    """Computed from a row's counts (a share, free places): hidden with a hidden count."""
    names: tuple[tuple[str, str, str], ...] = ()
    """A text column's values as readers see them: (value, German, English). The data (JSON,
    CSV) keeps the value; pages show the name."""

    def label(self, lang: str) -> str:
        return self.en if lang == "en" else self.de

    def name_of(self, value: str, lang: str) -> str:
        """``value`` as a reader of ``lang`` sees it: its name, or itself if it has none."""
        for known, de, en in self.names:
            if value == known:
                return en if lang == "en" else de
        return value


@dataclass(frozen=True)
class Chart:
    """How the dashboard draws a table: ``x`` column against ``series`` columns."""

    kind: Literal["line", "bar", "stacked"]
    x: str
    series: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    key: str
    de: str
    en: str
    columns: tuple[Column, ...]
    rows: tuple[dict[str, Any], ...]
    total: dict[str, Any] | None = None
    chart: Chart | None = None
    suppressed: int = 0

    def title(self, lang: str) -> str:
        return self.en if lang == "en" else self.de

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)


@dataclass(frozen=True)
class ViewResult:
    """One view as of a day: its tables and, where it has them, stated assumptions."""

    key: str
    number: int
    de: str
    en: str
    as_of: Any
    period: str
    tables: tuple[Table, ...]
    notes: dict[str, Any] = field(default_factory=dict)
    published: bool = False

    def title(self, lang: str) -> str:
        return self.en if lang == "en" else self.de

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)


def _hidden(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < SUPPRESS_BELOW


def suppress_table(table: Table) -> Table:
    """Counts of persons below 5 in the rows become ``None``; totals stay.

    Where a column has a shown total and exactly one hidden cell, that cell could be
    worked out by subtraction, so the smallest other non-zero cell is hidden too
    (secondary suppression). Other columns computed from a hidden count (a share, a
    rate) are hidden with it in the same row.
    """
    counts = [c.key for c in table.columns if c.kind == "count"]
    derived = [c.key for c in table.columns if c.derived]
    rows = [dict(r) for r in table.rows]
    hidden = 0
    for key in counts:
        cells = [i for i, r in enumerate(rows) if _hidden(r.get(key))]
        if len(cells) == 1 and table.total is not None and table.total.get(key) is not None:
            others = [
                i
                for i, r in enumerate(rows)
                if i not in cells and isinstance(r.get(key), int) and r[key] > 0
            ]
            if others:
                cells.append(min(others, key=lambda i: rows[i][key]))
        for i in cells:
            rows[i][key] = None
            for other in derived:
                rows[i][other] = None
            hidden += 1
    return replace(table, rows=tuple(rows), suppressed=hidden)


def publish(view: ViewResult) -> ViewResult:
    """The published form of a view: every table suppressed."""
    return replace(view, tables=tuple(suppress_table(t) for t in view.tables), published=True)
