"""Sufficient statistics of a team as of one instant: what every gauge is computed from.

`TeamCounts` holds, per window, the additive counts (active members, learning time, posts,
threads, reply interactions...) and the two anonymous multisets the non-additive gauges need
(contributions per contributor, for voice evenness; first-reply latencies, for the median);
the members at each adoption stage per initiative; and the baseline as member-weighted sums.

A department's counts are the merge of its teams' counts, so team gauges and roll-up gauges
come from one function (`snapshot.snapshot_from_counts`). Counts travel to the roll-up owner
over Kafka as `to_wire()` dicts. No person id is in them: contributions are bare numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from teampulse.gauges.config import EVIDENCE_STAGES, GaugeConfig
from teampulse.gauges.content import ContentCounts
from teampulse.gauges.counters import EVENT_COUNTERS

__all__ = ["LATENCIES", "ActivityCounts", "TeamCounts", "WindowCounts", "merge_partners"]

# Counts that add up across buckets and across teams: the event counters (declared in
# `gauges.counters`), active members (summed across teams), the counts of the thread join.
ADDITIVE = (
    *(counter.name for counter in EVENT_COUNTERS),
    "active_members",
    "threads_started",
    "threads_replied",
    "thread_replies",
    "reply_interactions",
    "cross_team_interactions",
    "bridged_threads",
    "cross_team_threads",
)


# The first-reply latencies a window keeps (sorted multisets of seconds).
LATENCIES = (
    "first_reply_latencies",
    "first_cross_reply_latencies",
    "first_within_reply_latencies",
)


def merge_partners(
    parts: Iterable[tuple[tuple[str, int, int], ...]],
) -> tuple[tuple[str, int, int], ...]:
    """Interactions per other team, summed over the parts (sorted by team)."""
    sums: dict[str, tuple[int, int]] = {}
    for part in parts:
        for team, to, back in part:
            known_to, known_back = sums.get(team, (0, 0))
            sums[team] = (known_to + to, known_back + back)
    return tuple((team, to, back) for team, (to, back) in sorted(sums.items()))


@dataclass(frozen=True, slots=True)
class WindowCounts:
    # The event counters: one field each, in the order of `counters.EVENT_COUNTERS`.
    events: int = 0  # accepted events (the evidence a baseline rests on)
    active_members: int = 0  # distinct people with an accepted event (per team; summed above)
    learning_ms: int = 0  # learning time in whole milliseconds
    starts: int = 0
    completions: int = 0
    assessments_passed: int = 0
    posts: int = 0
    replies: int = 0
    reactions: int = 0
    # The thread join's counts.
    threads_started: int = 0  # threads rooted in the team, started in the window
    threads_replied: int = 0  # ... that got a reply from someone other than the starter
    thread_replies: int = 0  # replies in those threads (any author)
    reply_interactions: int = 0  # joined replies the team took part in (replier or parent)
    cross_team_interactions: int = 0  # ... where the other side was another team
    # Cross-team threads (posts from two teams or more) started in the window: those the
    # team posted or replied in, and those it counts for its organisation (their owner).
    bridged_threads: int = 0
    cross_team_threads: int = 0
    # Per other team: (team, the team's replies to it, its replies to the team), sorted by team.
    # Team-level only: what the network gauges read (`formulas.cross_team_breadth`).
    partners: tuple[tuple[str, int, int], ...] = ()
    contributions: tuple[int, ...] = ()  # posts + replies per contributor, sorted ascending
    first_reply_latencies: tuple[float, ...] = ()  # seconds, per replied thread, sorted
    # ... to the first reply from another team, and from a teammate of the starter
    first_cross_reply_latencies: tuple[float, ...] = ()
    first_within_reply_latencies: tuple[float, ...] = ()

    @property
    def contributors(self) -> int:
        return len(self.contributions)

    @staticmethod
    def merge(parts: Sequence[WindowCounts]) -> WindowCounts:
        return WindowCounts(
            **{name: sum(getattr(p, name) for p in parts) for name in ADDITIVE},
            partners=merge_partners(p.partners for p in parts),
            contributions=tuple(sorted(c for p in parts for c in p.contributions)),
            first_reply_latencies=tuple(sorted(x for p in parts for x in p.first_reply_latencies)),
            first_cross_reply_latencies=tuple(
                sorted(x for p in parts for x in p.first_cross_reply_latencies)
            ),
            first_within_reply_latencies=tuple(
                sorted(x for p in parts for x in p.first_within_reply_latencies)
            ),
        )

    def to_wire(self) -> dict[str, Any]:
        # Tuples as they are: JSON writes them as arrays, and copying them into lists was a
        # third of encoding a team's counts (a busy team's partners and latencies are long).
        wire: dict[str, Any] = {name: getattr(self, name) for name in ADDITIVE}
        wire["partners"] = self.partners
        wire["contributions"] = self.contributions
        wire["first_reply_latencies"] = self.first_reply_latencies
        wire["first_cross_reply_latencies"] = self.first_cross_reply_latencies
        wire["first_within_reply_latencies"] = self.first_within_reply_latencies
        return wire

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> WindowCounts:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in wire.items() if k in known}
        values["partners"] = tuple(
            (str(team), int(to), int(back)) for team, to, back in wire.get("partners", ())
        )
        values["contributions"] = tuple(map(int, wire.get("contributions", ())))
        for name in LATENCIES:
            values[name] = tuple(map(float, wire.get(name, ())))
        return cls(**values)


@dataclass(frozen=True, slots=True)
class ActivityCounts:
    """Raw event counts by bucket, what the drop signal (`gauges.drop_signal`) reads.

    Positions are relative to the bucket `as_of` falls in. `recent` holds the events of each
    bucket of the signal's span, oldest first, the last one being the current (partial)
    bucket. The reference weeks are the weeks before the span: `profile[p]` sums, over them,
    the events at position p of the week (the same hour of the week as `recent[p]`,
    `recent[p + week]`...); `days` holds each reference week's seven 24-hour blocks (the most
    recent week first, each week's blocks oldest first); `usual_active` the distinct members
    active in each reference week, and `active` those of the last week of the span.
    Every field adds up across teams, so the organisation's activity is their merge.
    """

    recent: tuple[int, ...] = ()
    profile: tuple[int, ...] = ()
    days: tuple[int, ...] = ()
    active: int = 0
    usual_active: tuple[int, ...] = ()

    @classmethod
    def of(
        cls,
        recent: tuple[int, ...],
        profile: tuple[int, ...],
        days: tuple[int, ...],
        active: int,
        usual_active: tuple[int, ...],
    ) -> ActivityCounts:
        """The counts, or the empty ones when they hold no event: a team whose events all
        left the span and the reference (or were erased) counts as a team without any."""
        if not any(recent) and not any(profile):
            return cls()
        return cls(recent, profile, days, active, usual_active)

    @staticmethod
    def merge(parts: Sequence[ActivityCounts]) -> ActivityCounts:
        def summed(name: str) -> tuple[int, ...]:
            columns = [getattr(p, name) for p in parts if getattr(p, name)]
            return tuple(sum(c) for c in zip(*columns, strict=True)) if columns else ()

        return ActivityCounts(
            recent=summed("recent"),
            profile=summed("profile"),
            days=summed("days"),
            active=sum(p.active for p in parts),
            usual_active=summed("usual_active"),
        )

    def to_wire(self) -> dict[str, Any]:
        return {
            "recent": list(self.recent),
            "profile": list(self.profile),
            "days": list(self.days),
            "active": self.active,
            "usual_active": list(self.usual_active),
        }

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> ActivityCounts:
        return cls(
            recent=tuple(map(int, wire.get("recent", ()))),
            profile=tuple(map(int, wire.get("profile", ()))),
            days=tuple(map(int, wire.get("days", ()))),
            active=int(wire.get("active", 0)),
            usual_active=tuple(map(int, wire.get("usual_active", ()))),
        )


@dataclass(frozen=True, slots=True)
class TeamCounts:
    members: int  # the team size the counts were taken with (summed in a merge)
    windows: dict[str, WindowCounts] = field(default_factory=dict)
    # initiative -> members whose highest stage is awareness, desire, knowledge, ability,
    # reinforcement (in that order); people without evidence are not counted here.
    adoption: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # Baseline as member-weighted sums over the teams whose baseline is defined, so a merge
    # stays exact: baseline = baseline_sum / baseline_members, and the change ratio compares
    # current_sum (the same teams' current scores) with baseline_sum.
    baseline_members: int = 0
    baseline_sum: float = 0.0
    current_sum: float = 0.0
    # Events per baseline sample (the mean over the defined samples), summed in a merge: the
    # change ratio is defined only when its normal rests on enough of them.
    baseline_events: float = 0.0
    activity: ActivityCounts = ActivityCounts()
    # Content window -> content key -> the team's content counts (`gauges.content`). Summed
    # per tenant by `content.content_table`, never per roll-up: a merge leaves it empty.
    content: dict[str, dict[str, ContentCounts]] = field(default_factory=dict)

    @classmethod
    def empty(cls, config: GaugeConfig, members: int = 0) -> TeamCounts:
        """Counts of a team that has no events yet (it still counts in roll-ups)."""
        zero = (0,) * len(EVIDENCE_STAGES)
        return cls(
            members=members,
            windows={label: WindowCounts() for label in config.windows},
            adoption={initiative.id: zero for initiative in config.initiatives},
            content={label: {} for label in config.content_windows},
        )

    @staticmethod
    def merge(parts: Iterable[TeamCounts]) -> TeamCounts:
        """Counts of a group of teams; pass them in a fixed order (e.g. sorted by team)."""
        parts = list(parts)
        labels = list(dict.fromkeys(label for p in parts for label in p.windows))
        initiatives = list(dict.fromkeys(i for p in parts for i in p.adoption))
        zero = (0,) * len(EVIDENCE_STAGES)
        return TeamCounts(
            members=sum(p.members for p in parts),
            windows={
                label: WindowCounts.merge([p.windows[label] for p in parts if label in p.windows])
                for label in labels
            },
            adoption={
                i: tuple(
                    sum(stage)
                    for stage in zip(*(p.adoption.get(i, zero) for p in parts), strict=True)
                )
                for i in initiatives
            },
            baseline_members=sum(p.baseline_members for p in parts),
            baseline_sum=sum(p.baseline_sum for p in parts),
            current_sum=sum(p.current_sum for p in parts),
            baseline_events=sum(p.baseline_events for p in parts),
            activity=ActivityCounts.merge([p.activity for p in parts]),
        )

    def to_wire(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "windows": {label: w.to_wire() for label, w in self.windows.items()},
            "adoption": {i: list(stages) for i, stages in self.adoption.items()},
            "baseline_members": self.baseline_members,
            "baseline_sum": self.baseline_sum,
            "current_sum": self.current_sum,
            "baseline_events": self.baseline_events,
            "activity": self.activity.to_wire(),
            "content": {
                label: {key: c.to_wire() for key, c in items.items()}
                for label, items in self.content.items()
            },
        }

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> TeamCounts:
        return cls(
            members=int(wire["members"]),
            windows={
                label: WindowCounts.from_wire(w) for label, w in wire.get("windows", {}).items()
            },
            adoption={i: tuple(map(int, s)) for i, s in wire.get("adoption", {}).items()},
            baseline_members=int(wire.get("baseline_members", 0)),
            baseline_sum=float(wire.get("baseline_sum", 0.0)),
            current_sum=float(wire.get("current_sum", 0.0)),
            baseline_events=float(wire.get("baseline_events", 0.0)),
            activity=ActivityCounts.from_wire(wire.get("activity", {})),
            content={
                label: {key: ContentCounts.from_wire(c) for key, c in items.items()}
                for label, items in wire.get("content", {}).items()
            },
        )
