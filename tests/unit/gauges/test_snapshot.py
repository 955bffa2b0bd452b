"""From counts to published gauges: one function for teams and roll-ups, and privacy."""

from __future__ import annotations

import pytest

from teampulse.contract.roster import RosterEntry
from teampulse.enrichment.roster import Roster
from teampulse.gauges.config import EvidenceMatcher, GaugeConfig, InitiativeConfig
from teampulse.gauges.counts import TeamCounts, WindowCounts
from teampulse.gauges.model import InitiativeSnapshot
from teampulse.gauges.snapshot import (
    initiative_snapshot,
    org_snapshot,
    rollup_publishable,
    rollup_snapshots,
    snapshot_from_counts,
    team_snapshot,
    window_gauges,
)

AS_OF = 1_772_409_600.0
AGILE = InitiativeConfig(
    id="agile", stages={"ability": (EvidenceMatcher(type=("adoption.practiced",)),)}
)
CONFIG = GaugeConfig(initiatives=(AGILE,))
WEEK_S = 7 * 86_400


def test_window_gauges_of_a_week_of_a_ten_person_team() -> None:
    week = WindowCounts(
        active_members=8, learning_ms=21_000_000, starts=6, completions=4, assessments_passed=2,
        posts=5, replies=9, reactions=11, threads_started=4, threads_replied=3, thread_replies=9,
        reply_interactions=10, cross_team_interactions=4, contributions=(2, 3, 4, 5),
        first_reply_latencies=(600.0, 3600.0, 28_800.0),
    )  # fmt: skip

    gauges = window_gauges(week, members=10, window_s=WEEK_S, config=CONFIG)

    evenness = gauges.pop("voice_evenness")
    quality = gauges.pop("conversation_quality_score")
    engagement = gauges.pop("engagement_score")
    assert gauges == {
        "active_members": 8, "learning_seconds": 21_000.0, "starts": 6, "completions": 4,
        "assessments_passed": 2, "posts": 5, "replies": 9, "reactions": 11, "contributors": 4,
        "threads_started": 4, "threads_replied": 3, "thread_replies": 9,
        "reply_interactions": 10, "cross_team_interactions": 4, "participation_ratio": 0.8,
        "reply_ratio": 0.75, "first_reply_median_seconds": 3600.0, "thread_depth": 2.25,
        "cross_team_ratio": 0.4,
    }  # fmt: skip
    # H = -sum(p ln p) over 2/14, 3/14, 4/14, 5/14 = 1.333736; / ln 4 (1.386294) = 0.962087
    assert evenness == pytest.approx(0.962087, abs=1e-6)
    # 0.30 x 0.75 + 0.20 x 14400/18000 + 0.15 x 2.25/3 + 0.20 x evenness + 0.15 x 0.4
    assert quality == pytest.approx(0.225 + 0.16 + 0.1125 + 0.2 * evenness + 0.06)
    # 0.40 x 0.8 + 0.25 x 21000/63000 + 0.25 x 14/140 + 0.10 x quality
    assert engagement == pytest.approx(0.32 + 0.25 / 3 + 0.025 + 0.1 * quality)


def test_undefined_gauges_are_absent_never_zero() -> None:
    gauges = window_gauges(WindowCounts(), members=0, window_s=WEEK_S, config=CONFIG)

    for absent in (
        "participation_ratio", "reply_ratio", "first_reply_median_seconds", "thread_depth",
        "voice_evenness", "cross_team_ratio", "conversation_quality_score", "engagement_score",
    ):  # fmt: skip
        assert absent not in gauges
    assert gauges["posts"] == 0


def test_adoption_of_a_team_counts_people_without_evidence_as_none() -> None:
    snapshot = initiative_snapshot((2, 1, 0, 3, 1), members=10)

    assert snapshot == InitiativeSnapshot(
        stage_members={"none": 3, "awareness": 2, "desire": 1, "knowledge": 0, "ability": 3,
                       "reinforcement": 1},
        members=10,
        ratio=0.4,  # ability 3 + reinforcement 1 of 10
        index=(2 * 1 + 1 * 2 + 3 * 4 + 1 * 5) / (5 * 10),  # 0.42
    )  # fmt: skip


def test_people_who_left_cannot_push_adoption_past_everyone() -> None:
    snapshot = initiative_snapshot((0, 0, 0, 4, 3), members=5)

    assert snapshot.stage_members["none"] == 0
    assert (snapshot.ratio, snapshot.index) == (1.0, 1.0)


def test_plain_gauges_carry_members_baseline_and_change() -> None:
    counts = TeamCounts(
        members=8, baseline_members=8, baseline_sum=8 * 0.5, current_sum=8 * 0.3,
        baseline_events=25.0,
    )  # fmt: skip

    snapshot = snapshot_from_counts("team", "alpha", counts, 8, CONFIG, AS_OF)

    assert snapshot.plain == {
        "members": 8,
        "engagement_baseline": 0.5,
        "engagement_change_ratio": pytest.approx(-0.4),
    }


def test_no_change_ratio_while_the_baseline_rests_on_fewer_than_25_events() -> None:
    counts = TeamCounts(
        members=8, baseline_members=8, baseline_sum=8 * 0.5, current_sum=8 * 0.3,
        baseline_events=24.75,
    )  # fmt: skip

    snapshot = snapshot_from_counts("team", "alpha", counts, 8, CONFIG, AS_OF)

    assert snapshot.plain == {"members": 8, "engagement_baseline": 0.5}


def test_a_team_without_a_baseline_has_no_baseline_gauges() -> None:
    snapshot = snapshot_from_counts("team", "alpha", TeamCounts(members=8), 8, CONFIG, AS_OF)

    assert snapshot.plain == {"members": 8}


def roster() -> Roster:
    people = [
        *(RosterEntry(f"a{i}", "alpha", "dev", "tech") for i in range(6)),
        *(RosterEntry(f"b{i}", "beta", "dev", "tech") for i in range(3)),  # small team
        *(RosterEntry(f"c{i}", "gamma", "ops", "tech") for i in range(2)),  # small department
        RosterEntry("c9", "gamma", "ops", "tech", active=False),
    ]
    return Roster(people)


def test_a_team_below_the_minimum_group_size_is_not_published() -> None:
    org = roster()

    assert (
        team_snapshot("beta", None, org.team_size("beta"), org.path("beta"), CONFIG, AS_OF) is None
    )


def test_unassigned_and_unknown_teams_are_not_published() -> None:
    assert team_snapshot("unassigned", None, 50, ("x", "y"), CONFIG, AS_OF) is None
    assert team_snapshot("ghost", None, 50, None, CONFIG, AS_OF) is None


def test_a_published_team_carries_its_org_path() -> None:
    org = roster()

    snapshot = team_snapshot("alpha", None, 6, org.path("alpha"), CONFIG, AS_OF)

    assert snapshot is not None
    assert snapshot.info == {"department": "dev", "division": "tech"}
    assert snapshot.windowed["7d"]["participation_ratio"] == 0.0  # silent, not missing
    assert snapshot.initiatives["agile"].stage_members["none"] == 6


def test_rollups_merge_every_roster_team_and_hide_small_groups() -> None:
    counts = {
        "alpha": TeamCounts(members=6, windows={"7d": WindowCounts(active_members=3, posts=2)}),
        "beta": TeamCounts(members=3, windows={"7d": WindowCounts(active_members=3, posts=1)}),
        "ghost": TeamCounts(members=0, windows={"7d": WindowCounts(active_members=9, posts=9)}),
    }

    rollups = rollup_snapshots(counts, roster(), CONFIG, AS_OF)

    assert [(s.scope, s.key, s.plain["members"]) for s in rollups] == [
        # dev (alpha 6 + beta 3) is suppressed: minus alpha it would give beta's 3 people.
        # tech holds beta 3 + gamma 2 beyond alpha: 5, so it is published; ghost is no team.
        ("division", "tech", 11),
        ("org", "org", 11),
    ]
    tech = rollups[0].windowed["7d"]
    assert (tech["active_members"], tech["posts"], tech["participation_ratio"]) == (6, 3, 6 / 11)


def test_the_org_snapshot_publishes_only_big_enough_known_teams() -> None:
    snapshot = org_snapshot({}, roster(), CONFIG, AS_OF)

    assert list(snapshot.teams) == ["alpha"]
    assert [s.key for s in snapshot.rollups] == ["tech", "org"]


# --- complementary suppression: no group under five by subtraction ----------------------------
def org_of(teams: dict[str, tuple[int, str, str]]) -> Roster:
    """A roster from team -> (size, department, division)."""
    return Roster(
        [
            RosterEntry(f"{team}-{n}", team, department, division)
            for team, (size, department, division) in teams.items()
            for n in range(size)
        ]
    )


def published(roster: Roster, counts: dict[str, TeamCounts] | None = None) -> list[tuple]:
    return [
        (s.scope, s.key, s.plain["members"])
        for s in rollup_snapshots(counts or {}, roster, CONFIG, AS_OF)
    ]


@pytest.mark.parametrize(
    ("members", "uncovered", "expected"),
    [
        (9, 3, False),  # 3 people beyond the published children
        (10, 4, False),
        (11, 5, True),  # exactly the minimum group size beyond them
        (11, 0, True),  # nothing beyond them
        (4, 0, False),  # too small itself
        (7, 7, True),  # no published child at all
    ],
)
def test_a_rollup_is_publishable_when_its_remainder_is_nobody_or_a_group(
    members: int, uncovered: int, expected: bool
) -> None:
    assert rollup_publishable(members, uncovered, CONFIG) is expected


def test_a_department_of_a_published_and_a_small_team_is_suppressed() -> None:
    org = org_of({"a": (6, "dev", "tech"), "b": (3, "dev", "tech")})

    # dev 9 - a 6 = b's 3; tech and the organisation hold the same 9 people.
    assert published(org) == []
    assert list(org_snapshot({}, org, CONFIG, AS_OF).teams) == ["a"]


def test_a_suppressed_department_suppresses_a_division_with_one_other_department() -> None:
    org = org_of(
        {
            "a": (6, "dev", "tech"),
            "b": (3, "dev", "tech"),
            "g": (7, "ops", "tech"),
            "d": (8, "field", "sales"),
        }
    )

    # dev: 9 - a 6 = 3, suppressed. ops: 7 - g 7 = 0. tech: 16 - ops 7 - a 6 = 3 (b again),
    # suppressed although its only published department is ops. sales: 8 - d 8 = 0.
    # org: 24 - tech's published a, g and sales 8 = 3, suppressed.
    assert published(org) == [
        ("department", "field", 8),
        ("department", "ops", 7),
        ("division", "sales", 8),
    ]


def test_small_teams_of_two_suppressed_departments_publish_their_division() -> None:
    org = org_of(
        {
            "a": (6, "dev", "tech"),
            "b": (3, "dev", "tech"),
            "c": (2, "ops", "tech"),
            "e": (6, "ops", "tech"),
        }
    )

    # dev: 9 - 6 = 3 and ops: 8 - 6 = 2, both suppressed; tech: 17 - a 6 - e 6 = 5.
    assert published(org) == [("division", "tech", 17), ("org", "org", 17)]


def test_a_rollup_of_published_teams_only_is_published() -> None:
    org = org_of({"a": (6, "dev", "tech"), "e": (5, "dev", "tech")})

    # dev: 11 - a 6 - e 5 = 0; tech and org: 11 - dev 11 = 0.
    assert published(org) == [
        ("department", "dev", 11),
        ("division", "tech", 11),
        ("org", "org", 11),
    ]


def test_a_remainder_of_exactly_five_is_published_with_its_gauges() -> None:
    org = org_of({"a": (6, "dev", "tech"), "b": (3, "dev", "tech"), "z": (2, "dev", "tech")})
    counts = {
        "a": TeamCounts(members=6, windows={"7d": WindowCounts(active_members=3, posts=4)}),
        "b": TeamCounts(members=3, windows={"7d": WindowCounts(active_members=2, posts=1)}),
        "z": TeamCounts(members=2, windows={"7d": WindowCounts(active_members=1)}),
    }

    rollups = rollup_snapshots(counts, org, CONFIG, AS_OF)

    # dev: 11 - a 6 = 5 (b and z together); dev - a = 3 active, 1 post: a group of five.
    assert [(s.scope, s.key, s.plain["members"]) for s in rollups] == [
        ("department", "dev", 11),
        ("division", "tech", 11),
        ("org", "org", 11),
    ]
    dev = rollups[0].windowed["7d"]
    assert (dev["active_members"], dev["posts"], dev["participation_ratio"]) == (6, 5, 6 / 11)


def test_a_remainder_of_four_suppresses_the_ratios_and_scores_too() -> None:
    org = org_of({"a": (6, "dev", "tech"), "b": (3, "dev", "tech"), "z": (1, "dev", "tech")})
    counts = {"b": TeamCounts(members=3, windows={"7d": WindowCounts(active_members=3)})}

    snapshot = org_snapshot(counts, org, CONFIG, AS_OF)

    # No dev, tech or org snapshot at all: neither counts nor participation nor scores.
    assert snapshot.rollups == []
