"""The web app's pages as HTML: Organisation, Initiatives, Team, Alerts and a runbook.

Pure: views in, HTML out. No JavaScript, no request leaving the deployment (the styles are
inline, the charts are SVG in the page), and a print style sheet that drops the navigation
and keeps charts whole on a page.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from teampulse.settings import parse_duration
from teampulse.web.charts import (
    Bar,
    Series,
    bar_chart,
    funnel_chart,
    heat_map,
    line_chart,
    percent,
)
from teampulse.web.model import (
    WINDOW,
    InitiativeView,
    ScopeView,
    attention,
    funnel_shares,
    interaction_matrix,
    judgement,
)
from teampulse.web.reading import AlertView, Published, pending_words
from teampulse.web.runbooks import render_markdown, runbook_path

__all__ = [
    "alerts_page",
    "initiatives_page",
    "network_page",
    "not_found_page",
    "organisation_page",
    "runbook_page",
    "team_page",
    "team_path",
    "weekly_adoption",
]

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; color: #1d2330; background: #fff; }
header { background: #1d2330; color: #fff; padding: .6rem 1.5rem; display: flex; gap: 1.5rem;
  align-items: baseline; }
header a { color: #fff; text-decoration: none; } header strong { font-size: 1.1rem; }
main { padding: 1rem 1.5rem 3rem; max-width: 1100px; }
h1 { font-size: 1.5rem; margin: .5rem 0; } h2 { font-size: 1.15rem; margin-top: 1.8rem; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { padding: .3rem .7rem; border-bottom: 1px solid #dde1e8; text-align: left;
  vertical-align: top; }
td.num, th.num { text-align: right; }
.scroll { overflow-x: auto; } table.wide { font-size: .85rem; }
main:has(table.wide) { max-width: none; }
table.wide th, table.wide td { padding: .25rem .45rem; } td.name { white-space: nowrap; }
.attention { border-left: 5px solid #b3261e; background: #fbeeed; padding: .5rem .8rem;
  margin: .4rem 0; }
.attention.level-1 { border-color: #b7791f; background: #fdf6e9; }
.down { color: #b3261e; font-weight: 600; } .up { color: #1b7a3a; }
.muted { color: #5b6475; } .badge { font-size: .8rem; padding: .05rem .4rem;
  border-radius: .3rem; background: #b3261e; color: #fff; }
.badge.pending { background: #b7791f; } .badge.resolved { background: #5b6475; }
.division { margin-top: 1.5rem; } .charts { display: flex; flex-wrap: wrap; gap: 1.5rem; }
svg.chart { max-width: 100%; height: auto; break-inside: avoid; }
@media print {
  header nav, .noprint { display: none; } header { background: none; color: #000; }
  header a { color: #000; } main { max-width: none; }
  .attention { border-left-color: #000; background: none; } section { break-inside: avoid; }
}
"""


def team_path(team: str) -> str:
    return f"/teams/{quote(team, safe='')}"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _layout(title: str, body: str, as_of: float | None = None) -> str:
    stamp = ""
    if as_of is not None:
        when = dt.datetime.fromtimestamp(as_of, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        stamp = f'<span class="muted">figures as of {when}</span>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)} — TeamPulse</title>
<style>{STYLE}</style></head>
<body>
<header><strong><a href="/">TeamPulse</a></strong>
<nav><a href="/">Organisation</a> · <a href="/initiatives">Initiatives</a> ·
<a href="/network">Network</a> · <a href="/content">Content</a> ·
<a href="/alerts">Alerts</a></nav>{stamp}</header>
<main>
{body}
</main></body></html>
"""


def _change_cell(view: ScopeView) -> str:
    change = view.change
    if change is None:
        return f'<td class="muted">{_e(judgement(view))}</td>'
    css = "down" if change < 0 else "up" if change > 0 else ""
    return f'<td class="num {css}">{percent(change, signed=True)}</td>'


def _participation(view: ScopeView) -> str:
    active = view.number(f"active_members:{WINDOW}")
    members = view.number("members")
    if active is None or members is None:
        return "–"
    return f"{active:,.0f} of {members:,.0f}"


def _firing_teams(alerts: Iterable[AlertView]) -> dict[str, list[AlertView]]:
    by_team: dict[str, list[AlertView]] = {}
    for alert in alerts:
        if alert.team and alert.state in ("firing", "pending"):
            by_team.setdefault(alert.team, []).append(alert)
    return by_team


def _badges(alerts: Sequence[AlertView]) -> str:
    return " ".join(
        f'<span class="badge {_e(a.state)}">{_e(a.name)} '
        f"{_e(pending_words(a.fires_in) if a.state == 'pending' else a.state)}</span>"
        for a in alerts
    )


def attention_list(teams: Sequence[ScopeView], alerts: Sequence[AlertView], link: str = "") -> str:
    """The teams that need attention, most urgent first, each with its reasons in words."""
    firing = _firing_teams(alerts)
    needing = [(attention(t), t) for t in teams]
    needing = [(a, t) for a, t in needing if a.needed or t.key in firing]
    needing.sort(key=lambda pair: (-pair[0].level, pair[1].change or 0.0, pair[1].key))
    if not needing:
        return "<p>No team needs attention: every published team is within its usual range.</p>"
    items = []
    for need, team in needing:
        reasons = "; ".join(need.reasons) or "; ".join(
            a.annotations.get("summary", a.name) for a in firing.get(team.key, [])
        )
        where = " · ".join(x for x in (team.department, team.division) if x)
        items.append(
            f'<div class="attention level-{need.level}" data-team="{_e(team.key)}">'
            f'<a href="{link}{team_path(team.key)}"><strong>{_e(team.key)}</strong></a> '
            f'<span class="muted">{_e(where)}</span> {_badges(firing.get(team.key, []))}'
            f"<br>{_e(reasons)}</div>"
        )
    return "\n".join(items)


def _scope_figures(view: ScopeView | None, name: str) -> str:
    if view is None:
        return (
            f'<span class="muted">{_e(name)}: figures withheld (too few people to publish '
            "without revealing a smaller group)</span>"
        )
    change = view.change
    change_text = (
        f", {percent(change, signed=True)} against its usual" if change is not None else ""
    )
    return (
        f"{_e(name)}: engagement {percent(view.engagement)}{change_text}, "
        f"participation {_participation(view)} this week"
    )


def organisation_page(
    published: Published,
    alerts: Sequence[AlertView],
    alerts_problem: str,
    organisation: str | None = None,
) -> str:
    """`organisation`: the tenant's display name (`organisation` of the tenants file)."""
    teams = published.teams
    departments = {d.key: d for d in published.departments}
    divisions = {d.key: d for d in published.divisions}
    tree: dict[str, dict[str, list[ScopeView]]] = {}
    for team in teams:
        tree.setdefault(team.division or "(no division)", {}).setdefault(
            team.department or "(no department)", []
        ).append(team)
    parts = [
        f"<h1>{_e(organisation) if organisation else 'Organisation'}</h1>",
        f"<p>{_scope_figures(published.org, 'The organisation')}. "
        f"{len(teams)} teams published; teams below the minimum group size are not shown.</p>",
        "<h2>Needs attention</h2>",
        attention_list(teams, alerts),
    ]
    if alerts_problem:
        parts.append(f'<p class="muted">Alerts unavailable: {_e(alerts_problem)}</p>')
    parts.append("<h2>Divisions, departments and teams</h2>")
    for division in sorted(tree):
        parts.append(
            '<section class="division">'
            f"<h3>{_scope_figures(divisions.get(division), division)}</h3>"
        )
        for department in sorted(tree[division]):
            parts.append(
                f"<p><strong>{_scope_figures(departments.get(department), department)}</strong></p>"
            )
            rows = []
            ordered = sorted(tree[division][department], key=lambda t: (-attention(t).level, t.key))
            for team in ordered:
                rows.append(
                    f'<tr data-team="{_e(team.key)}"><td><a href="{team_path(team.key)}">'
                    f"{_e(team.key)}</a></td>"
                    f'<td class="num">{percent(team.engagement)}</td>{_change_cell(team)}'
                    f'<td class="num">{_participation(team)}</td></tr>'
                )
            parts.append(
                '<table><thead><tr><th>team</th><th class="num">engagement (7 days)</th>'
                '<th class="num">against its usual</th><th class="num">active this week</th>'
                f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            )
        parts.append("</section>")
    as_of = published.org.as_of if published.org else (teams[0].as_of if teams else None)
    return _layout(organisation or "Organisation", "\n".join(parts), as_of)


def weekly_adoption(view: ScopeView, initiative: str, weeks: int = 12) -> list[Bar]:
    """The adoption ratio at the end of each ISO week of the history, the last `weeks`."""
    by_week: dict[str, float] = {}
    for point in view.history:
        if initiative in point.adoption and point.day:
            year, week, _ = dt.date.fromisoformat(point.day).isocalendar()
            by_week[f"{year}-W{week:02d}"] = point.adoption[initiative]
    return [Bar(week, ratio) for week, ratio in sorted(by_week.items())[-weeks:]]


def _funnel(initiative: InitiativeView, title: str) -> str:
    return funnel_chart(funnel_shares(initiative), title)


def initiatives_page(published: Published) -> str:
    org = published.org
    names = sorted(
        {i.name for scope in [org, *published.departments] if scope for i in scope.initiatives}
        | {i.name for team in published.teams for i in team.initiatives}
    )
    parts = [
        "<h1>Initiatives</h1>",
        "<p>How far people have come through each initiative's stages (ADKAR: awareness, "
        "desire, knowledge, ability, reinforcement). Each bar is the share of people who "
        "reached that stage or a later one.</p>",
    ]
    if not names:
        parts.append("<p>No initiative has evidence yet.</p>")
    for name in names:
        parts.append(
            f'<section data-initiative="{_e(name)}"><h2>{_e(name)}</h2><div class="charts">'
        )
        org_initiative = next((i for i in org.initiatives if i.name == name), None) if org else None
        if org_initiative is not None and org is not None:
            parts.append(_funnel(org_initiative, "whole organisation"))
            weekly = weekly_adoption(org, name)
            if weekly:
                parts.append(bar_chart(weekly, "practising (ability or beyond), week by week"))
        else:
            parts.append('<p class="muted">The organisation\'s figures are withheld.</p>')
        parts.append("</div><h3>By department</h3><table><thead><tr><th>department</th>")
        parts.extend(f'<th class="num">{stage}</th>' for stage, _, _ in _stages())
        parts.append('<th class="num">practising</th></tr></thead><tbody>')
        for department in published.departments:
            initiative = next((i for i in department.initiatives if i.name == name), None)
            if initiative is None:
                continue
            cells = "".join(
                f'<td class="num">{percent(share)}</td>'
                for _, share, _ in funnel_shares(initiative)
            )
            parts.append(
                f"<tr><td>{_e(department.key)}</td>{cells}"
                f'<td class="num">{percent(initiative.ratio)}</td></tr>'
            )
        parts.append("</tbody></table>")
        parts.append(_department_weeks(published.departments, name))
        parts.append("</section>")
    return _layout("Initiatives", "\n".join(parts), org.as_of if org else None)


def _department_weeks(departments: Sequence[ScopeView], initiative: str) -> str:
    """Small multiples: one chart per department of its practising share week by week, on
    the same 0–100 % axis, its latest value written at the end (no legend to decode)."""
    charts = []
    for department in departments:
        weekly = weekly_adoption(department, initiative)
        if not weekly:
            continue
        charts.append(
            line_chart(
                [bar.label for bar in weekly],
                [Series(department.key, [bar.value for bar in weekly])],
                department.key,
                width=330,
                height=150,
                tick_every=max(1, (len(weekly) + 2) // 3),
                legend=False,
            )
        )
    if not charts:
        return ""
    return (
        "<h3>Practising (ability or beyond) week by week, by department</h3>"
        f'<div class="charts small-multiples">{"".join(charts)}</div>'
    )


def _stages() -> list[tuple[str, float | None, str]]:
    return funnel_shares(InitiativeView("", {}, 0, None))


CONVERSATION = (  # (field, heading, shown as)
    ("posts", "posts", "count"),
    ("replies", "replies", "count"),
    ("reply_ratio", "threads answered", "percent"),
    ("first_reply_median_seconds", "time to first reply", "duration"),
    ("cross_team_ratio", "replies across teams", "percent"),
    ("voice_evenness", "voice evenness", "percent"),
)


def _figure(value: float | None, shown: str) -> str:
    if value is None:
        return "–"
    if shown == "percent":
        return percent(value)
    if shown == "duration":
        hours, rest = divmod(int(value), 3600)
        return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min"
    return f"{value:,.0f}"


def team_page(team: ScopeView, alerts: Sequence[AlertView], alerts_problem: str) -> str:
    need = attention(team)
    own = [a for a in alerts if a.team == team.key]
    where = " · ".join(x for x in (team.department, team.division) if x)
    parts = [
        f"<h1>{_e(team.key)}</h1>",
        f'<p class="muted">{_e(where)} · {_participation(team)} members active this week</p>',
    ]
    if need.needed:
        parts.append(
            f'<div class="attention level-{need.level}"><strong>Needs attention:</strong> '
            f"{_e('; '.join(need.reasons))}</div>"
        )
    else:
        parts.append(f"<p>{_e(judgement(team)).capitalize()}.</p>")
    labels = [p.day[5:] for p in team.history]
    parts.append("<section><h2>Engagement against its usual, last 90 days</h2>")
    parts.append(
        line_chart(
            labels,
            [
                Series("engagement (day)", [p.engagement for p in team.history]),
                Series("its usual (baseline)", [p.baseline for p in team.history]),
            ],
            f"{team.key}: engagement per day and its baseline",
        )
    )
    events = team.number(f"activity_events:{WINDOW}")
    low = team.number(f"activity_normal_low_events:{WINDOW}")
    high = team.number(f"activity_normal_high_events:{WINDOW}")
    if events is not None and low is not None and high is not None:
        parts.append(
            f"<p>Activity this week: {events:,.0f} events; its usual range "
            f"{low:,.0f}–{high:,.0f}.</p>"
        )
    parts.append(
        f"<p>Engagement over 7 days {percent(team.engagement)}, over 28 days "
        f"{percent(team.number('engagement_score:28d'))}; participation "
        f"{percent(team.number(f'participation_ratio:{WINDOW}'))}.</p></section>"
    )
    parts.append("<section><h2>Conversation</h2><table><thead><tr><th></th>")
    parts.extend(f'<th class="num">{_e(head)}</th>' for _, head, _ in CONVERSATION)
    parts.append("</tr></thead><tbody>")
    for window, label in (("7d", "last 7 days"), ("28d", "last 28 days")):
        cells = "".join(
            f'<td class="num">{_figure(team.number(f"{name}:{window}"), shown)}</td>'
            for name, _, shown in CONVERSATION
        )
        parts.append(f"<tr><td>{label}</td>{cells}</tr>")
    parts.append("</tbody></table></section>")
    parts.append('<section><h2>Adoption</h2><div class="charts">')
    for initiative in team.initiatives:
        parts.append(_funnel(initiative, initiative.name))
    if not team.initiatives:
        parts.append("<p>No initiative has evidence in this team yet.</p>")
    parts.append("</div></section>")
    parts.append("<section><h2>Alerts</h2>")
    parts.append(
        _alert_table(own) if own else "<p>No alert about this team now or in the last 7 days.</p>"
    )
    if alerts_problem:
        parts.append(f'<p class="muted">Alerts unavailable: {_e(alerts_problem)}</p>')
    parts.append("</section>")
    return _layout(team.key, "\n".join(parts), team.as_of)


def _alert_table(alerts: Sequence[AlertView]) -> str:
    rows = []
    for alert in alerts:
        team = f'<a href="{team_path(alert.team)}">{_e(alert.team)}</a>' if alert.team else "–"
        runbook = runbook_path(alert.annotations.get("runbook"))
        runbook_cell = f'<a href="{_e(runbook)}">runbook</a>' if runbook else "–"
        what = alert.annotations.get("summary") or ", ".join(
            f"{k}={v}" for k, v in sorted(alert.labels.items()) if k not in ("alertname",)
        )
        state = pending_words(alert.fires_in) if alert.state == "pending" else alert.state
        state += " (silenced)" if alert.silenced else ""
        rows.append(
            f'<tr data-alert="{_e(alert.name)}"><td><span class="badge {_e(alert.state)}">'
            f"{_e(state)}</span></td><td>{_e(alert.name)}</td><td>{team}</td><td>{_e(what)}</td>"
            f"<td>{_e(alert.since[:16].replace('T', ' '))}</td><td>{runbook_cell}</td></tr>"
        )
    return (
        "<table><thead><tr><th>state</th><th>alert</th><th>team</th><th>what</th>"
        "<th>since (UTC)</th><th>what to do</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def alerts_page(alerts: Sequence[AlertView], alerts_problem: str) -> str:
    active = [a for a in alerts if a.state in ("firing", "pending")]
    recent = [a for a in alerts if a.state == "resolved"]
    parts = ["<h1>Alerts</h1>"]
    if alerts_problem:
        parts.append(f'<div class="attention">Alerts unavailable: {_e(alerts_problem)}</div>')
    parts.append("<h2>Firing and about to fire</h2>")
    parts.append(_alert_table(active) if active else "<p>Nothing is firing.</p>")
    parts.append("<h2>Fired in the last 7 days, now resolved</h2>")
    parts.append(_alert_table(recent) if recent else "<p>None.</p>")
    return _layout("Alerts", "\n".join(parts))


def runbook_page(title: str, markdown: str, others: Mapping[str, str]) -> str:
    links = " · ".join(
        f'<a href="/runbooks/{_e(n)}">{_e(t)}</a>' for n, t in sorted(others.items())
    )
    body = (
        f"<h1>Runbook: {_e(title)}</h1>\n{render_markdown(markdown)}\n"
        f'<p class="noprint muted">Other runbooks: {links}</p>'
    )
    return _layout(f"Runbook {title}", body)


def network_page(published: Published) -> str:
    """Which teams connect: the team x team heat map, each team's cross-team breadth and its
    share of the organisation's cross-team threads (bridging)."""
    matrix = interaction_matrix(published.teams)
    as_of = published.org.as_of if published.org is not None else None
    bridging = {team for team, share in matrix.bridging.items() if share > 0}
    if not matrix.teams and not bridging:
        body = '<h1>Network</h1><p class="muted">No replies between published teams yet.</p>'
        return _layout("Network", body, as_of)
    rows = "".join(
        f'<tr><td><a href="{team_path(team)}">{_e(team)}</a></td>'
        f'<td class="num">{matrix.breadth.get(team, 0):.0f}</td>'
        f'<td class="num">{sum(n for (t, _), n in matrix.cells.items() if t == team)}</td>'
        f'<td class="num">{percent(matrix.bridging.get(team))}</td></tr>'
        for team in sorted(set(matrix.teams) | bridging)
    )
    pairs = (
        heat_map(
            matrix.teams, matrix.cells, f"Replies and reactions between teams, {matrix.window}"
        )
        if matrix.teams
        else '<p class="muted">No replies between two published teams yet.</p>'
    )
    body = f"""<h1>Network</h1>
<p>Replies and reactions between teams over the last {_e(matrix.window)}, both directions.
Only teams that are published themselves appear; no person is behind any cell.</p>
{pairs}
<h2>Cross-team breadth and bridging</h2>
<p class="muted">Breadth: other teams a team replied or reacted to and was replied or reacted
to by (at least 2 in all). Bridging: the share of the organisation's cross-team threads
started over the last {_e(matrix.window)} that the team posted or replied in.</p>
<table><tr><th>team</th><th class="num">breadth</th><th class="num">across</th>
<th class="num">bridging</th></tr>
{rows}</table>"""
    return _layout("Network", body, as_of)


_CONTENT_COLUMNS = (  # (heading, gauge, how it is shown)
    ("learners", "learners", "count"),
    ("completers", "completers", "count"),
    ("posts", "conversation_posts", "count"),
    ("replies", "conversation_replies", "count"),
    ("voices", "conversation_contributors", "count"),
)


def content_page(body: Mapping[str, Any], window: str, initiative: str | None) -> str:
    """The tenant's content table (`GET /content`'s body): which learning sparked talk and
    practice, most learners first; a figure withheld for privacy shows as a dash."""
    rows = [r for r in body.get("content", ()) if window in r.get("windowed", {})]
    spans = sorted(
        {
            gauge.partition("_within_")[2]
            for r in rows
            for gauge in r["windowed"][window]
            if "_within_" in gauge
        },
        key=parse_duration,
    )
    rows.sort(key=lambda r: (-r["windowed"][window].get("learners", 0), r["key"]))
    windows = sorted(
        {w for r in body.get("content", ()) for w in r.get("windowed", {})}, key=parse_duration
    )
    choose = " · ".join(
        f'<a href="/content?window={_e(w)}">{_e(w)}</a>' if w != window else _e(w) for w in windows
    )
    headings = [h for h, _, _ in _CONTENT_COLUMNS] + [
        heading for span in spans for heading in (
            f"practised within {span}", f"others within {span}", f"uplift within {span}"
        )
    ] + ["needs attention"]  # fmt: skip

    def cell(gauges: Mapping[str, float], gauge: str, how: str) -> str:
        value = gauges.get(gauge)
        if value is None:
            return '<td class="num muted" title="withheld (too few people) or not measured">-</td>'
        shown = (
            f"{value:.0f}"
            if how == "count"
            else f"{value:+.0%}"
            if how == "signed"
            else f"{value:.0%}"
        )
        return f'<td class="num">{_e(shown)}</td>'

    lines = []
    for r in rows:
        gauges = r["windowed"][window]
        cells = [cell(gauges, gauge, how) for _, gauge, how in _CONTENT_COLUMNS]
        for span in spans:
            cells += [
                cell(gauges, f"practice_ratio_within_{span}", "share"),
                cell(gauges, f"others_practice_ratio_within_{span}", "share"),
                cell(gauges, f"practice_uplift_within_{span}", "signed"),
            ]
        attention = gauges.get("needs_attention")
        if attention == 1 and not r.get("initiative"):
            # Without an initiative practice is not measured: "yes" would claim none happened.
            cells.append(
                '<td class="num down name" title="no initiative names this content, so '
                'practice after it is not measured">yes: no talk</td>'
            )
        elif attention == 1:
            cells.append('<td class="num down">yes</td>')
        else:
            cells.append(f'<td class="num muted">{"-" if attention is None else "no"}</td>')
        lines.append(
            f'<tr><td class="name">{_e(r["key"])}</td>'
            f'<td class="name">{_e(r.get("initiative") or "-")}</td>' + "".join(cells) + "</tr>"
        )
    scope = f" of {_e(initiative)}" if initiative else ""
    if not lines:
        table = f'<p class="muted">No content{scope} published over {_e(window)} yet.</p>'
    else:
        header = "".join(f'<th class="num">{_e(h)}</th>' for h in headings)
        table = (
            '<div class="scroll"><table class="wide">'
            f"<tr><th>content</th><th>initiative</th>{header}</tr>"
            + "".join(lines)
            + "</table></div>"
        )
    page = f"""<h1>Content{scope}</h1>
<p>Which learning is taken up, talked about and put into practice, over the last
{_e(window)} (windows: {choose}). Items and <code>prefix*</code> groups; a figure is shown
only when at least the minimum group size of people stand behind it, and never per person
or per team. The uplift compares the completers with the other members of their teams.
Practice is measured for content an initiative names; for the rest (initiative "-"),
"needs attention" reads "yes: no talk": completed widely, with no conversation.</p>
{table}"""
    return _layout("Content", page, body.get("as_of"))


def not_found_page(what: str) -> str:
    return _layout("Not found", f"<h1>Not found</h1><p>{_e(what)}</p>")
