"""The explained ranking of volunteers for a support request (pure, no I/O)."""

from __future__ import annotations

from datetime import date, timedelta

from ankommen_contracts import Skill
from volunteers.domain import (
    DISTRICT_NEIGHBOURING,
    DISTRICT_SAME,
    LANGUAGE_FIRST,
    LANGUAGE_OTHER,
    Exclusion,
    VolunteerStatus,
    Weekday,
    assess,
    rank,
)
from volunteers_builders import NEIGHBOURHOOD, TODAY, request, volunteer


def points(assessment, name: str) -> float:  # type: ignore[no-untyped-def]
    (component,) = [c for c in assessment.components if c.name == name]
    return float(component.points)


def test_a_volunteer_in_the_requests_own_district_ranks_above_one_from_next_door() -> None:
    here = volunteer(districts=[10])
    next_door = volunteer(districts=[9])  # Ricklingen borders Linden-Limmer
    ranking = rank(request(district=10), [next_door, here], NEIGHBOURHOOD, TODAY)
    assert [p.volunteer_id for p in ranking.proposals] == [
        here.volunteer_id,
        next_door.volunteer_id,
    ]
    assert points(ranking.proposals[0], "district") == DISTRICT_SAME / 100
    assert points(ranking.proposals[1], "district") == DISTRICT_NEIGHBOURING / 100
    assert "09 Ricklingen" in ranking.proposals[1].components[0].detail


def test_a_volunteer_who_reaches_neither_the_district_nor_a_neighbour_is_excluded() -> None:
    far = volunteer(districts=[5])  # Misburg-Anderten is far from Linden-Limmer
    assessment = assess(far, request(district=10), NEIGHBOURHOOD, TODAY)
    assert assessment.exclusion is Exclusion.DISTRICT
    assert "10 Linden-Limmer" in assessment.explanation


def test_speaking_the_requests_first_language_counts_more_than_another_of_its_languages() -> None:
    arabic = volunteer(languages=["ar"])
    german = volunteer(languages=["de"])
    req = request(languages=("ar", "de"))
    assert points(assess(arabic, req, NEIGHBOURHOOD, TODAY), "language") == LANGUAGE_FIRST / 100
    assert points(assess(german, req, NEIGHBOURHOOD, TODAY), "language") == LANGUAGE_OTHER / 100


def test_no_common_language_excludes_a_volunteer() -> None:
    assessment = assess(volunteer(languages=["fa"]), request(), NEIGHBOURHOOD, TODAY)
    assert assessment.exclusion is Exclusion.LANGUAGE


def test_a_volunteer_who_does_not_offer_the_kind_of_support_is_excluded() -> None:
    assessment = assess(
        volunteer(skills=[Skill.JOB_SEARCH]),
        request(kind=Skill.ACCOMPANIMENT),
        NEIGHBOURHOOD,
        TODAY,
    )
    assert assessment.exclusion is Exclusion.SKILL


def test_shares_are_floored_to_whole_hundredths_so_sql_can_rank_the_same_way() -> None:
    v = volunteer(weekdays=[Weekday.MON, Weekday.WED], hours_per_week=3)
    three_days = frozenset({Weekday.MON, Weekday.TUE, Weekday.FRI})
    assessment = assess(v, request(weekdays=three_days, hours_per_week=1), NEIGHBOURHOOD, TODAY)
    assert points(assessment, "schedule") == 3.33  # 10 x 1/3, floored
    assert points(assessment, "load") == 6.66  # 10 x 2/3, floored
    assert all(isinstance(c.hundredths, int) for c in assessment.components)


def test_the_schedule_scores_the_share_of_the_requests_days_the_volunteer_is_free() -> None:
    v = volunteer(weekdays=[Weekday.MON, Weekday.WED])
    half = assess(v, request(weekdays=frozenset({Weekday.MON, Weekday.TUE})), NEIGHBOURHOOD, TODAY)
    full = assess(v, request(weekdays=frozenset({Weekday.WED})), NEIGHBOURHOOD, TODAY)
    assert points(half, "schedule") == 5.0
    assert points(full, "schedule") == 10.0
    none = assess(v, request(weekdays=frozenset({Weekday.SAT})), NEIGHBOURHOOD, TODAY)
    assert none.exclusion is Exclusion.SCHEDULE


def test_nobody_is_proposed_beyond_their_stated_weekly_hours() -> None:
    busy = volunteer(hours_per_week=4, committed_hours=3)
    assessment = assess(busy, request(hours_per_week=2), NEIGHBOURHOOD, TODAY)
    assert assessment.exclusion is Exclusion.LOAD
    assert "1 of 4 weekly hours free, 2 needed" in assessment.explanation


def test_the_less_loaded_of_two_equal_volunteers_ranks_first() -> None:
    idle = volunteer(hours_per_week=4)
    loaded = volunteer(hours_per_week=4, committed_hours=2)
    ranking = rank(request(hours_per_week=2), [loaded, idle], NEIGHBOURHOOD, TODAY)
    assert [p.volunteer_id for p in ranking.proposals] == [idle.volunteer_id, loaded.volunteer_id]
    assert points(ranking.proposals[0], "load") == 5.0
    assert points(ranking.proposals[1], "load") == 0.0


def test_work_with_children_is_never_proposed_to_an_unvetted_volunteer() -> None:
    unvetted = volunteer(certificate_valid_until=None)
    vetted = volunteer(certificate_valid_until=TODAY + timedelta(days=400))
    req = request(kind=Skill.HOMEWORK_HELP, involves_children=True)
    ranking = rank(req, [unvetted, vetted], NEIGHBOURHOOD, TODAY)
    assert [p.volunteer_id for p in ranking.proposals] == [vetted.volunteer_id]
    assert ranking.excluded == {Exclusion.NO_CERTIFICATE: 1}
    assert points(ranking.proposals[0], "vetting") == 0.0


def test_work_with_children_is_never_proposed_on_an_expired_certificate() -> None:
    expired = volunteer(certificate_valid_until=TODAY - timedelta(days=1))
    req = request(kind=Skill.ACCOMPANIMENT, involves_children=True)
    assessment = assess(expired, req, NEIGHBOURHOOD, TODAY)
    assert assessment.exclusion is Exclusion.CERTIFICATE_EXPIRED
    assert str(TODAY - timedelta(days=1)) in assessment.explanation


def test_a_certificate_counts_through_its_last_day() -> None:
    last_day = volunteer(certificate_valid_until=TODAY)
    req = request(involves_children=True)
    assert assess(last_day, req, NEIGHBOURHOOD, TODAY).eligible
    assert not assess(last_day, req, NEIGHBOURHOOD, TODAY + timedelta(days=1)).eligible


def test_a_paused_or_withdrawn_volunteer_is_not_proposed() -> None:
    paused = volunteer()
    paused.pause(until=date(2016, 12, 1))
    withdrawn = volunteer()
    withdrawn.withdraw(TODAY, [])
    ranking = rank(request(), [paused, withdrawn], NEIGHBOURHOOD, TODAY)
    assert ranking.proposals == ()
    assert ranking.excluded == {Exclusion.NOT_ACTIVE: 2}
    assert withdrawn.status is VolunteerStatus.WITHDRAWN


def test_every_score_is_the_sum_of_its_listed_components() -> None:
    for v in (volunteer(), volunteer(districts=[11], mso=True), volunteer(languages=["de"])):
        assessment = assess(v, request(), NEIGHBOURHOOD, TODAY)
        assert assessment.eligible
        names = [c.name for c in assessment.components]
        assert names[:5] == ["district", "language", "skill", "schedule", "load"]
        assert assessment.hundredths == sum(c.hundredths for c in assessment.components)
        assert assessment.score == assessment.hundredths / 100
        for component in assessment.components:
            assert component.detail
            assert f"{component.name} +{component.points:g}" in assessment.explanation


def test_a_volunteer_from_a_migrant_self_organisation_gets_the_mso_bonus_explained() -> None:
    mso = assess(volunteer(mso=True), request(), NEIGHBOURHOOD, TODAY)
    plain = assess(volunteer(), request(), NEIGHBOURHOOD, TODAY)
    assert mso.score == plain.score + points(mso, "mso")
    assert "migrant self-organisation" in mso.explanation


def test_equal_scores_are_ordered_by_volunteer_id_so_the_ranking_is_stable() -> None:
    twins = [volunteer() for _ in range(5)]
    ranking = rank(request(), twins, NEIGHBOURHOOD, TODAY, limit=3)
    assert [p.volunteer_id for p in ranking.proposals] == sorted(v.volunteer_id for v in twins)[:3]
    assert ranking.considered == 5
