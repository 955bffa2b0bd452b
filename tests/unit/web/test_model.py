"""Which team needs attention, and why in words: the drop signal where it is published, the
change against the team's own normal otherwise, and participation."""

from __future__ import annotations

import datetime as dt

import pytest

from teampulse.gauges.model import STAGES
from teampulse.web.model import (
    InitiativeView,
    ScopeView,
    attention,
    funnel_shares,
    judgement,
    scope_view,
)

TUESDAY_NOON = dt.datetime(2026, 12, 8, 12, tzinfo=dt.UTC).timestamp()


def team(**fields: object) -> ScopeView:
    base = {"as_of": str(TUESDAY_NOON), "members": "9"}
    base.update({k.replace("__", ":"): str(v) for k, v in fields.items()})
    return ScopeView("team", "alpha", base)


def test_a_team_far_below_its_normal_needs_attention_with_the_weekday_in_words() -> None:
    need = attention(team(engagement_change_ratio=-0.56))

    assert need.level == 3
    assert need.reasons == ("engagement −56% against its usual Tuesday",)


def test_a_team_somewhat_below_its_normal_is_watched() -> None:
    assert attention(team(engagement_change_ratio=-0.3)).level == 1


def test_a_team_within_its_normal_needs_nothing() -> None:
    need = attention(team(engagement_change_ratio=-0.1, participation_ratio__7d=0.8))

    assert not need.needed and need.reasons == ()


def test_low_participation_is_said_as_people_of_members() -> None:
    need = attention(team(participation_ratio__7d=0.33, active_members__7d=3))

    assert need.level == 2
    assert need.reasons == ("participation 3 of 9 this week",)


def test_the_drop_signal_leads_with_activity_against_its_usual_range() -> None:
    need = attention(
        team(
            drop_signal="drop",
            activity_events__7d=12,
            activity_normal_low_events__7d=40,
            activity_normal_high_events__7d=65,
            engagement_change_ratio=-0.2,
        )
    )

    assert need.level == 3
    assert need.reasons == ("activity 12 events this week, well below its usual 40–65",)


def test_a_drop_signal_of_ok_overrides_no_threshold_of_its_own() -> None:
    assert not attention(team(drop_signal="ok")).needed
    assert judgement(team(drop_signal="ok")) == "within its usual range"


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({}, "not enough activity yet to judge"),
        ({"drop_signal": "insufficient_activity"}, "not enough activity yet to judge"),
        ({"engagement_change_ratio": 0.12}, "engagement +12% against its usual"),
    ],
)
def test_every_team_gets_a_judgement_in_words(fields: dict[str, object], said: str) -> None:
    assert judgement(team(**fields)) == said


def test_the_funnel_counts_each_stage_with_everyone_beyond_it() -> None:
    members = dict.fromkeys(STAGES, 0) | {"awareness": 2, "knowledge": 3, "ability": 1}
    shares = funnel_shares(InitiativeView("dw", members, 10, 0.1))

    assert shares[0] == ("awareness", 0.6, "6 of 10")
    assert shares[1] == ("desire", 0.4, "4 of 10")
    assert shares[3] == ("ability", 0.1, "1 of 10")
    assert shares[4] == ("reinforcement", 0.0, "0 of 10")


def test_a_scope_view_reads_the_redis_hashes_and_history_as_published() -> None:
    view = scope_view(
        "org",
        "org",
        {"engagement_score:7d": "0.5", "engagement_change_ratio": "-0.25", "as_of": "1"},
        {"dw": {"members:ability": "3", "members": "12", "ratio": "0.25"}},
        [
            {
                "day": "2026-12-01",
                "gauges": {"engagement_score:1d": 0.4, "engagement_baseline": 0.5},
                "adoption": {"dw": 0.2},
            },
            {"day": "2026-12-02", "gauges": {}},
        ],
    )

    assert view.engagement == 0.5 and view.change == -0.25
    (initiative,) = view.initiatives
    assert initiative.stage_members["ability"] == 3 and initiative.members == 12
    assert [(p.day, p.engagement, p.baseline) for p in view.history] == [
        ("2026-12-01", 0.4, 0.5),
        ("2026-12-02", None, None),
    ]
    assert view.history[0].adoption == {"dw": 0.2}
