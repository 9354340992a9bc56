"""Server-rendered SVG charts (pygal) for the dashboard and the report: no script, no CDN.

Each chart is drawn from a view's table (``Table.chart``), in the page's language, with
a title and description for screen readers; the same figures are in the table beside it.
Suppressed cells are drawn as gaps, never as zeros.
"""

from __future__ import annotations

import pygal
from pygal.style import Style

from .domain.tables import Table

# Colours of the city's reports, each with ≥ 3:1 contrast against white (WCAG 1.4.11).
PALETTE = ("#004d8c", "#c0392b", "#1e7b34", "#7a4b94", "#8a5a00", "#00697a")
STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1a1a1a",
    foreground_strong="#1a1a1a",
    foreground_subtle="#595959",
    colors=PALETTE,
    font_family="system-ui, sans-serif",
    label_font_size=11,
    major_label_font_size=11,
    legend_font_size=12,
    title_font_size=14,
)


def svg(table: Table, lang: str = "de", *, width: int = 720, height: int = 320) -> str:
    """The table's chart as an inline ``<svg>`` element, or "" if it has none."""
    spec = table.chart
    if spec is None or not table.rows:
        return ""
    kinds = {"line": pygal.Line, "bar": pygal.Bar, "stacked": pygal.StackedBar}
    chart = kinds[spec.kind](
        style=STYLE,
        width=width,
        height=height,
        js=[],  # no script: works offline and without JavaScript
        disable_xml_declaration=True,
        explicit_size=False,
        legend_at_bottom=True,
        show_minor_x_labels=len(table.rows) <= 24,
        x_label_rotation=30 if len(table.rows) > 8 else 0,
        truncate_label=-1,
        print_values=False,
        margin=12,
    )
    chart.title = table.title(lang)
    labels = [str(r.get(spec.x, "")) for r in table.rows]
    chart.x_labels = labels
    if len(labels) > 24:
        step = max(len(labels) // 12, 1)
        chart.x_labels_major = labels[::step]
        chart.show_minor_x_labels = False
    for key in spec.series:
        column = table.column(key)
        chart.add(column.label(lang), [r.get(key) for r in table.rows])
    rendered = chart.render(is_unicode=True)
    # An image with an accessible name; the data table next to it is the long description.
    return rendered.replace(
        "<svg ", f'<svg role="img" aria-label="{_escape(table.title(lang))}" ', 1
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
