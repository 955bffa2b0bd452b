"""A team's event-time state: what it accepts, where events land, what it forgets."""

from __future__ import annotations

import pytest

from teampulse.contract.event import Event
from teampulse.gauges.config import (
    BaselineScoring,
    EvidenceMatcher,
    GaugeConfig,
    InitiativeConfig,
    ScoringConfig,
)
from teampulse.gauges.counts import WindowCounts
from teampulse.gauges.team_state import TeamState
from teampulse.gauges.threads import ReplyLink, ThreadSummary

T0 = 1_772_409_600.0  # 2026-03-02T00:00:00Z, a Monday
HOUR = 3600.0
DAY = 86_400.0
CONFIG = GaugeConfig()  # 1d/7d/28d, hourly buckets, 48 h lateness


def event(
    event_id: str,
    at: float,
    actor: str = "ann",
    kind: str = "learning.progressed",
    **fields: object,
) -> Event:
    return Event(
        id=event_id, type=kind, occurred_at=T0 + at, actor=actor, source="lms", team="alpha",
        **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def thread_summary(started: float, replies: int, version: int, first: float | None = None,
                   root: str = "p1", current: bool = True) -> ThreadSummary:  # fmt: skip
    return ThreadSummary(
        team="alpha", thread="th", root=root, started_at=T0 + started, replies=replies,
        replies_from_others=1 if first is not None else 0,
        first_reply_at=None if first is None else T0 + first, version=version, current=current,
    )  # fmt: skip


def test_a_first_event_is_accepted_and_sets_the_watermark() -> None:
    team = TeamState("alpha", CONFIG)

    assert team.apply_event(event("e1", 0)) == "accepted"
    assert team.watermark == T0


def test_the_same_event_id_twice_is_a_duplicate() -> None:
    team = TeamState("alpha", CONFIG)
    team.apply_event(event("e1", 0))

    assert team.apply_event(event("e1", 0)) == "duplicate"


def test_an_event_older_than_watermark_minus_lateness_is_late() -> None:
    team = TeamState("alpha", CONFIG)
    team.apply_event(event("e1", 50 * HOUR))

    assert team.apply_event(event("e2", 2 * HOUR - 1)) == "late"
    assert team.apply_event(event("e3", 2 * HOUR)) == "accepted"  # exactly 48 h: on time
    assert team.watermark == T0 + 50 * HOUR  # older events never move it back


def test_lateness_is_judged_per_input_stream() -> None:
    """A backfill read from partition 0 far ahead of partition 1 leaves partition 1 on time."""
    team = TeamState("alpha", CONFIG)
    assert team.apply_event(event("a1", 20 * DAY, origin="events:0")) == "accepted"

    assert team.apply_event(event("b1", 1 * DAY, origin="events:1")) == "accepted"
    assert team.apply_event(event("a2", 1 * DAY, origin="events:0")) == "late"
    assert team.apply_event(event("b2", 1 * DAY - 49 * HOUR, origin="events:1")) == "late"
    assert team.watermark == T0 + 20 * DAY


def test_a_stream_behind_the_retention_is_late_whatever_its_own_watermark() -> None:
    team = TeamState("alpha", CONFIG)
    team.apply_event(event("a1", 60 * DAY, origin="events:0"))

    assert team.apply_event(event("b1", 60 * DAY - CONFIG.retention_s - HOUR,
                                  origin="events:1")) == "stale"  # fmt: skip


def test_an_event_behind_the_retention_counts_for_adoption_only() -> None:
    practice = InitiativeConfig(
        id="agile", stages={"ability": (EvidenceMatcher(type=("adoption.practiced",)),)}
    )
    config = GaugeConfig(initiatives=(practice,))
    team = TeamState("alpha", config)
    team.apply_event(event("a1", 60 * DAY, origin="events:0"))
    practised = event(
        "b1", 60 * DAY - config.retention_s - HOUR, "eve", "adoption.practiced",
        practice="retro", initiative="agile", origin="events:1",
    )  # fmt: skip

    assert team.apply_event(practised) == "stale"

    counts = team.counts(T0 + 60 * DAY, members=5)
    assert counts.windows["28d"].active_members == 1  # ann; eve's bucket is gone
    assert counts.adoption["agile"] == (0, 0, 0, 1, 0)  # eve: ability


def test_an_id_is_remembered_while_the_slowest_stream_could_repeat_it_on_time() -> None:
    team = TeamState("alpha", CONFIG)
    team.apply_event(event("b1", 1 * DAY, origin="events:1"))
    team.apply_event(event("a1", 1 * DAY, origin="events:0"))
    team.apply_event(event("a2", 10 * DAY, origin="events:0"))  # events:0 runs far ahead

    # events:1 is still at day 1: a1 repeated there, at day 1, is on time, so a repeat
    assert team.apply_event(event("a1", 1 * DAY, origin="events:1")) == "duplicate"
    team.apply_event(event("b2", 4 * DAY, origin="events:1"))  # the slowest passes 48 h on
    assert team.apply_event(event("a1", 1 * DAY, origin="events:1")) == "late"


def test_a_late_redelivery_is_late_not_duplicate() -> None:
    team = TeamState("alpha", CONFIG)
    team.apply_event(event("e1", 0))
    team.apply_event(event("e2", 72 * HOUR))

    assert team.apply_event(event("e1", 0)) == "late"


def test_a_late_event_lands_in_the_bucket_it_belongs_to() -> None:
    team = TeamState("alpha", CONFIG)
    team.apply_event(event("e1", 30 * HOUR, duration_s=60.0))
    team.apply_event(event("e2", 2 * HOUR, duration_s=40.0))  # 28 h late, within 48 h

    counts = team.counts(T0 + 30.5 * HOUR, members=5)

    assert counts.windows["1d"].learning_ms == 60_000  # 1d as of 06:30 Tue: 07:00 Mon on
    assert counts.windows["7d"].learning_ms == 100_000


def test_events_after_as_of_are_outside_every_window() -> None:
    team = TeamState("alpha", CONFIG)
    team.apply_event(event("e1", 0))
    team.apply_event(event("e2", 2 * HOUR, actor="bob"))

    counts = team.counts(T0 + 1.5 * HOUR, members=5)

    assert counts.windows["1d"].active_members == 1


def test_counts_of_a_scripted_day() -> None:
    team = TeamState("alpha", CONFIG)
    script = [
        event("e1", 1 * HOUR, "ann", "learning.started", content="c1"),
        event("e2", 2 * HOUR, "ann", "learning.completed", content="c1", duration_s=1200.5),
        event("e3", 3 * HOUR, "bob", "learning.assessed", success=True, duration_s=300.0),
        event("e4", 4 * HOUR, "cem", "learning.assessed", success=False),
        event("e5", 5 * HOUR, "ann", "discussion.posted", thread="th", post="p1"),
        event("e6", 6 * HOUR, "bob", "discussion.replied", thread="th", post="r1", parent="p1"),
        event("e7", 7 * HOUR, "bob", "discussion.replied", thread="th", post="r2", parent="p1"),
        event("e8", 8 * HOUR, "dan", "discussion.reacted", thread="th", post="x1", parent="p1"),
        event("e9", 9 * HOUR, "eve", "adoption.practiced", practice="retro"),
    ]
    for e in script:
        team.apply_event(e)
    team.apply_fact(thread_summary(5 * HOUR, replies=2, version=3, first=6 * HOUR))
    for reply_id, at, replier, parent in [("r1", 6, "alpha", "alpha"), ("r2", 7, "beta", "alpha")]:
        team.apply_fact(ReplyLink("alpha", reply_id, replier, parent, T0 + at * HOUR))

    day = team.counts(T0 + 12 * HOUR, members=6).windows["1d"]

    assert day == WindowCounts(
        events=9,
        active_members=5,
        learning_ms=1_500_500,
        starts=1,
        completions=1,
        assessments_passed=1,
        posts=1,
        replies=2,
        reactions=1,
        threads_started=1,
        threads_replied=1,
        thread_replies=2,
        reply_interactions=2,
        cross_team_interactions=1,
        partners=(("beta", 0, 1),),  # beta's reply r2 answered alpha's post
        contributions=(1, 2),
        first_reply_latencies=(3600.0,),
    )


def test_a_newer_thread_summary_replaces_the_older_in_any_order() -> None:
    team = TeamState("alpha", CONFIG)
    team.apply_event(event("e1", 0, kind="discussion.posted", thread="th", post="p1"))
    newer = thread_summary(0, replies=3, version=4, first=600)
    older = thread_summary(0, replies=1, version=2, first=900)

    team.apply_fact(newer)
    team.apply_fact(older)
    team.apply_fact(newer)

    day = team.counts(T0 + HOUR, members=5).windows["1d"]
    assert (day.threads_started, day.thread_replies, day.first_reply_latencies) == (1, 3, (600.0,))


def test_a_retracted_root_no_longer_counts_as_a_thread() -> None:
    team = TeamState("alpha", CONFIG)
    team.apply_event(event("e1", 0))
    team.apply_fact(thread_summary(HOUR, replies=1, version=2, first=2 * HOUR, root="p2"))

    team.apply_fact(thread_summary(HOUR, replies=0, version=3, root="p2", current=False))

    assert team.counts(T0 + 3 * HOUR, members=5).windows["1d"].threads_started == 0


def test_facts_for_expired_buckets_are_ignored() -> None:
    team = TeamState("alpha", CONFIG)
    team.apply_event(event("e1", 40 * DAY))

    team.apply_fact(ReplyLink("alpha", "r1", "alpha", "beta", T0))  # 40 days back: expired
    team.apply_fact(ReplyLink("alpha", "r2", "alpha", "beta", T0 + 39 * DAY))

    counts = team.counts(T0 + 40 * DAY, members=5)
    assert counts.windows["28d"].reply_interactions == 1
    assert team.state_entries()["buckets"] == 2  # the bucket of e1 and of r2, none created for r1


def test_state_is_bounded_by_the_retention() -> None:
    team = TeamState("alpha", CONFIG)
    for hour in range(60 * 24):  # 60 days, one event an hour, read every 6 hours
        team.apply_event(event(f"e{hour}", hour * HOUR))
        if hour % 6 == 0:
            team.counts(T0 + hour * HOUR, members=5)

    # 37 days (the drop signal's reach, its 2-week span and 3 reference weeks, beyond the
    # baseline's 28 d 20 h and the 28 d window; + 2 d lateness) behind the watermark, which
    # sits at the start of the current hour, plus it.
    assert team.state_entries()["buckets"] == 37 * 24 + 1
    assert len(team._seen) == 48 + 1  # ids of the last 48 h only: older repeats are late
    assert len(team._changes) == 38  # the days those hours touch, no older
    assert len(team._days) <= 38


def test_state_entries_report_buckets_ids_and_adoption_records_within_the_horizons() -> None:
    team = TeamState("alpha", CONFIG)
    for hour in range(60 * 24):  # 60 days, one event an hour
        team.apply_event(event(f"e{hour}", hour * HOUR))

    assert team.state_entries() == {
        "buckets": CONFIG.retention_s // 3600 + 1,
        "event_ids": 48 + 1,
        "adoption_records": 0,  # learning.progressed without an initiative is no evidence
        "content_records": 0,  # ... and no start or completion of a content
    }


def test_counts_read_twice_with_an_event_between_see_the_event() -> None:
    team = TeamState("alpha", CONFIG)
    team.apply_event(event("e1", 10 * DAY))
    team.counts(T0 + 10 * DAY, members=5)  # fills the day caches

    team.apply_event(event("e2", 9 * DAY, actor="bob"))  # late, into a cached past day

    assert team.counts(T0 + 10 * DAY, members=5).windows["7d"].active_members == 2


# Daily samples, so that three days of events fill it (the default samples a week apart).
SHORT_BASELINE = GaugeConfig(
    scoring=ScoringConfig(baseline=BaselineScoring(window="1d", every="1d", samples=3))
)


def test_the_baseline_is_the_mean_score_of_the_window_one_two_and_three_periods_back() -> None:
    team = TeamState("alpha", SHORT_BASELINE)
    # Friday 1 of 4 members active, Saturday 2, Sunday 4, at 10:00; nothing else: the 1d
    # score as of 15:00 each day is participation x 0.40 = 0.1, 0.2, 0.4.
    for day, actors in [(-3, "a"), (-2, "ab"), (-1, "abcd")]:
        for actor in actors:
            team.apply_event(event(f"{day}{actor}", day * DAY + 10 * HOUR, actor=actor))

    baseline = team.baseline(T0 + 15 * HOUR, members=4)

    assert baseline == pytest.approx((0.1 + 0.2 + 0.4) / 3)


def test_silent_samples_are_left_out_of_the_baseline() -> None:
    team = TeamState("alpha", SHORT_BASELINE)
    team.apply_event(event("e1", -1 * DAY + 10 * HOUR, actor="a"))  # Sunday only

    assert team.baseline(T0 + 15 * HOUR, members=4) == pytest.approx(0.1)
    assert team.baseline(T0 + 15 * HOUR, members=0) is None  # no score without members


def test_an_event_late_into_a_sampled_window_changes_the_cached_baseline() -> None:
    team = TeamState("alpha", SHORT_BASELINE)
    team.apply_event(event("e1", -1 * DAY + 10 * HOUR, actor="a"))
    assert team.baseline(T0 + 15 * HOUR, members=4) == pytest.approx(0.1)

    team.apply_event(event("e2", -1 * DAY + 11 * HOUR, actor="b"))  # Sunday, arrives late

    assert team.baseline(T0 + 15 * HOUR, members=4) == pytest.approx(0.2)


def test_counts_carry_the_baseline_weighted_by_members() -> None:
    team = TeamState("alpha", SHORT_BASELINE)
    team.apply_event(event("e1", -1 * DAY + 10 * HOUR, actor="a"))
    team.apply_event(event("e2", 10 * HOUR, actor="b"))
    team.apply_event(event("e3", 11 * HOUR, actor="c"))

    counts = team.counts(T0 + 15 * HOUR, members=4)

    assert counts.baseline_members == 4
    assert counts.baseline_sum == pytest.approx(4 * 0.1)
    assert counts.current_sum == pytest.approx(4 * 0.2)  # b and c, active in the last 24 h


# --- erasure -------------------------------------------------------------------------------
def scripted_day(team: TeamState) -> None:
    for e in [
        event("e1", 1 * HOUR, "ann", "learning.started", content="c1"),
        event("e2", 2 * HOUR, "ann", "learning.completed", content="c1", duration_s=1200.5),
        event("e3", 3 * HOUR, "bob", "learning.assessed", success=True, duration_s=300.0),
        event("e4", 3 * HOUR, "ann", "learning.assessed", success=True, duration_s=100.0),
        event("e5", 5 * HOUR, "ann", "discussion.posted", thread="th", post="p1"),
        event("e6", 6 * HOUR, "bob", "discussion.replied", thread="th", post="r1", parent="p1"),
        event("e7", 6 * HOUR, "ann", "discussion.replied", thread="th", post="r2", parent="r1"),
        event("e8", 8 * HOUR, "ann", "discussion.reacted", thread="th", post="x1", parent="r1"),
        event("e9", 8 * HOUR, "cem", "discussion.reacted", thread="th", post="x2", parent="r1"),
    ]:
        team.apply_event(e)


def test_forgetting_a_person_removes_exactly_their_part_of_every_count() -> None:
    team = TeamState("alpha", CONFIG)
    scripted_day(team)

    assert team.forget({"ann"}) is True

    day = team.counts(T0 + 12 * HOUR, members=6).windows["1d"]
    assert day == WindowCounts(
        events=3,  # bob e3 and e6, cem e9
        active_members=2,  # bob, cem
        learning_ms=300_000,
        starts=0,
        completions=0,
        assessments_passed=1,
        posts=0,
        replies=1,
        reactions=1,
        contributions=(1,),
    )


def test_forgetting_a_person_read_before_updates_the_cached_aggregates() -> None:
    team = TeamState("alpha", CONFIG)
    scripted_day(team)
    before = team.counts(T0 + 2 * DAY, members=6)  # fills the day caches and the baseline
    assert before.windows["7d"].active_members == 3

    team.forget({"ann"})

    after = team.counts(T0 + 2 * DAY, members=6).windows["7d"]
    assert (after.active_members, after.learning_ms, after.contributions) == (2, 300_000, (1,))


def test_forgetting_a_person_forgets_their_event_ids_and_keeps_the_others() -> None:
    team = TeamState("alpha", CONFIG)
    scripted_day(team)

    team.forget({"ann"})

    # The stages drop an erased person's events before they get here; what is left of the
    # dedupe memory is everybody else's.
    assert team.apply_event(event("e1", 1 * HOUR, "ann", "learning.started")) == "accepted"
    assert team.apply_event(event("e3", 3 * HOUR, "bob", "learning.assessed")) == "duplicate"


def test_forgetting_someone_the_team_never_saw_changes_nothing() -> None:
    team = TeamState("alpha", CONFIG)
    scripted_day(team)
    before = team.counts(T0 + 12 * HOUR, members=6)

    assert team.forget({"zoe"}) is False
    assert team.counts(T0 + 12 * HOUR, members=6) == before


def test_a_removed_reply_link_stays_removed_whatever_arrives_after() -> None:
    team = TeamState("alpha", CONFIG)
    link = ReplyLink("alpha", "r1", "alpha", "beta", T0 + HOUR)
    team.apply_fact(ReplyLink("alpha", "r2", "alpha", "alpha", T0 + HOUR))
    team.apply_fact(link)

    team.apply_fact(ReplyLink("alpha", "r1", "alpha", "beta", T0 + HOUR, removed=True))
    team.apply_fact(link)  # a stale copy, delivered again

    day = team.counts(T0 + 2 * HOUR, members=5).windows["1d"]
    assert (day.reply_interactions, day.cross_team_interactions) == (1, 0)


def test_the_ids_of_a_new_streams_old_events_are_forgotten_once_every_stream_passed_them() -> None:
    team = TeamState("alpha", CONFIG)
    team.apply_event(event("a1", 10 * DAY, origin="events:0"))
    # A stream seen for the first time is never late: its event lands behind the ids' horizon.
    assert team.apply_event(event("b1", 5 * DAY, origin="events:1")) == "accepted"
    team.apply_event(event("b2", 10 * DAY, origin="events:1"))  # the slowest stream catches up
    team.apply_event(event("a2", 10 * DAY + 2 * HOUR, origin="events:0"))
    team.apply_event(event("b3", 10 * DAY + 2 * HOUR, origin="events:1"))  # both passed an hour

    assert team.state_entries()["event_ids"] == 4  # a1, b2, a2, b3: b1 is older than 48 h


def test_learning_time_past_32_bits_in_one_bucket_stays_exact() -> None:
    # Two month-long learning records of one person in one hour: 5,356,800,000 ms.
    team = TeamState("alpha", CONFIG)
    team.apply_event(event("e1", 60, duration_s=31 * 86400.0))
    team.apply_event(event("e2", 120, duration_s=31 * 86400.0))
    team.apply_event(event("e3", 180, duration_s=1.5))

    counts = team.counts(T0 + HOUR, members=5)

    assert counts.windows["1d"].learning_ms == 5_356_801_500
    assert counts.windows["1d"].events == 3
