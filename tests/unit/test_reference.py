"""The reference model on a scripted morning of three teams, and `teampulse replay`.

atlas is highly engaged (everyone active, learns, answers quickly, helps another team);
borealis is quiet (one question, answered by atlas two hours later); comet talks only to
itself. delta (3) and echo (2, silent) are too small to publish; together they are the five
people their department holds beyond comet, so the department is published.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import orjson
import pytest

from teampulse.contract.event import Event
from teampulse.contract.roster import RosterEntry
from teampulse.enrichment.roster import Roster
from teampulse.gauges.config import load_gauge_config
from teampulse.reference import admit, reference_snapshot
from teampulse.reference.replay import print_snapshot, replay_file, write_snapshot
from teampulse.settings import load_settings

MONDAY = 1_772_409_600.0  # 2026-03-02T00:00:00Z
HOUR = 3600.0
AS_OF = MONDAY + 12 * HOUR
CONFIG = load_gauge_config(load_settings())  # the shipped scoring and initiatives


def at(hour: float) -> float:
    return MONDAY + hour * HOUR


def ev(event_id: str, kind: str, actor: str, team: str, hour: float, **fields: object) -> Event:
    return Event(
        id=event_id, type=kind, occurred_at=at(hour), actor=actor, source="test", team=team,
        **fields,  # type: ignore[arg-type]
    )  # fmt: skip


POSTED, REPLIED = "discussion.posted", "discussion.replied"
MORNING = [
    # atlas
    ev("1", POSTED, "a1", "atlas", 9, thread="t1", post="p1"),
    ev("2", REPLIED, "a2", "atlas", 9.5, thread="t1", post="r1", parent="p1"),
    ev("3", REPLIED, "a3", "atlas", 10, thread="t1", post="r2", parent="p1"),
    ev("4", "learning.completed", "a3", "atlas", 9, content="c-1", duration_s=1800.0),
    ev("5", "learning.started", "a4", "atlas", 9.1, content="agile-intro-talk"),
    ev("6", "learning.assessed", "a5", "atlas", 9.2, success=True, duration_s=600.0),
    ev("7", "adoption.practiced", "a5", "atlas", 9.3, practice="retrospective"),
    # borealis asks, atlas answers two hours later (the reply arrives before the question)
    ev("9", REPLIED, "a2", "atlas", 11, thread="t3", post="r5", parent="p3"),
    ev("8", POSTED, "b1", "borealis", 9, thread="t3", post="p3"),
    # comet
    ev("10", POSTED, "c1", "comet", 9, thread="t2", post="p2"),
    ev("11", REPLIED, "c2", "comet", 9 + 5 / 60, thread="t2", post="r3", parent="p2"),
    ev("12", REPLIED, "c1", "comet", 9 + 10 / 60, thread="t2", post="r4", parent="r3"),
    ev("13", "discussion.reacted", "c3", "comet", 9 + 20 / 60, thread="t2", post="x1", parent="p2"),
    # delta (3 people)
    ev("14", "learning.started", "d1", "delta", 8, content="c-2"),
]


def roster() -> Roster:
    teams = {
        "atlas": ("product", "tech", "a", 5),
        "borealis": ("product", "tech", "b", 5),
        "comet": ("ops", "tech", "c", 5),
        "delta": ("ops", "tech", "d", 3),
        "echo": ("ops", "tech", "e", 2),
    }
    return Roster(
        [
            RosterEntry(f"{prefix}{n}", team, department, division)
            for team, (department, division, prefix, size) in teams.items()
            for n in range(1, size + 1)
        ]
    )


@pytest.fixture(scope="module")
def morning() -> dict[str, dict[str, float]]:
    snapshot = reference_snapshot(MORNING, roster(), CONFIG, AS_OF)
    assert list(snapshot.teams) == ["atlas", "borealis", "comet"]  # delta is too small
    return {team: s.windowed["1d"] for team, s in snapshot.teams.items()}


def test_the_engaged_team(morning: dict[str, dict[str, float]]) -> None:
    atlas = morning["atlas"]

    assert {k: atlas[k] for k in atlas if k not in ("voice_evenness",) and "score" not in k} == {
        "active_members": 5, "participation_ratio": 1.0, "learning_seconds": 2400.0,
        "starts": 1, "completions": 1, "assessments_passed": 1,
        "posts": 1, "replies": 3, "reactions": 0, "contributors": 3,
        "threads_started": 1, "threads_replied": 1, "thread_replies": 2,
        "reply_ratio": 1.0, "first_reply_median_seconds": 1800.0, "thread_depth": 2.0,
        "first_within_reply_median_seconds": 1800.0,  # nobody from another team answered
        "reply_interactions": 3, "cross_team_interactions": 1, "cross_team_ratio": 1 / 3,
        "cross_team_breadth": 0,
        "bridging_share": 1.0,  # the morning's one cross-team thread: borealis's, answered here
    }  # fmt: skip
    assert atlas["voice_evenness"] == pytest.approx(0.946395, abs=1e-6)  # 1, 1, 2
    # 0.3 x 1 + 0.2 x 14400/16200 + 0.15 x 2/3 + 0.2 x 0.946395 + 0.15 x 1/3
    assert atlas["conversation_quality_score"] == pytest.approx(0.817057, abs=1e-6)
    # 0.40 x 1 + 0.25 x 2400/4500 + 0.25 x 4/10 + 0.10 x 0.817057
    assert atlas["engagement_score"] == pytest.approx(0.715039, abs=1e-6)


def test_the_quiet_team(morning: dict[str, dict[str, float]]) -> None:
    borealis = morning["borealis"]

    assert borealis["participation_ratio"] == 0.2
    assert (borealis["posts"], borealis["replies"], borealis["contributors"]) == (1, 0, 1)
    assert borealis["voice_evenness"] == 0.0  # a single voice
    assert borealis["first_reply_median_seconds"] == 7200.0
    assert (borealis["reply_ratio"], borealis["thread_depth"]) == (1.0, 1.0)
    assert borealis["cross_team_ratio"] == 1.0  # its only conversation came from atlas
    # 0.3 + 0.2 x 14400/21600 + 0.15 x 1/3 + 0 + 0.15 x 1
    assert borealis["conversation_quality_score"] == pytest.approx(0.633333, abs=1e-6)
    # 0.40 x 0.2 + 0 + 0.25 x 1/10 + 0.10 x 0.633333
    assert borealis["engagement_score"] == pytest.approx(0.168333, abs=1e-6)


def test_the_team_that_talks_only_to_itself(morning: dict[str, dict[str, float]]) -> None:
    comet = morning["comet"]

    assert comet["participation_ratio"] == 0.6
    assert (comet["posts"], comet["replies"], comet["reactions"]) == (1, 2, 1)
    assert comet["reply_interactions"] == 2
    assert comet["cross_team_ratio"] == 0.0
    assert comet["first_reply_median_seconds"] == 300.0  # c2's reply; c1 is the starter
    assert comet["voice_evenness"] == pytest.approx(0.918296, abs=1e-6)  # 1, 2
    # 0.3 + 0.2 x 14400/14700 + 0.15 x 2/3 + 0.2 x 0.918296 + 0
    assert comet["conversation_quality_score"] == pytest.approx(0.779577, abs=1e-6)
    # 0.40 x 0.6 + 0 + 0.25 x 3/10 + 0.10 x 0.779577
    assert comet["engagement_score"] == pytest.approx(0.392958, abs=1e-6)


def test_the_network_of_the_morning_pairs_published_teams_only() -> None:
    # atlas answered borealis once and comet talked to delta (3 people, not published) twice
    # each way: one cell of the matrix each side, and no reciprocity that is published.
    events = [
        *MORNING,
        ev("20", POSTED, "d1", "delta", 9, thread="t4", post="p4"),
        ev("21", REPLIED, "c1", "comet", 9.5, thread="t4", post="r6", parent="p4"),
        ev("22", REPLIED, "d1", "delta", 10, thread="t4", post="r7", parent="r6"),
    ]
    snapshot = reference_snapshot(events, roster(), CONFIG, AS_OF)

    assert {team: s.interactions for team, s in snapshot.teams.items()} == {
        "atlas": {"28d": {"borealis": 1}},
        "borealis": {"28d": {"atlas": 1}},
        "comet": {},  # its only partner, delta, is below the minimum group size
    }
    breadth = {team: s.windowed["28d"]["cross_team_breadth"] for team, s in snapshot.teams.items()}
    assert breadth == {"atlas": 0, "borealis": 0, "comet": 1}  # comet and delta: both ways
    # Two cross-team threads in the organisation (delta's counts, though it is not published):
    # borealis's with atlas, delta's with comet; each team took part in one.
    bridging = {team: s.windowed["28d"]["bridging_share"] for team, s in snapshot.teams.items()}
    assert bridging == {"atlas": 0.5, "borealis": 0.5, "comet": 0.5}
    borealis = snapshot.teams["borealis"].windowed["1d"]
    assert borealis["first_cross_reply_median_seconds"] == 7200.0  # atlas answered at 11:00
    assert "first_within_reply_median_seconds" not in borealis


def test_a_reaction_back_makes_the_morning_pair_reciprocal() -> None:
    # borealis's b2 reacts to atlas's answer r5: borealis -> atlas, so atlas and borealis
    # each have an interaction both ways, 2 in all: breadth 1 each, the cell 2. A reaction is
    # no reply: the reply interactions and the cross-team ratio stay as they were.
    events = [
        *MORNING,
        ev("30", "discussion.reacted", "b2", "borealis", 11.5, thread="t3", post="x3", parent="r5"),
        # within atlas: counts for nothing in the network
        ev("31", "discussion.reacted", "a4", "atlas", 11.5, thread="t1", post="x4", parent="p1"),
    ]
    snapshot = reference_snapshot(events, roster(), CONFIG, AS_OF)

    assert {team: s.interactions for team, s in snapshot.teams.items()} == {
        "atlas": {"28d": {"borealis": 2}},
        "borealis": {"28d": {"atlas": 2}},
        "comet": {},
    }
    breadth = {team: s.windowed["28d"]["cross_team_breadth"] for team, s in snapshot.teams.items()}
    assert breadth == {"atlas": 1, "borealis": 1, "comet": 0}
    atlas = snapshot.teams["atlas"].windowed["1d"]
    assert (atlas["reply_interactions"], atlas["cross_team_interactions"]) == (3, 1)


def test_adoption_of_the_engaged_team() -> None:
    snapshot = reference_snapshot(MORNING, roster(), CONFIG, AS_OF)

    agile = snapshot.teams["atlas"].initiatives["agile-ways-of-working"]
    assert agile.stage_members == {
        "none": 3, "awareness": 1, "desire": 0, "knowledge": 0, "ability": 1, "reinforcement": 0
    }  # fmt: skip
    assert (agile.ratio, agile.index) == (0.2, 0.2)  # (1 + 4) / (5 x 5)


def test_rollups_add_numerators_and_denominators() -> None:
    snapshot = reference_snapshot(MORNING, roster(), CONFIG, AS_OF)

    rollups = {(s.scope, s.key): s for s in snapshot.rollups}
    assert list(rollups) == [
        ("department", "ops"),
        ("department", "product"),
        ("division", "tech"),
        ("org", "org"),
    ]
    product = rollups[("department", "product")].windowed["1d"]
    assert product["participation_ratio"] == 0.6  # 6 of 10
    assert product["first_reply_median_seconds"] == 4500.0  # median of 1800 and 7200
    assert (product["reply_interactions"], product["cross_team_ratio"]) == (4, 0.5)
    ops = rollups[("department", "ops")]
    assert ops.plain["members"] == 10  # comet 5 + delta 3 + echo 2: 5 beyond comet
    assert ops.windowed["1d"]["active_members"] == 4
    assert ops.windowed["1d"]["starts"] == 1


def test_a_department_whose_small_teams_hold_fewer_than_five_is_suppressed() -> None:
    without_echo = Roster([e for e in roster()._people.values() if e.team != "echo"])

    snapshot = reference_snapshot(MORNING, without_echo, CONFIG, AS_OF)

    # ops (8) minus comet (5) would give delta's 3 people; tech (18) minus product (10) and
    # comet (5) too, and the organisation likewise: only product is left to publish.
    assert [(s.scope, s.key) for s in snapshot.rollups] == [("department", "product")]


def test_no_baseline_before_there_is_a_history() -> None:
    snapshot = reference_snapshot(MORNING, roster(), CONFIG, AS_OF)

    assert snapshot.teams["atlas"].plain == {"members": 5}


def test_a_week_later_the_morning_is_the_baseline() -> None:
    later = MONDAY + 7 * 86_400 + 12 * HOUR
    quiet_monday = [ev("w1", "learning.started", "a1", "atlas", 7 * 24 + 9, content="c-3")]

    snapshot = reference_snapshot(MORNING + quiet_monday, roster(), CONFIG, later)

    plain = snapshot.teams["atlas"].plain
    day_score = snapshot.teams["atlas"].windowed["1d"]["engagement_score"]
    # The sample a week back is the last 20 hours as of last Monday noon: the morning's score
    # over 20 hours (test_the_engaged_team's counts, their targets 20/24 of a day's); the
    # samples 2, 3 and 4 weeks back saw nothing and are left out, so the baseline is that one
    # score.
    assert plain["engagement_baseline"] == pytest.approx(0.761706, abs=1e-6)
    # These 24 hours: a1 started a course, that is all: 0.40 x 1/5 = 0.08
    assert day_score == pytest.approx(0.08)
    # A morning of a dozen events is too little to compare with (min_events 25).
    assert "engagement_change_ratio" not in plain


def test_a_baseline_of_enough_events_gives_the_change_ratio() -> None:
    later = MONDAY + 7 * 86_400 + 12 * HOUR
    quiet_monday = [ev("w1", "learning.started", "a1", "atlas", 7 * 24 + 9, content="c-3")]
    baseline = CONFIG.scoring.baseline.model_copy(update={"min_events": 1})
    config = dataclasses.replace(
        CONFIG, scoring=CONFIG.scoring.model_copy(update={"baseline": baseline})
    )

    snapshot = reference_snapshot(MORNING + quiet_monday, roster(), config, later)

    # These 20 hours: a1 started a course, that is all: 0.40 x 1/5 = 0.08
    change = snapshot.teams["atlas"].plain["engagement_change_ratio"]
    assert change == pytest.approx(0.08 / 0.761706 - 1, abs=1e-6)


def test_admission_counts_duplicates_and_late_events() -> None:
    stream = [
        ev("1", "learning.started", "a1", "atlas", 50),
        ev("1", "learning.started", "a1", "atlas", 50),
        ev("2", "learning.started", "a2", "atlas", 1),  # 49 h behind atlas: late
        ev("3", "learning.started", "b1", "borealis", 1),  # borealis has its own watermark
    ]

    admission = admit(stream, roster(), CONFIG)

    assert dict(admission.outcomes) == {"accepted": 2, "duplicate": 1, "late": 1}


def test_an_event_without_a_team_takes_its_actors_roster_team() -> None:
    anonymous = Event(id="x", type="learning.started", occurred_at=at(9), actor="c4", source="t")

    (accepted,) = admit([anonymous], roster(), CONFIG).accepted

    assert accepted.team == "comet"


# --- replay -------------------------------------------------------------------------------
def canonical(event: Event) -> dict[str, object]:
    """The producer's JSON of a test event (RFC 3339 time, raw person id)."""
    wire = event.to_wire()
    hours = (event.occurred_at - MONDAY) / HOUR
    wire["occurred_at"] = f"2026-03-02T{int(hours):02d}:{round(hours % 1 * 60):02d}:00Z"
    wire["actor"] = f"{event.actor}@example.com"
    return wire


def roster_records() -> list[dict[str, object]]:
    return [
        {"person": f"{e.person}@example.com", "team": e.team, "department": e.department,
         "division": e.division}
        for e in roster()._people.values()
    ]  # fmt: skip


def test_replay_of_an_ndjson_export_with_a_roster(tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"
    events.write_bytes(b"\n".join(orjson.dumps(canonical(e)) for e in MORNING) + b"\n")
    people = tmp_path / "roster.json"
    people.write_bytes(orjson.dumps(roster_records()))

    snapshot = replay_file(
        events, load_settings(), roster_path=people, as_of="2026-03-02T12:00:00Z"
    )

    assert list(snapshot.teams) == ["atlas", "borealis", "comet"]
    assert snapshot.teams["atlas"].windowed["1d"]["participation_ratio"] == 1.0
    assert snapshot.teams["comet"].windowed["1d"]["cross_team_ratio"] == 0.0


def test_replay_leaves_out_what_happened_after_as_of(tmp_path: Path) -> None:
    events = tmp_path / "events.json"
    events.write_bytes(orjson.dumps([canonical(e) for e in MORNING]))
    people = tmp_path / "roster.ndjson"
    people.write_bytes(b"\n".join(orjson.dumps(r) for r in roster_records()))

    snapshot = replay_file(
        events, load_settings(), roster_path=people, as_of="2026-03-02T09:30:00Z"
    )

    assert snapshot.teams["atlas"].windowed["1d"]["replies"] == 1  # r1 at 09:30, not r2 at 10:00


def test_replay_without_a_roster_counts_the_people_seen(tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"
    lines = [orjson.dumps(canonical(e)) for e in MORNING] + [b'{"id": "broken"}']
    events.write_bytes(b"\n".join(lines))

    snapshot = replay_file(events, load_settings())

    assert snapshot.as_of == at(11)  # the latest event
    assert list(snapshot.teams) == ["atlas"]  # 5 people seen; comet 3, borealis 1
    assert snapshot.teams["atlas"].info == {"department": "unknown", "division": "unknown"}


def test_the_snapshot_prints_as_tables_and_writes_as_json(tmp_path: Path) -> None:
    snapshot = reference_snapshot(MORNING, roster(), CONFIG, AS_OF)
    out = io.StringIO()

    print_snapshot(snapshot, out)
    write_snapshot(snapshot, tmp_path / "gauges.json")

    text = out.getvalue()
    assert text.startswith("as of 2026-03-02T12:00:00Z: 3 teams published, 4 roll-ups")
    assert "window 7d" in text and "adoption" in text
    atlas_row = next(line for line in text.splitlines() if line.split()[:2] == ["team", "atlas"])
    assert "100%" in atlas_row  # participation
    network = text.split(
        "\nnetwork (replies and reactions between published teams, both directions)\n"
    )[1]
    assert network.splitlines()[1].split() == ["atlas", "28d", "borealis", "1", "0", "100%"]
    written = json.loads((tmp_path / "gauges.json").read_text())
    assert written["teams"]["atlas"]["windowed"]["1d"]["posts"] == 1
    assert [r["key"] for r in written["rollups"]] == ["ops", "product", "tech", "org"]


# --- erasure ------------------------------------------------------------------------------
def test_an_erased_person_counts_in_no_event_and_no_team_size() -> None:
    snapshot = reference_snapshot(MORNING, roster(), CONFIG, AS_OF, erased={"a2"})

    assert list(snapshot.teams) == ["borealis", "comet"]  # atlas: 4 people left, withdrawn
    borealis = snapshot.teams["borealis"].windowed["1d"]
    # a2 wrote the only answer to borealis's question
    assert (borealis["threads_replied"], borealis["reply_interactions"]) == (0, 0)


def test_replay_forgets_a_person_given_by_email(tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"
    events.write_bytes(b"\n".join(orjson.dumps(canonical(e)) for e in MORNING) + b"\n")
    people = tmp_path / "roster.json"
    people.write_bytes(orjson.dumps(roster_records()))
    settings = load_settings()

    snapshot = replay_file(
        events, settings, roster_path=people, as_of="2026-03-02T12:00:00Z",
        forget=["mailto:A2@example.com"],
    )  # fmt: skip

    assert list(snapshot.teams) == ["borealis", "comet"]
    assert snapshot.teams["borealis"].windowed["1d"]["reply_interactions"] == 0
