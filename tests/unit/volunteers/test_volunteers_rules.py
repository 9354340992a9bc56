"""The coordination office's rules: registration, vetting, matches, hours, requests,
districts and coverage (pure, no I/O)."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from importlib import resources

import pytest
from ankommen_contracts import Skill
from ankommen_contracts.events.volunteers import (
    MatchEnded,
    MatchEndReason,
    VolunteerHoursLogged,
    VolunteerMatched,
    VolunteerRegistered,
    VolunteerVetted,
)
from ankommen_runtime import Conflict
from volunteers.domain import (
    Contact,
    DistrictFigures,
    RequestStatus,
    Volunteer,
    VolunteerStatus,
    Weekday,
    assess,
    coverage,
)
from volunteers_builders import NEIGHBOURHOOD, TODAY, request, volunteer

FIVE_YEARS = timedelta(days=5 * 365)
THREE_MONTHS = timedelta(days=90)


def test_registration_raises_a_pseudonymous_event_without_name_or_contact() -> None:
    v = Volunteer.register(
        volunteer_id=uuid.uuid4(),
        contact=Contact("Erika Muster", "erika@example.org", "0511 123456"),
        skills=[Skill.TRANSLATION],
        languages=["ar", "de"],
        districts=[1, 10],
        weekdays=[Weekday.SAT],
        hours_per_week=3,
        registered_on=date(2016, 5, 2),
        mso=True,
    )
    (event,) = v.events
    assert isinstance(event, VolunteerRegistered)
    dumped = event.model_dump_json()
    for personal in ("Erika", "Muster", "example.org", "123456"):
        assert personal not in dumped
    assert (event.districts, event.registered_on, event.mso) == ([1, 10], date(2016, 5, 2), True)


def test_a_volunteer_names_at_least_one_weekday() -> None:
    with pytest.raises(Conflict, match="weekday"):
        volunteer(weekdays=[])


def test_a_certificate_counts_for_the_configured_validity_from_its_issue_date() -> None:
    v = volunteer()
    v.vet(
        issued_on=date(2016, 10, 1),
        vetted_on=TODAY,
        validity=FIVE_YEARS,
        max_age_at_vetting=THREE_MONTHS,
    )
    assert v.certificate_valid_until == date(2016, 10, 1) + FIVE_YEARS
    (event,) = v.events
    assert isinstance(event, VolunteerVetted)
    assert (event.certificate_issued_on, event.vetted_on) == (date(2016, 10, 1), TODAY)


def test_a_certificate_older_than_the_maximum_when_shown_is_refused() -> None:
    with pytest.raises(Conflict, match="older than 90 days"):
        volunteer().vet(
            issued_on=TODAY - timedelta(days=91),
            vetted_on=TODAY,
            validity=FIVE_YEARS,
            max_age_at_vetting=THREE_MONTHS,
        )


def test_an_older_certificate_never_replaces_a_newer_one() -> None:
    v = volunteer()
    v.vet(issued_on=TODAY, vetted_on=TODAY, validity=FIVE_YEARS, max_age_at_vetting=THREE_MONTHS)
    with pytest.raises(Conflict, match="newer certificate"):
        v.vet(
            issued_on=TODAY - timedelta(days=10),
            vetted_on=TODAY,
            validity=FIVE_YEARS,
            max_age_at_vetting=THREE_MONTHS,
        )


def test_taking_a_request_commits_hours_and_raises_volunteer_matched() -> None:
    v, req = volunteer(hours_per_week=4), request(hours_per_week=3)
    match = v.take(req, assess(v, req, NEIGHBOURHOOD, TODAY), TODAY)
    assert (v.committed_hours, req.status) == (3, RequestStatus.MATCHED)
    (event,) = v.events
    assert isinstance(event, VolunteerMatched)
    assert (event.match_id, event.request_id, event.matched_on) == (
        match.match_id,
        req.request_id,
        TODAY,
    )


def test_an_excluded_volunteer_cannot_take_a_request_and_hears_why() -> None:
    v = volunteer()
    req = request(kind=Skill.HOMEWORK_HELP, involves_children=True)
    with pytest.raises(Conflict, match="extended police certificate"):
        v.take(req, assess(v, req, NEIGHBOURHOOD, TODAY), TODAY)
    assert v.events == []
    assert req.status is RequestStatus.OPEN


def test_a_completed_match_closes_the_request_and_frees_the_hours() -> None:
    v, req = volunteer(), request()
    match = v.take(req, assess(v, req, NEIGHBOURHOOD, TODAY), TODAY)
    v.end(match, MatchEndReason.COMPLETED, TODAY + timedelta(days=30), req)
    assert (v.committed_hours, req.status) == (0, RequestStatus.CLOSED)
    assert isinstance(v.events[-1], MatchEnded)
    assert v.events[-1].ended_on == TODAY + timedelta(days=30)


def test_a_match_ended_for_another_reason_opens_the_request_again() -> None:
    v, req = volunteer(), request()
    match = v.take(req, assess(v, req, NEIGHBOURHOOD, TODAY), TODAY)
    v.end(match, MatchEndReason.CERTIFICATE_EXPIRED, TODAY, req)
    assert req.status is RequestStatus.OPEN
    with pytest.raises(Conflict, match="ended on"):
        v.end(match, MatchEndReason.OTHER, TODAY, req)


def test_withdrawal_ends_every_running_match() -> None:
    v = volunteer(hours_per_week=6)
    first, second, later = request(), request(), request()
    matches = [v.take(r, assess(v, r, NEIGHBOURHOOD, TODAY), TODAY) for r in (first, second)]
    v.withdraw(TODAY, matches)
    assert (v.status, v.committed_hours) == (VolunteerStatus.WITHDRAWN, 0)
    assert [e.reason for e in v.events if isinstance(e, MatchEnded)] == [
        MatchEndReason.VOLUNTEER_WITHDREW,
        MatchEndReason.VOLUNTEER_WITHDREW,
    ]
    with pytest.raises(Conflict, match="volunteer is withdrawn"):
        v.take(later, assess(v, later, NEIGHBOURHOOD, TODAY), TODAY)


def test_hours_are_logged_within_the_match_and_never_in_the_future() -> None:
    v, req = volunteer(), request(district=10)
    match = v.take(req, assess(v, req, NEIGHBOURHOOD, TODAY), TODAY)
    entry = v.log_hours(hours=1.5, worked_on=TODAY, today=TODAY, match=match, district=1)
    assert entry.district == 10  # the match's district, not what was typed
    assert isinstance(v.events[-1], VolunteerHoursLogged)
    with pytest.raises(Conflict, match="future"):
        v.log_hours(
            hours=1, worked_on=TODAY + timedelta(days=1), today=TODAY, match=None, district=1
        )
    with pytest.raises(Conflict, match="outside match"):
        v.log_hours(
            hours=1, worked_on=TODAY - timedelta(days=1), today=TODAY, match=match, district=1
        )


def test_homework_help_is_always_work_with_children() -> None:
    with pytest.raises(Conflict, match="work with children"):
        request(kind=Skill.HOMEWORK_HELP, involves_children=False)


def test_a_request_open_longer_than_the_setting_is_overdue() -> None:
    req = request(requested_on=date(2016, 11, 1))
    assert not req.overdue(date(2016, 11, 15), timedelta(days=14))
    assert req.overdue(date(2016, 11, 16), timedelta(days=14))
    req.status = RequestStatus.MATCHED
    assert not req.overdue(date(2016, 12, 31), timedelta(days=14))


def test_the_neighbourhood_of_the_13_districts_is_symmetric_and_connected() -> None:
    assert set(NEIGHBOURHOOD.neighbours) == set(range(1, 14))
    for district, neighbours in NEIGHBOURHOOD.neighbours.items():
        assert neighbours, f"{district} has no neighbour"
        assert district not in neighbours
        for other in neighbours:
            assert district in NEIGHBOURHOOD.of(other)
    seen, todo = {1}, [1]
    while todo:
        for n in NEIGHBOURHOOD.of(todo.pop()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    assert seen == set(range(1, 14))
    assert NEIGHBOURHOOD.reachable(1) == {1, 2, 4, 7, 10, 13}


def test_the_district_data_says_where_it_comes_from() -> None:
    data = json.loads(resources.files("volunteers").joinpath("districts.json").read_text())
    assert "source" in data
    assert "hannover.de" in data["source"]
    assert all(pair in data["pairs"] for pair in data["uncertain"])


def test_coverage_lists_every_district_and_where_nobody_helps() -> None:
    rows = coverage(
        [
            DistrictFigures(10, active_volunteers=3, certified_volunteers=1, initiatives=("UK",)),
            DistrictFigures(5, open_requests=2),
        ]
    )
    assert [r.figures.district for r in rows] == list(range(1, 14))
    linden, misburg = rows[9], rows[4]
    assert (linden.nobody_helps, linden.gaps) == (False, ())
    assert misburg.nobody_helps
    assert "2 open requests and nobody to take them" in misburg.gaps
