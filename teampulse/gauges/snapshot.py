"""From counts to published gauges, for a team or a roll-up, with privacy suppression.

`snapshot_from_counts` is the one place where counts become gauges: a team's snapshot comes
from its own counts, a department's, division's or the organisation's from the merge of its
teams' counts (sum of numerators over sum of denominators). Groups smaller than the minimum
group size are not published; their teams still count in the groups above them, but only
where no subtraction can single them out (`rollup_publishable`, docs/gauges.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from teampulse.contract.event import UNASSIGNED_TEAM
from teampulse.contract.tenant_scope import scoped, tenant_of, unscoped
from teampulse.enrichment.roster import Roster
from teampulse.gauges import formulas
from teampulse.gauges.config import DAY_S, EVIDENCE_STAGES, GaugeConfig
from teampulse.gauges.content import content_table
from teampulse.gauges.counters import EVENT_COUNTERS
from teampulse.gauges.counts import TeamCounts, WindowCounts
from teampulse.gauges.drop_signal import DropSignal, OrgActivity, drop_signal, org_activity
from teampulse.gauges.model import (
    ORG_KEY,
    STAGES,
    InitiativeSnapshot,
    OrgSnapshot,
    Scope,
    ScopeSnapshot,
)

__all__ = [
    "BaselineSums",
    "baseline_sums",
    "engagement_score_of",
    "initiative_snapshot",
    "Organisations",
    "org_activity_of",
    "organisations_of",
    "org_snapshot",
    "publishable",
    "rollup_snapshots",
    "snapshot_from_counts",
    "team_snapshot",
    "window_gauges",
]

# Stage ranks for the adoption index: awareness 1 .. reinforcement 5.
STAGE_RANK = {stage: rank for rank, stage in enumerate(STAGES)}
TOP_RANK = len(STAGES) - 1
ADOPTED_STAGES = ("ability", "reinforcement")


def window_gauges(
    counts: WindowCounts, members: int, window_s: int, config: GaugeConfig
) -> dict[str, float]:
    """Every windowed gauge of one window; undefined ones are left out."""
    scoring = config.scoring
    learning_seconds = counts.learning_ms / 1000
    gauges: dict[str, float | None] = {
        "active_members": counts.active_members,
        **{
            c.gauge: c.published(getattr(counts, c.name))
            for c in EVENT_COUNTERS
            if c.gauge is not None
        },
        "contributors": counts.contributors,
        "threads_started": counts.threads_started,
        "threads_replied": counts.threads_replied,
        "thread_replies": counts.thread_replies,
        "reply_interactions": counts.reply_interactions,
        "cross_team_interactions": counts.cross_team_interactions,
        "participation_ratio": formulas.capped_ratio(counts.active_members, members),
        "reply_ratio": formulas.ratio(counts.threads_replied, counts.threads_started),
        "first_reply_median_seconds": formulas.median(counts.first_reply_latencies),
        "first_cross_reply_median_seconds": formulas.median(counts.first_cross_reply_latencies),
        "first_within_reply_median_seconds": formulas.median(counts.first_within_reply_latencies),
        "thread_depth": formulas.ratio(counts.thread_replies, counts.threads_started),
        "voice_evenness": formulas.voice_evenness(counts.contributions),
        "cross_team_ratio": formulas.ratio(
            counts.cross_team_interactions, counts.reply_interactions
        ),
    }
    quality = formulas.conversation_quality_score(
        reply_ratio=gauges["reply_ratio"],
        first_reply_median_s=gauges["first_reply_median_seconds"],
        thread_depth=gauges["thread_depth"],
        voice_evenness=gauges["voice_evenness"],
        cross_team_ratio=gauges["cross_team_ratio"],
        scoring=scoring.conversation_quality,
    )
    gauges["conversation_quality_score"] = quality
    gauges["engagement_score"] = formulas.engagement_score(
        members=members,
        window_days=window_s / DAY_S,
        active_members=counts.active_members,
        learning_seconds=learning_seconds,
        contributions=counts.posts + counts.replies,
        conversation_quality=quality,
        scoring=scoring.engagement,
    )
    return {name: value for name, value in gauges.items() if value is not None}


def engagement_score_of(
    counts: WindowCounts, members: int, window_s: int, config: GaugeConfig
) -> float | None:
    """The engagement score alone (what the baseline samples)."""
    return window_gauges(counts, members, window_s, config).get("engagement_score")


class BaselineSums(NamedTuple):
    """A team's engagement baseline as the member-weighted sums `TeamCounts` carries, so a
    merge of teams stays exact (all zero when the team has no baseline or no current score)."""

    baseline_members: int = 0
    baseline_sum: float = 0.0
    current_sum: float = 0.0
    baseline_events: float = 0.0


def baseline_sums(
    baseline: float | None,
    evidence: float | None,
    current_window: Callable[[], WindowCounts],
    members: int,
    config: GaugeConfig,
) -> BaselineSums:
    """The weighted sums of a team's baseline (the mean of its samples, and the mean events of
    those samples), and of its current baseline-window score, read from `current_window` only
    when there is a baseline to compare it with. The stream and the reference both use it."""
    if baseline is None:
        return BaselineSums()
    current = engagement_score_of(current_window(), members, config.baseline_window_s, config)
    if current is None:
        return BaselineSums()
    return BaselineSums(
        baseline_members=members,
        baseline_sum=members * baseline,
        current_sum=members * current,
        baseline_events=evidence if evidence is not None else 0.0,
    )


def initiative_snapshot(stage_counts: tuple[int, ...], members: int) -> InitiativeSnapshot:
    by_stage = dict(zip(EVIDENCE_STAGES, stage_counts, strict=True))
    evidenced = sum(stage_counts)
    stage_members = {"none": max(0, members - evidenced), **by_stage}
    if members <= 0:
        return InitiativeSnapshot(stage_members=stage_members, members=0, ratio=None, index=None)
    adopted = sum(by_stage[s] for s in ADOPTED_STAGES)
    progress = sum(STAGE_RANK[s] * n for s, n in by_stage.items())
    return InitiativeSnapshot(
        stage_members=stage_members,
        members=members,
        ratio=min(1.0, adopted / members),
        index=min(1.0, progress / (TOP_RANK * members)),
    )


def snapshot_from_counts(
    scope: Scope,
    key: str,
    counts: TeamCounts,
    members: int,
    config: GaugeConfig,
    as_of: float,
    info: Mapping[str, str] | None = None,
) -> ScopeSnapshot:
    """The gauges of a team or a group from its (merged) counts and its roster size."""
    windowed = {
        label: window_gauges(counts.windows.get(label, WindowCounts()), members, seconds, config)
        for label, seconds in config.windows.items()
    }
    plain: dict[str, float] = {"members": members}
    if counts.baseline_members > 0:
        baseline = counts.baseline_sum / counts.baseline_members
        plain["engagement_baseline"] = baseline
        change = formulas.change_ratio(counts.current_sum, counts.baseline_sum)
        # A normal of a handful of events (a night, a weekend) swings by 100 % on chance alone.
        if change is not None and counts.baseline_events >= config.scoring.baseline.min_events:
            plain["engagement_change_ratio"] = change
    zero = (0,) * len(EVIDENCE_STAGES)
    initiatives = {
        initiative.id: initiative_snapshot(counts.adoption.get(initiative.id, zero), members)
        for initiative in config.initiatives
    }
    return ScopeSnapshot(
        scope=scope,
        key=key,
        as_of=as_of,
        windowed=windowed,
        plain=plain,
        initiatives=initiatives,
        info=dict(info or {}),
    )


def signal_gauges(signal: DropSignal) -> tuple[dict[str, float], dict[str, float]]:
    """The drop signal's windowed gauges (its window) and plain gauges; undefined left out."""
    windowed: dict[str, float | None] = {
        "activity_events": signal.events,
        "activity_expected_events": signal.expected,
        "activity_normal_low_events": signal.normal_low,
        "activity_normal_high_events": signal.normal_high,
        "usual_active_members": signal.usual_active_members,
    }
    plain: dict[str, float | None] = {
        "activity_expected_working_day_events": signal.expected_per_working_day,
        "drop_evidence_ratio": signal.evidence_ratio,
    }
    return (
        {k: v for k, v in windowed.items() if v is not None},
        {k: v for k, v in plain.items() if v is not None},
    )


def org_activity_of(
    team_counts: Mapping[str, TeamCounts], roster: Roster, config: GaugeConfig
) -> OrgActivity:
    """The organisation's activity: every team the roster places in it, sorted."""
    teams = sorted(t for t in team_counts if t != UNASSIGNED_TEAM and roster.path(t) is not None)
    return org_activity((team_counts[t].activity for t in teams), config)


@dataclass(frozen=True, slots=True)
class Organisations:
    """The organisation of every tenant (the one implicit tenant's under None): a team's
    drop signal is set against its own tenant's teams, never against another tenant's."""

    by_tenant: Mapping[str | None, OrgActivity]
    # Per tenant and window: the cross-team threads started in it, each counted once (by its
    # owner team), what a team's bridging share is a share of.
    cross_team_threads: Mapping[str | None, Mapping[str, int]] = field(default_factory=dict)

    def of(self, team: str) -> OrgActivity | None:
        return self.by_tenant.get(tenant_of(team))

    def cross_team_threads_of(self, team: str) -> Mapping[str, int]:
        return self.cross_team_threads.get(tenant_of(team), {})

    def judged_by(self) -> tuple[object, ...]:
        return tuple(
            (tenant, self.by_tenant[tenant].judged_by())
            for tenant in sorted(self.by_tenant, key=lambda t: t or "")
        ) + tuple(
            (tenant, tuple(sorted(self.cross_team_threads[tenant].items())))
            for tenant in sorted(self.cross_team_threads, key=lambda t: t or "")
        )


def organisations_of(
    team_counts: Mapping[str, TeamCounts], roster: Roster, config: GaugeConfig
) -> Organisations:
    """Each tenant's organisation: every team the roster places in it, sorted. Its
    cross-team threads are every team's of the tenant (a team the roster does not know,
    named by a producer, starts threads of the organisation too)."""
    teams: dict[str | None, list[str]] = defaultdict(list)
    threads: dict[str | None, dict[str, int]] = defaultdict(dict)
    for team in sorted(team_counts):
        if team != UNASSIGNED_TEAM and roster.path(team) is not None:
            teams[tenant_of(team)].append(team)
        if unscoped(team) != UNASSIGNED_TEAM:
            totals = threads[tenant_of(team)]
            for label, window in team_counts[team].windows.items():
                totals[label] = totals.get(label, 0) + window.cross_team_threads
    return Organisations(
        {
            tenant: org_activity((team_counts[t].activity for t in members), config)
            for tenant, members in teams.items()
        },
        dict(threads),
    )


def min_group_size_of(key: str, config: GaugeConfig) -> int:
    """The minimum group size for a team or roll-up: its tenant's own when the tenants file
    sets one, else the deployment's."""
    return config.of(key).min_group_size


def publishable(team: str, members: int, path: tuple[str, str] | None, config: GaugeConfig) -> bool:
    """Privacy: only teams the roster knows, of at least the minimum group size."""
    return (
        team != UNASSIGNED_TEAM and path is not None and members >= min_group_size_of(team, config)
    )


def team_snapshot(
    team: str,
    counts: TeamCounts | None,
    members: int,
    path: tuple[str, str] | None,
    config: GaugeConfig,
    as_of: float,
    org: OrgActivity | None = None,
    roster: Roster | None = None,
    org_threads: Mapping[str, int] | None = None,
) -> ScopeSnapshot | None:
    """A team's published snapshot, or None when privacy forbids publishing it.

    `members` and `path` (department, division) come from the roster (`Roster.team_size`,
    `Roster.path`); counts None means the team has no state yet (zero activity). `org` is
    the organisation's activity the drop signal sets the team against (`org_activity_of`);
    without it the team is its own organisation (its own week, no holiday adjustment).
    `roster` decides which other teams may appear in the team's row of the interaction
    matrix (published ones of its tenant); without it the row is empty. `org_threads` are
    the organisation's cross-team threads per window (`Organisations.cross_team_threads_of`),
    what the bridging share divides by; without them it is not published.
    """
    if not publishable(team, members, path, config) or path is None:
        return None
    config = config.of(team)  # its tenant's scoring and initiatives
    department, division = path
    counts = counts if counts is not None else TeamCounts.empty(config, members)
    snapshot = snapshot_from_counts(
        "team",
        team,
        counts,
        members,
        config,
        as_of,
        info={"department": department, "division": division},
    )
    if org is None:
        org = org_activity([counts.activity], config)
    signal = drop_signal(counts.activity, org, members, as_of, config)
    windowed, plain = signal_gauges(signal)
    snapshot.windowed.setdefault(signal.window, {}).update(windowed)
    snapshot.plain.update(plain)
    snapshot.drop_signal = signal.state
    add_network_gauges(snapshot, team, counts, config, roster, org_threads)
    return snapshot


def add_network_gauges(
    snapshot: ScopeSnapshot,
    team: str,
    counts: TeamCounts,
    config: GaugeConfig,
    roster: Roster | None,
    org_threads: Mapping[str, int] | None = None,
) -> None:
    """Cross-team breadth and the bridging share in every window; the team's row of the
    interaction matrix in the longest window, with only the other teams that are published
    themselves, of its tenant.
    A reply with a team below the minimum group size is in no published pair, so the matrix
    never shows a small team's conversations (it still counts in breadth, a bare number)."""
    for label, window in counts.windows.items():
        partners = [p for p in window.partners if p[0] != UNASSIGNED_TEAM]
        gauges = snapshot.windowed.setdefault(label, {})
        gauges["cross_team_breadth"] = formulas.cross_team_breadth(partners)
        share = (
            formulas.bridging_share(window.bridged_threads, org_threads.get(label, 0))
            if org_threads is not None
            else None
        )
        if share is not None:
            gauges["bridging_share"] = share
    longest = next(
        (label for label, s in config.windows.items() if s == config.longest_window_s), None
    )
    matrix_window = counts.windows.get(longest) if longest is not None else None
    if roster is None or matrix_window is None or longest is None:
        return
    tenant = tenant_of(team)
    row = {
        other: to + back
        for other, to, back in matrix_window.partners
        if tenant_of(other) == tenant
        and publishable(other, roster.team_size(other), roster.path(other), config)
    }
    if row:
        snapshot.interactions[longest] = row


def rollup_publishable(members: int, uncovered: int, config: GaugeConfig, key: str = "") -> bool:
    """Privacy of a roll-up: big enough itself, and what it holds beyond its published
    sub-groups (`uncovered` people) is nobody or a group big enough to be published.

    Otherwise the roll-up minus its published sub-groups would give the figures of a group
    below the minimum size: complementary suppression.
    """
    minimum = min_group_size_of(key, config)
    return members >= minimum and (uncovered == 0 or uncovered >= minimum)


def rollup_snapshots(
    team_counts: Mapping[str, TeamCounts], roster: Roster, config: GaugeConfig, as_of: float
) -> list[ScopeSnapshot]:
    """Department, division and organisation snapshots from the teams of the roster.

    Every roster team counts (also the small ones and those without events yet). Groups are
    decided bottom-up (departments, divisions, the organisation), each against every
    published group below it: a group is published when `rollup_publishable` says so.
    Teams the roster does not know (and `unassigned`) belong to no group. Each tenant is
    an organisation of its own (its roster's department and division names are scoped to it).
    """
    groups: dict[tuple[Scope, str], list[str]] = defaultdict(list)
    published_teams: set[str] = set()
    for team in roster.teams():  # sorted, so merges add up in a fixed order
        path = roster.path(team)
        if team == UNASSIGNED_TEAM or path is None:
            continue
        if publishable(team, roster.team_size(team), path, config):
            published_teams.add(team)
        department, division = path
        groups[("department", department)].append(team)
        groups[("division", division)].append(team)
        groups[("org", scoped(tenant_of(team), ORG_KEY))].append(team)
    published_groups: list[frozenset[str]] = []  # team sets of the roll-ups published so far
    snapshots = []
    for (scope, key), teams in sorted(groups.items(), key=_group_order):
        members = sum(roster.team_size(team) for team in teams)
        team_set = frozenset(teams)
        covered = published_teams & team_set
        for lower in published_groups:
            if lower <= team_set:
                covered |= lower
        uncovered = members - sum(roster.team_size(team) for team in covered)
        if not rollup_publishable(members, uncovered, config, key):
            continue
        published_groups.append(team_set)
        merged = TeamCounts.merge(
            team_counts.get(team) or TeamCounts.empty(config, roster.team_size(team))
            for team in teams
        )
        snapshots.append(snapshot_from_counts(scope, key, merged, members, config.of(key), as_of))
    return snapshots


def _group_order(item: tuple[tuple[Scope, str], list[str]]) -> tuple[int, str]:
    (scope, key), _ = item
    return ("department", "division", "org").index(scope), key


def org_snapshot(
    team_counts: Mapping[str, TeamCounts], roster: Roster, config: GaugeConfig, as_of: float
) -> OrgSnapshot:
    """Published teams and roll-ups of a whole organisation at one instant."""
    teams = {}
    organisations = organisations_of(team_counts, roster, config)
    for team in sorted(set(roster.teams()) | set(team_counts)):
        snapshot = team_snapshot(
            team,
            team_counts.get(team),
            roster.team_size(team),
            roster.path(team),
            config,
            as_of,
            organisations.of(team),
            roster,
            organisations.cross_team_threads_of(team),
        )
        if snapshot is not None:
            teams[team] = snapshot
    return OrgSnapshot(
        as_of=as_of,
        teams=teams,
        rollups=rollup_snapshots(team_counts, roster, config, as_of),
        content=content_table({t: c.content for t, c in team_counts.items()}, config),
    )
