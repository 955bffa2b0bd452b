"""The reference model: every gauge of an organisation from a list of events, in one batch.

Written for clarity, not speed. It is the oracle the streaming code (`TeamState`,
`ThreadBook`) is tested against, and it powers `teampulse replay FILE` for backfills and
what-if questions (`reference.replay` reads the export and prints the gauges). It shares
only the *definitions* with the streaming code: the leaf formulas (`gauges.formulas`), the
event counters (`gauges.counters`), the baseline's weighted sums (`snapshot.baseline_sums`),
what counts as adoption evidence (`gauges.adoption.evidence_ranks`) and how counts become
gauges (`gauges.snapshot`). Admission (dedupe and lateness), bucketing,
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

from collections import Counter, defaultdict
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from teampulse.contract.event import (
    COMPLETED,
    POSTED,
    REACTED,
    REPLIED,
    STARTED,
    UNASSIGNED_TEAM,
    Event,
)
from teampulse.contract.tenant_scope import unscoped
from teampulse.enrichment.roster import Roster, resolve_team
from teampulse.gauges import formulas
from teampulse.gauges.adoption import ABILITY, REINFORCEMENT, evidence_ranks, matchers_by_type
from teampulse.gauges.config import EVIDENCE_STAGES, GaugeConfig
from teampulse.gauges.content import ContentCatalog, ContentCounts
from teampulse.gauges.counters import EVENT_COUNTERS
from teampulse.gauges.counts import ActivityCounts, TeamCounts, WindowCounts
from teampulse.gauges.eventtime import (
    baseline_sample_ends,
    bucket_of,
    expired_before,
    week_of,
    window_range,
)
from teampulse.gauges.model import OrgSnapshot
from teampulse.gauges.snapshot import baseline_sums, engagement_score_of, org_snapshot

__all__ = [
    "Admission",
    "Link",
    "TeamHistory",
    "Thread",
    "admit",
    "activity_counts",
    "adoption_counts",
    "baseline_of",
    "content_counts",
    "join_threads",
    "reaction_links",
    "reference_counts",
    "reference_snapshot",
    "team_counts",
    "window_counts",
    "without_erased",
]


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
    first_cross_reply_latency: float | None = None  # ... to a reply from another team
    first_within_reply_latency: float | None = None  # ... to a teammate's reply
    # The teams that posted or replied in it, by name (people without a team left out):
    # two or more make it a cross-team thread, which the first of them owns.
    teams: tuple[str, ...] = ()

    @property
    def cross_team(self) -> bool:
        return len(self.teams) >= 2


@dataclass(frozen=True)
class Link:
    replier_team: str
    parent_team: str
    at: float
    reaction: bool = False  # a reaction to a post of another team: network only

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
        teams = tuple(
            sorted(
                {str(e.team) for e in by_id.values() if unscoped(str(e.team)) != UNASSIGNED_TEAM}
            )
        )
        from_others = [r.occurred_at for r in replies if r.actor != root.actor]
        # A person's replies count as the team of their first reply in the thread.
        replier_team: dict[str, str] = {}
        for reply in sorted(replies, key=lambda r: r.occurred_at):
            replier_team.setdefault(reply.actor, str(reply.team))
        cross = [
            r.occurred_at for r in replies if r.actor != root.actor
            and replier_team[r.actor] != root.team
        ]  # fmt: skip
        within = [
            r.occurred_at for r in replies if r.actor != root.actor
            and replier_team[r.actor] == root.team
        ]  # fmt: skip
        threads.append(
            Thread(
                team=str(root.team),
                started_at=root.occurred_at,
                replies=len(replies),
                replies_from_others=len(from_others),
                first_reply_latency=(
                    max(0.0, min(from_others) - root.occurred_at) if from_others else None
                ),
                first_cross_reply_latency=(
                    max(0.0, min(cross) - root.occurred_at) if cross else None
                ),
                first_within_reply_latency=(
                    max(0.0, min(within) - root.occurred_at) if within else None
                ),
                teams=teams,
            )
        )
    return threads, links


def reaction_links(reactions: list[Event], accepted: list[Event]) -> list[Link]:
    """A reaction to a post of another team, in the same thread, is a link of the network.
    A reaction id counts once (its first accepted occurrence)."""
    posts: dict[tuple[str, str], Event] = {}
    for event in accepted:
        thread = _thread_of(event) if event.type in (POSTED, REPLIED) else None
        if thread is not None:
            posts.setdefault((thread, event.post or event.id), event)
    links, seen = [], set()
    for event in reactions:
        if event.type != REACTED or not event.thread or not event.parent:
            continue
        key = (event.thread, event.post or event.id)
        if key in seen:
            continue
        seen.add(key)
        parent = posts.get((event.thread, event.parent))
        if parent is not None and parent.team != event.team:
            links.append(Link(str(event.team), str(parent.team), event.occurred_at, True))
    return links


# --- 3. counting -------------------------------------------------------------------------------
@dataclass
class TeamHistory:
    events: list[Event]
    threads: list[Thread]
    links: list[Link]
    stale: list[Event] = field(default_factory=list)
    team: str = ""  # whose history: the side the network gauges look from
    bridged: list[Thread] = field(default_factory=list)  # cross-team threads it took part in


def window_counts(history: TeamHistory, first: int, last: int, config: GaugeConfig) -> WindowCounts:
    """Counts of buckets first..last (both included) of one team."""

    def inside(t: float) -> bool:
        return first <= bucket_of(t, config.bucket_s) <= last

    events = [e for e in history.events if inside(e.occurred_at)]
    threads = [t for t in history.threads if inside(t.started_at)]
    links = [link for link in history.links if inside(link.at)]
    bridged = [t for t in history.bridged if inside(t.started_at)]
    contributions = Counter(e.actor for e in events if e.type in (POSTED, REPLIED))
    replied = [t for t in threads if t.replies_from_others > 0]
    return WindowCounts(
        active_members=len({e.actor for e in events}),
        **{counter.name: sum(counter.of(e) for e in events) for counter in EVENT_COUNTERS},
        threads_started=len(threads),
        threads_replied=len(replied),
        thread_replies=sum(t.replies for t in threads),
        reply_interactions=sum(not link.reaction for link in links),
        cross_team_interactions=sum(
            link.replier_team != link.parent_team for link in links if not link.reaction
        ),
        bridged_threads=len(bridged),
        cross_team_threads=sum(t.teams[0] == history.team for t in bridged),
        partners=partners_of(history.team, links),
        contributions=tuple(sorted(contributions.values())),
        first_reply_latencies=tuple(
            sorted(t.first_reply_latency for t in replied if t.first_reply_latency is not None)
        ),
        first_cross_reply_latencies=tuple(
            sorted(
                t.first_cross_reply_latency
                for t in replied
                if t.first_cross_reply_latency is not None
            )
        ),
        first_within_reply_latencies=tuple(
            sorted(
                t.first_within_reply_latency
                for t in replied
                if t.first_within_reply_latency is not None
            )
        ),
    )


def partners_of(team: str, links: list[Link]) -> tuple[tuple[str, int, int], ...]:
    """Per other team: the team's replies to it and its replies to the team."""
    to: Counter[str] = Counter()
    back: Counter[str] = Counter()
    for link in links:
        if link.replier_team == link.parent_team:
            continue
        if link.replier_team == team:
            to[link.parent_team] += 1
        else:
            back[link.replier_team] += 1
    return tuple((other, to[other], back[other]) for other in sorted(to.keys() | back.keys()))


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


def content_counts(
    events: list[Event], members: int, first: int, last: int, config: GaugeConfig
) -> dict[str, ContentCounts]:
    """Per content key, one team's content counts over buckets first..last (gauges.content)."""
    catalog = ContentCatalog(config.initiatives, config)

    def bucket(e: Event) -> int:
        return bucket_of(e.occurred_at, config.bucket_s)

    def keys(e: Event) -> tuple[str, ...]:
        return catalog.keys_of(e.content) if e.content is not None else ()

    inside = [e for e in events if first <= bucket(e) <= last]
    learning = [e for e in inside if e.type in (STARTED, COMPLETED)]
    completions = [e for e in events if e.type == COMPLETED and e.content is not None]

    reach = catalog.conversation_buckets

    def references(e: Event) -> set[str]:
        if e.content is not None:
            return set(keys(e))
        return {
            key
            for c in completions
            if c.actor == e.actor and bucket(c) <= bucket(e) < bucket(c) + reach
            for key in keys(c)
            if (initiative := catalog.initiative_of(key)) is not None
            and catalog.in_channels(initiative, e.channel)
        }

    talk = [(e, references(e)) for e in inside if e.type in (POSTED, REPLIED)]
    all_keys = {k for e in learning for k in keys(e)} | {k for _, refs in talk for k in refs}
    result = {}
    for key in sorted(all_keys):
        learners = {e.actor for e in learning if key in keys(e)}
        done: dict[str, int] = {}
        for e in learning:
            if e.type == COMPLETED and key in keys(e):
                done[e.actor] = min(done.get(e.actor, bucket(e)), bucket(e))
        about = [e for e, refs in talk if key in refs]
        initiative = catalog.initiative_of(key)
        practiced: tuple[int, ...] = ()
        others_practiced: tuple[int, ...] = ()
        if initiative is not None:
            practice = [e for e in events if initiative in catalog.practised(e)]
            practiced = tuple(
                len({p.actor for p in practice if p.actor in done
                     and done[p.actor] <= bucket(p) < done[p.actor] + span})
                for span in catalog.spans
            )  # fmt: skip
            others_practiced = tuple(
                len({p.actor for p in practice if p.actor not in done
                     and last - span < bucket(p) <= last}) if done else 0
                for span in catalog.spans
            )  # fmt: skip
        result[key] = ContentCounts(
            learners=len(learners),
            completers=len(done),
            posts=sum(e.type == POSTED for e in about),
            replies=sum(e.type == REPLIED for e in about),
            contributors=len({e.actor for e in about}),
            practiced=practiced,
            others=max(0, members - len(done)) if done else 0,
            others_practiced=others_practiced,
        )
    return result


def team_counts(
    history: TeamHistory, members: int, as_of: float, config: GaugeConfig
) -> TeamCounts:
    windows = {
        label: window_counts(history, *window_range(as_of, seconds, config.bucket_s), config)
        for label, seconds in config.windows.items()
    }
    baseline, evidence = _baseline_samples(history, members, as_of, config)
    window_s = config.baseline_window_s

    def current_window() -> WindowCounts:
        return window_counts(history, *window_range(as_of, window_s, config.bucket_s), config)

    return TeamCounts(
        members=members,
        windows=windows,
        adoption=adoption_counts(history.events + history.stale, config),
        **baseline_sums(baseline, evidence, current_window, members, config)._asdict(),
        activity=activity_counts(history, as_of, config),
        content={
            label: content_counts(
                history.events, members, *window_range(as_of, seconds, config.bucket_s), config
            )
            for label, seconds in config.content_windows.items()
        },
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
    """TeamCounts of every team that has an accepted event or a thread fact.

    An erased person's reactions to another team's posts keep their links: the thread join
    keeps no reactor, so the stream cannot remove them (docs/gauges.md, "Network")."""
    everyone = list(events)
    events, roster = without_erased(everyone, roster, erased)
    admission = admit(events, roster, config)
    accepted = admission.accepted
    threads, links = join_threads(accepted)
    reactions = admit(everyone, roster, config).accepted if erased else accepted
    links += reaction_links(reactions, accepted)
    cross = [t for t in threads if t.cross_team]
    teams = (
        {str(e.team) for e in accepted}
        | {t.team for t in threads}
        | {team for t in cross for team in t.teams}
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
            team=team,
            bridged=[t for t in cross if team in t.teams],
        )
        result[team] = team_counts(history, roster.team_size(team), as_of, config.of(team))
    return result


def reference_snapshot(
    events: Iterable[Event],
    roster: Roster,
    config: GaugeConfig,
    as_of: float,
    erased: AbstractSet[str] = frozenset(),
) -> OrgSnapshot:
    """Every published team and roll-up snapshot as of `as_of`, erased people left out."""
    events = list(events)
    counts = reference_counts(events, roster, config, as_of, erased)
    _, roster = without_erased(events, roster, erased)
    return org_snapshot(counts, roster, config, as_of)
