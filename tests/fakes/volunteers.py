"""``InMemoryVolunteersStore``: the volunteers service's store port in plain dicts, for unit
tests.

It keeps ``VolunteersStore``'s promises (``tests/contract/test_volunteers_store_contract.py``
runs the same scenarios against it and ``PgVolunteersStore``). Candidates are chosen by the
domain's own ``assess``, which the SQL ranking mirrors to the last hundredth. Deep-copyable:
the in-memory unit of work copies it per transaction and keeps the copy only on commit.
"""

from __future__ import annotations

import copy
import dataclasses
import uuid
from collections.abc import Iterable, Sequence
from datetime import date
from typing import TypeVar

from volunteers.domain import (
    Contact,
    HoursEntry,
    Initiative,
    Match,
    MatchStatus,
    Neighbourhood,
    RequestStatus,
    SupportRequest,
    Volunteer,
    assess,
)

T = TypeVar("T")


def _row(thing: T) -> T:
    """A copy as a table row holds it: later changes to ``thing`` are not kept unsaved,
    and an aggregate's raised ``events`` never are."""
    kept = copy.copy(thing)
    if isinstance(kept, Volunteer):
        kept.events = []
    return kept


class InMemoryVolunteersStore:
    def __init__(self) -> None:
        self.volunteers: dict[uuid.UUID, Volunteer] = {}
        self.initiatives: dict[uuid.UUID, Initiative] = {}
        self.requests: dict[uuid.UUID, SupportRequest] = {}
        self.matches: dict[uuid.UUID, Match] = {}
        self.hours: list[HoursEntry] = []

    # -- volunteers

    async def add_volunteer(self, volunteer: Volunteer) -> None:
        if volunteer.volunteer_id in self.volunteers:
            raise ValueError(f"volunteer {volunteer.volunteer_id} exists already")
        self.volunteers[volunteer.volunteer_id] = _row(volunteer)

    async def save_volunteer(self, v: Volunteer) -> None:
        kept = self.volunteers.get(v.volunteer_id)
        if kept is not None:  # only what an UPDATE of the row writes back
            self.volunteers[v.volunteer_id] = dataclasses.replace(
                kept,
                committed_hours=v.committed_hours,
                status=v.status,
                paused_until=v.paused_until,
                withdrawn_on=v.withdrawn_on,
                certificate_issued_on=v.certificate_issued_on,
                certificate_valid_until=v.certificate_valid_until,
            )

    async def get_volunteer(
        self, volunteer_id: uuid.UUID, *, for_update: bool = False
    ) -> Volunteer | None:
        kept = self.volunteers.get(volunteer_id)
        return _row(kept) if kept else None

    async def lock_volunteers(
        self, volunteer_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, Volunteer]:
        return {
            i: _row(self.volunteers[i]) for i in sorted(set(volunteer_ids)) if i in self.volunteers
        }

    async def candidates(
        self, request: SupportRequest, reachable: Iterable[int], today: date, limit: int
    ) -> tuple[list[Volunteer], int]:
        near = frozenset(reachable) - {request.district}
        neighbourhood = Neighbourhood({request.district: near})
        eligible = []
        for volunteer in self.volunteers.values():
            assessment = assess(volunteer, request, neighbourhood, today)
            if assessment.eligible:
                eligible.append((-assessment.hundredths, volunteer.volunteer_id, volunteer))
        eligible.sort(key=lambda e: (e[0], e[1]))
        best = [
            # as the candidate query reads them: what matching needs, no contact details
            dataclasses.replace(
                v,
                contact=Contact(""),
                initiative_id=None,
                paused_until=None,
                withdrawn_on=None,
                certificate_issued_on=None,
                events=[],
            )
            for _, _, v in eligible[:limit]
        ]
        return best, len(eligible)

    # -- initiatives

    async def add_initiative(self, i: Initiative) -> None:
        if i.initiative_id in self.initiatives:
            raise ValueError(f"initiative {i.initiative_id} exists already")
        self.initiatives[i.initiative_id] = _row(i)

    async def save_initiative(self, i: Initiative) -> None:
        kept = self.initiatives.get(i.initiative_id)
        if kept is not None:
            self.initiatives[i.initiative_id] = dataclasses.replace(
                kept, districts=i.districts, site_ids=i.site_ids
            )

    async def get_initiative(
        self, initiative_id: uuid.UUID, *, for_update: bool = False
    ) -> Initiative | None:
        kept = self.initiatives.get(initiative_id)
        return _row(kept) if kept else None

    # -- support requests

    async def add_request(self, r: SupportRequest) -> bool:
        if r.request_id in self.requests:
            return False
        self.requests[r.request_id] = _row(r)
        return True

    async def save_request(self, r: SupportRequest) -> None:
        kept = self.requests.get(r.request_id)
        if kept is not None:
            self.requests[r.request_id] = dataclasses.replace(
                kept, status=r.status, flagged_overdue_on=r.flagged_overdue_on
            )

    async def get_request(
        self, request_id: uuid.UUID, *, for_update: bool = False
    ) -> SupportRequest | None:
        kept = self.requests.get(request_id)
        return _row(kept) if kept else None

    async def lock_requests_of_case(self, case_id: uuid.UUID) -> list[SupportRequest]:
        return [
            _row(r)
            for _, r in sorted(self.requests.items())
            if r.case_id == case_id and r.status is not RequestStatus.CLOSED
        ]

    async def lock_requests(
        self, request_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, SupportRequest]:
        return {i: _row(self.requests[i]) for i in sorted(set(request_ids)) if i in self.requests}

    async def flag_overdue(self, opened_before: date, today: date) -> list[uuid.UUID]:
        flagged = []
        for request_id, r in sorted(self.requests.items()):
            if (
                r.status is RequestStatus.OPEN
                and r.flagged_overdue_on is None
                and r.requested_on < opened_before
            ):
                self.requests[request_id] = dataclasses.replace(r, flagged_overdue_on=today)
                flagged.append(request_id)
        return flagged

    # -- matches

    async def add_match(self, m: Match) -> None:
        if m.match_id in self.matches:
            raise ValueError(f"match {m.match_id} exists already")
        if m.status is MatchStatus.ACTIVE and any(
            k.request_id == m.request_id and k.status is MatchStatus.ACTIVE
            for k in self.matches.values()
        ):
            raise ValueError(f"request {m.request_id} has a running match already")
        self.matches[m.match_id] = _row(m)

    async def save_matches(self, matches: Iterable[Match]) -> None:
        for m in matches:
            kept = self.matches.get(m.match_id)
            if kept is not None:
                self.matches[m.match_id] = dataclasses.replace(
                    kept, status=m.status, ended_on=m.ended_on, end_reason=m.end_reason
                )

    async def get_match(self, match_id: uuid.UUID, *, for_update: bool = False) -> Match | None:
        kept = self.matches.get(match_id)
        return _row(kept) if kept else None

    async def get_matches(self, match_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Match]:
        return {i: _row(self.matches[i]) for i in sorted(set(match_ids)) if i in self.matches}

    async def active_matches(
        self,
        *,
        volunteer_id: uuid.UUID | None = None,
        request_ids: Sequence[uuid.UUID] | None = None,
        for_update: bool = False,
    ) -> list[Match]:
        return [
            _row(m)
            for _, m in sorted(self.matches.items())
            if m.status is MatchStatus.ACTIVE
            and (volunteer_id is None or m.volunteer_id == volunteer_id)
            and (request_ids is None or m.request_id in request_ids)
        ]

    async def expired_children_matches(self, today: date, limit: int) -> list[Match]:
        expired = [
            _row(m)
            for _, m in sorted(self.matches.items())
            if m.status is MatchStatus.ACTIVE
            and m.involves_children
            and not self.volunteers[m.volunteer_id].certified_on(today)
        ]
        return expired[:limit]

    # -- hours

    async def add_hours(self, entries: Sequence[HoursEntry]) -> None:
        self.hours.extend(entries)
