"""Event-time arithmetic: buckets, windows, day ends and weeks. Time is always a parameter.

A bucket is an integer index, `floor(t / bucket_s)`. A window `w` as of instant `T` holds the
buckets `b` with `bucket(T) - w/bucket_s < b <= bucket(T)` (the bucket `T` falls in counts,
buckets after it do not). Days are UTC days; the bucket width divides a day, so a day is a
whole run of buckets.
"""

from __future__ import annotations

import math

from teampulse.gauges.config import DAY_S, GaugeConfig

__all__ = [
    "baseline_sample_ends",
    "bucket_of",
    "expired_before",
    "is_late",
    "week_of",
    "window_range",
]

# 1970-01-01 was a Thursday; shifting by 3 days makes weeks start on Monday, as ISO weeks do.
_EPOCH_TO_MONDAY_S = 3 * DAY_S


def bucket_of(t: float, bucket_s: int) -> int:
    return math.floor(t / bucket_s)


def window_range(as_of: float, window_s: int, bucket_s: int) -> tuple[int, int]:
    """First and last bucket (both included) of the window of `window_s` as of `as_of`."""
    last = bucket_of(as_of, bucket_s)
    return last - window_s // bucket_s + 1, last


def is_late(occurred_at: float, watermark: float | None, lateness_s: int) -> bool:
    return watermark is not None and occurred_at < watermark - lateness_s


def expired_before(watermark: float, horizon_s: int, bucket_s: int) -> int:
    """Buckets below this index end at or before `watermark - horizon_s`: entirely behind it."""
    return math.floor((watermark - horizon_s) / bucket_s)


def baseline_sample_ends(as_of: float, config: GaugeConfig) -> list[int]:
    """Last bucket of each day sampled by the baseline, oldest first.

    The samples are the `baseline.days` UTC day ends at or before `as_of` (the latest midnight
    and the ones before it); a sample's window ends with the last bucket of the day it closes.
    """
    last_midnight_bucket = math.floor(as_of / DAY_S) * config.buckets_per_day
    days = config.scoring.baseline.days
    return [last_midnight_bucket - 1 - k * config.buckets_per_day for k in range(days - 1, -1, -1)]


def week_of(t: float) -> int:
    """Index of the ISO week (Monday to Sunday, UTC) an instant falls in."""
    return math.floor((t + _EPOCH_TO_MONDAY_S) / (7 * DAY_S))
