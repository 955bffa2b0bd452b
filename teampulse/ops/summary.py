"""The demo's one-screen summary: teams with their engagement and change against their own
baseline, the alerts Prometheus has firing or pending, and how much the pipeline took in.

`summarise` turns what the worker's `/metrics` page and Prometheus' alerts API say into a
`Summary` (pure); `render` lays it out as a rich table that the demo redraws in place.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Group
from rich.table import Table
from rich.text import Text

from teampulse.gauges import catalog
from teampulse.sinks.overview import STATE_WORDS
from teampulse.web.reading import pending_words

__all__ = ["AlertLine", "Summary", "TeamLine", "pending_summary", "render", "summarise"]

SHOWN_TEAMS = 12  # the least engaged first: those are the ones to look at
SHOWN_SCOPES = 2  # labels of the first alerts of a kind; the rest are counted
ENGAGEMENT = catalog.metric_name("team", "engagement_score")
CHANGE = catalog.metric_name("team", "engagement_change_ratio")
PARTICIPATION = catalog.metric_name("team", "participation_ratio")
ORG_ENGAGEMENT = catalog.metric_name("org", "engagement_score")
WINDOW = "7d"
# Messages behind below which the worker counts as caught up: the figure the alert rules use
# for "the pipeline has read its backlog" (`sum(teampulse_consumer_lag) < 1000`).
CAUGHT_UP_LAG = 1000


@dataclass
class TeamLine:
    team: str
    engagement: float | None = None
    change: float | None = None
    participation: float | None = None
    signal: str | None = None  # the drop signal's state


@dataclass(frozen=True)
class AlertLine:
    name: str
    state: str  # firing | pending
    labels: str  # the alert's scope, e.g. "team=finance-vertex"
    fires_in: float | None = None  # pending: seconds until it fires if it holds


@dataclass
class Summary:
    teams: list[TeamLine] = field(default_factory=list)
    alerts: list[AlertLine] = field(default_factory=list)
    accepted: int = 0
    lag: int = 0  # messages the worker has still to read
    org_engagement: float | None = None
    attention: list[tuple[str, str]] = field(default_factory=list)  # (team, reasons in words)
    notification: list[str] = field(default_factory=list)  # the latest Teams card's lines

    @property
    def catching_up(self) -> bool:
        """Until the worker has read the backlog its teams show the roster with nothing
        counted yet: every team reads 0 and a quiet one looks like it needs attention."""
        return self.accepted == 0 or self.lag >= CAUGHT_UP_LAG

    def reading_words(self) -> str:
        behind = f"{self.lag:,} events still to read" if self.lag else "no events read yet"
        return f"the worker is reading the history ({behind}): figures follow once it has"


def parse_samples(text: str) -> Iterable[tuple[str, Mapping[str, str], float]]:
    """(name, labels, value) of each sample of a Prometheus text page."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            yield sample.name, sample.labels, sample.value


def summarise(
    metrics_text: str, alerts: list[Mapping[str, Any]], main_tenant: str | None = None
) -> Summary:
    """With tenants, a team is shown as `tenant/team`, and the organisation's engagement is
    `main_tenant`'s."""
    summary = Summary()
    teams: dict[str, TeamLine] = {}
    for name, labels, value in parse_samples(metrics_text):
        tenant = labels.get("tenant")
        if name == "teampulse_events_total" and labels.get("outcome") == "accepted":
            summary.accepted += int(value)
        elif name == "teampulse_consumer_lag":
            summary.lag += int(value)
        elif name == ORG_ENGAGEMENT and labels.get("window") == WINDOW:
            if tenant == main_tenant:
                summary.org_engagement = value
        elif "team" in labels:
            shown = labels["team"] if tenant is None else f"{tenant}/{labels['team']}"
            line = teams.setdefault(shown, TeamLine(shown))
            if name == ENGAGEMENT and labels.get("window") == WINDOW:
                line.engagement = value
            elif name == PARTICIPATION and labels.get("window") == WINDOW:
                line.participation = value
            elif name == CHANGE:
                line.change = value
            elif name == catalog.DROP_SIGNAL_METRIC and value == 1:
                line.signal = labels.get("state")
    summary.teams = sorted(
        (t for t in teams.values() if t.engagement is not None),
        key=lambda t: (t.engagement, t.team),
    )
    summary.alerts = sorted(
        (
            AlertLine(
                alert.get("labels", {}).get("alertname", "?"),
                alert.get("state", "?"),
                ", ".join(
                    f"{k}={v}"
                    for k, v in sorted(alert.get("labels", {}).items())
                    if k in ("tenant", "team", "initiative", "source", "department")
                ),
                alert.get("fires_in"),
            )
            for alert in alerts
        ),
        key=lambda a: (a.state != "firing", a.name, a.labels),
    )
    return summary


def pending_summary(pending: Iterable[AlertLine]) -> str:
    """ "TeamEngagementDropped team=x fires in about 1 min; AdoptionStalled x2 fires in about
    24 h": what is about to fire, one part per alert, the first of its kind to fire."""
    parts = []
    for name, alerts in sorted(_by_kind(pending), key=lambda kind: _soonest(kind[1]) or math.inf):
        when = pending_words(_soonest(alerts)).removeprefix("pending, ")
        parts.append(" ".join(part for part in (name, _which(alerts), when) if part))
    return "; ".join(parts)


def firing_summary(firing: Iterable[AlertLine]) -> str:
    """ "TeamEngagementDropped team=x; AdoptionStalled x2": what is firing, one part per alert."""
    return "; ".join(
        " ".join(part for part in (name, _which(alerts)) if part)
        for name, alerts in sorted(_by_kind(firing))
    )


def _by_kind(alerts: Iterable[AlertLine]) -> list[tuple[str, list[AlertLine]]]:
    kinds: dict[str, list[AlertLine]] = {}
    for alert in alerts:
        kinds.setdefault(alert.name, []).append(alert)
    return list(kinds.items())


def _which(alerts: list[AlertLine]) -> str:
    return alerts[0].labels if len(alerts) == 1 else f"x{len(alerts)}"


def _soonest(alerts: Iterable[AlertLine]) -> float | None:
    known = [a.fires_in for a in alerts if a.fires_in is not None]
    return min(known) if known else None


def _percent(value: float | None, signed: bool = False) -> Text:
    if value is None:
        return Text("–")
    text = f"{value:+.0%}" if signed else f"{value:.0%}"
    style = "red" if signed and value < 0 else ("green" if signed and value > 0 else "")
    return Text(text, style=style)


def render(summary: Summary, urls: Mapping[str, str]) -> Group:
    head = Text.assemble(
        ("TeamPulse demo  ", "bold"),
        f"{len(summary.teams)} teams published · {summary.accepted:,} events accepted · "
        f"org engagement ({WINDOW}) ",
        _percent(summary.org_engagement),
    )
    needing = Table(title="needs attention", title_justify="left", expand=False)
    needing.add_column("team")
    needing.add_column("why")
    if summary.catching_up:
        needing.add_row("…", summary.reading_words())
    else:
        for team, reasons in summary.attention[:SHOWN_TEAMS]:
            needing.add_row(Text(team, style="bold red"), reasons)
        if not summary.attention:
            needing.add_row("none", "every published team is within its usual range")
    teams = Table(title=f"least engaged teams ({WINDOW})", title_justify="left", expand=False)
    for column in ("team", "engagement", "vs baseline", "participation", "activity"):
        teams.add_column(column, justify="left" if column == "team" else "right")
    for line in summary.teams[:SHOWN_TEAMS]:
        teams.add_row(
            line.team,
            _percent(line.engagement),
            _percent(line.change, signed=True),
            _percent(line.participation),
            Text(
                STATE_WORDS.get(line.signal, line.signal) if line.signal else "–",
                style={"drop": "bold red", "watch": "yellow"}.get(line.signal or "", ""),
            ),
        )
    alerts = Table(title="alerts (Prometheus)", title_justify="left")
    for column in ("alert", "state", "how many", "for"):
        alerts.add_column(column)
    grouped: dict[tuple[str, str], list[str]] = {}
    for alert in summary.alerts:
        grouped.setdefault((alert.name, alert.state), []).append(alert.labels)
    for (name, state), scopes in grouped.items():  # one row per alert and state: one screen
        style = "bold red" if state == "firing" else "yellow"
        if state == "pending":
            state = pending_words(
                _soonest(a for a in summary.alerts if a.name == name and a.state == "pending")
            )
        shown = "; ".join(s for s in scopes[:SHOWN_SCOPES] if s)
        more = f" (+{len(scopes) - SHOWN_SCOPES} more)" if len(scopes) > SHOWN_SCOPES else ""
        alerts.add_row(Text(name, style=style), state, str(len(scopes)), shown + more)
    if not summary.alerts:
        alerts.add_row("none", "", "", "")
    card = Table(
        title="latest notification (the Teams card teampulse notify posted)",
        title_justify="left",
        show_header=False,
    )
    card.add_column("line")
    for text in summary.notification or ["none yet: an alert notifies once it fires"]:
        card.add_row(text)
    where = Text("\n".join(f"{name:<12} {url}" for name, url in urls.items()))
    return Group(head, needing, teams, alerts, card, where, Text("Stop with Ctrl-C.", style="dim"))
