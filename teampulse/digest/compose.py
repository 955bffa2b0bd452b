"""The weekly digest's content and its renderings. Pure: published views in, text out.

Only published figures are used (k-safe): the scope itself must be published (a withheld
department has no digest, and the error says why), its teams are those with a published
hash, and everything else is read from their published history.

The e-mail's charts are HTML tables (bars as coloured cells with their figures written
beside them), not images or SVG: they show in every mail client, Outlook included, without
loading anything.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean
from urllib.parse import quote

from teampulse.web.charts import percent
from teampulse.web.model import ScopeView, attention, funnel_shares
from teampulse.web.reading import Published

__all__ = [
    "Digest",
    "DigestError",
    "Mover",
    "compose",
    "parse_scope",
    "render_email_html",
    "render_text",
]

QUARTER_WEEKS = 13
MOVERS = 3
BAR_PX = 260
BLUE, RED, GREEN = "#2f5d8c", "#b3261e", "#1b7a3a"


class DigestError(ValueError):
    """A digest that cannot be made, with the reason in words."""


@dataclass(frozen=True)
class Mover:
    team: str
    before: float  # mean daily engagement of the week before
    after: float  # mean daily engagement of the last week

    @property
    def change(self) -> float:
        return self.after - self.before


@dataclass(frozen=True)
class Digest:
    title: str
    scope: ScopeView
    weeks: list[tuple[str, float]]  # (ISO week, mean daily engagement), oldest first
    up: list[Mover]
    down: list[Mover]
    attention: list[tuple[str, str]]  # (team, reasons)
    initiatives: list[tuple[str, list[tuple[str, float | None, str]], list[tuple[str, float]]]]
    teams: int


def parse_scope(text: str) -> tuple[str, str]:
    """'org', 'division:NAME' or 'department:NAME' -> (scope, key)."""
    if text == "org":
        return "org", "org"
    kind, _, name = text.partition(":")
    if kind in ("division", "department") and name:
        return kind, name
    raise DigestError(f"scope {text!r}: write org, division:NAME or department:NAME")


def _weekly(view: ScopeView, weeks: int = QUARTER_WEEKS) -> list[tuple[str, float]]:
    by_week: dict[str, list[float]] = {}
    for point in view.history:
        if point.engagement is not None and point.day:
            year, week, _ = dt.date.fromisoformat(point.day).isocalendar()
            by_week.setdefault(f"{year}-W{week:02d}", []).append(point.engagement)
    return [(week, fmean(values)) for week, values in sorted(by_week.items())[-weeks:]]


def _weekly_adoption(view: ScopeView, initiative: str) -> list[tuple[str, float]]:
    by_week: dict[str, float] = {}
    for point in view.history:
        if initiative in point.adoption and point.day:
            year, week, _ = dt.date.fromisoformat(point.day).isocalendar()
            by_week[f"{year}-W{week:02d}"] = point.adoption[initiative]
    return sorted(by_week.items())[-QUARTER_WEEKS:]


def _mover(team: ScopeView) -> Mover | None:
    days = [p.engagement for p in team.history[-14:]]
    if len(days) < 14 or any(d is None for d in days):
        return None
    values = [float(d) for d in days if d is not None]
    return Mover(team.key, fmean(values[:7]), fmean(values[7:]))


def compose(published: Published, scope: str, key: str) -> Digest:
    """The digest of one published scope; DigestError when it is not published."""
    if scope == "org":
        view = published.org
        teams = published.teams
        title = "the organisation"
    else:
        views = published.departments if scope == "department" else published.divisions
        view = next((v for v in views if v.key == key), None)
        teams = [t for t in published.teams if t.fields.get(scope) == key]
        title = f"{scope} {key}"
    if view is None:
        raise DigestError(
            f"{title} is not published: it is unknown, below the minimum group size, or "
            "withheld so that no smaller group can be told apart; a digest shows only "
            "published figures"
        )
    movers = [m for m in (_mover(t) for t in teams) if m is not None]
    movers.sort(key=lambda m: (m.change, m.team))
    needing = sorted(
        ((attention(t), t) for t in teams),
        key=lambda pair: (-pair[0].level, pair[1].change or 0.0, pair[1].key),
    )
    return Digest(
        title=title,
        scope=view,
        weeks=_weekly(view),
        up=[m for m in reversed(movers[-MOVERS:]) if m.change > 0],
        down=[m for m in movers[:MOVERS] if m.change < 0],
        attention=[(t.key, "; ".join(a.reasons)) for a, t in needing if a.needed],
        initiatives=[
            (i.name, funnel_shares(i), _weekly_adoption(view, i.name)) for i in view.initiatives
        ],
        teams=len(teams),
    )


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _bar_rows(rows: Sequence[tuple[str, float | None, str]], colour: str = BLUE) -> str:
    """Table rows: label, a bar as wide as the 0–1 value, the value (and a note) written out."""
    out = []
    for label, value, note in rows:
        width = round(BAR_PX * min(max(value or 0.0, 0.0), 1.0))
        bar = (
            f'<table role="presentation" cellpadding="0" cellspacing="0" width="{BAR_PX}" '
            f'style="border:1px solid #dde1e8"><tr><td width="{max(width, 1)}" height="14" '
            f'bgcolor="{colour}" style="background:{colour}"></td>'
            f'<td width="{BAR_PX - width}"></td></tr></table>'
        )
        figure = percent(value) + (f" ({_e(note)})" if note else "")
        out.append(
            f'<tr><td style="padding:2px 8px 2px 0;text-align:right">{_e(label)}</td>'
            f'<td style="padding:2px 0">{bar}</td><td style="padding:2px 8px">{figure}</td></tr>'
        )
    return '<table role="presentation" cellpadding="0" cellspacing="0">' + "".join(out) + "</table>"


def _team_link(web_url: str, team: str) -> str:
    return f'<a href="{_e(web_url)}/teams/{quote(team, safe="")}">{_e(team)}</a>'


def render_email_html(digest: Digest, web_url: str) -> str:
    scope = digest.scope
    change = scope.change
    change_text = (
        f", {percent(change, signed=True)} against its usual" if change is not None else ""
    )
    parts = [
        f'<h1 style="font-size:20px">TeamPulse weekly digest: {_e(digest.title)}</h1>',
        f"<p>Engagement this week {percent(scope.engagement)}{change_text}; "
        f"{digest.teams} published teams.</p>",
        '<h2 style="font-size:16px">Engagement over the quarter (mean per week)</h2>',
        _bar_rows([(week, value, "") for week, value in digest.weeks])
        if digest.weeks
        else "<p>No history yet.</p>",
        '<h2 style="font-size:16px">Needs attention</h2>',
    ]
    if digest.attention:
        parts.append(
            "<ul>"
            + "".join(
                f"<li>{_team_link(web_url, team)}: {_e(reasons)}</li>"
                for team, reasons in digest.attention
            )
            + "</ul>"
        )
    else:
        parts.append("<p>No team needs attention.</p>")
    parts.append('<h2 style="font-size:16px">Moved most this week</h2>')
    moved = [(m, GREEN) for m in digest.up] + [(m, RED) for m in digest.down]
    if moved:
        parts.append("<ul>")
        for mover, colour in moved:
            parts.append(
                f"<li>{_team_link(web_url, mover.team)}: "
                f'<span style="color:{colour}">{mover.change * 100:+.0f} points</span> '
                f"({percent(mover.before)} → {percent(mover.after)})</li>"
            )
        parts.append("</ul>")
    else:
        parts.append("<p>Not enough history to compare two weeks yet.</p>")
    for name, funnel, weekly in digest.initiatives:
        parts.append(f'<h2 style="font-size:16px">Initiative {_e(name)}</h2>')
        parts.append("<p>Share of people who reached each stage or a later one:</p>")
        parts.append(_bar_rows(funnel))
        if weekly:
            parts.append("<p>Practising (ability or beyond), week by week:</p>")
            parts.append(_bar_rows([(week, value, "") for week, value in weekly], GREEN))
    parts.append(
        f'<p><a href="{_e(web_url)}/">Open TeamPulse</a> for every team, initiative and alert.</p>'
    )
    body = "\n".join(parts)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>TeamPulse weekly digest: {_e(digest.title)}</title></head>"
        '<body style="font-family:Segoe UI,Helvetica,Arial,sans-serif;color:#1d2330;'
        f'font-size:14px">{body}</body></html>'
    )


def render_text(digest: Digest, web_url: str) -> str:
    """The plain-text part of the e-mail, and the message sent to Teams or Slack."""
    scope = digest.scope
    change = scope.change
    lines = [
        f"TeamPulse weekly digest: {digest.title}",
        f"Engagement this week {percent(scope.engagement)}"
        + (f", {percent(change, signed=True)} against its usual" if change is not None else "")
        + f"; {digest.teams} published teams.",
        "",
        "Needs attention:",
    ]
    lines += [
        f"- {team}: {reasons} ({web_url}/teams/{quote(team, safe='')})"
        for team, reasons in digest.attention
    ] or ["- none"]
    lines += ["", "Moved most this week:"]
    lines += [
        f"- {m.team}: {m.change * 100:+.0f} points ({percent(m.before)} -> {percent(m.after)})"
        for m in [*digest.up, *digest.down]
    ] or ["- not enough history yet"]
    for name, funnel, _ in digest.initiatives:
        stages = ", ".join(f"{stage} {percent(share)}" for stage, share, _ in funnel)
        lines += ["", f"Initiative {name}: {stages}"]
    lines += ["", f"Open TeamPulse: {web_url}/"]
    return "\n".join(lines)
