"""The drop signal the stream publishes equals the reference model's, over histories long
enough to judge (5+ weeks), with events arriving out of order, repeated and too late.

Hypothesis draws a few teams with weeks of hourly activity (some dropping, some going
quiet with the whole organisation on one day), shuffles the arrival locally, repeats some
events, and reads both models at an instant inside the last day. Counts (the activity
arrays) and the whole published snapshot, drop states included, must be exactly equal.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teampulse.contract.event import Event
from teampulse.contract.roster import RosterEntry
from teampulse.enrichment.roster import Roster
from teampulse.gauges.config import DropSignalScoring, GaugeConfig, ScoringConfig
from teampulse.gauges.snapshot import org_snapshot
from teampulse.gauges.team_state import TeamState
from teampulse.reference import reference_counts

HOUR = 3600.0
DAY = 86400.0
T0 = 1_772_409_600.0  # 2026-03-02T00:00:00Z, a Monday
CONFIG = GaugeConfig(
    windows={"1d": 86400, "7d": 7 * 86400},
    lateness_s=12 * 3600,
    min_group_size=3,
    scoring=ScoringConfig(drop_signal=DropSignalScoring(min_expected_per_working_day=2)),
)
TEAMS = ("alpha", "beta", "gamma")


def _roster(size: int) -> Roster:
    roster = Roster()
    for team in TEAMS:
        for i in range(size):
            roster.apply(
                RosterEntry(person=f"{team}-p{i}", team=team, department="d", division="v")
            )
    return roster


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Event], float, int]:
    seed = draw(st.integers(0, 10**6))
    days = draw(st.integers(30, 44))
    size = draw(st.integers(3, 6))
    drop_day = draw(st.integers(20, days))
    holiday = draw(st.integers(20, days))
    rng = random.Random(seed)
    events = []
    for team in TEAMS:
        rate = rng.choice([0.5, 1.5, 3.0])
        for day in range(days):
            if day % 7 >= 5 and rng.random() < 0.8:
                continue
            scale = 0.3 if (team == "alpha" and day >= drop_day) or day == holiday else 1.0
            for person in range(size):
                for _ in range(int(rng.expovariate(1 / (rate * scale)))):
                    at = T0 + day * DAY + rng.randrange(8, 18) * HOUR + rng.random() * HOUR
                    events.append(
                        Event(
                            id=f"{team}-{day}-{person}-{len(events)}",
                            type="discussion.reacted",
                            occurred_at=at,
                            actor=f"{team}-p{person}",
                            source="test",
                            team=team,
                        )
                    )
    events.sort(key=lambda e: e.occurred_at)
    arrived = []
    for event in events:  # local disorder, repeats, a few far too late
        arrived.append(event)
        if rng.random() < 0.05:
            arrived.append(event)
    for i in range(len(arrived) - 1):
        if rng.random() < 0.3:
            arrived[i], arrived[i + 1] = arrived[i + 1], arrived[i]
    for _ in range(min(5, len(arrived))):
        late = arrived.pop(rng.randrange(len(arrived) // 2))
        arrived.append(late)
    as_of = T0 + (days - 1) * DAY + rng.choice([9.5, 13.25, 23.9]) * HOUR
    return arrived, as_of, size


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_the_streamed_drop_signal_equals_the_reference(
    history: tuple[list[Event], float, int],
) -> None:
    events, as_of, size = history
    roster = _roster(size)
    states: dict[str, TeamState] = {}
    for event in events:
        team = str(event.team)
        states.setdefault(team, TeamState(team, CONFIG)).apply_event(event)
    streamed = {team: s.counts(as_of, size) for team, s in states.items()}
    expected = reference_counts(events, roster, CONFIG, as_of)

    for team in expected:
        assert streamed[team].activity == expected[team].activity, team
    ours = org_snapshot(streamed, roster, CONFIG, as_of)
    theirs = org_snapshot(expected, roster, CONFIG, as_of)
    assert ours == theirs
    assert {s.drop_signal for s in ours.teams.values()} <= {
        "ok",
        "watch",
        "drop",
        "insufficient_activity",
    }
