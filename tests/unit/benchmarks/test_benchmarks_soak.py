"""The pure part of `make soak`: when it samples, the horizon, the state figures it reads
from /metrics, and the verdict on flatness."""

from __future__ import annotations

import pytest

from benchmarks.soak import (
    Sample,
    behind_after_horizon,
    horizon_days,
    judge,
    render_table,
    sample_days,
    speed_for,
    state_entries,
)

DAY_S = 86_400


def sample(day: float, rss_mib: float, entries: int = 1000, keys: int = 200) -> Sample:
    return Sample(
        day=day,
        wall_s=day * 8.0,
        sent=int(day * 8000),
        counted=int(day * 8000),
        rss_bytes=int(rss_mib * 2**20),
        state_entries=entries,
        data_dir_bytes=4096,
        redis_used_memory=3 * 2**20,
        redis_keys=keys,
    )


def weeks(rss_by_week: list[float]) -> list[Sample]:
    return [sample(7.0 * (i + 1), rss) for i, rss in enumerate(rss_by_week)]


def test_ninety_days_take_twelve_minutes_at_a_clock_of_10800_times() -> None:
    assert speed_for(90, 12) == 10_800.0


def test_a_speed_needs_positive_days_and_minutes() -> None:
    with pytest.raises(ValueError):
        speed_for(90, 0)


def test_samples_fall_at_each_week_end_and_at_the_end_of_the_run() -> None:
    assert sample_days(20) == [7.0, 14.0, 20.0]
    assert sample_days(14) == [7.0, 14.0]
    assert sample_days(3) == [3.0]


def test_the_horizon_is_the_gauges_retention_or_the_redis_history_whichever_is_longer() -> None:
    assert horizon_days(31 * DAY_S, 28) == 31.0
    assert horizon_days(31 * DAY_S, 90) == 90.0


def test_state_entries_are_read_from_the_metrics_page_by_stage_and_kind() -> None:
    page = (
        "# HELP teampulse_state_entries Entries of the worker's in-memory state.\n"
        "# TYPE teampulse_state_entries gauge\n"
        'teampulse_state_entries{kind="buckets",stage="teams"} 74500.0\n'
        'teampulse_state_entries{stage="threads",kind="posts"} 1234.0\n'
        'teampulse_events_total{outcome="accepted",source="lms"} 9.0\n'
    )

    assert state_entries(page) == {"teams/buckets": 74_500, "threads/posts": 1234}


def test_figures_within_the_tolerance_a_week_after_the_horizon_are_flat() -> None:
    # Growth before the horizon (day 31) and just after it is expected: the state fills up.
    samples = weeks([80, 120, 150, 170, 180, 190, 189, 195, 198])

    (rss,) = judge(samples, horizon=31, tolerance=0.10, measures=["rss_bytes"])

    assert rss.reference_day == 42.0  # the first sample a week or more past the horizon
    assert rss.ratio == pytest.approx(198 / 190)
    assert rss.flat is True


def test_a_figure_that_grows_past_the_tolerance_after_the_horizon_is_growing() -> None:
    samples = weeks([80, 120, 150, 170, 180, 200, 220, 240, 260])

    (rss,) = judge(samples, horizon=31, tolerance=0.10, measures=["rss_bytes"])

    assert rss.ratio == pytest.approx(260 / 200)
    assert rss.flat is False


def test_a_run_with_fewer_than_two_samples_a_week_after_the_horizon_is_inconclusive() -> None:
    samples = weeks([80, 120, 150, 170, 180, 190])  # days 7..42: only day 42 is past day 38

    verdicts = judge(samples, horizon=31, tolerance=0.10)

    assert [v.flat for v in verdicts] == [None] * 5


def test_a_figure_that_stays_zero_is_flat() -> None:
    samples = [sample(42, 100), sample(49, 100)]
    for s in samples:
        s.data_dir_bytes = 0

    (data_dir,) = judge(samples, horizon=31, tolerance=0.10, measures=["data_dir_bytes"])

    assert data_dir.ratio == 1.0 and data_dir.flat is True


def test_the_table_marks_the_samples_after_the_horizon() -> None:
    table = render_table(weeks([80, 120, 150, 170, 180]), horizon=31)

    rows = table.splitlines()[2:]
    assert [row.split()[0] for row in rows] == ["7", "14", "21", "28", "35*"]


def test_samples_after_the_horizon_with_a_backlog_are_named() -> None:
    samples = weeks([80, 120, 150, 170, 180, 190, 200])
    samples[1].max_behind = 50_000  # day 14: before the horizon, not named
    samples[5].max_behind = 30_000  # day 42

    lagging = behind_after_horizon(samples, horizon=31, events=5000)

    assert [s.day for s in lagging] == [42.0]
