"""A team read often (the export reads it after every batch, its caches and the day
aggregates that events add to kept between reads) gives exactly what the
same operations give when every aggregate is computed from the rows at the read: a fresh
state, its caches emptied, each window merged bucket range by bucket range, day by day.

Hypothesis draws batches of events and thread facts over weeks (so whole-day spans of each
size, bucket and day expiry and late events all occur), reads between batches at instants that
move forward by up to days (window slides), and erasures of a person between batches.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teampulse.contract.event import Event
from teampulse.gauges.config import GaugeConfig
from teampulse.gauges.counts import TeamCounts
from teampulse.gauges.team_state import TeamState, _Tally
from teampulse.gauges.threads import ReplyLink, ThreadSummary

T0 = 1_772_409_600.0  # 2026-03-02T00:00:00Z, a Monday
HOUR = 3600.0
DAY = 86_400.0
CONFIG = GaugeConfig()  # 1d/7d/28d, hourly buckets, 48 h lateness, weekly baseline samples
PEOPLE = ("ann", "bob", "cyd", "dee", "eve")
KINDS = ("learning.progressed", "learning.completed", "discussion.posted", "discussion.replied")


class FromRows(TeamState):
    """Every read from the rows: no cache survives a read, no day span is taken whole."""

    def counts(self, as_of: float, members: int) -> TeamCounts:
        self._days.clear()
        self._hours.clear()
        self._pieces = {}
        self._baseline = None
        self._reference = None
        return super().counts(as_of, members)

    def _span(self, first: int, last: int, used: object) -> _Tally:
        return self._aggregate(first, last)

    def _block(self, first_day: int, last_day: int, used: object) -> _Tally:
        tally = _Tally()
        for day in range(first_day, last_day + 1):
            first = day * self._per_day
            tally.add(self._aggregate(first, first + self._per_day - 1))
        return tally


@dataclass(frozen=True)
class Forget:
    person: str


Operation = Event | ThreadSummary | ReplyLink | Forget


@st.composite
def batches(draw: st.DrawFn) -> list[tuple[list[Operation], float]]:
    """Batches of operations, each with the instant the export reads the team at after it."""
    drawn: list[tuple[list[Operation], float]] = []
    clock = draw(st.floats(0, 3 * DAY))
    serial = 0
    for _ in range(draw(st.integers(1, 8))):
        batch: list[Operation] = []
        clock += draw(st.sampled_from((0.0, HOUR, 7 * HOUR, DAY, 4 * DAY, 9 * DAY)))
        for _ in range(draw(st.integers(0, 12))):
            serial += 1
            at = T0 + clock - draw(st.floats(0, 60 * HOUR))  # some later than the lateness
            choice = draw(st.integers(0, 9))
            if choice < 7:
                kind = draw(st.sampled_from(KINDS))
                batch.append(
                    Event(
                        id=f"e{serial % 40}",  # ids repeat: duplicates, and ids reused later
                        type=kind,
                        occurred_at=at,
                        actor=draw(st.sampled_from(PEOPLE)),
                        source="lms",
                        team="alpha",
                        duration_s=60.0 if kind == "learning.completed" else None,
                    )  # fmt: skip
                )
            elif choice < 9:
                first = draw(st.none() | st.floats(0, 20 * HOUR))
                batch.append(
                    ThreadSummary(
                        team="alpha",
                        thread=f"th{serial % 6}",
                        root=f"p{serial % 6}",
                        started_at=at,
                        replies=draw(st.integers(0, 4)),
                        replies_from_others=0 if first is None else 1,
                        first_reply_at=None if first is None else at + first,
                        version=serial,
                        current=draw(st.booleans()),
                        first_cross_reply_at=None if first is None else at + 2 * first,
                    )  # fmt: skip
                )
            else:
                batch.append(
                    ReplyLink(
                        "alpha",
                        f"r{serial % 9}",
                        "alpha",
                        draw(st.sampled_from(("alpha", "beta"))),
                        at,
                        removed=draw(st.booleans()),
                    )  # fmt: skip
                )
        if draw(st.integers(0, 4)) == 0:
            batch.append(Forget(draw(st.sampled_from(PEOPLE))))
        drawn.append((batch, T0 + clock + draw(st.floats(0, 2 * HOUR))))
    return drawn


def run(team: TeamState, operations: list[Operation]) -> None:
    for operation in operations:
        if isinstance(operation, Forget):
            team.forget({operation.person})
        elif isinstance(operation, Event):
            team.apply_event(operation)
        else:
            team.apply_fact(operation)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_a_team_read_after_every_batch_equals_one_read_from_its_rows(
    drawn: list[tuple[list[Operation], float]],
) -> None:
    read_often = TeamState("alpha", CONFIG)
    history: list[Operation] = []
    for batch, as_of in drawn:
        run(read_often, batch)
        history.extend(batch)
        from_rows = FromRows("alpha", CONFIG)
        run(from_rows, history)

        assert read_often.counts(as_of, 6) == from_rows.counts(as_of, 6)
