"""``InMemoryIntegrationStore``: integration's store port in plain dicts, for unit tests.

It keeps ``IntegrationStore``'s promises (``tests/contract/test_integration_store_contract.py``
runs the same scenarios against it and ``PgIntegrationStore``). Deep-copyable: the in-memory
unit of work copies it per transaction and keeps the copy only on commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from integration.domain import Case, CaseStatus, MilestoneRecord, Person, SiteRef, SupportRequest


@dataclass(frozen=True)
class ErasureRecord:
    """A row of ``erasures``."""

    erasure_id: uuid.UUID
    household_id: uuid.UUID
    person_ids: list[uuid.UUID]
    reason: str
    on: date
    erased: int
    by: str | None


class InMemoryIntegrationStore:
    def __init__(self) -> None:
        self.sites: dict[uuid.UUID, SiteRef] = {}
        self.cases: dict[uuid.UUID, Case] = {}
        # milestones in the order recorded (the table's ``recorded_at``)
        self.milestones: list[MilestoneRecord] = []
        self.support_requests: list[SupportRequest] = []
        self.people: dict[uuid.UUID, Person] = {}
        self.erasures: list[ErasureRecord] = []

    async def save_site(self, site: SiteRef) -> None:
        self.sites[site.site_id] = site

    async def get_site(self, site_id: uuid.UUID) -> SiteRef | None:
        return self.sites.get(site_id)

    async def add_case(self, case: Case) -> None:
        if case.case_id in self.cases:
            raise ValueError(f"case {case.case_id} exists already")
        if case.is_open and await self.get_open_case_of(case.household_id) is not None:
            raise ValueError(f"household {case.household_id} has an open case already")
        self.cases[case.case_id] = case.as_saved()

    async def save_case(self, case: Case) -> None:
        kept = self.cases.get(case.case_id)
        if kept is not None and kept.household_id == case.household_id:
            self.cases[case.case_id] = case.as_saved()

    async def get_case(self, case_id: uuid.UUID, *, for_update: bool = False) -> Case | None:
        kept = self.cases.get(case_id)
        return kept.as_saved() if kept else None

    async def get_cases(
        self, case_ids: Iterable[uuid.UUID], *, for_update: bool = False
    ) -> dict[uuid.UUID, Case]:
        return {c: self.cases[c].as_saved() for c in sorted(set(case_ids)) if c in self.cases}

    async def save_cases(self, cases: Sequence[Case]) -> None:
        for case in cases:
            await self.save_case(case)

    async def get_open_case_of(
        self, household_id: uuid.UUID, *, for_update: bool = False
    ) -> Case | None:
        for case in self.cases.values():
            if case.household_id == household_id and case.status is CaseStatus.OPEN:
                return case.as_saved()
        return None

    async def prefetch_cases_and_sites(
        self, household_ids: Sequence[uuid.UUID], site_ids: Sequence[uuid.UUID]
    ) -> None:
        """Nothing to read ahead in memory: the reads answer as they would anyway."""

    async def get_latest_case_of(self, household_id: uuid.UUID) -> Case | None:
        theirs = [c for c in self.cases.values() if c.household_id == household_id]
        if not theirs:
            return None
        # open first, then the most recently opened, then the smallest case id
        theirs.sort(
            key=lambda c: (c.status is not CaseStatus.OPEN, -c.opened_on.toordinal(), c.case_id)
        )
        return theirs[0].as_saved()

    async def claim_due_for_erasure(self, before: date, limit: int) -> list[Case]:
        due = [
            c
            for c in self.cases.values()
            if c.status is CaseStatus.CLOSED
            and c.details_erased_on is None
            and c.closed_on is not None
            and c.closed_on <= before
        ]
        due.sort(key=lambda c: (c.closed_on, c.case_id))
        return [c.as_saved() for c in due[:limit]]

    async def add_milestone(self, m: MilestoneRecord) -> None:
        self.milestones.append(m)

    async def list_milestones(self, case_id: uuid.UUID) -> list[MilestoneRecord]:
        # stable sort: the same day keeps the order recorded
        return sorted(
            (m for m in self.milestones if m.case_id == case_id), key=lambda m: m.reached_on
        )

    async def add_milestones(self, records: Sequence[MilestoneRecord]) -> None:
        self.milestones.extend(records)

    async def list_milestones_of(
        self, case_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, list[MilestoneRecord]]:
        return {case_id: await self.list_milestones(case_id) for case_id in case_ids}

    async def add_support_request(self, r: SupportRequest) -> None:
        self.support_requests.append(r)

    async def add_person(self, p: Person) -> bool:
        if p.person_id in self.people:
            return False
        self.people[p.person_id] = p
        return True

    async def erase_people(
        self,
        household_id: uuid.UUID,
        person_ids: Iterable[uuid.UUID] = (),
        *,
        case_id: uuid.UUID | None = None,
    ) -> list[uuid.UUID]:
        named = set(person_ids)
        gone = [
            p.person_id
            for p in self.people.values()
            if p.household_id == household_id
            and (not named or p.person_id in named)
            and (case_id is None or p.case_id == case_id)
        ]
        for person_id in gone:
            del self.people[person_id]
        return sorted(gone)

    async def mark_erased(self, household_id: uuid.UUID, on: date) -> None:
        with_details = {p.case_id for p in self.people.values()}
        for case in self.cases.values():
            if (
                case.household_id == household_id
                and case.status is CaseStatus.CLOSED
                and case.details_erased_on is None
                and case.case_id not in with_details
            ):
                case.details_erased_on = on

    async def record_erasure(
        self,
        erasure_id: uuid.UUID,
        household_id: uuid.UUID,
        person_ids: list[uuid.UUID],
        reason: str,
        on: date,
        erased: int,
        by: str | None,
    ) -> None:
        self.erasures.append(
            ErasureRecord(erasure_id, household_id, list(person_ids), reason, on, erased, by)
        )
