"""The leaf formulas of the gauges: ratios, median, evenness, the two scores, the baseline.

Each takes plain numbers and returns a number, or None where the value is undefined (a ratio
over zero, a median of nothing): undefined gauges are left out of the exports, never shown as
0. docs/gauges.md explains each in words and lists the defaults.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from teampulse.gauges.config import EngagementScoring, QualityScoring

__all__ = [
    "RECIPROCAL_MIN_INTERACTIONS",
    "baseline_mean",
    "bridging_share",
    "capped_ratio",
    "change_ratio",
    "conversation_quality_score",
    "cross_team_breadth",
    "engagement_score",
    "learning_millis",
    "median",
    "ratio",
    "reply_speed",
    "voice_evenness",
]


def learning_millis(duration_s: float | None) -> int:
    """Learning time is summed in whole milliseconds, so sums do not depend on their order."""
    if duration_s is None or duration_s <= 0 or not math.isfinite(duration_s):
        return 0
    return round(duration_s * 1000)


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def capped_ratio(numerator: float, denominator: float) -> float | None:
    """A share that cannot exceed 1 (e.g. people active in a team who left its roster)."""
    value = ratio(numerator, denominator)
    return None if value is None else min(1.0, value)


def median(sorted_values: Sequence[float]) -> float | None:
    n = len(sorted_values)
    if n == 0:
        return None
    middle = n // 2
    if n % 2:
        return float(sorted_values[middle])
    return (sorted_values[middle - 1] + sorted_values[middle]) / 2


def voice_evenness(contributions: Sequence[int]) -> float | None:
    """Normalised Shannon entropy of contributions per contributor.

    1 when everyone contributed equally, towards 0 when one voice dominates; 0 for a single
    contributor; undefined without contributors.
    """
    counts = [c for c in contributions if c > 0]
    n = len(counts)
    if n == 0:
        return None
    if n == 1:
        return 0.0
    total = sum(counts)
    entropy = -sum(c / total * math.log(c / total) for c in counts)
    return max(0.0, min(1.0, entropy / math.log(n)))


def reply_speed(median_first_reply_s: float | None, target_s: float) -> float | None:
    """target / (target + median): 1 for instant replies, 0.5 at the target, towards 0 slower."""
    if median_first_reply_s is None:
        return None
    return target_s / (target_s + median_first_reply_s)


def conversation_quality_score(
    *,
    reply_ratio: float | None,
    first_reply_median_s: float | None,
    thread_depth: float | None,
    voice_evenness: float | None,
    cross_team_ratio: float | None,
    scoring: QualityScoring,
) -> float | None:
    """Weighted sum of five parts, each 0..1; undefined when none of them can be measured.

    When some can be measured, a part that cannot counts as 0 (no reply yet = no speed, no
    thread started = no depth): nothing measured scores nothing.
    """
    depth = None if thread_depth is None else min(1.0, thread_depth / scoring.depth_target_replies)
    parts = {
        "reply_ratio": reply_ratio,
        "speed": reply_speed(first_reply_median_s, scoring.first_reply_target_seconds),
        "depth": depth,
        "voice_evenness": voice_evenness,
        "cross_team": cross_team_ratio,
    }
    if all(value is None for value in parts.values()):
        return None
    weights = scoring.weights
    return (
        weights.reply_ratio * (parts["reply_ratio"] or 0.0)
        + weights.speed * (parts["speed"] or 0.0)
        + weights.depth * (parts["depth"] or 0.0)
        + weights.voice_evenness * (parts["voice_evenness"] or 0.0)
        + weights.cross_team * (parts["cross_team"] or 0.0)
    )


def engagement_score(
    *,
    members: int,
    window_days: float,
    active_members: int,
    learning_seconds: float,
    contributions: int,
    conversation_quality: float | None,
    scoring: EngagementScoring,
) -> float | None:
    """Weighted sum of participation, learning intensity, conversation and its quality.

    Learning intensity and conversation compare the window's totals with a target per member
    per day, capped at 1. A team without conversation scores 0 on quality. Undefined for a
    team without members.
    """
    if members <= 0 or window_days <= 0:
        return None
    member_days = members * window_days
    participation = min(1.0, active_members / members)
    learning = min(
        1.0, learning_seconds / (member_days * scoring.learning_target_seconds_per_member_day)
    )
    conversation = min(
        1.0, contributions / (member_days * scoring.contributions_target_per_member_day)
    )
    weights = scoring.weights
    return (
        weights.participation * participation
        + weights.learning_intensity * learning
        + weights.conversation * conversation
        + weights.conversation_quality * (conversation_quality or 0.0)
    )


def baseline_mean(samples: Iterable[float | None]) -> float | None:
    """The mean of the defined samples (each the score at the same time of an earlier week).

    Undefined samples (a silent window) are skipped; undefined when none is defined. Summed in
    the order given, so the streaming state and the reference model agree exactly.
    """
    defined = [sample for sample in samples if sample is not None]
    return sum(defined) / len(defined) if defined else None


def change_ratio(current: float | None, baseline: float | None) -> float | None:
    """current / baseline - 1: -0.4 reads 'down 40 % against its own normal'."""
    if current is None or baseline is None or baseline <= 0:
        return None
    return current / baseline - 1.0


# The definition of a team that counts towards cross-team breadth: at least this many
# interactions (replies, reactions) with it in the window, both directions (docs/gauges.md).
RECIPROCAL_MIN_INTERACTIONS = 2


def cross_team_breadth(partners: Iterable[tuple[str, int, int]]) -> int:
    """Distinct other teams the team has reciprocal interactions with: it replied to them
    and they replied to it, at least RECIPROCAL_MIN_INTERACTIONS replies in all."""
    return sum(
        1
        for _, to, back in partners
        if to > 0 and back > 0 and to + back >= RECIPROCAL_MIN_INTERACTIONS
    )


def bridging_share(bridged_threads: int, organisation_threads: int) -> float | None:
    """The share of the organisation's cross-team threads the team took part in (capped: a
    thread whose owner the organisation does not count, a team the roster does not know,
    is the team's and not the organisation's)."""
    return capped_ratio(bridged_threads, organisation_threads)
