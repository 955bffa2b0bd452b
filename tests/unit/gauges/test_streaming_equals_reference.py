"""The streaming state (TeamState + ThreadBook, facts routed back) equals the reference model.

Hypothesis draws small organisations and event histories with everything the stream meets in
practice: duplicates, out-of-order arrival, events later than the lateness, replies that
arrive before their parents or cross teams, threads whose root changes, reused post ids,
events without a team resolved from a roster that changes as they arrive, and thread facts
delivered late, out of order, twice, and stale copies of old versions after newer ones.
After the stream is drained, every team's counts and the whole published snapshot must be
exactly (==, not approximately) the reference model's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teampulse.contract.event import Event
from teampulse.contract.roster import RosterEntry
from teampulse.enrichment.roster import Roster, resolve_team
from teampulse.gauges.config import (
    BaselineScoring,
    ContentScoring,
    EvidenceMatcher,
    GaugeConfig,
    InitiativeConfig,
    Reinforcement,
    ScoringConfig,
)
from teampulse.gauges.counts import TeamCounts
from teampulse.gauges.snapshot import org_snapshot
from teampulse.gauges.team_state import TeamState
from teampulse.gauges.threads import ThreadBook, ThreadFact, fact_from_wire
from teampulse.reference import reference_counts

HOUR = 3600.0
DAY = 86400.0
T0 = 1_772_409_600.0  # 2026-03-02T00:00:00Z, a Monday

INITIATIVE = InitiativeConfig(
    id="agile",
    stages={
        "awareness": (EvidenceMatcher(type=("learning.started",), content=("agile-intro",)),),
        "desire": (EvidenceMatcher(type=("learning.started",)),),  # needs the tag
        "knowledge": (
            EvidenceMatcher(type=("learning.assessed",), success=True),
            EvidenceMatcher(type=("learning.completed",), content_prefix="agile-"),
        ),
        "ability": (EvidenceMatcher(type=("adoption.practiced",), practices=("retro",)),),
    },
    reinforcement=Reinforcement(practice_weeks=2, reply_channels=("agile-help",)),
)
# Small windows and a short baseline (daily samples), so a few days of history exercise every
# rule, including bucket expiry (retention = 4 days + 6 h of lateness).
CONFIG = GaugeConfig(
    windows={"6h": 6 * 3600, "1d": 86400, "3d": 3 * 86400},
    bucket_s=3600,
    lateness_s=6 * 3600,
    min_group_size=2,
    scoring=ScoringConfig(
        baseline=BaselineScoring(window="1d", every="1d", samples=3),
        # content gauges over two windows, spans short enough for a few days of history
        content=ContentScoring(
            windows=("1d", "3d"), practice_within=("6h", "1d"), conversation_within="12h"
        ),
    ),
    initiatives=(INITIATIVE,),
)

TEAMS = ("alpha", "beta", "gamma")
PATHS = {"alpha": ("dev", "tech"), "beta": ("dev", "tech"), "gamma": ("ops", "corp")}
TYPES = (
    "learning.started",
    "learning.progressed",
    "learning.completed",
    "learning.assessed",
    "discussion.posted",
    "discussion.replied",
    "discussion.replied",
    "discussion.reacted",
    "adoption.practiced",
)


@dataclass
class History:
    arrivals: list[Event | RosterEntry]  # events (team possibly None) and roster updates
    initial_roster: list[RosterEntry]
    as_of: float
    rng: random.Random


@st.composite
def histories(draw: st.DrawFn) -> History:
    people = [f"p{i}" for i in range(draw(st.integers(2, 9)))]
    initial = [
        RosterEntry(p, team, *PATHS[team], active=draw(st.booleans()) or i % 3 != 0)
        for i, p in enumerate(people)
        for team in [draw(st.sampled_from(TEAMS))]
    ]
    span_h = draw(st.sampled_from([6, 30, 80, 130, 160]))  # up to ~6.7 days of event time
    n = draw(st.integers(1, 45))
    rng = random.Random(draw(st.integers(0, 2**32)))
    events: list[tuple[float, Event]] = []  # (arrival key, event)
    posts_by_thread: dict[str, list[str]] = {}
    for i in range(n):
        kind = rng.choice(TYPES)
        actor = rng.choice(people)
        occurred = T0 + round(rng.uniform(0, span_h) * 4) / 4 * HOUR + rng.choice([0, 1, 59])
        team = rng.choice([None, None, "elsewhere", *TEAMS]) if rng.random() < 0.3 else None
        fields: dict[str, object] = {}
        if kind.startswith("discussion."):
            thread = rng.choice(["th0", "th1", "th2", "th3"])
            known = posts_by_thread.setdefault(thread, [])
            post = rng.choice(known) if known and rng.random() < 0.05 else f"post{i}"
            fields = {"thread": thread, "post": post, "channel": rng.choice(["agile-help", "x"])}
            if rng.random() < 0.2:  # a thread tagged with its course by the connector
                fields["content"] = rng.choice(["agile-course", "other"])
            if kind != "discussion.posted":
                fields["parent"] = rng.choice(known) if known and rng.random() < 0.9 else "gone"
            if kind == "discussion.replied" and known and rng.random() < 0.2:
                occurred -= rng.choice([HOUR, 5 * 60])  # written "before" its parent: skew
            known.append(post)
        elif kind.startswith("learning."):
            fields = {
                "content": rng.choice(["agile-intro", "agile-course", "other"]),
                "duration_s": rng.choice([None, 30.0, 61.5, 0.001, 900.25]),
                "success": rng.choice([None, True, False]),
            }
        else:
            fields = {"practice": rng.choice(["retro", "standup"])}
        tags = ("agile",) if rng.random() < 0.5 else ()
        event = Event(
            id=f"e{i}",
            type=kind,
            occurred_at=occurred,
            actor=actor,
            source="test",
            team=team,
            tags=tags,
            # input streams: lateness is judged per stream, so several make it per-stream
            origin=rng.choice([None, "events:0", "events:1", "xapi:0"]),
            **fields,  # type: ignore[arg-type]
        )
        # Arrival: mostly in time order with jitter; some very late, some early.
        delay = rng.choice([0.0, 0.0, 0.0, 0.5, 3.0, 8.0, 30.0]) * HOUR * rng.random()
        events.append((occurred + delay, event))
        if rng.random() < 0.15:  # a redelivery, identical, at another moment
            events.append((occurred + delay + rng.uniform(0, 20) * HOUR, event))
    arrivals: list[tuple[float, Event | RosterEntry]] = list(events)
    for _ in range(draw(st.integers(0, 3))):  # roster changes as events flow
        person = rng.choice(people)
        team = rng.choice(TEAMS)
        at = T0 + rng.uniform(0, span_h) * HOUR
        arrivals.append((at, RosterEntry(person, team, *PATHS[team], active=rng.random() < 0.8)))
    arrivals.sort(key=lambda item: item[0])
    max_time = max(e.occurred_at for _, e in events)
    as_of = max_time + rng.choice([-3 * HOUR, -60.0, 0.0, 1.0, 5 * HOUR, DAY])
    return History([a for _, a in arrivals], initial, as_of, rng)


def resolve(event: Event, roster: Roster) -> Event:
    """What the ingest stage does before the gauges see an event."""
    return event.with_team(resolve_team(event.team, event.actor, roster))


def stream(history: History) -> tuple[dict[str, TeamCounts], list[Event], Roster]:
    """Run the history through the streaming core the way the topology does."""
    rng = history.rng
    roster = Roster(history.initial_roster)
    states: dict[str, TeamState] = {}
    books = [ThreadBook(CONFIG), ThreadBook(CONFIG)]  # two partitions, keyed by thread
    pending: list[ThreadFact] = []
    emitted: list[ThreadFact] = []
    ingested: list[Event] = []

    def state(team: str) -> TeamState:
        return states.setdefault(team, TeamState(team, CONFIG))

    def deliver(count: int) -> None:
        for _ in range(min(count, len(pending))):
            fact = pending.pop(rng.randrange(len(pending)))
            state(fact.team).apply_fact(fact_from_wire(orjson.loads(orjson.dumps(fact.to_wire()))))
            if rng.random() < 0.1:
                pending.append(fact)  # delivered again later

    for item in history.arrivals:
        if isinstance(item, RosterEntry):
            roster.apply(item)
            continue
        event = resolve(item, roster)
        ingested.append(event)
        if state(str(event.team)).apply_event(event) == "accepted":
            thread = event.thread or ""
            facts = books[hash(thread) % 2].apply(event)
            pending.extend(facts)
            emitted.extend(facts)
        deliver(rng.randrange(3))
        if rng.random() < 0.4:  # the exporter reads counts as the stream flows (fills caches)
            team = rng.choice(sorted(states))
            states[team].counts(
                event.occurred_at + rng.uniform(-1, 2) * HOUR, roster.team_size(team)
            )
    while pending:  # drain: redelivered facts may queue up again
        deliver(len(pending))
    for fact in rng.sample(emitted, k=min(len(emitted), 5)):  # stale versions, after the new
        state(fact.team).apply_fact(fact)
    counts = {team: s.counts(history.as_of, roster.team_size(team)) for team, s in states.items()}
    return counts, ingested, roster


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_streaming_counts_and_snapshots_equal_the_reference_model(history: History) -> None:
    streamed, ingested, roster = stream(history)

    expected = reference_counts(ingested, roster, CONFIG, history.as_of)

    assert sorted(streamed) == sorted(expected)
    for team, counts in expected.items():
        for label, window in counts.windows.items():
            assert streamed[team].windows[label] == window, (team, label)
        assert streamed[team] == counts, team
    assert org_snapshot(streamed, roster, CONFIG, history.as_of) == org_snapshot(
        expected, roster, CONFIG, history.as_of
    )


@settings(max_examples=100, deadline=None)
@given(histories())
def test_counts_survive_the_wire_to_the_rollup_owner(history: History) -> None:
    streamed, _, _ = stream(history)

    for counts in streamed.values():
        assert TeamCounts.from_wire(counts.to_wire()) == counts
