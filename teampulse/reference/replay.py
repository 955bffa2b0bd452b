"""`teampulse replay FILE`: a historical export of canonical events through the reference
model (`reference.oracle`), and the snapshot it gives as JSON or as tables.

This is the replay command's I/O: reading and validating the export and the roster file,
pseudonymising like the live ingest, and writing the result. The gauges themselves are the
oracle's.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

import orjson

from teampulse.contract.event import Event
from teampulse.contract.framing import split_json_records
from teampulse.contract.rejections import Rejection
from teampulse.contract.roster import RosterEntry
from teampulse.contract.timestamps import format_rfc3339, parse_rfc3339
from teampulse.enrichment.roster import Roster
from teampulse.gauges.config import load_gauge_config
from teampulse.gauges.model import OrgSnapshot, ScopeSnapshot
from teampulse.reference.oracle import reference_snapshot
from teampulse.settings import Settings, parse_duration

__all__ = [
    "load_roster",
    "parse_instant",
    "print_snapshot",
    "read_records",
    "replay_file",
    "roster_from_events",
    "snapshot_to_json",
    "write_snapshot",
]

log = logging.getLogger(__name__)

UNKNOWN_PATH = "unknown"


# --- replay: a historical export through the reference model ---------------------------------
def read_records(path: Path) -> Iterator[Any]:
    """JSON values of a file holding one JSON array, or one JSON value per line (NDJSON)."""
    for record in split_json_records(path.read_bytes()):
        if isinstance(record.value, Rejection):
            raise ValueError(f"{path.name} {record.where}: not JSON ({record.value.detail})")
        yield record.value


def load_roster(path: Path, settings: Settings) -> Roster:
    """Roster records (JSON array or NDJSON), pseudonymised like the roster topic."""
    from teampulse.contract.pseudonym import Pseudonymiser
    from teampulse.contract.roster import parse_roster_record

    pseudonymiser = Pseudonymiser(settings.pseudonym_secret)
    roster = Roster()
    for number, record in enumerate(read_records(path), start=1):
        parsed = parse_roster_record(None, orjson.dumps(record), pseudonymiser)
        if isinstance(parsed, Rejection):
            raise ValueError(f"{path.name} record {number}: {parsed}")
        if isinstance(parsed, str):
            roster.remove(parsed)
        else:
            roster.apply(parsed)
    return roster


def roster_from_events(events: list[Event]) -> Roster:
    """Without a roster file: a team's members are the people seen in its events."""
    people = {(e.actor, e.team) for e in events if e.team}
    return Roster(
        [
            RosterEntry(
                person=f"{team}/{actor}",
                team=str(team),
                department=UNKNOWN_PATH,
                division=UNKNOWN_PATH,
            )
            for actor, team in sorted(people, key=str)
        ]
    )


def parse_instant(as_of: str | float) -> float:

    if isinstance(as_of, float | int):
        return float(as_of)
    parsed = parse_rfc3339(as_of)
    if parsed is None:
        raise ValueError(f"as_of {as_of!r} is not an RFC 3339 instant (2026-03-02T12:00:00Z)")
    return parsed


def replay_file(
    path: Path,
    settings: Settings,
    roster_path: Path | None = None,
    as_of: str | float | None = None,
    forget: Iterable[str] = (),
) -> OrgSnapshot:
    """The gauges of a historical export of canonical events (JSON array or NDJSON).

    Records are validated and pseudonymised like the live ingest; rejected ones are counted
    in the log, not fatal. `as_of` defaults to the latest event time; events after it are left
    out (what had happened by then). Without a roster file, a team's members are the people
    seen in its events and its department and division are 'unknown'. `forget` names people
    (any identifier `teampulse forget` accepts) whose erasure the replay applies.
    """
    from teampulse.contract.events import EventValidator
    from teampulse.contract.pseudonym import Pseudonymiser

    config = load_gauge_config(settings)
    validator = EventValidator(settings, Pseudonymiser(settings.pseudonym_secret))
    events: list[Event] = []
    rejected: Counter[str] = Counter()
    for record in read_records(path):
        parsed = validator.validate(record, math.inf)
        if isinstance(parsed, Rejection):
            rejected[str(parsed.reason)] += 1
        else:
            events.append(parsed)
    if rejected:
        log.warning(
            "replay %s: %d records rejected %s", path.name, sum(rejected.values()), dict(rejected)
        )
    instant = (
        parse_instant(as_of)
        if as_of is not None
        else max((e.occurred_at for e in events), default=0.0)
    )
    events = [e for e in events if e.occurred_at <= instant]
    pseudonymiser = Pseudonymiser(settings.pseudonym_secret)
    erased = {pseudonymiser.person(person) for person in forget}
    roster = load_roster(roster_path, settings) if roster_path is not None else None
    if roster is None:
        roster = roster_from_events([e for e in events if e.team])
    return reference_snapshot(events, roster, config, instant, erased)


# --- output ------------------------------------------------------------------------------------
def snapshot_to_json(snapshot: OrgSnapshot) -> dict[str, Any]:
    return {
        "as_of": snapshot.as_of,
        "teams": {team: asdict(s) for team, s in snapshot.teams.items()},
        "rollups": [asdict(s) for s in snapshot.rollups],
        "content": [asdict(s) for s in snapshot.content],
    }


def write_snapshot(snapshot: OrgSnapshot, path: Path) -> None:
    path.write_text(json.dumps(snapshot_to_json(snapshot), indent=2, sort_keys=True) + "\n")


_COLUMNS = (  # (heading, gauge, format)
    ("members", "members", "{:.0f}"),
    ("active", "active_members", "{:.0f}"),
    ("particip", "participation_ratio", "{:.0%}"),
    ("learn_h", "learning_seconds", "{:.1f}"),
    ("posts", "posts", "{:.0f}"),
    ("replies", "replies", "{:.0f}"),
    ("reply%", "reply_ratio", "{:.0%}"),
    ("1st_reply_h", "first_reply_median_seconds", "{:.1f}"),
    ("even", "voice_evenness", "{:.2f}"),
    ("x-team", "cross_team_ratio", "{:.0%}"),
    ("quality", "conversation_quality_score", "{:.0%}"),
    ("engage", "engagement_score", "{:.0%}"),
)
_HOURS = {"learning_seconds", "first_reply_median_seconds"}


def _cell(values: dict[str, float], gauge: str, pattern: str) -> str:
    if gauge not in values:
        return "-"
    value = values[gauge] / 3600 if gauge in _HOURS else values[gauge]
    return pattern.format(value)


def print_snapshot(snapshot: OrgSnapshot, out: IO[str]) -> None:
    """Human-readable tables: one per window, then baselines, adoption and the network."""
    scopes: list[ScopeSnapshot] = [*snapshot.teams.values(), *snapshot.rollups]
    out.write(
        f"as of {format_rfc3339(snapshot.as_of, 'auto')}: {len(snapshot.teams)} teams published, "
        f"{len(snapshot.rollups)} roll-ups\n"
    )
    labels = list(dict.fromkeys(label for s in scopes for label in s.windowed))
    for label in labels:
        header = ["scope", "key", *(heading for heading, _, _ in _COLUMNS)]
        rows = [
            [
                s.scope,
                s.key,
                *(_cell({**s.plain, **s.windowed.get(label, {})}, g, p) for _, g, p in _COLUMNS),
            ]
            for s in scopes
        ]
        out.write(f"\nwindow {label}\n")
        _table(out, header, rows)
    out.write("\nbaseline\n")
    _table(
        out,
        ["scope", "key", "baseline", "change"],
        [
            [
                s.scope,
                s.key,
                _cell(s.plain, "engagement_baseline", "{:.0%}"),
                _cell(s.plain, "engagement_change_ratio", "{:+.0%}"),
            ]
            for s in scopes
        ],
    )
    rows = []
    for s in scopes:
        for initiative, a in s.initiatives.items():
            stages = " ".join(f"{stage}={n}" for stage, n in a.stage_members.items())
            ratio = "-" if a.ratio is None else f"{a.ratio:.0%}"
            index = "-" if a.index is None else f"{a.index:.2f}"
            rows.append([s.scope, s.key, initiative, ratio, index, stages])
    if rows:
        out.write("\nadoption\n")
        _table(out, ["scope", "key", "initiative", "ratio", "index", "members by stage"], rows)
    network = [
        [
            team,
            window,
            other,
            str(replies),
            _cell(s.windowed.get(window, {}), "cross_team_breadth", "{:.0f}"),
            _cell(s.windowed.get(window, {}), "bridging_share", "{:.0%}"),
        ]
        for team, s in snapshot.teams.items()
        for window, row in s.interactions.items()
        for other, replies in sorted(row.items())
    ]
    if network:
        out.write("\nnetwork (replies and reactions between published teams, both directions)\n")
        _table(out, ["team", "window", "other team", "replies", "breadth", "bridging"], network)
    _print_content(snapshot, out)


def _print_content(snapshot: OrgSnapshot, out: IO[str]) -> None:
    """The content table: one row per content and window; '-' is withheld or undefined."""
    spans = sorted(
        {
            gauge.partition("_within_")[2]
            for c in snapshot.content
            for gauges in c.windowed.values()
            for gauge in gauges
            if "_within_" in gauge
        },
        key=parse_duration,
    )
    columns = [
        ("learners", "learners", "{:.0f}"),
        ("completers", "completers", "{:.0f}"),
        ("posts", "conversation_posts", "{:.0f}"),
        ("replies", "conversation_replies", "{:.0f}"),
        ("voices", "conversation_contributors", "{:.0f}"),
        *(
            column
            for span in spans
            for column in (
                (f"practised_{span}", f"practice_ratio_within_{span}", "{:.0%}"),
                (f"others_{span}", f"others_practice_ratio_within_{span}", "{:.0%}"),
                (f"uplift_{span}", f"practice_uplift_within_{span}", "{:+.0%}"),
            )
        ),
        ("attention", "needs_attention", "{:.0f}"),
    ]
    rows = [
        [
            c.tenant or "",
            c.key,
            c.initiative or "-",
            window,
            *(_cell(gauges, g, p) for _, g, p in columns),
        ]
        for c in snapshot.content
        for window, gauges in c.windowed.items()
    ]
    if rows:
        out.write("\ncontent (items and prefix* groups; published behind enough people)\n")
        header = ["tenant", "content", "initiative", "window", *(h for h, _, _ in columns)]
        if not any(c.tenant for c in snapshot.content):
            header, rows = header[1:], [row[1:] for row in rows]
        _table(out, header, rows)


def _table(out: IO[str], header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = (str(cell).ljust(w) for cell, w in zip(row, widths, strict=True))
        out.write("  ".join(cells).rstrip() + "\n")
