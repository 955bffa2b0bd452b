"""One partition's state of each stage: what it applies, what it marks changed, and that a
replay of its log rebuilds it exactly."""

from __future__ import annotations

import orjson
import pytest

from teampulse.contract.event import Event
from teampulse.engine.state_store import frame_ops
from teampulse.gauges.config import GaugeConfig
from teampulse.gauges.counts import TeamCounts
from teampulse.gauges.threads import ThreadBook, ThreadSummary
from teampulse.streams.partitions import (
    RollupInputs,
    TeamPartition,
    ThreadPartition,
    event_op,
    fact_op,
)

T0 = 1_772_409_600.0  # 2026-03-02T00:00:00Z
HOUR = 3600.0
CONFIG = GaugeConfig()


def event(event_id: str, at: float, team: str = "alpha", actor: str = "ann", **fields) -> Event:
    fields.setdefault("type", "learning.progressed")
    return Event(id=event_id, occurred_at=T0 + at, actor=actor, source="lms", team=team, **fields)


def summary(team: str = "alpha", replies: int = 1, version: int = 1) -> ThreadSummary:
    return ThreadSummary(
        team=team, thread="th", root="p1", started_at=T0, replies=replies,
        replies_from_others=replies, first_reply_at=T0 + 60, version=version, current=True,
    )  # fmt: skip


def wire(item: Event | ThreadSummary) -> bytes:
    return orjson.dumps(item.to_wire())


def test_an_accepted_event_marks_its_team_changed() -> None:
    partition = TeamPartition(CONFIG)

    assert partition.apply_event(event("e1", 0)) == "accepted"
    assert partition.changed == {"alpha"}


def test_a_duplicate_event_does_not_mark_its_team_changed() -> None:
    partition = TeamPartition(CONFIG)
    partition.apply_event(event("e1", 0))
    partition.changed.clear()

    assert partition.apply_event(event("e1", 0)) == "duplicate"
    assert partition.changed == set()


def test_a_thread_fact_marks_its_team_changed() -> None:
    partition = TeamPartition(CONFIG)

    partition.apply_fact(summary(team="beta"))

    assert partition.changed == {"beta"}
    assert set(partition.teams) == {"beta"}


def test_replaying_the_framed_log_rebuilds_the_same_counts() -> None:
    live = TeamPartition(CONFIG)
    ops = []
    for n in range(30):
        item = event(f"e{n}", n * HOUR, team="alpha" if n % 3 else "beta", actor=f"p{n % 7}")
        live.apply_event(item)
        ops.append(event_op(wire(item)))
    fact = summary(replies=2, version=2)
    live.apply_fact(fact)
    ops.append(fact_op(wire(fact)))

    restored = TeamPartition(CONFIG)
    for record in frame_ops(ops):
        restored.replay(record)

    now = T0 + 40 * HOUR
    assert set(restored.teams) == {"alpha", "beta"}
    for team in ("alpha", "beta"):
        assert restored.teams[team].counts(now, 10) == live.teams[team].counts(now, 10)


def test_replaying_a_log_twice_counts_every_event_once() -> None:
    ops = [event_op(wire(event(f"e{n}", n * HOUR))) for n in range(5)]
    once, twice = TeamPartition(CONFIG), TeamPartition(CONFIG)
    for record in frame_ops(ops):
        once.replay(record)
        twice.replay(record)
        twice.replay(record)

    now = T0 + 5 * HOUR
    assert twice.teams["alpha"].counts(now, 5) == once.teams["alpha"].counts(now, 5)


def test_the_thread_partition_replays_posts_into_its_book() -> None:
    post = event("p1", 0, type="discussion.posted", thread="th", post="p1")
    reply = event(
        "r1", HOUR, team="beta", actor="bob", type="discussion.replied",
        thread="th", post="r1", parent="p1",
    )  # fmt: skip
    live = ThreadBook(CONFIG)
    live.apply(post)
    expected = live.apply(reply)
    restored = ThreadPartition(CONFIG)

    restored.replay(orjson.dumps([post.to_wire(), reply.to_wire()]))

    assert len(restored.book) == 1
    assert restored.book.apply(reply) == expected  # facts are absolute: a repeat restates them


def counts_record(team: str, counts: TeamCounts, as_of: float, seq: int | None) -> bytes:
    message = {"team": team, "as_of": as_of, "counts": counts.to_wire()}
    if seq is not None:
        message["seq"] = seq
    return orjson.dumps(message)


def test_rollup_inputs_keep_the_newest_counts_of_each_team() -> None:
    inputs = RollupInputs()
    newer = TeamCounts.empty(CONFIG, members=7)
    older = TeamCounts.empty(CONFIG, members=3)

    inputs.apply(counts_record("alpha", newer, 20.0, seq=5))
    inputs.apply(counts_record("alpha", older, 10.0, seq=5))

    assert inputs.counts == {"alpha": newer}
    assert inputs.version == {"alpha": (5, 20.0)}
    assert inputs.changed is True


def test_a_replay_leaves_out_the_events_of_erased_people() -> None:
    ops = [event_op(wire(event(f"e{n}", n * HOUR, actor=("ann", "bob")[n % 2]))) for n in range(6)]
    restored = TeamPartition(CONFIG)
    for record in frame_ops(ops):
        restored.replay(record, erased={"ann"})

    window = restored.teams["alpha"].counts(T0 + 6 * HOUR, 5).windows["1d"]
    assert window.active_members == 1  # bob alone


def test_forgetting_marks_only_the_teams_that_held_the_person_changed() -> None:
    partition = TeamPartition(CONFIG)
    partition.apply_event(event("e1", 0, team="alpha", actor="ann"))
    partition.apply_event(event("e2", 0, team="beta", actor="bob"))
    partition.changed.clear()

    partition.forget({"ann"})

    assert partition.changed == {"alpha"}


@pytest.mark.parametrize("arrival", ["further state first", "further state last"])
def test_rollup_inputs_at_one_instant_keep_the_further_state_whatever_the_arrival_order(
    arrival: str,
) -> None:
    # Under a frozen clock every record has the same as_of; around a rebalance the old and
    # the new owner of a team's partition both publish it, in either order.
    further = TeamCounts.empty(CONFIG, members=7)
    behind = TeamCounts.empty(CONFIG, members=3)
    records = [
        counts_record("alpha", further, 10.0, seq=12),
        counts_record("alpha", behind, 10.0, seq=4),
    ]
    inputs = RollupInputs()

    for record in records if arrival == "further state first" else records[::-1]:
        inputs.apply(record)

    assert inputs.counts == {"alpha": further}


def test_rollup_inputs_rank_a_record_without_seq_below_one_with_it() -> None:
    inputs = RollupInputs()
    current = TeamCounts.empty(CONFIG, members=7)

    inputs.apply(counts_record("alpha", current, 10.0, seq=0))
    inputs.apply(counts_record("alpha", TeamCounts.empty(CONFIG, members=3), 30.0, seq=None))

    assert inputs.counts == {"alpha": current}
