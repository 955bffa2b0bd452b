"""The reference model: the oracle (`oracle`) and the replay command's I/O (`replay`).

The oracle's names are importable from here, so `from teampulse.reference import
reference_counts` reads as what it is.
"""

from teampulse.reference.oracle import (
    Admission,
    Link,
    TeamHistory,
    Thread,
    activity_counts,
    admit,
    adoption_counts,
    baseline_of,
    join_threads,
    reference_counts,
    reference_snapshot,
    team_counts,
    window_counts,
    without_erased,
)

__all__ = [
    "Admission",
    "Link",
    "TeamHistory",
    "Thread",
    "activity_counts",
    "admit",
    "adoption_counts",
    "baseline_of",
    "join_threads",
    "reference_counts",
    "reference_snapshot",
    "team_counts",
    "window_counts",
    "without_erased",
]
