"""The drop signal's judgement on hand-made hourly counts (the figures are exact by design:
a team doing exactly its usual count, a team at a quarter of it, a holiday for everyone)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from teampulse.gauges.config import GaugeConfig
from teampulse.gauges.counts import ActivityCounts
from teampulse.gauges.drop_signal import (
    binomial_cdf,
    dispersion_evidence,
    drop_signal,
    level_term,
    org_activity,
)

CONFIG = GaugeConfig()
WEEK = 168
T0 = 1_772_409_600.0  # a Monday, 00:00 UTC
SPAN_WEEKS, REFERENCE_WEEKS = 2, 3
AS_OF = T0 + (SPAN_WEEKS + REFERENCE_WEEKS) * WEEK * 3600 - 0.001  # end of a Sunday


def usual_week(per_hour: int) -> list[int]:
    """per_hour events in each working hour (9-17, Monday-Friday), none otherwise."""
    return [per_hour if (h // 24) < 5 and 9 <= h % 24 < 17 else 0 for h in range(WEEK)]


def team(per_hour: int, recent_scale: list[float] | None = None, active: int = 8) -> ActivityCounts:
    week = usual_week(per_hour)
    recent = week * SPAN_WEEKS
    if recent_scale is not None:
        recent = [round(n * s) for n, s in zip(recent, recent_scale, strict=True)]
    return ActivityCounts(
        recent=tuple(recent),
        profile=tuple(n * REFERENCE_WEEKS for n in week),
        days=tuple(sum(week[d * 24 : d * 24 + 24]) for d in range(7)) * REFERENCE_WEEKS,
        active=active,
        usual_active=(8,) * REFERENCE_WEEKS,
    )


def judged(me: ActivityCounts, rest: ActivityCounts, members: int = 8) -> str:
    org = org_activity([me, rest], CONFIG)
    return drop_signal(me, org, members, AS_OF, CONFIG).state


def last_days(scale: float, days: int) -> list[float]:
    """Scale on the last `days` working days of the span (its last week's Mon-Fri)."""
    hours = WEEK * SPAN_WEEKS
    first_day = 4 - days + 1  # Friday back
    start = WEEK * (SPAN_WEEKS - 1) + first_day * 24
    return [scale if start <= h < WEEK * (SPAN_WEEKS - 1) + 5 * 24 else 1.0 for h in range(hours)]


def test_a_team_doing_its_usual_count_is_ok() -> None:
    signal = drop_signal(team(2), org_activity([team(2), team(10)], CONFIG), 8, AS_OF, CONFIG)

    assert signal.state == "ok"
    assert signal.events == 80  # 2 an hour x 8 hours x 5 days
    assert signal.expected is not None and 79 < signal.expected < 81
    assert signal.normal_low is not None and signal.normal_low < 80 < (signal.normal_high or 0)


def test_a_team_at_a_quarter_of_its_count_for_a_week_is_a_drop() -> None:
    assert judged(team(2, last_days(0.25, 5)), team(10)) == "drop"


def test_a_quiet_day_for_the_whole_organisation_is_no_team_drop() -> None:
    holiday = last_days(0.1, 1)

    assert judged(team(2, holiday), team(40, holiday)) == "ok"
    # Without the organisation going quiet too, the same day is a steep fall of the team's
    # own (no event in a day that usually holds 16): the detector for steep falls says drop.
    assert judged(team(2, holiday), team(40)) == "drop"


def test_without_five_expected_events_a_working_day_the_signal_says_so() -> None:
    signal = drop_signal(team(0), org_activity([team(0), team(10)], CONFIG), 8, AS_OF, CONFIG)

    assert signal.state == "insufficient_activity"
    assert signal.expected is None


def test_half_the_team_silent_while_the_rest_keep_the_count_up_is_a_watch() -> None:
    assert judged(team(2, active=3), team(10)) == "watch"


def test_binomial_tail() -> None:
    assert abs(binomial_cdf(3, 8, 0.75) - 0.0273) < 1e-4


def test_one_member_away_from_a_team_always_fully_active_is_no_watch() -> None:
    assert judged(team(2, active=7), team(10)) == "ok"  # usually 8 of 8


def team_of_daily(events_per_day: int) -> ActivityCounts:
    """One event in each of the first `events_per_day` working hours, Monday-Friday."""
    week = [1 if (h // 24) < 5 and 9 <= h % 24 < 9 + events_per_day else 0 for h in range(WEEK)]
    return ActivityCounts(
        recent=tuple(week * SPAN_WEEKS),
        profile=tuple(n * REFERENCE_WEEKS for n in week),
        days=tuple(sum(week[d * 24 : d * 24 + 24]) for d in range(7)) * REFERENCE_WEEKS,
        active=8,
        usual_active=(8,) * REFERENCE_WEEKS,
    )


def test_a_team_whose_level_may_well_be_five_a_day_is_judged() -> None:
    # 5 a day reads just under 5 expected (the organisation's quiet hours take a share);
    # 3 a day is below 5 even at the upper end of what 3 weeks of counts allow.
    five, three = team_of_daily(5), team_of_daily(3)
    judged_five = drop_signal(five, org_activity([five, team(10)], CONFIG), 8, AS_OF, CONFIG)
    judged_three = drop_signal(three, org_activity([three, team(10)], CONFIG), 8, AS_OF, CONFIG)

    assert judged_five.expected_per_working_day is not None
    assert judged_five.expected_per_working_day < 5
    assert judged_five.state == "ok"
    assert judged_three.state == "insufficient_activity"


def test_the_evidence_moves_only_when_an_hour_completes() -> None:
    me = team(2, last_days(0.5, 2))
    org = org_activity([me, team(10)], CONFIG)

    early = drop_signal(me, org, 8, AS_OF - 0.9 * 3600, CONFIG)  # 6 minutes into the hour
    late = drop_signal(me, org, 8, AS_OF, CONFIG)  # its last millisecond

    assert early.evidence_ratio == late.evidence_ratio


def test_the_dispersion_reads_whole_weeks_wherever_the_days_start() -> None:
    # Three reference weeks of 10, 30 and 20 events: Pearson (100 + 100 + 0) / 20 on 2 df,
    # however the events sit in the 24-hour blocks of each week.
    weeks = [[10, 0, 0, 0, 0, 0, 0], [5, 5, 5, 5, 5, 5, 0], [0, 0, 0, 0, 0, 0, 20]]

    assert dispersion_evidence([n for week in weeks for n in week], 3) == (10.0, 2)
    assert dispersion_evidence([n for week in weeks for n in week[3:] + week[:3]], 3) == (10.0, 2)


def test_a_public_holiday_adds_no_evidence_to_carry_into_the_next_days() -> None:
    # Friday at a tenth for everyone, judged at the end of Sunday. The rest's ratio over the
    # holiday's first hours leans on its prior (0.4, then 0.23): judged against that, the
    # team's tenth used to pile up evidence that was still there after the weekend (0.35 of
    # the threshold, where a week without a holiday holds 0.02).
    holiday = last_days(0.1, 1)

    def evidence(me: ActivityCounts, rest: ActivityCounts) -> float:
        signal = drop_signal(me, org_activity([me, rest], CONFIG), 8, AS_OF, CONFIG)
        assert signal.evidence_ratio is not None
        return signal.evidence_ratio

    assert abs(evidence(team(2, holiday), team(40, holiday)) - evidence(team(2), team(40))) < 0.01


def bursty(per_hour: int, members: int) -> ActivityCounts:
    """usual_week(per_hour) in the span; reference weeks at 0.5, 1.5 and 1 times it."""
    week = usual_week(per_hour)
    days = tuple(
        round(scale * sum(week[d * 24 : d * 24 + 24]))
        for scale in (0.5, 1.5, 1.0)
        for d in range(7)
    )
    return ActivityCounts(
        recent=tuple(week * SPAN_WEEKS),
        profile=tuple(n * REFERENCE_WEEKS for n in week),
        days=days,
        active=members,
        usual_active=(members,) * REFERENCE_WEEKS,
    )


def test_the_organisation_s_burstiness_is_weighed_per_member() -> None:
    # The rest: busy members whose weeks vary far more than chance. The same counts spread
    # over many quiet members vary little more than chance: judged surer on the same fall.
    rest = bursty(20, 10)
    fall = last_days(0.5, 3)
    busy = dataclasses.replace(team(2, fall), usual_active=(2,) * REFERENCE_WEEKS)
    quiet = dataclasses.replace(team(2, fall), usual_active=(16,) * REFERENCE_WEEKS)

    def sureness(me: ActivityCounts) -> float:
        signal = drop_signal(me, org_activity([me, rest], CONFIG), 16, AS_OF, CONFIG)
        assert signal.evidence_ratio is not None
        return signal.evidence_ratio

    assert sureness(quiet) > 1.5 * sureness(busy)


def test_the_threshold_grows_with_the_level_up_to_16_a_day_and_falls_back_beyond() -> None:
    assert level_term(4, 16) == pytest.approx(math.log(4))
    assert level_term(16, 16) == pytest.approx(math.log(16))
    assert level_term(64, 16) == pytest.approx(math.log(4))


def test_beyond_16_expected_events_a_day_the_threshold_falls_back() -> None:
    # 96 a day at 65 % for two working days: the busier the grid's steady teams beyond 16 a
    # day, the fewer their false alarms, so the threshold falls back there.
    busy = team(12, last_days(0.65, 2))
    org = org_activity([busy, team(40)], CONFIG)
    signal = drop_signal(busy, org, 8, AS_OF, CONFIG)
    assert (signal.expected_per_working_day or 0) > 90
    assert signal.state == "drop"

    growing = CONFIG.scoring.drop_signal.model_copy(update={"threshold_peak_events": 1e6})
    still_growing = dataclasses.replace(
        CONFIG, scoring=CONFIG.scoring.model_copy(update={"drop_signal": growing})
    )
    assert drop_signal(busy, org, 8, AS_OF, still_growing).state == "watch"
