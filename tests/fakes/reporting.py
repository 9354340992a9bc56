"""``InMemoryReportingStore``: reporting's store port (the facts ledger) in a dict, for unit
tests.

It keeps ``ReportingStore``'s promises (``tests/contract/test_reporting_store_contract.py``
runs the same scenarios against it and ``PgReportingStore``). Deep-copyable: the in-memory
unit of work copies it per transaction and keeps the copy only on commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from reporting.domain.facts import Fact, FactRow, fact_from_row


class InMemoryReportingStore:
    def __init__(self) -> None:
        # each kept fact's row and the version of the batch that kept it, in the order kept
        self.facts: dict[uuid.UUID, tuple[FactRow, int]] = {}
        self.version = 0

    async def add_facts(self, rows: Sequence[FactRow]) -> None:
        if not rows:
            return
        self.version += 1
        for row in rows:
            self.facts.setdefault(row[0], (row, self.version))

    def rows(self, *, after: int = -1) -> list[FactRow]:
        """The kept rows (of the versions after ``after``), in the order kept."""
        return [row for row, version in self.facts.values() if version > after]

    def decoded(self) -> list[Fact]:
        """The kept facts as the views fold them (``store.load_facts``)."""
        return [fact_from_row(row) for row in self.rows()]
