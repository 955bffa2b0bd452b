"""Content gauges: what a course is, who learned it, what it sparked, whether it was practised,
and what may be published of it (docs/gauges.md, "Content")."""

from __future__ import annotations

import io

import pytest

from teampulse.contract.event import Event
from teampulse.contract.roster import RosterEntry
from teampulse.enrichment.roster import Roster
from teampulse.gauges.config import (
    ContentScoring,
    EvidenceMatcher,
    GaugeConfig,
    GaugeConfigError,
    InitiativeConfig,
    Reinforcement,
    ScoringConfig,
)
from teampulse.gauges.content import ContentCatalog, ContentCounts, content_table, prometheus_view
from teampulse.gauges.team_state import TeamState
from teampulse.reference import reference_counts, reference_snapshot
from teampulse.reference.replay import print_snapshot

T0 = 1_772_409_600.0  # 2026-03-02T00:00:00Z, a Monday
HOUR = 3600.0
DAY = 86_400.0
AGILE = InitiativeConfig(
    id="agile",
    stages={
        "knowledge": (
            EvidenceMatcher(type=("learning.completed",), content_prefix="agile-course-"),
        ),
        "ability": (EvidenceMatcher(type=("adoption.practiced",), practices=("retro",)),),
    },
    reinforcement=Reinforcement(reply_channels=("agile-help",)),
)
CONFIG = GaugeConfig(initiatives=(AGILE,))  # 7d and 28d content windows, spans 14d and 28d
PEOPLE = [f"c{i}" for i in range(6)] + [f"n{i}" for i in range(6)]
ROSTER = Roster([RosterEntry(p, "atlas", "dev", "tech") for p in PEOPLE])  # 12 members


def event(n: int, kind: str, actor: str, day: float, **fields: object) -> Event:
    return Event(
        id=f"e{n}", type=kind, occurred_at=T0 + day * DAY, actor=actor, source="lms",
        team="atlas", **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def test_an_item_counts_for_itself_and_for_the_groups_its_prefix_names() -> None:
    catalog = ContentCatalog(CONFIG.initiatives, CONFIG)

    assert catalog.keys_of("agile-course-1") == ("agile-course-1", "agile-course-*")
    assert catalog.keys_of("excel-basics") == ("excel-basics",)
    assert catalog.initiative_name("agile-course-1") == "agile"
    assert catalog.initiative_name("agile-course-*") == "agile"
    assert catalog.initiative_name("excel-basics") == ""


def test_content_windows_must_be_configured_windows() -> None:
    with pytest.raises(GaugeConfigError, match=r"content.windows \['90d'\]"):
        GaugeConfig(scoring=ScoringConfig(content=ContentScoring(windows=("90d",))))


def worked_example() -> list[Event]:
    """docs/gauges.md, "Content", worked example: 6 of atlas's 12 completed agile-course-1."""
    events = []
    completers = [f"c{i}" for i in range(6)]
    for i, person in enumerate(completers):
        events.append(event(i, "learning.completed", person, 0, content="agile-course-1"))
    events.append(event(10, "learning.started", "n0", 1, content="agile-course-1"))
    # c0, c1, c2 practise on day 3 (within 14 d); c3 on day 20 (within 28 d only)
    for i, (person, day) in enumerate([("c0", 3), ("c1", 3), ("c2", 3), ("c3", 20)]):
        events.append(event(20 + i, "adoption.practiced", person, day, practice="retro"))
    # n1, who did not complete it, practised on day 10: within the last 14 d of day 21
    events.append(event(30, "adoption.practiced", "n1", 10, practice="retro"))
    # c4 asks in the initiative's channel a day after completing: the fallback rule
    events.append(event(40, "discussion.posted", "c4", 1, channel="agile-help", thread="t1"))
    # c5 answers in a thread the connector tagged with the course
    events.append(
        event(
            41, "discussion.replied", "c5", 2, thread="t1", parent="e40", content="agile-course-1"
        )
    )
    # in another channel, without a content id: about nothing we know
    events.append(event(42, "discussion.posted", "c4", 2, channel="random", thread="t2"))
    return sorted(events, key=lambda e: e.occurred_at)  # in time: none is late


def test_the_worked_example_on_the_stream_and_in_the_reference() -> None:
    as_of = T0 + 21 * DAY
    team = TeamState("atlas", CONFIG)
    for e in worked_example():
        assert team.apply_event(e) == "accepted"
    streamed = team.counts(as_of, 12).content["28d"]
    expected = ContentCounts(
        learners=7,
        completers=6,
        posts=1,
        replies=1,
        contributors=2,
        practiced=(3, 4),
        others=6,
        others_practiced=(1, 1),
    )
    assert streamed["agile-course-1"] == expected
    assert streamed["agile-course-*"] == expected
    assert team.counts(as_of, 12).content["7d"] == {}  # everything is older than a week
    reference = reference_counts(worked_example(), ROSTER, CONFIG, as_of)["atlas"]
    assert reference.content == team.counts(as_of, 12).content


def test_replay_prints_the_content_table_with_what_may_be_published() -> None:
    snapshot = reference_snapshot(worked_example(), ROSTER, CONFIG, T0 + 21 * DAY)
    out = io.StringIO()

    print_snapshot(snapshot, out)

    table = out.getvalue().split("\ncontent (items and prefix* groups")[1].splitlines()
    assert table[1].split() == [
        "content", "initiative", "window", "learners", "completers", "posts", "replies",
        "voices", "practised_14d", "others_14d", "uplift_14d", "practised_28d", "others_28d",
        "uplift_28d", "attention",
    ]  # fmt: skip
    # 2 voices: the conversation is withheld; 3 of 6 practised within 14 d, 1 of 6 others
    assert table[2].split() == [
        "agile-course-*", "agile", "28d", "7", "6", "-", "-", "-",
        "50%", "17%", "+33%", "67%", "17%", "+50%", "0",
    ]  # fmt: skip


def test_a_content_row_is_published_only_behind_enough_people() -> None:
    few = {"atlas": {"28d": {"x": ContentCounts(learners=4, completers=4)}}}
    assert content_table(few, CONFIG) == []

    counts = ContentCounts(
        learners=6, completers=5, posts=3, replies=1, contributors=2,
        practiced=(2, 3), others=3, others_practiced=(1, 1),
    )  # fmt: skip
    (row,) = content_table({"atlas": {"28d": {"agile-course-1": counts}}}, CONFIG)

    assert row.key == "agile-course-1" and row.initiative == "agile"
    # 2 contributors: no conversation figure; 3 others: no comparison and no uplift
    assert row.windowed == {
        "28d": {
            "learners": 6,
            "completers": 5,
            "practice_ratio_within_14d": 0.4,
            "practice_ratio_within_28d": 0.6,
            "needs_attention": 0.0,
        }
    }


def test_the_uplift_compares_completers_with_the_other_members_of_their_teams() -> None:
    parts = {
        "atlas": {"28d": {"c": ContentCounts(6, 6, 0, 0, 0, (3, 4), 4, (1, 1))}},
        "borealis": {"28d": {"c": ContentCounts(4, 4, 0, 0, 0, (3, 4), 16, (3, 4))}},
    }
    catalog_config = GaugeConfig(
        initiatives=(
            AGILE.model_copy(
                update={
                    "stages": {
                        "knowledge": (
                            EvidenceMatcher(type=("learning.completed",), content=("c",)),
                        ),
                    }
                }
            ),
        )  # fmt: skip
    )
    (row,) = content_table(parts, catalog_config)

    gauges = row.windowed["28d"]
    assert gauges["practice_ratio_within_14d"] == pytest.approx(0.6)  # 6 of 10
    assert gauges["others_practice_ratio_within_14d"] == pytest.approx(0.2)  # 4 of 20
    assert gauges["practice_uplift_within_14d"] == pytest.approx(0.4)
    assert gauges["practice_uplift_within_28d"] == pytest.approx(0.8 - 0.25)


def test_widely_completed_content_without_conversation_or_practice_needs_attention() -> None:
    quiet = ContentCounts(12, 12, 0, 0, 0, (0, 0), 30, (2, 3))
    talked = ContentCounts(12, 12, 0, 1, 1, (0, 0), 30, (2, 3))
    narrow = ContentCounts(9, 9, 0, 0, 0, (0, 0), 30, (2, 3))
    table = content_table(
        {
            "atlas": {
                "28d": {"agile-course-1": quiet, "agile-course-2": talked, "agile-course-3": narrow}
            }
        },
        CONFIG,
    )

    assert {row.key: row.windowed["28d"]["needs_attention"] for row in table} == {
        "agile-course-1": 1.0,
        "agile-course-2": 0.0,
        "agile-course-3": 0.0,  # 9 completers: below attention_min_completers (10)
    }


def test_prometheus_gets_the_top_items_per_initiative_and_the_totals() -> None:
    items = {f"agile-course-{i}": ContentCounts(learners=5 + i) for i in range(7)}
    items["excel"] = ContentCounts(learners=50)
    table = content_table({"atlas": {"28d": items}}, CONFIG)

    chosen, totals = prometheus_view(table, CONFIG)

    # without an initiative first (""), then agile's top 5 of 7 by learners
    assert [s.key for s in chosen] == [
        "excel", "agile-course-6", "agile-course-5", "agile-course-4", "agile-course-3",
        "agile-course-2",
    ]  # fmt: skip
    assert totals == {(None, "agile"): (7, 0), (None, ""): (1, 0)}
