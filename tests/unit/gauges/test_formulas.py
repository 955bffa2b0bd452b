"""The leaf formulas, each with its expected value written out."""

from __future__ import annotations

import math

import pytest

from teampulse.gauges import formulas
from teampulse.gauges.config import EngagementScoring, QualityScoring


def test_learning_time_is_summed_in_whole_milliseconds() -> None:
    assert formulas.learning_millis(61.5) == 61_500
    assert formulas.learning_millis(0.0004) == 0
    assert formulas.learning_millis(None) == 0
    assert formulas.learning_millis(-5.0) == 0
    assert formulas.learning_millis(math.inf) == 0


def test_a_ratio_over_nothing_is_undefined_not_zero() -> None:
    assert formulas.ratio(3, 4) == 0.75
    assert formulas.ratio(0, 4) == 0.0
    assert formulas.ratio(3, 0) is None


def test_a_capped_ratio_never_exceeds_one() -> None:
    assert formulas.capped_ratio(7, 5) == 1.0
    assert formulas.capped_ratio(2, 5) == 0.4
    assert formulas.capped_ratio(1, 0) is None


def test_median_of_odd_and_even_counts_and_of_nothing() -> None:
    assert formulas.median([10.0, 20.0, 600.0]) == 20.0
    assert formulas.median([10.0, 20.0, 30.0, 600.0]) == 25.0
    assert formulas.median([]) is None


def test_voice_evenness_is_one_when_everyone_contributes_equally() -> None:
    assert formulas.voice_evenness([3, 3, 3, 3]) == pytest.approx(1.0)


def test_voice_evenness_of_a_single_voice_is_zero_and_of_silence_undefined() -> None:
    assert formulas.voice_evenness([12]) == 0.0
    assert formulas.voice_evenness([]) is None


def test_voice_evenness_of_a_dominant_voice() -> None:
    # p = 0.9, 0.1: H = -(0.9 ln 0.9 + 0.1 ln 0.1) = 0.325083; / ln 2 = 0.468996
    assert formulas.voice_evenness([1, 9]) == pytest.approx(0.468996, abs=1e-6)


def test_reply_speed_is_one_half_at_the_target() -> None:
    assert formulas.reply_speed(14_400.0, 14_400.0) == 0.5
    assert formulas.reply_speed(0.0, 14_400.0) == 1.0
    assert formulas.reply_speed(3 * 14_400.0, 14_400.0) == 0.25
    assert formulas.reply_speed(None, 14_400.0) is None


def quality(**parts: float | None) -> float | None:
    values: dict[str, float | None] = {
        "reply_ratio": None,
        "first_reply_median_s": None,
        "thread_depth": None,
        "voice_evenness": None,
        "cross_team_ratio": None,
    }
    values.update(parts)
    return formulas.conversation_quality_score(**values, scoring=QualityScoring())  # type: ignore[arg-type]


def test_conversation_quality_with_every_part_measured() -> None:
    score = quality(
        reply_ratio=0.5,  # 0.30 x 0.5  = 0.15
        first_reply_median_s=14_400.0,  # 0.20 x 0.5 = 0.10
        thread_depth=1.5,  # 0.15 x 0.5 = 0.075
        voice_evenness=1.0,  # 0.20 x 1.0 = 0.20
        cross_team_ratio=0.2,  # 0.15 x 0.2 = 0.03
    )
    assert score == pytest.approx(0.555)


def test_conversation_quality_counts_unmeasurable_parts_as_zero() -> None:
    # Threads started but nobody answered: no speed, no depth beyond 0, one voice.
    score = quality(reply_ratio=0.0, thread_depth=0.0, voice_evenness=0.0)
    assert score == 0.0


def test_conversation_quality_is_undefined_without_any_conversation() -> None:
    assert quality() is None


def test_depth_is_capped_at_the_target() -> None:
    assert quality(thread_depth=30.0) == pytest.approx(0.15)


def engagement(**kwargs: float) -> float | None:
    values = {
        "members": 10,
        "window_days": 7.0,
        "active_members": 0,
        "learning_seconds": 0.0,
        "contributions": 0,
        "conversation_quality": None,
    }
    values.update(kwargs)
    return formulas.engagement_score(**values, scoring=EngagementScoring())  # type: ignore[arg-type]


def test_engagement_score_of_a_fully_engaged_team_is_one() -> None:
    # 10 members x 7 days: 63,000 s of learning and 140 contributions reach the targets.
    assert engagement(
        active_members=10, learning_seconds=63_000.0, contributions=140, conversation_quality=1.0
    ) == pytest.approx(1.0)


def test_engagement_score_weighs_its_parts() -> None:
    score = engagement(
        active_members=5,  # participation 0.5 x 0.40 = 0.2
        learning_seconds=31_500.0,  # intensity 0.5 x 0.25 = 0.125
        contributions=28,  # conversation 0.2 x 0.25 = 0.05
        conversation_quality=0.5,  # 0.5 x 0.10 = 0.05
    )
    assert score == pytest.approx(0.425)


def test_engagement_parts_are_capped_at_one() -> None:
    score = engagement(active_members=10, learning_seconds=10**7, contributions=10**4)
    assert score == pytest.approx(0.9)  # everything but quality, which is undefined -> 0


def test_engagement_score_is_undefined_for_a_team_without_members() -> None:
    assert engagement(members=0, active_members=3) is None


def test_baseline_mean_weighs_every_sample_alike() -> None:
    assert formulas.baseline_mean([0.2, 0.6, 1.0]) == pytest.approx(0.6)


def test_baseline_mean_skips_undefined_samples_and_is_undefined_without_any() -> None:
    assert formulas.baseline_mean([None, 0.2, None, 0.6]) == pytest.approx(0.4)
    assert formulas.baseline_mean([None, None]) is None


def test_change_ratio_reads_down_forty_percent() -> None:
    assert formulas.change_ratio(0.3, 0.5) == pytest.approx(-0.4)
    assert formulas.change_ratio(0.3, 0.0) is None
    assert formulas.change_ratio(0.3, None) is None
    assert formulas.change_ratio(None, 0.5) is None


@pytest.mark.parametrize(
    ("partners", "breadth"),
    [
        ((), 0),
        ((("beta", 1, 1),), 1),  # one reply each way: reciprocal, two in all
        ((("beta", 5, 0),), 0),  # answered often, never answered back
        ((("beta", 0, 2),), 0),
        ((("beta", 1, 1), ("gamma", 2, 1), ("delta", 3, 0)), 2),
    ],
)
def test_cross_team_breadth_counts_teams_with_replies_both_ways(
    partners: tuple[tuple[str, int, int], ...], breadth: int
) -> None:
    assert formulas.cross_team_breadth(partners) == breadth
