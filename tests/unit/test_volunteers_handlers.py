"""The volunteers service's handlers on the in-memory unit of work: what each command and
each consumed event publishes, the state it leaves, what it refuses; no server, milliseconds."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from ankommen_contracts import EventData, Skill, new_envelope
from ankommen_contracts.events.integration import CaseClosed, SupportRequested
from ankommen_contracts.events.volunteers import MatchEndReason
from ankommen_contracts.examples import example_envelope
from ankommen_runtime.clock import CITY_TZ
from ankommen_runtime.context import message_context
from ankommen_runtime.errors import Conflict, NotFound
from ankommen_runtime.memory import InMemoryUnitOfWork
from fakes.volunteers import InMemoryVolunteersStore
from volunteers import handlers
from volunteers.districts import load
from volunteers.domain import (
    Contact,
    Initiative,
    InitiativeKind,
    Match,
    MatchStatus,
    RequestSource,
    RequestStatus,
    SupportRequest,
    Volunteer,
    VolunteerStatus,
    Weekday,
)

NOW = datetime(2016, 11, 15, 9, 0, tzinfo=UTC)
TODAY = date(2016, 11, 15)
NEIGHBOURHOOD = load()
RULES = handlers.Rules(
    certificate_validity=timedelta(days=5 * 365),
    certificate_max_age=timedelta(days=90),
    request_overdue_after=timedelta(days=14),
)


class FixedClock:
    def now(self) -> datetime:
        return NOW

    def today(self) -> date:
        return NOW.astimezone(CITY_TZ).date()


Uow = InMemoryUnitOfWork[InMemoryVolunteersStore]


@pytest.fixture
def uow() -> Uow:
    return InMemoryUnitOfWork(FixedClock(), store=InMemoryVolunteersStore())


def kept(uow: Uow) -> InMemoryVolunteersStore:
    assert uow.store is not None
    return uow.store


def published(uow: Uow) -> list[str]:
    return [e.type for e in uow.committed]


def a_volunteer(uow: Uow, **fields: Any) -> Volunteer:
    given: dict[str, Any] = {
        "volunteer_id": uuid.uuid4(),
        "contact": Contact("Heike Brandt", "heike@example.org"),
        "skills": frozenset({Skill.LANGUAGE_TUTORING, Skill.CHILDCARE}),
        "languages": ("ar", "de"),
        "districts": frozenset({9}),
        "weekdays": frozenset({Weekday.TUE}),
        "hours_per_week": 6,
        "registered_on": date(2016, 1, 10),
    }
    volunteer = Volunteer(**(given | fields))
    kept(uow).volunteers[volunteer.volunteer_id] = volunteer
    return volunteer


def a_request(uow: Uow, **fields: Any) -> SupportRequest:
    given: dict[str, Any] = {
        "request_id": uuid.uuid4(),
        "kind": Skill.LANGUAGE_TUTORING,
        "district": 9,
        "languages": ("ar",),
        "hours_per_week": 2,
        "involves_children": False,
        "requested_on": date(2016, 11, 1),
        "source": RequestSource.INTEGRATION,
    }
    request = SupportRequest(**(given | fields))
    kept(uow).requests[request.request_id] = request
    return request


def a_match(uow: Uow, volunteer: Volunteer, request: SupportRequest) -> Match:
    """A running match, with the volunteer's hours and the request's status to fit."""
    match = Match(uuid.uuid4(), request.request_id, volunteer.volunteer_id, request.district,
                  request.kind, request.involves_children, request.hours_per_week,
                  date(2016, 11, 2), 90.0)  # fmt: skip
    kept(uow).matches[match.match_id] = match
    volunteer.committed_hours += request.hours_per_week
    request.status = RequestStatus.MATCHED
    return match


def register(**fields: Any) -> handlers.RegisterVolunteer:
    given: dict[str, Any] = {
        "name": "Heike Brandt",
        "skills": [Skill.LANGUAGE_TUTORING],
        "languages": ["ar", "de"],
        "districts": [9],
        "weekdays": [Weekday.TUE],
        "hours_per_week": 4,
    }
    return handlers.RegisterVolunteer(**(given | fields))


async def deliver(uow: Uow, handler: Any, data: EventData, at: datetime) -> None:
    """Handle one consumed event as the consumer does: in its own transaction, dated by it."""
    event = new_envelope(data, sequence=1, correlation_id=uuid.uuid4(), occurred_at=at)
    with message_context(event.event_id, event.correlation_id, event.occurred_at):
        async with uow() as tx:
            await handler(tx, event)


# -- volunteers ------------------------------------------------------------------------------


async def test_a_registration_keeps_the_contact_here_and_publishes_none_of_it(uow: Uow) -> None:
    volunteer = await handlers.register_volunteer(uow, register(email="h@example.org"), TODAY)
    assert kept(uow).volunteers[volunteer.volunteer_id].contact == Contact(
        "Heike Brandt", "h@example.org"
    )
    [event] = uow.committed
    assert (event.type, event.occurred_at, event.data.registered_on) == (
        "VolunteerRegistered", NOW, TODAY
    )  # fmt: skip
    assert "Heike" not in event.data.model_dump_json()


async def test_an_mso_initiative_makes_its_volunteers_mso_and_an_unknown_one_is_refused(
    uow: Uow,
) -> None:
    mso = Initiative(uuid.uuid4(), "MSO Hannover", InitiativeKind.MSO, frozenset({9}))
    kept(uow).initiatives[mso.initiative_id] = mso
    volunteer = await handlers.register_volunteer(
        uow, register(initiative_id=mso.initiative_id), TODAY
    )
    assert kept(uow).volunteers[volunteer.volunteer_id].mso is True
    with pytest.raises(Conflict, match="no initiative"):
        await handlers.register_volunteer(uow, register(initiative_id=uuid.uuid4()), TODAY)
    with pytest.raises(Conflict, match="in the future"):
        await handlers.register_volunteer(uow, register(registered_on=date(2016, 11, 16)), TODAY)
    assert (len(kept(uow).volunteers), published(uow)) == (1, ["VolunteerRegistered"])


async def test_a_pause_and_a_resume_change_the_status_and_publish_nothing(uow: Uow) -> None:
    volunteer = a_volunteer(uow)
    await handlers.pause(uow, volunteer.volunteer_id, handlers.Pause(until=date(2016, 12, 1)))
    paused = kept(uow).volunteers[volunteer.volunteer_id]
    assert (paused.status, paused.paused_until) == (VolunteerStatus.PAUSED, date(2016, 12, 1))
    await handlers.resume(uow, volunteer.volunteer_id)
    resumed = kept(uow).volunteers[volunteer.volunteer_id]
    assert (resumed.status, resumed.paused_until) == (VolunteerStatus.ACTIVE, None)
    assert uow.committed == []


async def test_a_command_on_an_unknown_volunteer_is_not_found(uow: Uow) -> None:
    with pytest.raises(NotFound, match="no volunteer"):
        await handlers.resume(uow, uuid.uuid4())


async def test_a_withdrawal_ends_running_matches_and_opens_their_requests_again(
    uow: Uow,
) -> None:
    volunteer = a_volunteer(uow)
    request = a_request(uow)
    match = a_match(uow, volunteer, request)
    await handlers.withdraw(uow, volunteer.volunteer_id, handlers.Withdraw(), TODAY)
    store = kept(uow)
    gone = store.volunteers[volunteer.volunteer_id]
    assert (gone.status, gone.withdrawn_on, gone.committed_hours) == (
        VolunteerStatus.WITHDRAWN, TODAY, 0
    )  # fmt: skip
    ended = store.matches[match.match_id]
    assert (ended.status, ended.end_reason) == (
        MatchStatus.ENDED, MatchEndReason.VOLUNTEER_WITHDREW
    )  # fmt: skip
    assert store.requests[request.request_id].status is RequestStatus.OPEN
    assert published(uow) == ["MatchEnded"]
    with pytest.raises(Conflict, match="withdrew"):
        await handlers.withdraw(uow, volunteer.volunteer_id, handlers.Withdraw(), TODAY)
    assert published(uow) == ["MatchEnded"]


async def test_vetting_records_the_certificate_and_a_stale_one_is_refused(uow: Uow) -> None:
    volunteer = a_volunteer(uow)
    stale = handlers.Vet(certificate_issued_on=date(2016, 6, 1))
    with pytest.raises(Conflict, match="ask for a new one"):
        await handlers.vet(uow, volunteer.volunteer_id, stale, TODAY, RULES)
    assert kept(uow).volunteers[volunteer.volunteer_id].certificate_valid_until is None
    fresh = handlers.Vet(certificate_issued_on=date(2016, 11, 1))
    await handlers.vet(uow, volunteer.volunteer_id, fresh, TODAY, RULES)
    vetted = kept(uow).volunteers[volunteer.volunteer_id]
    assert vetted.certificate_valid_until == date(2016, 11, 1) + timedelta(days=5 * 365)
    assert published(uow) == ["VolunteerVetted"]


async def test_hours_on_a_match_count_in_its_district(uow: Uow) -> None:
    volunteer = a_volunteer(uow, districts=frozenset({9, 10}))
    match = a_match(uow, volunteer, a_request(uow, district=10))
    command = handlers.LogHours(hours=1.5, match_id=match.match_id, worked_on=date(2016, 11, 8))
    entry = await handlers.log_hours(uow, volunteer.volunteer_id, command, TODAY)
    assert kept(uow).hours == [entry]
    assert (entry.district, entry.hours, entry.match_id) == (10, 1.5, match.match_id)
    [event] = uow.committed
    assert (event.type, event.data.worked_on) == ("VolunteerHoursLogged", date(2016, 11, 8))


async def test_hours_on_an_unknown_match_are_not_found_and_not_kept(uow: Uow) -> None:
    volunteer = a_volunteer(uow)
    command = handlers.LogHours(hours=1, match_id=uuid.uuid4())
    with pytest.raises(NotFound, match="no match"):
        await handlers.log_hours(uow, volunteer.volunteer_id, command, TODAY)
    assert (kept(uow).hours, uow.committed) == ([], [])


async def test_a_sheet_logs_every_line_it_can_and_refuses_the_others_with_their_reasons(
    uow: Uow,
) -> None:
    helper = a_volunteer(uow, districts=frozenset({9, 10}))
    other = a_volunteer(uow)
    match = a_match(uow, helper, a_request(uow, district=10))
    month_end = date(2016, 11, 14)
    sheet = handlers.HoursSheet(
        lines=[
            handlers.SheetLine(
                volunteer_id=helper.volunteer_id, hours=8, match_id=match.match_id,
                worked_on=month_end,
            ),
            handlers.SheetLine(volunteer_id=uuid.uuid4(), hours=2, district=3),
            handlers.SheetLine(
                volunteer_id=other.volunteer_id, hours=2, district=3, worked_on=TODAY + timedelta(1)
            ),
            handlers.SheetLine(volunteer_id=other.volunteer_id, hours=1.5, district=3),
        ]
    )  # fmt: skip
    outcomes = await handlers.log_hours_sheet(uow, sheet, TODAY)
    assert [o.refused is None for o in outcomes] == [True, False, False, True]
    assert isinstance(outcomes[1].refused, NotFound)
    assert "no volunteer" in str(outcomes[1].refused)
    assert isinstance(outcomes[2].refused, Conflict)
    assert "in the future" in str(outcomes[2].refused)
    logged = [outcomes[0].entry, outcomes[3].entry]
    assert kept(uow).hours == logged
    assert [(e.district, e.hours, e.worked_on) for e in logged if e] == [
        (10, 8, month_end),
        (3, 1.5, TODAY),
    ]
    assert published(uow) == ["VolunteerHoursLogged", "VolunteerHoursLogged"]


async def test_a_sheet_whose_every_line_is_refused_keeps_and_publishes_nothing(uow: Uow) -> None:
    volunteer = a_volunteer(uow)
    line = handlers.SheetLine(volunteer_id=volunteer.volunteer_id, hours=1, match_id=uuid.uuid4())
    sheet = handlers.HoursSheet(lines=[line])
    [outcome] = await handlers.log_hours_sheet(uow, sheet, TODAY)
    assert "no match" in str(outcome.refused)
    assert (kept(uow).hours, published(uow)) == ([], [])


def test_a_sheet_line_without_match_or_district_is_malformed_and_names_the_field() -> None:
    with pytest.raises(ValueError, match="district is required"):
        handlers.HoursSheet(lines=[{"volunteer_id": str(uuid.uuid4()), "hours": 1}])


# -- initiatives ----------------------------------------------------------------------------


async def test_an_initiative_is_added_and_linked_to_more_districts(uow: Uow) -> None:
    command = handlers.AddInitiative(name="Unterstützerkreis Ricklingen",
                                     kind=InitiativeKind.SUPPORT_CIRCLE, districts=[9])  # fmt: skip
    initiative = await handlers.add_initiative(uow, command)
    site = uuid.uuid4()
    links = handlers.Links(districts=[9, 10], site_ids=[site])
    await handlers.link_initiative(uow, initiative.initiative_id, links)
    linked = kept(uow).initiatives[initiative.initiative_id]
    assert (linked.districts, linked.site_ids) == (frozenset({9, 10}), frozenset({site}))
    with pytest.raises(NotFound, match="no initiative"):
        await handlers.link_initiative(uow, uuid.uuid4(), links)
    assert uow.committed == []


# -- requests and matching ------------------------------------------------------------------


def enter(**fields: Any) -> handlers.EnterRequest:
    given: dict[str, Any] = {
        "kind": Skill.LANGUAGE_TUTORING,
        "district": 9,
        "languages": ["ar"],
        "hours_per_week": 2,
        "involves_children": False,
    }
    return handlers.EnterRequest(**(given | fields))


async def test_a_request_entered_twice_with_one_id_is_kept_once(uow: Uow) -> None:
    request = await handlers.enter_request(uow, enter(request_id=uuid.uuid4()), TODAY)
    assert kept(uow).requests[request.request_id].source is RequestSource.COORDINATOR
    with pytest.raises(Conflict, match="exists already"):
        await handlers.enter_request(uow, enter(request_id=request.request_id, district=3), TODAY)
    assert kept(uow).requests[request.request_id].district == 9


async def test_proposals_rank_who_qualifies_and_count_them(uow: Uow) -> None:
    near = a_volunteer(uow, districts=frozenset({10}))
    here = a_volunteer(uow)
    a_volunteer(uow, languages=("fa",))
    request = a_request(uow)
    assert uow.store is not None
    seen, ranking, qualified = await handlers.propose(
        uow.store, request.request_id, NEIGHBOURHOOD, TODAY, 10
    )
    assert seen == request
    assert [p.volunteer_id for p in ranking.proposals] == [here.volunteer_id, near.volunteer_id]
    assert qualified == 2
    with pytest.raises(NotFound, match="no request"):
        await handlers.propose(uow.store, uuid.uuid4(), NEIGHBOURHOOD, TODAY, 10)


async def test_a_match_goes_to_the_best_proposal_by_default(uow: Uow) -> None:
    a_volunteer(uow, districts=frozenset({10}))
    best = a_volunteer(uow)
    request = a_request(uow)
    match = await handlers.make_match(
        uow, request.request_id, handlers.MakeMatch(), NEIGHBOURHOOD, TODAY
    )
    store = kept(uow)
    assert (match.volunteer_id, match.matched_on) == (best.volunteer_id, TODAY)
    assert store.matches[match.match_id].status is MatchStatus.ACTIVE
    assert store.volunteers[best.volunteer_id].committed_hours == 2
    assert store.requests[request.request_id].status is RequestStatus.MATCHED
    [event] = uow.committed
    assert (event.type, event.data.match_id, event.occurred_at) == (
        "VolunteerMatched", match.match_id, NOW
    )  # fmt: skip


async def test_nobody_is_matched_to_work_with_children_without_a_valid_certificate(
    uow: Uow,
) -> None:
    unvetted = a_volunteer(uow)
    request = a_request(uow, kind=Skill.CHILDCARE, involves_children=True)
    with pytest.raises(Conflict, match="no volunteer qualifies"):
        await handlers.make_match(
            uow, request.request_id, handlers.MakeMatch(), NEIGHBOURHOOD, TODAY
        )
    chosen = handlers.MakeMatch(volunteer_id=unvetted.volunteer_id)
    with pytest.raises(Conflict, match="police certificate"):
        await handlers.make_match(uow, request.request_id, chosen, NEIGHBOURHOOD, TODAY)
    assert (kept(uow).matches, uow.committed) == ({}, [])
    assert kept(uow).requests[request.request_id].status is RequestStatus.OPEN


async def test_a_request_no_longer_open_cannot_be_matched(uow: Uow) -> None:
    volunteer = a_volunteer(uow)
    request = a_request(uow)
    a_match(uow, a_volunteer(uow), request)
    chosen = handlers.MakeMatch(volunteer_id=volunteer.volunteer_id)
    with pytest.raises(Conflict, match="not open"):
        await handlers.make_match(uow, request.request_id, chosen, NEIGHBOURHOOD, TODAY)
    with pytest.raises(NotFound, match="no request"):
        await handlers.make_match(uow, uuid.uuid4(), chosen, NEIGHBOURHOOD, TODAY)


async def test_a_completed_match_frees_the_hours_and_closes_the_request(uow: Uow) -> None:
    volunteer = a_volunteer(uow)
    request = a_request(uow)
    match = a_match(uow, volunteer, request)
    command = handlers.EndMatch(reason=MatchEndReason.COMPLETED)
    await handlers.end_match(uow, match.match_id, command, TODAY)
    store = kept(uow)
    assert (store.matches[match.match_id].status, store.matches[match.match_id].ended_on) == (
        MatchStatus.ENDED, TODAY
    )  # fmt: skip
    assert store.volunteers[volunteer.volunteer_id].committed_hours == 0
    assert store.requests[request.request_id].status is RequestStatus.CLOSED
    assert published(uow) == ["MatchEnded"]
    with pytest.raises(Conflict, match="already"):
        await handlers.end_match(uow, match.match_id, command, TODAY)
    with pytest.raises(NotFound, match="no match"):
        await handlers.end_match(uow, uuid.uuid4(), command, TODAY)
    assert published(uow) == ["MatchEnded"]


async def test_a_withdrawn_request_closes_and_ends_its_running_match(uow: Uow) -> None:
    volunteer = a_volunteer(uow)
    request = a_request(uow)
    match = a_match(uow, volunteer, request)
    closed = await handlers.withdraw_request(uow, request.request_id, TODAY)
    assert closed.status is RequestStatus.CLOSED
    store = kept(uow)
    assert store.matches[match.match_id].end_reason is MatchEndReason.REQUEST_WITHDRAWN
    assert store.volunteers[volunteer.volunteer_id].committed_hours == 0
    with pytest.raises(Conflict, match="closed already"):
        await handlers.withdraw_request(uow, request.request_id, TODAY)
    assert published(uow) == ["MatchEnded"]


async def test_the_periodic_check_flags_old_requests_and_ends_matches_without_vetting(
    uow: Uow,
) -> None:
    old = a_request(uow, requested_on=date(2016, 10, 1))
    young = a_request(uow, requested_on=date(2016, 11, 10))
    lapsed = a_volunteer(uow, certificate_valid_until=date(2016, 11, 14))
    children = a_request(uow, kind=Skill.CHILDCARE, involves_children=True)
    match = a_match(uow, lapsed, children)
    done = await handlers.sweep(uow, TODAY, RULES, limit=10)
    assert done.flagged_overdue == [old.request_id]
    assert done.ended_for_expired_certificate == [match.match_id]
    store = kept(uow)
    assert store.requests[old.request_id].flagged_overdue_on == TODAY
    assert store.requests[young.request_id].flagged_overdue_on is None
    assert store.matches[match.match_id].end_reason is MatchEndReason.CERTIFICATE_EXPIRED
    assert store.requests[children.request_id].status is RequestStatus.OPEN
    assert published(uow) == ["MatchEnded"]
    again = await handlers.sweep(uow, TODAY, RULES, limit=10)
    assert (again.flagged_overdue, again.ended_for_expired_certificate) == ([], [])


# -- events from integration ----------------------------------------------------------------


def support_requested(case_id: uuid.UUID) -> SupportRequested:
    data: SupportRequested = example_envelope("SupportRequested").data
    return data.model_copy(update={"case_id": case_id, "request_id": uuid.uuid4()})


async def test_a_support_request_from_integration_opens_a_request_once_dated_by_the_event(
    uow: Uow,
) -> None:
    data = support_requested(uuid.uuid4())
    at = datetime(2016, 11, 13, 23, 30, tzinfo=UTC)  # already the 14th in Hannover
    await deliver(uow, handlers.on_support_requested, data, at)
    await deliver(uow, handlers.on_support_requested, data, at + timedelta(days=1))
    [request] = kept(uow).requests.values()
    assert (request.request_id, request.case_id, request.requested_on, request.status) == (
        data.request_id, data.case_id, date(2016, 11, 14), RequestStatus.OPEN
    )  # fmt: skip
    assert (request.source, request.weekdays) == (RequestSource.INTEGRATION, frozenset())
    assert uow.committed == []


async def test_a_closed_case_withdraws_its_requests_and_ends_their_matches_once(
    uow: Uow,
) -> None:
    case = uuid.uuid4()
    volunteer = a_volunteer(uow)
    running = a_request(uow, case_id=case)
    waiting = a_request(uow, case_id=case)
    elsewhere = a_request(uow, case_id=uuid.uuid4())
    match = a_match(uow, volunteer, running)
    closed: CaseClosed = example_envelope("CaseClosed").data
    closed = closed.model_copy(update={"case_id": case})
    at = datetime(2016, 11, 14, 10, 0, tzinfo=UTC)
    for _ in range(2):
        await deliver(uow, handlers.on_case_closed, closed, at)
    store = kept(uow)
    statuses = [store.requests[r.request_id].status for r in (running, waiting, elsewhere)]
    assert statuses == [RequestStatus.CLOSED, RequestStatus.CLOSED, RequestStatus.OPEN]
    ended = store.matches[match.match_id]
    assert (ended.end_reason, ended.ended_on) == (
        MatchEndReason.REQUEST_WITHDRAWN, date(2016, 11, 14)
    )  # fmt: skip
    [event] = uow.committed
    assert (event.type, event.occurred_at) == ("MatchEnded", at)
