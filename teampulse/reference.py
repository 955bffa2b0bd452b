"""The reference model: every gauge of an organisation from a list of events, in one batch.

Written for clarity, not speed. It is the oracle the streaming code (`TeamState`,
`ThreadBook`) is tested against, and it powers `teampulse replay FILE` for backfills and
what-if questions. It shares only the *definitions* with the streaming code: the leaf
formulas (`gauges.formulas`), what counts as adoption evidence (`gauges.adoption.evidence_ranks`)
and how counts become gauges (`gauges.snapshot`). Admission (dedupe and lateness), bucketing,
the thread join, adoption progress and the baseline are recomputed here from the list:

1. admit: walk the events in arrival order; per team, an event older than the team's
   watermark minus the lateness is late, a repeated id is a duplicate, anything else is
   accepted and may move the watermark;
2. join: over all accepted posts and replies, find each thread's root and each reply's parent;
3. count: per team and window, filter the accepted events, thread summaries and reply links
   whose bucket lies in the window;
4. publish: `snapshot.org_snapshot` (privacy, roll-ups).

Erased people (pseudonyms, see `teampulse forget`) are left out before step 1: none of their
events counts and the roster does not count them as members, which is what the stream holds
after their erasure.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from teampulse.contract.event import ASSESSED, COMPLETED, POSTED, REACTED, REPLIED, STARTED, Event
from teampulse.contract.framing import split_json_records
from teampulse.contract.rejections import Rejection
from teampulse.contract.roster import RosterEntry
from teampulse.contract.timestamps import format_rfc3339, parse_rfc3339
from teampulse.enrichment.roster import Roster, resolve_team
from teampulse.gauges import formulas
from teampulse.gauges.adoption import ABILITY, REINFORCEMENT, evidence_ranks, matchers_by_type
from teampulse.gauges.config import EVIDENCE_STAGES, GaugeConfig, load_gauge_config
from teampulse.gauges.counts import ActivityCounts, TeamCounts, WindowCounts
from teampulse.gauges.eventtime import (
    baseline_sample_ends,
    bucket_of,
    expired_before,
    week_of,
    window_range,
)
from teampulse.gauges.model import OrgSnapshot, ScopeSnapshot
from teampulse.gauges.snapshot import engagement_score_of, org_snapshot
from teampulse.settings import Settings

__all__ = [
    "Admission",
    "Link",
    "TeamHistory",
    "Thread",
    "admit",
    "activity_counts",
    "adoption_counts",
    "baseline_of",
    "join_threads",
    "load_roster",
    "parse_instant",
    "print_snapshot",
    "read_records",
    "reference_counts",
    "reference_snapshot",
    "replay_file",
    "roster_from_events",
    "snapshot_to_json",
    "team_counts",
    "window_counts",
    "without_erased",
    "write_snapshot",
]

log = logging.getLogger(__name__)

UNKNOWN_PATH = "unknown"


# --- 1. admission ------------------------------------------------------------------------------
@dataclass
class Admission:
    accepted: list[Event]  # in arrival order, each with its team set
    outcomes: Counter[str]  # accepted / duplicate / late
    stale: list[Event] = field(default_factory=list)  # behind the retention: adoption only


def admit(events: Iterable[Event], roster: Roster, config: GaugeConfig) -> Admission:
    accepted: list[Event] = []
    stale: list[Event] = []
    outcomes: Counter[str] = Counter()
    watermark: dict[str, float] = {}  # latest accepted event time per team
    stream_watermark: dict[tuple[str, str | None], float] = {}  # ... per team and input stream
    seen: dict[str, set[str]] = defaultdict(set)
    for event in events:
        team = resolve_team(event.team, event.actor, roster)
        if event.team != team:
            event = event.with_team(team)
        stream = (team, event.origin)
        if stream in stream_watermark and (
            event.occurred_at < stream_watermark[stream] - config.lateness_s
        ):
            outcomes["late"] += 1
            continue
        if team in watermark and bucket_of(event.occurred_at, config.bucket_s) < expired_before(
            watermark[team], config.retention_s, config.bucket_s
        ):
            outcomes["late"] += 1  # older than anything the windows keep ...
            stale.append(event)  # ... but evidence for adoption, which keeps no window
            continue
        if event.id in seen[team]:
            outcomes["duplicate"] += 1
            continue
        seen[team].add(event.id)
        watermark[team] = max(watermark.get(team, event.occurred_at), event.occurred_at)
        stream_watermark[stream] = max(
            stream_watermark.get(stream, event.occurred_at), event.occurred_at
        )
        accepted.append(event)
        outcomes["accepted"] += 1
    return Admission(accepted, outcomes, stale)


# --- 2. the thread join ------------------------------------------------------------------------
@dataclass(frozen=True)
class Thread:
    team: str  # of the root post's author
    started_at: float
    replies: int
    replies_from_others: int
    first_reply_latency: float | None  # seconds, never negative


@dataclass(frozen=True)
class Link:
    replier_team: str
    parent_team: str
    at: float

    def involves(self, team: str) -> bool:
        return team in (self.replier_team, self.parent_team)


def _thread_of(event: Event) -> str | None:
    if event.thread:
        return event.thread
    return (event.post or event.id) if event.type == POSTED else None


def join_threads(accepted: list[Event]) -> tuple[list[Thread], list[Link]]:
    """Thread summaries and reply links from every accepted post and reply.

    A post id counts once (its first accepted occurrence). The root is the earliest
    `posted` of the thread (ties: smallest post id); a reply links to its `parent` post when
    that post is in the same thread.
    """
    posts: dict[str, dict[str, Event]] = defaultdict(dict)
    for event in accepted:
        thread = _thread_of(event) if event.type in (POSTED, REPLIED) else None
        if thread is not None:
            posts[thread].setdefault(event.post or event.id, event)
    threads, links = [], []
    for by_id in posts.values():
        roots = [(e.occurred_at, post_id) for post_id, e in by_id.items() if e.type == POSTED]
        replies = [e for e in by_id.values() if e.type == REPLIED]
        for reply in replies:
            parent = by_id.get(reply.parent) if reply.parent is not None else None
            if parent is not None:
                links.append(Link(str(reply.team), str(parent.team), reply.occurred_at))
        if not roots:
            continue
        root = by_id[min(roots)[1]]
        from_others = [r.occurred_at for r in replies if r.actor != root.actor]
        threads.append(
            Thread(
                team=str(root.team),
                started_at=root.occurred_at,
                replies=len(replies),
                replies_from_others=len(from_others),
                first_reply_latency=(
                    max(0.0, min(from_others) - root.occurred_at) if from_others else None
                ),
            )
        )
    return threads, links


# --- 3. counting -------------------------------------------------------------------------------
@dataclass
class TeamHistory:
    events: list[Event]
    threads: list[Thread]
    links: list[Link]
    stale: list[Event] = field(default_factory=list)


def window_counts(history: TeamHistory, first: int, last: int, config: GaugeConfig) -> WindowCounts:
    """Counts of buckets first..last (both included) of one team."""

    def inside(t: float) -> bool:
        return first <= bucket_of(t, config.bucket_s) <= last

    events = [e for e in history.events if inside(e.occurred_at)]
    threads = [t for t in history.threads if inside(t.started_at)]
    links = [link for link in history.links if inside(link.at)]
    contributions = Counter(e.actor for e in events if e.type in (POSTED, REPLIED))
    replied = [t for t in threads if t.replies_from_others > 0]
    return WindowCounts(
        events=len(events),
        active_members=len({e.actor for e in events}),
        learning_ms=sum(
            formulas.learning_millis(e.duration_s) for e in events if e.type.startswith("learning.")
        ),
        starts=sum(e.type == STARTED for e in events),
        completions=sum(e.type == COMPLETED for e in events),
        assessments_passed=sum(e.type == ASSESSED and e.success is True for e in events),
        posts=sum(e.type == POSTED for e in events),
        replies=sum(e.type == REPLIED for e in events),
        reactions=sum(e.type == REACTED for e in events),
        threads_started=len(threads),
        threads_replied=len(replied),
        thread_replies=sum(t.replies for t in threads),
        reply_interactions=len(links),
        cross_team_interactions=sum(link.replier_team != link.parent_team for link in links),
        contributions=tuple(sorted(contributions.values())),
        first_reply_latencies=tuple(
            sorted(t.first_reply_latency for t in replied if t.first_reply_latency is not None)
        ),
    )


def adoption_counts(events: list[Event], config: GaugeConfig) -> dict[str, tuple[int, ...]]:
    """Per initiative, how many people's highest stage is awareness .. reinforcement."""
    result = {}
    for initiative in config.initiatives:
        stages: dict[str, set[int]] = defaultdict(set)
        weeks: dict[str, set[int]] = defaultdict(set)
        index = matchers_by_type(initiative)
        for event in events:
            ranks = evidence_ranks(event, initiative, index)
            stages[event.actor] |= ranks
            if ABILITY in ranks:
                weeks[event.actor].add(week_of(event.occurred_at))
        highest: Counter[int] = Counter()
        for person, ranks in stages.items():
            if len(weeks[person]) >= initiative.reinforcement.practice_weeks:
                ranks = ranks | {REINFORCEMENT}
            if ranks:
                highest[max(ranks)] += 1
        result[initiative.id] = tuple(highest[r] for r in range(1, len(EVIDENCE_STAGES) + 1))
    return result


def baseline_of(
    history: TeamHistory, members: int, as_of: float, config: GaugeConfig
) -> float | None:
    """Mean of the baseline-window score at the same time of earlier weeks; silent ones left out."""
    return _baseline_samples(history, members, as_of, config)[0]


def _baseline_samples(
    history: TeamHistory, members: int, as_of: float, config: GaugeConfig
) -> tuple[float | None, float | None]:
    """The baseline and the mean number of events of the samples it is the mean of."""
    window_s = config.baseline_window_s
    width = window_s // config.bucket_s
    samples: list[float | None] = []
    events: list[float | None] = []
    for last in baseline_sample_ends(as_of, config):
        counts = window_counts(history, last - width + 1, last, config)
        active = counts.active_members > 0
        samples.append(engagement_score_of(counts, members, window_s, config) if active else None)
        events.append(counts.events if active else None)
    baseline = formulas.baseline_mean(samples)
    return baseline, formulas.baseline_mean(events) if baseline is not None else None


def activity_counts(history: TeamHistory, as_of: float, config: GaugeConfig) -> ActivityCounts:
    """Events per bucket over the drop signal's span and reference weeks, from the list."""
    signal = config.scoring.drop_signal
    week, per_day = config.buckets_per_week, config.buckets_per_day
    last = bucket_of(as_of, config.bucket_s)
    first = last - signal.span_weeks * week + 1
    per_bucket = Counter(bucket_of(e.occurred_at, config.bucket_s) for e in history.events)

    def active(start: int, end: int) -> int:
        return len(
            {
                e.actor
                for e in history.events
                if start <= bucket_of(e.occurred_at, config.bucket_s) <= end
            }
        )

    weeks = [first - (r + 1) * week for r in range(signal.reference_weeks)]  # their first bucket
    return ActivityCounts.of(
        recent=tuple(per_bucket[i] for i in range(first, last + 1)),
        profile=tuple(sum(per_bucket[start + p] for start in weeks) for p in range(week)),
        days=tuple(
            sum(per_bucket[i] for i in range(start + d * per_day, start + (d + 1) * per_day))
            for start in weeks
            for d in range(7)
        ),
        active=active(last - week + 1, last),
        usual_active=tuple(active(start, start + week - 1) for start in weeks),
    )


def team_counts(
    history: TeamHistory, members: int, as_of: float, config: GaugeConfig
) -> TeamCounts:
    windows = {
        label: window_counts(history, *window_range(as_of, seconds, config.bucket_s), config)
        for label, seconds in config.windows.items()
    }
    baseline, evidence = _baseline_samples(history, members, as_of, config)
    current = None
    if baseline is not None:
        window_s = config.baseline_window_s
        now = window_counts(history, *window_range(as_of, window_s, config.bucket_s), config)
        current = engagement_score_of(now, members, window_s, config)
    weighted = baseline is not None and current is not None
    return TeamCounts(
        members=members,
        windows=windows,
        adoption=adoption_counts(history.events + history.stale, config),
        baseline_members=members if weighted else 0,
        baseline_sum=members * baseline if weighted and baseline is not None else 0.0,
        current_sum=members * current if weighted and current is not None else 0.0,
        baseline_events=evidence if weighted and evidence is not None else 0.0,
        activity=activity_counts(history, as_of, config),
    )


def without_erased(
    events: Iterable[Event], roster: Roster, erased: AbstractSet[str]
) -> tuple[list[Event], Roster]:
    """The events and the roster as if the erased people had never been there."""
    kept = [e for e in events if e.actor not in erased]
    if not erased:
        return kept, roster
    return kept, Roster([entry for entry in roster.entries() if entry.person not in erased])


def reference_counts(
    events: Iterable[Event],
    roster: Roster,
    config: GaugeConfig,
    as_of: float,
    erased: AbstractSet[str] = frozenset(),
) -> dict[str, TeamCounts]:
    """TeamCounts of every team that has an accepted event or a thread fact."""
    events, roster = without_erased(events, roster, erased)
    admission = admit(events, roster, config)
    accepted = admission.accepted
    threads, links = join_threads(accepted)
    teams = (
        {str(e.team) for e in accepted}
        | {t.team for t in threads}
        | {link.replier_team for link in links}
        | {link.parent_team for link in links}
    )
    result = {}
    for team in sorted(teams):
        history = TeamHistory(
            events=[e for e in accepted if e.team == team],
            threads=[t for t in threads if t.team == team],
            links=[link for link in links if link.involves(team)],
            stale=[e for e in admission.stale if e.team == team],
        )
        result[team] = team_counts(history, roster.team_size(team), as_of, config)
    return result


def reference_snapshot(
    events: Iterable[Event],
    roster: Roster,
    config: GaugeConfig,
    as_of: float,
    erased: AbstractSet[str] = frozenset(),
) -> OrgSnapshot:
    """Every published team and roll-up snapshot as of `as_of`, erased people left out."""
    events, roster = without_erased(events, roster, erased)
    return org_snapshot(reference_counts(events, roster, config, as_of), roster, config, as_of)


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
    events = [e for e in events if e.actor not in erased]
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
    """Human-readable tables: one per window, then baselines, then adoption."""
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


def _table(out: IO[str], header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = (str(cell).ljust(w) for cell, w in zip(row, widths, strict=True))
        out.write("  ".join(cells).rstrip() + "\n")
