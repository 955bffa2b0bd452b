"""What the web app, the notifications and the digest show, built from published figures.

Everything here starts from what the Redis writer published (docs/redis-keys.md), so it can
show nothing that the privacy rules withhold: a team below the minimum group size, or a
roll-up withheld by complementary suppression, has no hash and so no view. Pure: the
readers in `reading.py` fetch, these functions decide.

Which team needs attention, and why in words, is decided once here (`attention`) and shown
alike on the organisation page, the digest and the demo summary.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from teampulse.gauges.model import STAGES
from teampulse.settings import parse_duration
from teampulse.web.charts import percent

__all__ = [
    "ADKAR_STAGES",
    "Attention",
    "HistoryPoint",
    "InitiativeView",
    "InteractionMatrix",
    "ScopeView",
    "attention",
    "funnel_shares",
    "interaction_matrix",
    "scope_view",
]

WINDOW = "7d"  # the window the pages lead with: a working week and its weekend
ADKAR_STAGES = STAGES[1:]  # "none" is not a stage one reaches
# The thresholds of the alert rules (deploy/prometheus/rules/teampulse-alerts.yml), so a page
# never calls a team fine while its alert fires: engagement more than 50 % below its normal,
# fewer than half of the members active in the week.
DROPPED_CHANGE = -0.5
WATCH_CHANGE = -0.25
LOW_PARTICIPATION = 0.5
# The drop signal's states (issue 23's contract): only these two call for attention.
SIGNAL_ATTENTION = {"drop": 3, "watch": 1}


@dataclass(frozen=True)
class HistoryPoint:
    day: str  # YYYY-MM-DD
    engagement: float | None  # the day's engagement score (shortest window)
    baseline: float | None
    adoption: Mapping[str, float] = field(default_factory=dict)  # initiative -> ratio


@dataclass(frozen=True)
class InitiativeView:
    name: str
    stage_members: Mapping[str, int]  # highest stage reached -> members
    members: int
    ratio: float | None


@dataclass(frozen=True)
class ScopeView:
    scope: str  # team | department | division | org
    key: str
    fields: Mapping[str, str]  # the scope hash as Redis holds it
    initiatives: Sequence[InitiativeView] = ()
    history: Sequence[HistoryPoint] = ()

    def number(self, name: str) -> float | None:
        value = self.fields.get(name)
        return None if value is None else float(value)

    @property
    def department(self) -> str:
        return self.fields.get("department", "")

    @property
    def division(self) -> str:
        return self.fields.get("division", "")

    @property
    def as_of(self) -> float | None:
        return self.number("as_of")

    @property
    def engagement(self) -> float | None:
        return self.number(f"engagement_score:{WINDOW}")

    @property
    def change(self) -> float | None:
        return self.number("engagement_change_ratio")

    @property
    def drop_signal(self) -> str | None:
        return self.fields.get("drop_signal")


@dataclass(frozen=True)
class Attention:
    level: int  # 0: fine; higher first
    reasons: tuple[str, ...]  # in words, e.g. "engagement −46 % against its usual Tuesday"

    @property
    def needed(self) -> bool:
        return self.level > 0


def _count(value: float) -> str:
    return f"{value:,.0f}"


def attention(team: ScopeView) -> Attention:
    """Whether a team needs attention, and why, in words L&D can read. The drop signal leads
    where the worker publishes it; otherwise the change against the team's own normal."""
    level = 0
    reasons: list[str] = []
    signal = team.drop_signal
    events = team.number(f"activity_events:{WINDOW}")
    low = team.number(f"activity_normal_low_events:{WINDOW}")
    high = team.number(f"activity_normal_high_events:{WINDOW}")
    if signal in SIGNAL_ATTENTION and events is not None and low is not None and high is not None:
        level = SIGNAL_ATTENTION[signal]
        word = "well below" if signal == "drop" else "below"
        reasons.append(
            f"activity {_count(events)} events this week, {word} its usual "
            f"{_count(low)}–{_count(high)}"
        )
    change = team.change
    if change is not None and change < WATCH_CHANGE:
        level = max(level, 3 if change < DROPPED_CHANGE else 1)
        when = ""
        if team.as_of is not None:
            weekday = dt.datetime.fromtimestamp(team.as_of, dt.UTC).strftime("%A")
            when = f" {weekday}"
        reasons.append(f"engagement {percent(change, signed=True)} against its usual{when}")
    active = team.number(f"active_members:{WINDOW}")
    members = team.number("members")
    participation = team.number(f"participation_ratio:{WINDOW}")
    if participation is not None and participation < LOW_PARTICIPATION:
        level = max(level, 2)
        if active is not None and members is not None:
            reasons.append(f"participation {_count(active)} of {_count(members)} this week")
        else:
            reasons.append(f"participation {participation:.0%} this week")
    return Attention(level, tuple(reasons))


def judgement(team: ScopeView) -> str:
    """One phrase on how the team compares with its own normal, for every team."""
    if team.drop_signal == "insufficient_activity":
        return "not enough activity yet to judge"
    if team.change is not None:
        return f"engagement {percent(team.change, signed=True)} against its usual"
    if team.drop_signal == "ok":
        return "within its usual range"
    return "not enough activity yet to judge"


def funnel_shares(initiative: InitiativeView) -> list[tuple[str, float | None, str]]:
    """(stage, share of members at that stage or beyond, "n of m") from awareness on."""
    shares = []
    for index, stage in enumerate(ADKAR_STAGES):
        reached = sum(initiative.stage_members.get(s, 0) for s in ADKAR_STAGES[index:])
        share = reached / initiative.members if initiative.members else None
        shares.append((stage, share, f"{reached} of {initiative.members}"))
    return shares


def scope_view(
    scope: str,
    key: str,
    fields: Mapping[str, str],
    initiatives: Mapping[str, Mapping[str, str]],
    history: Sequence[Mapping[str, object]] = (),
) -> ScopeView:
    """A scope's view from its Redis hash, initiative hashes and history members (decoded)."""
    return ScopeView(
        scope=scope,
        key=key,
        fields=fields,
        initiatives=[
            InitiativeView(
                name=name,
                stage_members={s: int(float(adoption.get(f"members:{s}", 0))) for s in STAGES},
                members=int(float(adoption.get("members", 0))),
                ratio=float(adoption["ratio"]) if "ratio" in adoption else None,
            )
            for name, adoption in sorted(initiatives.items())
        ],
        history=[_history_point(member) for member in history],
    )


def _history_point(member: Mapping[str, object]) -> HistoryPoint:
    gauges = member.get("gauges")
    gauges = gauges if isinstance(gauges, Mapping) else {}
    adoption = member.get("adoption")
    adoption = adoption if isinstance(adoption, Mapping) else {}
    engagement = next(
        (v for k, v in gauges.items() if str(k).startswith("engagement_score:")), None
    )
    baseline = gauges.get("engagement_baseline")
    return HistoryPoint(
        day=str(member.get("day", "")),
        engagement=float(engagement) if isinstance(engagement, int | float) else None,
        baseline=float(baseline) if isinstance(baseline, int | float) else None,
        adoption={str(k): float(v) for k, v in adoption.items() if isinstance(v, int | float)},
    )


# A team hash's row of the team x team matrix: `interactions:{window}:{other team}`.
_INTERACTIONS = "interactions:"
_BRIDGING = "bridging_share"


@dataclass(frozen=True)
class InteractionMatrix:
    """The team x team matrix as the teams' hashes publish it: interactions (replies and
    reactions) between two published teams, both directions, in one window (the longest)."""

    window: str | None
    teams: tuple[str, ...]  # every team with at least one cell, sorted
    cells: Mapping[tuple[str, str], int]  # (team, other team) -> replies; symmetric
    breadth: Mapping[str, float]  # team -> cross-team breadth in that window
    # team -> its share of the organisation's cross-team threads in that window, for every
    # published team that has one (a team can bridge threads without a published pair)
    bridging: Mapping[str, float]

    @property
    def busiest(self) -> int:
        return max(self.cells.values(), default=0)


def interaction_matrix(teams: Sequence[ScopeView]) -> InteractionMatrix:
    """The matrix of the published teams; a cell whose other team is not among them (it
    stopped being published since) is left out, as the exporter would leave it out."""
    published = {team.key for team in teams}
    cells: dict[tuple[str, str], int] = {}
    windows: set[str] = set()
    for team in teams:
        for name, text in team.fields.items():
            if not name.startswith(_INTERACTIONS):
                continue
            label, _, other = name[len(_INTERACTIONS) :].partition(":")
            if other in published:
                windows.add(label)
                cells[(team.key, other)] = int(float(text))
    window = min(windows) if windows else None
    if window is None:  # no pair: the bridging shares still read in the longest window
        window = max(
            (n.partition(":")[2] for t in teams for n in t.fields if n.startswith(_BRIDGING)),
            key=parse_duration,
            default=None,
        )
    breadth: dict[str, float] = {}
    bridging: dict[str, float] = {}
    for team in teams:
        value = team.number(f"cross_team_breadth:{window}") if window is not None else None
        if value is not None:
            breadth[team.key] = value
        share = team.number(f"{_BRIDGING}:{window}") if window is not None else None
        if share is not None:
            bridging[team.key] = share
    named = sorted({t for pair in cells for t in pair})
    return InteractionMatrix(window, tuple(named), cells, breadth, bridging)
