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
    """Last bucket of each window sampled by the baseline, oldest first.

    The samples are the baseline window as of `every`, 2 x `every` ... `samples` x `every`
    before `as_of`. With a week (the default) a Tuesday afternoon is compared with earlier
    Tuesday afternoons: the weekly rhythm (quiet weekends) is part of the normal, and no sample
    overlaps the last week, so a decline does not drag its own baseline down.
    """
    last = bucket_of(as_of, config.bucket_s)
    step = config.baseline_every_s // config.bucket_s
    return [last - k * step for k in range(config.scoring.baseline.samples, 0, -1)]


def week_of(t: float) -> int:
    """Index of the ISO week (Monday to Sunday, UTC) an instant falls in."""
    return math.floor((t + _EPOCH_TO_MONDAY_S) / (7 * DAY_S))
