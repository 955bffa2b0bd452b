"""The team overview page: what a person without Grafana looks at.

One HTML page, no JavaScript: every published team with its engagement (and its change
against its own baseline), its drop signal (events this week against its usual count),
conversation and adoption gauges, and a sparkline of the daily
engagement score over the last days of its Redis history. It reads only what the Redis
writer published, so the privacy rules are those of the export: a team below the minimum
group size has no hash and no row, and no person appears anywhere.

`read_overview` is the I/O (one pipelined round trip per page); `render_overview` is pure.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import orjson
from redis.asyncio import Redis

from teampulse.contract.timestamps import format_rfc3339
from teampulse.sinks.redis_writer import RedisKeys

__all__ = ["SPARKLINE_DAYS", "TeamRow", "read_overview", "render_overview"]

SPARKLINE_DAYS = 28
SPARK_WIDTH, SPARK_HEIGHT = 140, 28
# The daily history keeps the shortest window's gauges (docs/redis-keys.md).
HISTORY_GAUGE = "engagement_score:1d"
COLUMNS = (  # (hash field, heading, how to show it)
    ("engagement_score:7d", "engagement 7d", "percent"),
    ("engagement_change_ratio", "vs baseline", "signed_percent"),
    ("drop_signal", "activity signal", "state"),
    ("activity_events:7d", "events 7d", "count"),
    ("activity_expected_events:7d", "usually 7d", "count"),
    ("participation_ratio:7d", "participation 7d", "percent"),
    ("posts:7d", "posts 7d", "count"),
    ("replies:7d", "replies 7d", "count"),
    ("reply_ratio:7d", "reply ratio 7d", "percent"),
    ("cross_team_ratio:7d", "cross-team 7d", "percent"),
    ("conversation_quality_score:7d", "conversation quality 7d", "percent"),
)


# The drop signal's states in the words of the boards.
STATE_WORDS = {
    "ok": "as usual",
    "watch": "watch",
    "drop": "drop",
    "insufficient_activity": "not enough activity yet",
}


@dataclass(frozen=True)
class TeamRow:
    team: str
    gauges: Mapping[str, str]  # the team hash as Redis holds it
    adoption: Mapping[str, str] = field(default_factory=dict)  # initiative -> ratio
    history: Sequence[float | None] = ()  # daily engagement, oldest first


async def read_overview(redis: Redis, keys: RedisKeys, days: int = SPARKLINE_DAYS) -> list[TeamRow]:
    """Every published team's hash, adoption ratios and recent history, sorted by name."""
    teams = sorted(_text(member) for member in await redis.smembers(keys.index("team")))
    pipe = redis.pipeline(transaction=False)
    for team in teams:
        pipe.hgetall(keys.scope_hash("team", team))
        pipe.smembers(keys.initiatives("team", team))
        pipe.zrange(keys.history("team", team), -days, -1)
    answers = await pipe.execute() if teams else []
    initiative_pipe = redis.pipeline(transaction=False)
    wanted: list[tuple[int, str]] = []
    rows = []
    for number, team in enumerate(teams):
        raw_hash, initiatives, history = answers[3 * number : 3 * number + 3]
        for initiative in sorted(_text(i) for i in initiatives):
            initiative_pipe.hget(keys.initiative_hash("team", team, initiative), "ratio")
            wanted.append((number, initiative))
        rows.append(
            TeamRow(
                team=team,
                gauges={_text(k): _text(v) for k, v in raw_hash.items()},
                history=[_history_value(member) for member in history],
            )
        )
    ratios = await initiative_pipe.execute() if wanted else []
    adoption: dict[int, dict[str, str]] = {}
    for (number, initiative), ratio in zip(wanted, ratios, strict=True):
        if ratio is not None:
            adoption.setdefault(number, {})[initiative] = _text(ratio)
    return [
        TeamRow(row.team, row.gauges, adoption.get(number, {}), row.history)
        for number, row in enumerate(rows)
    ]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _history_value(member: bytes) -> float | None:
    value = orjson.loads(member).get("gauges", {}).get(HISTORY_GAUGE)
    return float(value) if isinstance(value, int | float) else None


def render_overview(rows: Sequence[TeamRow], generated_at: float) -> str:
    heads = "".join(f"<th>{html.escape(head)}</th>" for _, head, _ in COLUMNS)
    body = "\n".join(_row(row) for row in rows) or (
        f'<tr><td colspan="{len(COLUMNS) + 3}">No team is published yet.</td></tr>'
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>TeamPulse — teams</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; color: #1d2330; }}
table {{ border-collapse: collapse; }}
th, td {{ padding: .3rem .6rem; border-bottom: 1px solid #dde1e8; text-align: right; }}
th:first-child, td:first-child, td.adoption, th.adoption {{ text-align: left; }}
td.down, td.drop {{ color: #b3261e; font-weight: 600; }} td.up {{ color: #1b7a3a; }}
td.watch {{ color: #8a5a00; }}
.spark polyline {{ fill: none; stroke: #3a6ea5; stroke-width: 1.5; }}
.spark circle {{ fill: #3a6ea5; }}
</style></head>
<body>
<h1>TeamPulse — teams</h1>
<p>{len(rows)} teams published, as of {html.escape(format_rfc3339(generated_at, "seconds"))}.
Teams below the minimum group size are not shown. Engagement over the last
{SPARKLINE_DAYS} days, one point per day.</p>
<table>
<thead><tr><th>team</th>{heads}<th class="adoption">adoption</th>
<th>engagement, {SPARKLINE_DAYS} days</th></tr></thead>
<tbody>
{body}
</tbody></table>
</body></html>
"""


def _row(row: TeamRow) -> str:
    cells = [f"<td>{html.escape(row.team)}</td>"]
    for field_name, _, shown in COLUMNS:
        value = row.gauges.get(field_name)
        css = ""
        if shown == "signed_percent" and value is not None and float(value) != 0:
            css = ' class="down"' if float(value) < 0 else ' class="up"'
        if shown == "state" and value in ("drop", "watch"):
            css = f' class="{value}"'
        cells.append(f"<td{css}>{_shown(value, shown)}</td>")
    adoption = ", ".join(
        f"{html.escape(initiative)} {_shown(ratio, 'percent')}"
        for initiative, ratio in sorted(row.adoption.items())
    )
    cells.append(f'<td class="adoption">{adoption or "–"}</td>')
    cells.append(f"<td>{sparkline(row.history)}</td>")
    return f'<tr data-team="{html.escape(row.team, quote=True)}">{"".join(cells)}</tr>'


def _shown(value: str | None, shown: str) -> str:
    if value is None:
        return "–"
    if shown == "state":
        return html.escape(STATE_WORDS.get(value, value))
    number = float(value)
    if shown == "percent":
        return f"{number:.0%}"
    if shown == "signed_percent":
        return f"{number:+.0%}"
    return f"{number:,.0f}"


def sparkline(values: Sequence[float | None]) -> str:
    """An inline SVG polyline of 0–1 values (gaps skipped); empty when there is nothing."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if not points:
        return ""
    step = SPARK_WIDTH / max(len(values) - 1, 1)
    coords = " ".join(
        f"{i * step:.1f},{SPARK_HEIGHT - min(max(v, 0.0), 1.0) * SPARK_HEIGHT:.1f}"
        for i, v in points
    )
    last_x, last_y = coords.rsplit(" ", 1)[-1].split(",")
    return (
        f'<svg class="spark" width="{SPARK_WIDTH}" height="{SPARK_HEIGHT}" role="img" '
        f'aria-label="daily engagement"><polyline points="{coords}"/>'
        # the latest day as a dot, so a history of one day still shows
        f'<circle cx="{last_x}" cy="{last_y}" r="2.5"/></svg>'
    )
