"""A stage's partition state written into a snapshot and read back: the same gauges, the
running configuration in force, and a snapshot of another shape refused with the reason."""

from __future__ import annotations

import dataclasses

import pytest

from teampulse.contract.event import Event
from teampulse.engine.state_store import IncompatibleSnapshot
from teampulse.gauges.config import (
    EngagementScoring,
    EngagementWeights,
    EvidenceMatcher,
    GaugeConfig,
    InitiativeConfig,
    ScoringConfig,
)
from teampulse.streams.partitions import TeamPartition, ThreadPartition
from teampulse.streams.state_snapshots import dump_teams, dump_threads, load_teams, load_threads

T0 = 1_772_409_600.0  # 2026-03-02T00:00:00Z
DAY = 86_400.0
AGILE = InitiativeConfig(
    id="agile", stages={"ability": (EvidenceMatcher(type=("adoption.practiced",)),)}
)
CONFIG = GaugeConfig(initiatives=(AGILE,))


def event(event_id: str, at: float, actor: str, kind: str = "learning.progressed", **f) -> Event:
    return Event(
        id=event_id, type=kind, occurred_at=T0 + at, actor=actor, source="lms", team="alpha", **f
    )


def busy_partition(config: GaugeConfig) -> TeamPartition:
    partition = TeamPartition(config)
    for n, actor in enumerate(["ann", "bob", "cy", "dee", "eve"]):
        partition.apply_event(
            event(f"p{n}", n * 60, actor, "adoption.practiced", initiative="agile")
        )
        partition.apply_event(event(f"l{n}", DAY + n * 60, actor, duration_s=600))
    return partition


def test_a_team_partition_restored_from_its_snapshot_gives_the_same_counts() -> None:
    original = busy_partition(CONFIG)

    restored = load_teams(CONFIG)(0, dump_teams(CONFIG)(original))

    as_of = T0 + 2 * DAY
    assert restored.teams["alpha"].counts(as_of, 5) == original.teams["alpha"].counts(as_of, 5)
    assert restored.teams["alpha"].counts(as_of, 5).adoption["agile"][3] == 5  # ability
    assert restored.changed == {"alpha"}  # published again, as after a replay


def test_a_restored_partition_goes_on_deduplicating_what_it_already_applied() -> None:
    restored = load_teams(CONFIG)(0, dump_teams(CONFIG)(busy_partition(CONFIG)))

    assert restored.apply_event(event("l0", DAY, "ann", duration_s=600)) == "duplicate"
    assert restored.apply_event(event("new", DAY + 3600, "ann", duration_s=60)) == "accepted"


def test_the_running_configuration_replaces_the_one_the_snapshot_was_taken_under() -> None:
    weights = EngagementWeights(
        participation=0.7, learning_intensity=0.1, conversation=0.1, conversation_quality=0.1
    )
    reweighted = dataclasses.replace(
        CONFIG, scoring=ScoringConfig(engagement=EngagementScoring(weights=weights))
    )

    restored = load_teams(reweighted)(0, dump_teams(CONFIG)(busy_partition(CONFIG)))

    assert restored.teams["alpha"].config is reweighted


@pytest.mark.parametrize(
    "changed",
    [
        dataclasses.replace(CONFIG, bucket_s=1800),
        dataclasses.replace(CONFIG, lateness_s=3600),
        dataclasses.replace(CONFIG, initiatives=()),
    ],
    ids=["bucket width", "lateness", "initiatives"],
)
def test_a_snapshot_of_another_state_shape_is_refused(changed: GaugeConfig) -> None:
    snapshot = dump_teams(CONFIG)(busy_partition(CONFIG))

    with pytest.raises(IncompatibleSnapshot, match="another bucket width"):
        load_teams(changed)(0, snapshot)


def test_bytes_that_are_no_snapshot_are_refused() -> None:
    with pytest.raises(IncompatibleSnapshot, match="unreadable"):
        load_teams(CONFIG)(0, b"garbage")


def test_a_thread_partition_round_trips_with_its_threads() -> None:
    threads = ThreadPartition(CONFIG)
    post = event("q1", 0, "ann", "discussion.posted", thread="th", post="q1")
    threads.book.apply(post)
    reply = event("r1", 60, "bob", "discussion.replied", thread="th", post="r1", parent="q1")

    restored = load_threads(CONFIG)(0, dump_threads(CONFIG)(threads))

    assert len(restored.book) == 1 and restored.book.posts == 1
    assert restored.book.apply(reply) == threads.book.apply(reply)
