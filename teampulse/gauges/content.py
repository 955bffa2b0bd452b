"""Content gauges: which learning is taken up, talked about and put into practice.

Per content item (an event's `content` id) and per content group (every `content_prefix` the
initiatives name, published as the prefix followed by `*`), over the content windows
(`GaugeConfig.content_windows`, 7d and 28d by default). The definitions, in one place; the
stream (`gauges.content_book`) and the reference model (`reference.oracle`) both follow them,
and docs/gauges.md ("Content") says them in words:

* learners: people with a `learning.started` or `learning.completed` of it in the window;
  completers: those with a `learning.completed`.
* conversation: `discussion.posted` / `discussion.replied` in the window that reference it.
  An event references the content it names in its `content` field (a connector that knows
  the thread's course, an xAPI context activity); an event without a content id references
  a content when it is in one of the channels of the content's initiative and its author
  completed the content within `conversation_within` before it (buckets: the completion's
  hour up to `conversation_within` later, excluded).
* practice after learning: a completer (first completion of it in the window, bucket c) has
  practised when they have `adoption.practiced` evidence of ability for the content's
  initiative in buckets c .. c + span - 1, for each span of `practice_within`. The comparison:
  the other members of the same teams (roster members minus completers, for every team with a
  completer), of whom those with such evidence in the last span (up to the window's end).
* needs attention: completed by at least `attention_min_completers` people (and the minimum
  group size), with no conversation and no practice (longest span).

A content's initiative is the first initiative (in the file's order) whose evidence names
it: the content id among a matcher's `content`, or a matcher's `content_prefix` that the id
starts with (for a group, the prefix itself). Without one, practice is not measured for it.

Counts are per team (`ContentCounts`, additive) and travel with the team's counts; the
tenant's table (`content_table`) sums its teams and publishes a figure only when enough
distinct people stand behind it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from teampulse.contract.event import PRACTICED, Event
from teampulse.contract.tenant_scope import tenant_of
from teampulse.gauges import formulas
from teampulse.gauges.adoption import ABILITY, evidence_ranks, matchers_by_type
from teampulse.gauges.config import GaugeConfig, InitiativeConfig
from teampulse.gauges.model import ContentSnapshot
from teampulse.settings import parse_duration

__all__ = [
    "GROUP_MARK",
    "ContentCatalog",
    "ContentCounts",
    "ContentSnapshot",
    "config_catalog",
    "content_table",
    "merge_content",
    "prometheus_view",
]

GROUP_MARK = "*"  # a group's key: its prefix followed by this
NO_INITIATIVE = ""


@dataclass(frozen=True, slots=True)
class ContentCounts:
    """One content's counts in one team and window; every field adds up across teams."""

    learners: int = 0
    completers: int = 0
    posts: int = 0
    replies: int = 0
    contributors: int = 0
    practiced: tuple[int, ...] = ()  # completers who practised, per span of practice_within
    others: int = 0  # members of the team who did not complete it (teams with a completer)
    others_practiced: tuple[int, ...] = ()  # ... of whom practised in the last span

    def add(self, other: ContentCounts) -> ContentCounts:
        return ContentCounts(
            self.learners + other.learners,
            self.completers + other.completers,
            self.posts + other.posts,
            self.replies + other.replies,
            self.contributors + other.contributors,
            _add(self.practiced, other.practiced),
            self.others + other.others,
            _add(self.others_practiced, other.others_practiced),
        )

    def to_wire(self) -> list[Any]:
        return [
            self.learners,
            self.completers,
            self.posts,
            self.replies,
            self.contributors,
            list(self.practiced),
            self.others,
            list(self.others_practiced),
        ]

    @classmethod
    def from_wire(cls, wire: list[Any]) -> ContentCounts:
        learners, completers, posts, replies, contributors, practiced, others, others_p = wire
        return cls(
            int(learners),
            int(completers),
            int(posts),
            int(replies),
            int(contributors),
            tuple(map(int, practiced)),
            int(others),
            tuple(map(int, others_p)),
        )


def _add(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    if not a:
        return b
    if not b:
        return a
    return tuple(x + y for x, y in zip(a, b, strict=True))


# window -> content key -> counts
ContentWindows = dict[str, dict[str, ContentCounts]]


def merge_content(parts: Iterable[Mapping[str, Mapping[str, ContentCounts]]]) -> ContentWindows:
    merged: ContentWindows = {}
    for part in parts:
        for label, items in part.items():
            into = merged.setdefault(label, {})
            for key, counts in items.items():
                known = into.get(key)
                into[key] = counts if known is None else known.add(counts)
    return merged


class ContentCatalog:
    """What the configuration says about content: its keys, initiatives and channels."""

    def __init__(self, initiatives: tuple[InitiativeConfig, ...], config: GaugeConfig) -> None:
        self.initiatives = initiatives
        content = config.scoring.content
        self.spans = tuple(parse_duration(s) // config.bucket_s for s in content.practice_within)
        self.span_labels = content.practice_within
        self.conversation_buckets = parse_duration(content.conversation_within) // config.bucket_s
        prefixes: list[str] = []
        self._items: list[tuple[tuple[str, ...], str | None, int]] = []  # ids, prefix, initiative
        for index, initiative in enumerate(initiatives):
            for matchers in initiative.stages.values():
                for matcher in matchers:
                    self._items.append((matcher.content, matcher.content_prefix, index))
                    if matcher.content_prefix and matcher.content_prefix not in prefixes:
                        prefixes.append(matcher.content_prefix)
        self.prefixes = tuple(prefixes)
        self._indexes = [matchers_by_type(i) for i in initiatives]
        self._channels = [
            frozenset(
                {c for ms in i.stages.values() for m in ms for c in m.channels}
                | set(i.reinforcement.reply_channels)
            )
            for i in initiatives
        ]
        self.all_channels = frozenset(c for channels in self._channels for c in channels)
        self._keys: dict[str, tuple[str, ...]] = {}
        self._initiative: dict[str, int | None] = {}

    def keys_of(self, content: str) -> tuple[str, ...]:
        """The item's key and the keys of the groups it belongs to."""
        keys = self._keys.get(content)
        if keys is None:
            keys = self._keys[content] = (
                content,
                *(p + GROUP_MARK for p in self.prefixes if content.startswith(p)),
            )
        return keys

    def initiative_of(self, key: str) -> int | None:
        """The index of the key's initiative, None without one."""
        if key in self._initiative:
            return self._initiative[key]
        found: int | None = None
        group = key.endswith(GROUP_MARK) and key[:-1] in self.prefixes
        for ids, prefix, index in self._items:
            if group:
                hit = prefix == key[:-1]
            else:
                hit = key in ids or (prefix is not None and key.startswith(prefix))
            if hit:
                found = index
                break
        self._initiative[key] = found
        return found

    def initiative_name(self, key: str) -> str:
        index = self.initiative_of(key)
        return self.initiatives[index].id if index is not None else NO_INITIATIVE

    def practised(self, event: Event) -> tuple[int, ...]:
        """The initiatives (indexes) this event is practice evidence (ability) for."""
        if event.type != PRACTICED:
            return ()
        return tuple(
            index
            for index, initiative in enumerate(self.initiatives)
            if ABILITY in evidence_ranks(event, initiative, self._indexes[index])
        )

    def in_channels(self, initiative: int, channel: str | None) -> bool:
        return channel is not None and channel in self._channels[initiative]


_CATALOGS: dict[int, tuple[GaugeConfig, ContentCatalog]] = {}


def config_catalog(config: GaugeConfig) -> ContentCatalog:
    """One catalogue per configuration object (it caches the keys of every content id)."""
    known = _CATALOGS.get(id(config))
    if known is None or known[0] is not config:
        known = _CATALOGS[id(config)] = (config, ContentCatalog(config.initiatives, config))
    return known[1]


# --- publishing --------------------------------------------------------------------------------
def content_table(
    team_content: Mapping[str, Mapping[str, Mapping[str, ContentCounts]]], config: GaugeConfig
) -> list[ContentSnapshot]:
    """Every tenant's published content table, from its teams' content counts (team ->
    `TeamCounts.content`).

    A content is in the table when, in some window, at least the minimum group size of
    learners stand behind it; each figure is published only over enough distinct people
    (docs/privacy.md, "Content gauges"). Sorted by tenant and key.
    """
    by_tenant: dict[str | None, list[Mapping[str, Mapping[str, ContentCounts]]]] = {}
    for team in sorted(team_content):
        content = team_content[team]
        if content:
            by_tenant.setdefault(tenant_of(team), []).append(content)
    table: list[ContentSnapshot] = []
    for tenant in sorted(by_tenant, key=lambda t: t or ""):
        own = config.of_tenant(tenant)  # its initiatives and minimum group size
        catalog = config_catalog(own)
        minimum = own.min_group_size
        merged = merge_content(by_tenant[tenant])
        keys = sorted({key for items in merged.values() for key in items})
        for key in keys:
            windowed = {}
            for label in config.content_windows:
                counts = merged.get(label, {}).get(key)
                if counts is not None and counts.learners >= minimum:
                    windowed[label] = content_gauges(counts, catalog, minimum, own)
            if windowed:
                table.append(ContentSnapshot(tenant, key, catalog.initiative_name(key), windowed))
    return table


def _enough(people: int, minimum: int) -> bool:
    """A figure about `people` distinct people: none, or at least the minimum."""
    return people == 0 or people >= minimum


def content_gauges(
    counts: ContentCounts, catalog: ContentCatalog, minimum: int, config: GaugeConfig
) -> dict[str, float]:
    gauges: dict[str, float] = {"learners": counts.learners}
    if _enough(counts.completers, minimum):
        gauges["completers"] = counts.completers
    if _enough(counts.contributors, minimum):
        gauges["conversation_posts"] = counts.posts
        gauges["conversation_replies"] = counts.replies
        gauges["conversation_contributors"] = counts.contributors
    completers_ok = counts.completers >= minimum
    others_ok = counts.others >= minimum
    for index, label in enumerate(catalog.span_labels):
        share = (
            formulas.ratio(counts.practiced[index], counts.completers)
            if completers_ok and counts.practiced
            else None
        )
        usual = (
            formulas.capped_ratio(counts.others_practiced[index], counts.others)
            if others_ok and counts.others_practiced
            else None
        )
        if share is not None:
            gauges[f"practice_ratio_within_{label}"] = share
        if usual is not None:
            gauges[f"others_practice_ratio_within_{label}"] = usual
        if share is not None and usual is not None:
            gauges[f"practice_uplift_within_{label}"] = share - usual
    if completers_ok:
        widely = counts.completers >= config.scoring.content.attention_min_completers
        practised = counts.practiced[-1] if counts.practiced else 0
        quiet = counts.posts + counts.replies == 0 and practised == 0
        gauges["needs_attention"] = 1.0 if widely and quiet else 0.0
    return gauges


def prometheus_view(
    table: Iterable[ContentSnapshot], config: GaugeConfig
) -> tuple[list[ContentSnapshot], dict[tuple[str | None, str], tuple[int, int]]]:
    """The bounded view Prometheus gets: per tenant and initiative, the top
    `prometheus_top_items` contents by learners in the longest content window (ties: key),
    and per tenant and initiative (published contents, contents needing attention there)."""
    top = config.scoring.content.prometheus_top_items
    longest = max(config.content_windows, key=lambda w: config.content_windows[w], default=None)
    groups: dict[tuple[str | None, str], list[ContentSnapshot]] = {}
    for snapshot in table:
        groups.setdefault((snapshot.tenant, snapshot.initiative), []).append(snapshot)
    chosen: list[ContentSnapshot] = []
    totals: dict[tuple[str | None, str], tuple[int, int]] = {}
    for group, snapshots in sorted(groups.items(), key=lambda g: (g[0][0] or "", g[0][1])):

        def learners(s: ContentSnapshot) -> tuple[float, str]:
            return (-s.windowed.get(longest or "", {}).get("learners", 0.0), s.key)

        chosen.extend(sorted(snapshots, key=learners)[:top])
        attention = sum(
            1 for s in snapshots if s.windowed.get(longest or "", {}).get("needs_attention") == 1.0
        )
        totals[group] = (len(snapshots), attention)
    return chosen, totals
