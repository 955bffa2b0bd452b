"""TeamCounts: merging teams into a group, and crossing the wire to the roll-up owner."""

from __future__ import annotations

import orjson

from teampulse.gauges.config import EvidenceMatcher, GaugeConfig, InitiativeConfig
from teampulse.gauges.counts import TeamCounts, WindowCounts

ALPHA = TeamCounts(
    members=6,
    windows={"7d": WindowCounts(active_members=4, posts=3, replies=5, threads_started=2,
                                contributions=(1, 2, 5), first_reply_latencies=(60.0, 900.0))},
    adoption={"agile": (1, 0, 2, 1, 0)},
    baseline_members=6, baseline_sum=3.0, current_sum=2.4,
)  # fmt: skip
BETA = TeamCounts(
    members=3,
    windows={"7d": WindowCounts(active_members=3, posts=1, contributions=(1, 1, 4),
                                first_reply_latencies=(120.0,))},
    adoption={"agile": (0, 0, 0, 0, 3)},
)  # fmt: skip


def test_merging_adds_counts_and_pools_the_multisets_sorted() -> None:
    merged = TeamCounts.merge([ALPHA, BETA])

    assert merged.members == 9
    assert merged.windows["7d"] == WindowCounts(
        active_members=7, posts=4, replies=5, threads_started=2,
        contributions=(1, 1, 1, 2, 4, 5), first_reply_latencies=(60.0, 120.0, 900.0),
    )  # fmt: skip
    assert merged.adoption == {"agile": (1, 0, 2, 1, 3)}


def test_a_team_without_a_baseline_adds_no_weight_to_the_groups() -> None:
    merged = TeamCounts.merge([ALPHA, BETA])

    assert (merged.baseline_members, merged.baseline_sum, merged.current_sum) == (6, 3.0, 2.4)


def test_counts_cross_the_wire_unchanged() -> None:
    assert TeamCounts.from_wire(orjson.loads(orjson.dumps(ALPHA.to_wire()))) == ALPHA


def test_empty_counts_have_every_window_and_initiative() -> None:
    config = GaugeConfig(
        initiatives=(
            InitiativeConfig(
                id="agile", stages={"awareness": (EvidenceMatcher(type=("learning.started",)),)}
            ),
        )
    )

    empty = TeamCounts.empty(config, members=4)

    assert empty.members == 4
    assert empty.windows == {"1d": WindowCounts(), "7d": WindowCounts(), "28d": WindowCounts()}
    assert empty.adoption == {"agile": (0, 0, 0, 0, 0)}
