"""A plain counter is one declaration: everything else follows from `EVENT_COUNTERS`.

Adding a counter touches its declaration, its `WindowCounts` field and its line in the docs;
these tests fail when anything else would need a hand edit.
"""

from __future__ import annotations

from dataclasses import fields

from teampulse.contract.event import (
    ASSESSED,
    COMPLETED,
    EVENT_TYPES,
    POSTED,
    PRACTICED,
    REACTED,
    STARTED,
    Event,
)
from teampulse.enrichment.roster import Roster
from teampulse.gauges import catalog
from teampulse.gauges.config import GaugeConfig
from teampulse.gauges.counters import EVENT_COUNTERS, column_of, increments_by_type
from teampulse.gauges.counts import ADDITIVE, TeamCounts, WindowCounts
from teampulse.gauges.snapshot import BaselineSums, baseline_sums, window_gauges
from teampulse.gauges.team_state import TeamState
from teampulse.reference import reference_counts

MONDAY = 1_772_409_600.0  # 2026-03-02T00:00:00Z


def event(n: int, kind: str, **extra: object) -> Event:
    return Event(
        id=f"e{n}", type=kind, occurred_at=MONDAY + n * 60, actor=f"p{n % 3}", source="lms",
        team="alpha", **extra,  # type: ignore[arg-type]
    )  # fmt: skip


EVENTS = [
    event(1, STARTED, duration_s=1.5),
    event(2, COMPLETED, duration_s=2.25),
    event(3, ASSESSED, success=True),
    event(4, ASSESSED, success=False),
    event(5, POSTED),
    event(6, REACTED),
    event(7, REACTED),
    event(8, PRACTICED),
]
EXPECTED = {
    "events": 8, "learning_ms": 3750, "starts": 1, "completions": 1, "assessments_passed": 1,
    "posts": 1, "replies": 0, "reactions": 2,
}  # fmt: skip


def test_every_counter_is_an_additive_window_field() -> None:
    names = [c.name for c in EVENT_COUNTERS]
    window_fields = [f.name for f in fields(WindowCounts)]

    assert len(set(names)) == len(names)
    assert set(names) <= set(window_fields)
    assert ADDITIVE[: len(names)] == tuple(names)


def test_every_published_counter_is_in_the_catalog_with_its_help_text() -> None:
    for counter in EVENT_COUNTERS:
        if counter.gauge is None:
            continue
        gauge = catalog.GAUGES[counter.gauge]
        assert (gauge.help, gauge.unit, gauge.windowed, gauge.kind) == (
            counter.help, counter.unit, True, "count",
        )  # fmt: skip


def test_the_columns_are_the_declaration_order_and_every_type_has_its_increments() -> None:
    plan = increments_by_type()

    assert [column_of(c.name) for c in EVENT_COUNTERS] == list(range(len(EVENT_COUNTERS)))
    assert set(plan) == set(EVENT_TYPES)
    assert [column for column, _ in plan[REACTED]] == [column_of("events"), column_of("reactions")]


def test_the_stream_and_the_reference_count_every_declared_counter_alike() -> None:
    config = GaugeConfig()
    state = TeamState("alpha", config)
    for e in EVENTS:
        state.apply_event(e)
    as_of = MONDAY + 3600
    streamed = state.counts(as_of, 3).windows["7d"]
    referenced = reference_counts(EVENTS, Roster(), config, as_of)["alpha"].windows["7d"]

    for counter in EVENT_COUNTERS:
        assert getattr(streamed, counter.name) == EXPECTED[counter.name], counter.name
        assert getattr(referenced, counter.name) == EXPECTED[counter.name], counter.name


def test_published_counters_are_scaled_once() -> None:
    gauges = window_gauges(WindowCounts(learning_ms=3750, reactions=2), 3, 7 * 86400, GaugeConfig())

    assert gauges["learning_seconds"] == 3.75
    assert gauges["reactions"] == 2


def test_baseline_sums_are_member_weighted_and_zero_without_a_baseline() -> None:
    config = GaugeConfig()
    busy = WindowCounts(events=9, active_members=2, posts=3, replies=2, contributions=(2, 3))

    assert baseline_sums(None, 40.0, lambda: busy, 4, config) == BaselineSums()
    sums = baseline_sums(0.5, 40.0, lambda: busy, 4, config)
    assert (sums.baseline_members, sums.baseline_sum, sums.baseline_events) == (4, 2.0, 40.0)
    assert sums.current_sum > 0
    assert TeamCounts(members=4, **sums._asdict()).baseline_sum == 2.0
