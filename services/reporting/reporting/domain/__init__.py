"""Reporting's rules, pure (no I/O): facts, the fold, and the interim review's views.

- ``facts``: what is kept of each reported event, one function for live and rebuild.
- ``ledger``: the fold of facts, in business-time order, as of a day.
- ``views``/``outlook``/``costs``: the eleven views of DESIGN.md as tables.
- ``tables``: the tables' shape and the suppression rule of published outputs.
- ``capacity``: the capacity roll-up on the city's one rule (``roll_up``).
"""

from __future__ import annotations

from .capacity import CapacityRow, SiteCapacity, capacity_view
from .facts import FACT_COLUMNS, REPORTED, Fact, fact_from_row, fact_of, fact_row
from .ledger import Ledger
from .tables import Column, Table, ViewResult, publish, suppress_table
from .views import VIEWS, build

__all__ = [
    "FACT_COLUMNS",
    "REPORTED",
    "VIEWS",
    "CapacityRow",
    "Column",
    "Fact",
    "Ledger",
    "SiteCapacity",
    "Table",
    "ViewResult",
    "build",
    "capacity_view",
    "fact_from_row",
    "fact_of",
    "fact_row",
    "publish",
    "suppress_table",
]
