"""Event-time arithmetic: buckets, windows, baseline day ends, ISO weeks, lateness."""

from __future__ import annotations

from teampulse.gauges.config import BaselineScoring, GaugeConfig, ScoringConfig
from teampulse.gauges.eventtime import (
    baseline_sample_ends,
    bucket_of,
    expired_before,
    is_late,
    week_of,
    window_range,
)

MONDAY = 1_772_409_600.0  # 2026-03-02T00:00:00Z
HOUR = 3600


def test_an_instant_falls_in_the_bucket_that_starts_at_or_before_it() -> None:
    assert bucket_of(MONDAY, HOUR) == 492_336
    assert bucket_of(MONDAY + 3599.999, HOUR) == 492_336
    assert bucket_of(MONDAY + 3600, HOUR) == 492_337
    assert bucket_of(-1.0, HOUR) == -1


def test_a_one_day_window_holds_the_current_bucket_and_the_23_before_it() -> None:
    first, last = window_range(MONDAY + 10.5 * HOUR, 86_400, HOUR)

    assert last == bucket_of(MONDAY + 10 * HOUR, HOUR)
    assert first == bucket_of(MONDAY - 13 * HOUR, HOUR)
    assert last - first + 1 == 24


def test_an_event_exactly_at_the_lateness_horizon_is_on_time() -> None:
    assert not is_late(MONDAY - 48 * HOUR, MONDAY, 48 * HOUR)
    assert is_late(MONDAY - 48 * HOUR - 0.001, MONDAY, 48 * HOUR)
    assert not is_late(0.0, None, 48 * HOUR)  # a team's first event is never late


def test_buckets_entirely_behind_a_horizon_are_below_expired_before() -> None:
    # watermark 10:30, horizon 2 h -> 08:30: the 07:00 bucket ends at 08:00 (gone), 08:00 stays
    assert expired_before(MONDAY + 10.5 * HOUR, 2 * HOUR, HOUR) == bucket_of(
        MONDAY + 8 * HOUR, HOUR
    )


def test_baseline_samples_end_at_the_same_hour_of_earlier_weeks_oldest_first() -> None:
    config = GaugeConfig(scoring=ScoringConfig(baseline=BaselineScoring(samples=3)))

    ends = baseline_sample_ends(MONDAY + 15.5 * HOUR, config)

    now = bucket_of(MONDAY + 15 * HOUR, HOUR)
    week = 7 * 24
    assert ends == [now - 3 * week, now - 2 * week, now - week]  # Mondays 15:00-16:00


def test_baseline_samples_are_spaced_by_every() -> None:
    config = GaugeConfig(scoring=ScoringConfig(baseline=BaselineScoring(every="1d", samples=2)))

    assert baseline_sample_ends(MONDAY, config) == [
        bucket_of(MONDAY, HOUR) - 48,
        bucket_of(MONDAY, HOUR) - 24,
    ]


def test_iso_weeks_run_from_monday_to_sunday_utc() -> None:
    sunday_night = MONDAY - 1
    assert week_of(MONDAY) == week_of(MONDAY + 6 * 86_400 + 86_399)
    assert week_of(sunday_night) == week_of(MONDAY) - 1
