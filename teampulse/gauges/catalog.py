"""Every gauge TeamPulse publishes: name, help text, unit, windowed or not, count or ratio.

The exporters name series from this catalog (docs/metrics.md):
  windowed gauge g of scope s -> teampulse_{s}_{g}{s="key", window="7d"}
  plain gauge g of scope s    -> teampulse_{s}_{g}{s="key"}
  team adoption               -> teampulse_adoption_{members,ratio,index}{team, initiative[, stage]}
  roll-up adoption            -> teampulse_{s}_adoption_{members,ratio,index}{s, initiative[,stage]}
  team info                   -> teampulse_team_info{team, department, division} 1
Counts are exported beside ratios so PromQL can roll teams up as sum(numerator)/sum(denominator).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from teampulse.gauges.counters import EVENT_COUNTERS

__all__ = [
    "ADOPTION",
    "ADOPTION_BY_NAME",
    "CONTENT",
    "CONTENT_TOTALS",
    "GAUGES",
    "INTERACTIONS_HELP",
    "INTERACTIONS_METRIC",
    "NETWORK_WINDOWED",
    "gauge_metric_names",
    "DROP_SIGNAL_HELP",
    "DROP_SIGNAL_METRIC",
    "PLAIN",
    "SIGNAL_PLAIN",
    "SIGNAL_WINDOWED",
    "WINDOWED",
    "Gauge",
    "Kind",
    "adoption_metric_name",
    "content_metric_name",
    "help_text",
    "info_help",
    "info_metric_name",
    "metric_name",
]

Kind = Literal["count", "ratio", "mean", "score", "duration"]


@dataclass(frozen=True, slots=True)
class Gauge:
    name: str  # the metric suffix after teampulse_{scope}_
    help: str  # Prometheus HELP text
    unit: str  # base unit: "people", "seconds", "events", "threads", "ratio", "score"
    windowed: bool
    kind: Kind


WINDOWED: tuple[Gauge, ...] = (
    Gauge(
        "active_members", "Distinct members with any event in the window", "people", True, "count"
    ),
    Gauge("participation_ratio", "Active members / members (0-1)", "ratio", True, "ratio"),
    *(Gauge(c.gauge, c.help, c.unit, True, "count") for c in EVENT_COUNTERS if c.gauge is not None),
    Gauge(
        "contributors",
        "Distinct members who posted or replied in the window",
        "people",
        True,
        "count",
    ),
    Gauge("threads_started", "Threads started by the team in the window", "threads", True, "count"),
    Gauge(
        "threads_replied",
        "Threads started by the team in the window that got a reply from someone else",
        "threads",
        True,
        "count",
    ),
    Gauge(
        "thread_replies",
        "Replies (so far) in the threads the team started in the window",
        "events",
        True,
        "count",
    ),
    Gauge(
        "reply_interactions",
        "Replies joined to their parent post in which the team was the replier or the parent",
        "events",
        True,
        "count",
    ),
    Gauge(
        "cross_team_interactions",
        "Reply interactions in which the other side was another team",
        "events",
        True,
        "count",
    ),
    Gauge(
        "reply_ratio",
        "Share of the threads started in the window answered by someone else (0-1)",
        "ratio",
        True,
        "ratio",
    ),
    Gauge(
        "first_reply_median_seconds",
        "Median time from a thread's start to its first reply by someone else",
        "seconds",
        True,
        "duration",
    ),
    Gauge(
        "first_cross_reply_median_seconds",
        "Median time from a thread's start to its first reply from another team",
        "seconds",
        True,
        "duration",
    ),
    Gauge(
        "first_within_reply_median_seconds",
        "Median time from a thread's start to its first reply by a teammate of the starter",
        "seconds",
        True,
        "duration",
    ),
    Gauge("thread_depth", "Mean replies per thread started in the window", "replies", True, "mean"),
    Gauge(
        "voice_evenness",
        "Normalised Shannon entropy of posts+replies per contributor (0 one voice, 1 even)",
        "ratio",
        True,
        "ratio",
    ),
    Gauge(
        "cross_team_ratio",
        "Share of reply interactions that cross team boundaries (0-1)",
        "ratio",
        True,
        "ratio",
    ),
    Gauge(
        "conversation_quality_score",
        "Conversation quality score (0-1), weights in scoring.yaml",
        "score",
        True,
        "score",
    ),
    Gauge(
        "engagement_score",
        "Engagement score (0-1), weights in scoring.yaml",
        "score",
        True,
        "score",
    ),
)

# The drop signal's figures (docs/gauges.md, "The drop signal"): teams only, one window.
SIGNAL_WINDOWED: tuple[Gauge, ...] = (
    Gauge(
        "activity_events",
        "Events in the window (what the drop signal counts)",
        "events",
        True,
        "count",
    ),
    Gauge(
        "activity_expected_events",
        "Events the team usually has in this window (its level x the organisation's week,"
        " adjusted for organisation-wide quiet days)",
        "events",
        True,
        "count",
    ),
    Gauge(
        "activity_normal_low_events",
        "Lower end of the team's normal range of events for this window (about 95 % of weeks)",
        "events",
        True,
        "count",
    ),
    Gauge(
        "activity_normal_high_events",
        "Upper end of the team's normal range of events for this window",
        "events",
        True,
        "count",
    ),
    Gauge(
        "usual_active_members",
        "Distinct members active in a usual week (mean over the reference weeks)",
        "people",
        True,
        "count",
    ),
)

# The team network gauges (docs/gauges.md, "Network"): teams only, every window. The team x
# team matrix is not a gauge of one scope: `INTERACTIONS_METRIC`, longest window only.
NETWORK_WINDOWED: tuple[Gauge, ...] = (
    Gauge(
        "cross_team_breadth",
        "Distinct other teams the team replied or reacted to and was replied or reacted to by,"
        " at least 2 in all, in the window",
        "teams",
        True,
        "count",
    ),
    Gauge(
        "bridging_share",
        "Share of the organisation's cross-team threads started in the window that the team"
        " posted or replied in (0-1)",
        "ratio",
        True,
        "ratio",
    ),
)
# teampulse_team_interactions{team, other_team, window}: replies and reactions between two teams
# of one tenant, both directions, in the longest window.
INTERACTIONS_METRIC = "teampulse_team_interactions"
INTERACTIONS_HELP = (
    "Replies and reactions between the team and other_team (both directions) in the window;"
    " both teams are"
    " published"
)

SIGNAL_PLAIN: tuple[Gauge, ...] = (
    Gauge(
        "activity_expected_working_day_events",
        "Events the team usually has on a working day (below 5 its drop signal cannot judge)",
        "events",
        False,
        "count",
    ),
    Gauge(
        "drop_evidence_ratio",
        "Evidence of a drop in activity / the drop threshold (1 = drop, watch from 0.5)",
        "ratio",
        False,
        "ratio",
    ),
)

PLAIN: tuple[Gauge, ...] = (
    Gauge("members", "Active members on the roster", "people", False, "count"),
    Gauge(
        "engagement_baseline",
        "Mean 20-hour engagement score at this time of the week, 1-4 weeks back (the normal)",
        "score",
        False,
        "score",
    ),
    Gauge(
        "engagement_change_ratio",
        "20-hour engagement score / baseline - 1 (-0.5 = down 50 % against its normal)",
        "ratio",
        False,
        "ratio",
    ),
)

ADOPTION: tuple[Gauge, ...] = (
    Gauge(
        "members",
        "Members whose highest ADKAR stage for the initiative is `stage` (none = no evidence)",
        "people",
        False,
        "count",
    ),
    Gauge("ratio", "Share of members at ability or reinforcement (0-1)", "ratio", False, "ratio"),
    Gauge(
        "index",
        "Mean stage progress (awareness 0.2 .. reinforcement 1.0) over members (0-1)",
        "score",
        False,
        "score",
    ),
)

GAUGES: dict[str, Gauge] = {
    g.name: g for g in WINDOWED + PLAIN + SIGNAL_WINDOWED + SIGNAL_PLAIN + NETWORK_WINDOWED
}
# The content table (docs/gauges.md, "Content"): per content item or group of a tenant, in
# the content windows; Prometheus gets the top items per initiative (`content.prometheus_view`),
# named teampulse_content_{g}{content, initiative, window[, within]}. The `within` gauges are
# one per span of practice_within (`practice_ratio_within_14d` in a snapshot).
CONTENT: tuple[Gauge, ...] = (
    Gauge("learners", "People who started or completed the content in the window", "people", True,
          "count"),
    Gauge("completers", "People who completed the content in the window", "people", True, "count"),
    Gauge("conversation_posts", "Posts that reference the content, in the window", "events", True,
          "count"),
    Gauge("conversation_replies", "Replies that reference the content, in the window", "events",
          True, "count"),
    Gauge("conversation_contributors", "People who posted or replied about the content",
          "people", True, "count"),
    Gauge("practice_ratio", "Share of completers with practice evidence for the content's"
          " initiative within `within` of completing it (0-1)", "ratio", True, "ratio"),
    Gauge("others_practice_ratio", "Share of the other members of the completers' teams with"
          " practice evidence for the initiative in the last `within` (0-1)", "ratio", True,
          "ratio"),
    Gauge("practice_uplift", "practice_ratio - others_practice_ratio (-1..1)", "ratio", True,
          "ratio"),
    Gauge("needs_attention", "1 when the content was completed widely with no conversation and"
          " no practice, else 0", "ratio", True, "ratio"),
)  # fmt: skip
CONTENT_WITHIN = ("practice_ratio", "others_practice_ratio", "practice_uplift")
# Per tenant and initiative: teampulse_content_{g}{initiative} (Prometheus's bounded view).
CONTENT_TOTALS: tuple[Gauge, ...] = (
    Gauge("items", "Content items and groups published for the initiative (Redis has them all)",
          "items", False, "count"),
    Gauge("needs_attention_items", "Published content of the initiative needing attention in"
          " the longest content window", "items", False, "count"),
)  # fmt: skip


def content_metric_name(gauge: str) -> str:
    """`teampulse_content_learners`, `teampulse_content_items`, ..."""
    return f"teampulse_content_{gauge}"


# teampulse_team_drop_signal{team, state}: 1 for the team's current state, 0 for the others.
DROP_SIGNAL_METRIC = "teampulse_team_drop_signal"
DROP_SIGNAL_HELP = (
    "Drop signal of the team's activity: 1 for the current state"
    " (ok, watch, drop, insufficient_activity), 0 for the others"
)
ADOPTION_BY_NAME: dict[str, Gauge] = {g.name: g for g in ADOPTION}


def help_text(gauge: str) -> str:
    """HELP text of a windowed or plain gauge; KeyError for a name not in the catalog."""
    return GAUGES[gauge].help


def metric_name(scope: str, gauge: str) -> str:
    """`teampulse_team_posts`, `teampulse_department_engagement_score`, ..."""
    return f"teampulse_{scope}_{gauge}"


def adoption_metric_name(scope: str, gauge: str) -> str:
    """Team adoption has no scope word (`teampulse_adoption_ratio`); roll-ups do."""
    if scope == "team":
        return f"teampulse_adoption_{gauge}"
    return f"teampulse_{scope}_adoption_{gauge}"


def info_metric_name(scope: str) -> str:
    """`teampulse_team_info`, `teampulse_department_info`: the org path as labels."""
    return f"teampulse_{scope}_info"


def info_help(scope: str) -> str:
    return f"Org path of the {scope} (department, division labels); always 1"


def gauge_metric_names(scopes: tuple[str, ...]) -> frozenset[str]:
    """Every metric name the gauges of these scopes can have."""
    return frozenset(
        name
        for scope in scopes
        for name in (
            *(metric_name(scope, g) for g in GAUGES),
            *(adoption_metric_name(scope, g) for g in ADOPTION_BY_NAME),
            info_metric_name(scope),
            *((DROP_SIGNAL_METRIC, INTERACTIONS_METRIC) if scope == "team" else ()),
        )
    )
