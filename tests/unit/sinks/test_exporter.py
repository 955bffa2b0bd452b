"""The exporter against a hand-made view of team state: what it recomputes, publishes,
withdraws and sends on to the roll-up owner."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson
import pytest

from teampulse.contract.event import Event
from teampulse.contract.roster import RosterEntry
from teampulse.enrichment.roster import Roster
from teampulse.gauges.config import GaugeConfig, TenantGauges
from teampulse.gauges.counts import TeamCounts
from teampulse.gauges.model import ScopeSnapshot
from teampulse.gauges.snapshot import org_snapshot
from teampulse.gauges.team_state import TeamState
from teampulse.sinks.exporter import (
    ORG_REJUDGE_S,
    ROLLUP_MIN_GAP_S,
    TEAM_COUNTS_MIN_GAP_S,
    Exporter,
)
from teampulse.sinks.sink import Publication

T0 = 1_772_409_600.0  # 2026-03-02T00:00:00Z
CONFIG = GaugeConfig()  # minimum group size 5


@dataclass
class FakeView:
    """A worker owning partition 0 of one, with the teams and roster a test gives it."""

    roster: Roster
    states: dict[str, TeamState] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)
    rollups: dict[str, TeamCounts] | None = None
    rollup_changed: bool = False
    org: dict[str, TeamCounts] = field(default_factory=dict)  # as followed on team-counts
    org_changed: bool = False
    position: int = 41

    def owned_partitions(self) -> list[int]:
        return [0]

    def log_position(self, partition: int) -> int:
        return self.position

    def team_states(self, partition: int) -> Mapping[str, TeamState]:
        return self.states

    def take_changed_teams(self, partition: int) -> set[str]:
        changed, self.changed = self.changed, set()
        return changed

    def org_counts(self) -> Mapping[str, TeamCounts]:
        return self.org

    def take_org_change(self) -> bool:
        changed, self.org_changed = self.org_changed, False
        return changed

    def rollup_inputs(self) -> Mapping[str, TeamCounts] | None:
        return self.rollups

    def take_rollup_change(self) -> bool:
        changed, self.rollup_changed = self.rollup_changed, False
        return changed


@dataclass
class RecordingSink:
    publications: list[Publication] = field(default_factory=list)

    def publish(self, publication: Publication) -> None:
        self.publications.append(publication)


def members(team: str, count: int, department: str = "dev") -> list[RosterEntry]:
    return [RosterEntry(f"{team}-{n}", team, department, "tech") for n in range(count)]


def active_team(team: str, people: int) -> TeamState:
    state = TeamState(team, CONFIG)
    for n in range(people):
        state.apply_event(
            Event(id=f"{team}{n}", type="learning.started", occurred_at=T0 - 3600,
                  actor=f"{team}-{n}", source="lms", team=team)
        )  # fmt: skip
    return state


def exporter_for(view: FakeView) -> tuple[Exporter, RecordingSink, list[tuple[bytes, bytes]]]:
    """An exporter whose ticks are far apart in real time (no throttle holds anything back)."""
    sink = RecordingSink()
    sent: list[tuple[bytes, bytes]] = []
    seconds = itertools.count(0.0, 60.0)
    exporter = Exporter(
        view, CONFIG, partitions=1, clock=lambda: T0, sinks=[sink],
        send_team_counts=lambda key, value: sent.append((key, value)),
        monotonic=lambda: next(seconds),
    )  # fmt: skip
    return exporter, sink, sent


def test_a_tick_publishes_the_teams_big_enough_and_sends_their_counts() -> None:
    view = FakeView(Roster(members("alpha", 6) + members("beta", 3)))
    view.states["alpha"] = active_team("alpha", 4)
    view.changed = {"alpha"}
    exporter, sink, sent = exporter_for(view)

    publication = exporter.tick()

    assert sink.publications == [publication]
    assert set(publication.teams) == {"alpha"}  # beta has 3 members: suppressed
    assert publication.teams["alpha"].windowed["7d"]["active_members"] == 4
    assert publication.teams["alpha"].windowed["7d"]["participation_ratio"] == 4 / 6
    assert sorted(key for key, _ in sent) == [b"alpha", b"beta"]  # the roll-up counts both
    alpha_counts = orjson.loads(dict(sent)[b"alpha"])
    assert alpha_counts["team"] == "alpha" and alpha_counts["as_of"] == T0
    assert alpha_counts["seq"] == 41  # the partition's state-log position orders owners


def test_a_roster_team_without_events_is_published_as_silent() -> None:
    view = FakeView(Roster(members("quiet", 5)))
    exporter, _, _ = exporter_for(view)

    publication = exporter.tick()

    assert publication.teams["quiet"].windowed["7d"]["active_members"] == 0


def test_a_tick_with_nothing_changed_recomputes_nothing_but_keeps_publishing() -> None:
    view = FakeView(Roster(members("alpha", 6)))
    view.states["alpha"] = active_team("alpha", 2)
    exporter, _, sent = exporter_for(view)
    first = exporter.tick()
    sent.clear()

    second = exporter.tick()

    assert second.changed.teams == {}
    assert sent == []
    assert second.teams["alpha"] is first.teams["alpha"]


def test_a_teams_counts_record_waits_out_the_gap_and_then_carries_the_newest_counts() -> None:
    view = FakeView(Roster(members("alpha", 6)))
    view.states["alpha"] = active_team("alpha", 4)
    monotonic = [100.0]
    sent: list[bytes] = []
    exporter = Exporter(
        view, CONFIG, partitions=1, clock=lambda: T0, sinks=[RecordingSink()],
        send_team_counts=lambda key, value: sent.append(value), monotonic=lambda: monotonic[0],
    )  # fmt: skip
    exporter.tick()
    view.states["alpha"].apply_event(
        Event(id="late", type="learning.started", occurred_at=T0 - 60, actor="alpha-5",
              source="lms", team="alpha")
    )  # fmt: skip
    view.changed = {"alpha"}
    monotonic[0] += TEAM_COUNTS_MIN_GAP_S / 2

    publication = exporter.tick()

    # the team's own gauges at once, its record for the roll-ups and the others not yet
    assert publication.teams["alpha"].windowed["7d"]["active_members"] == 5
    assert len(sent) == 1
    monotonic[0] += TEAM_COUNTS_MIN_GAP_S / 2
    exporter.tick()  # nothing changed since: the waiting record goes out
    assert len(sent) == 2
    expected = orjson.loads(orjson.dumps(view.states["alpha"].counts(T0, 6).to_wire()))
    assert orjson.loads(sent[1])["counts"] == expected  # content gauges included
    exporter.tick()
    assert len(sent) == 2


def test_a_team_that_shrinks_below_the_minimum_is_withdrawn_once() -> None:
    roster = Roster(members("alpha", 5))
    view = FakeView(roster)
    exporter, _, _ = exporter_for(view)
    exporter.tick()

    roster.remove("alpha-0")
    shrunk = exporter.tick()
    again = exporter.tick()

    assert shrunk.withdrawn == ("alpha",)
    assert "alpha" not in shrunk.teams
    assert again.withdrawn == ()
    assert exporter.published("alpha") is None


def test_rollups_are_published_only_by_the_owner_of_their_inputs() -> None:
    roster = Roster(members("alpha", 6) + members("gamma", 5, department="ops"))
    view = FakeView(roster)
    exporter, _, _ = exporter_for(view)

    assert exporter.tick().rollups is None

    view.rollups = {
        "alpha": TeamCounts.empty(CONFIG, members=6),
        "gamma": TeamCounts.empty(CONFIG, members=5),
    }
    view.rollup_changed = True
    publication = exporter.tick()

    assert publication.rollups is not None
    keys = {(r.scope, r.key) for r in publication.rollups}
    assert {("department", "dev"), ("department", "ops"), ("division", "tech")} <= keys
    assert publication.changed.rollups == publication.rollups


def test_rollups_follow_their_inputs_at_most_every_rollup_min_gap_s_of_real_time() -> None:
    roster = Roster(members("alpha", 6) + members("gamma", 5))
    alpha = active_team("alpha", 4).counts(T0, 6)
    view = FakeView(roster, rollups={"alpha": alpha}, rollup_changed=True)
    monotonic = [100.0]
    exporter = Exporter(
        view, CONFIG, partitions=1, clock=lambda: T0, sinks=[RecordingSink()],
        send_team_counts=lambda key, value: None, monotonic=lambda: monotonic[0],
    )  # fmt: skip

    def org_active(rollups: list[ScopeSnapshot] | None) -> object:
        org = [r for r in rollups or [] if r.scope == "org"]
        return org[0].windowed["7d"]["active_members"] if org else None

    assert org_active(exporter.tick().rollups) == 4

    view.rollups = {"alpha": alpha, "gamma": active_team("gamma", 5).counts(T0, 5)}
    view.rollup_changed = True
    monotonic[0] += ROLLUP_MIN_GAP_S / 2
    held = exporter.tick()
    assert held.changed.rollups == []
    assert org_active(held.rollups) == 4

    monotonic[0] += ROLLUP_MIN_GAP_S / 2
    caught_up = exporter.tick()  # no new input since: the change that waited is taken up
    assert org_active(caught_up.changed.rollups) == 9


def test_a_rollup_that_becomes_suppressed_is_withdrawn() -> None:
    roster = Roster(members("alpha", 6) + members("epsilon", 5))  # dev: nothing beyond them
    view = FakeView(roster, rollups={}, rollup_changed=True)
    exporter, _, _ = exporter_for(view)
    published = exporter.tick().rollups or []
    assert [(r.scope, r.key) for r in published] == [
        ("department", "dev"),
        ("division", "tech"),
        ("org", "org"),
    ]

    for entry in members("beta", 3):  # dev - alpha - epsilon would now give beta's figures
        roster.apply(entry)
    view.rollup_changed = True
    publication = exporter.tick()

    assert publication.rollups == []
    assert publication.withdrawn_rollups == (
        ("department", "dev"),
        ("division", "tech"),
        ("org", "org"),
    )


def test_a_rollup_still_published_is_not_withdrawn() -> None:
    roster = Roster(members("alpha", 6) + members("epsilon", 5))
    view = FakeView(roster, rollups={}, rollup_changed=True)
    exporter, _, _ = exporter_for(view)
    exporter.tick()

    for entry in members("beta", 5):  # a third published team: still nothing beyond them
        roster.apply(entry)
    view.rollup_changed = True

    assert exporter.tick().withdrawn_rollups == ()


def test_every_published_team_carries_a_drop_signal_state() -> None:
    view = FakeView(Roster(members("alpha", 6) + members("quiet", 5)))
    view.states["alpha"] = active_team("alpha", 4)
    exporter, _, _ = exporter_for(view)

    publication = exporter.tick()

    # An hour of history is too little to judge: said so, not left blank.
    assert {t: s.drop_signal for t, s in publication.teams.items()} == {
        "alpha": "insufficient_activity",
        "quiet": "insufficient_activity",
    }


def test_unchanged_teams_follow_the_organisation_at_most_every_org_rejudge_s_of_real_time() -> None:
    view = FakeView(Roster(members("alpha", 6) + members("beta", 6)))
    view.states["alpha"] = active_team("alpha", 4)
    view.states["beta"] = active_team("beta", 4)
    monotonic = [0.0]
    sink = RecordingSink()
    # The event clock stands still (a frozen clock, a replay): the throttle must not.
    exporter = Exporter(
        view, CONFIG, partitions=1, clock=lambda: T0, sinks=[sink],
        send_team_counts=lambda key, value: None, monotonic=lambda: monotonic[0],
    )  # fmt: skip
    exporter.tick()

    def beta_event(n: int) -> None:
        view.states["beta"].apply_event(
            Event(id=f"late{n}", type="learning.started", occurred_at=T0 - 1800,
                  actor="beta-0", source="lms", team="beta")
        )  # fmt: skip
        view.changed = {"beta"}

    beta_event(1)
    monotonic[0] = 1.0
    first = exporter.tick()  # the first change is taken up at once
    beta_event(2)
    monotonic[0] = 2.0
    soon = exporter.tick()
    monotonic[0] = 1.0 + ORG_REJUDGE_S
    settled = exporter.tick()  # nothing recounted: the change left waiting

    assert set(first.changed.teams) == {"alpha", "beta"}
    assert set(soon.changed.teams) == {"beta"}
    assert set(settled.changed.teams) == {"alpha"}


def test_an_idle_worker_follows_the_organisation_at_once() -> None:
    view = FakeView(Roster(members("alpha", 6) + members("beta", 6)))
    view.states["alpha"] = active_team("alpha", 4)
    view.states["beta"] = active_team("beta", 4)
    exporter = Exporter(
        view, CONFIG, partitions=1, clock=lambda: T0, sinks=[RecordingSink()],
        send_team_counts=lambda key, value: None, monotonic=lambda: 1.0,
    )  # fmt: skip
    exporter.tick()
    for n in (1, 2):  # the first change is taken up at once, the second waits
        view.states["beta"].apply_event(
            Event(id=f"late{n}", type="learning.started", occurred_at=T0 - 1800,
                  actor="beta-0", source="lms", team="beta")
        )  # fmt: skip
        view.changed = {"beta"}
        exporter.tick()

    busy = exporter.tick()  # the same instant: still within ORG_REJUDGE_S
    view.org_changed = True  # another worker's counts came in since: the organisation moves
    moving = exporter.tick(idle=True)
    idle = exporter.tick(idle=True)  # every stream stopped: no reason to wait

    assert set(busy.changed.teams) == set()
    assert set(moving.changed.teams) == set()
    assert set(idle.changed.teams) == {"alpha"}


def six_weeks_of(team: str, people: int, per_day: int, first_hour: int) -> TeamState:
    state = TeamState(team, CONFIG)
    for day in reversed(range(42)):  # in time order: older ones would be late
        for n in range(per_day):
            state.apply_event(
                Event(id=f"{team}-{day}-{n}", type="learning.started",
                      occurred_at=T0 - 86400 * (day + 1) + 3600 * (first_hour + n % 8),
                      actor=f"{team}-{n % people}", source="lms", team=team)
            )  # fmt: skip
    return state


def two_partition_exporter(view: FakeView) -> Exporter:
    return Exporter(view, CONFIG, partitions=2, clock=lambda: T0, sinks=[],
                    send_team_counts=lambda key, value: None)  # fmt: skip


def test_a_team_is_judged_against_the_whole_organisation_whichever_worker_owns_it() -> None:
    roster = Roster(members("alpha", 6) + members("zeta", 6))
    alpha, zeta = (
        six_weeks_of("alpha", 6, 40, first_hour=9),
        six_weeks_of("zeta", 6, 200, first_hour=14),
    )
    whole = {"alpha": alpha.counts(T0, 6), "zeta": zeta.counts(T0, 6)}
    expected = org_snapshot(whole, roster, CONFIG, T0).teams["alpha"]
    # alpha on partition 0, which the view owns; zeta on partition 1, another worker's
    alone = FakeView(roster, states={"alpha": alpha})  # without what another worker owns
    beside = FakeView(roster, states={"alpha": alpha}, org={"zeta": whole["zeta"]})

    judged_alone = two_partition_exporter(alone).tick().teams["alpha"]
    judged_beside = two_partition_exporter(beside).tick().teams["alpha"]

    # The sums run in another order: equal to the last bits, as the reference comparisons are.
    assert judged_beside.plain == pytest.approx(expected.plain, rel=1e-9)
    assert judged_beside.windowed["7d"] == pytest.approx(expected.windowed["7d"], rel=1e-9)
    assert judged_beside.drop_signal == expected.drop_signal
    # zeta's rhythm is part of the organisation's
    assert judged_alone.plain != pytest.approx(expected.plain, rel=1e-6)


def test_a_tenants_raised_minimum_withdraws_its_team_and_roll_ups_at_the_next_tick() -> None:
    acme, globex = "acme\x1falpha", "globex\x1falpha"
    view = FakeView(
        Roster(members(acme, 5, "acme\x1fdev") + members(globex, 5, "globex\x1fdev")),
        rollups={},
    )
    config = GaugeConfig()
    exporter = Exporter(
        view, config, partitions=1, clock=lambda: T0, sinks=[RecordingSink()],
        send_team_counts=lambda key, value: None,
    )  # fmt: skip
    first = exporter.tick()
    assert set(first.teams) == {acme, globex}

    # as the worker does when the tenants file changes
    assert config.use_tenants({"acme": TenantGauges(min_group_size=6)})
    exporter.judge_again()
    raised = exporter.tick()

    assert set(raised.teams) == {globex}
    assert raised.withdrawn == (acme,)
    assert {key.split("\x1f")[0] for _scope, key in raised.withdrawn_rollups} == {"acme"}
    assert all(not s.key.startswith("acme") for s in raised.rollups or ())
