"""The event-time state of one team: hourly buckets, dedupe, lateness, expiry, adoption.

Events arrive in any order. Each team keeps a watermark per input stream (`Event.origin`,
the latest event time it accepted from that stream) and an event older than its stream's
`watermark - lateness` is late and not applied: a backfill read faster from one partition
than from another does not make the other's events late. Accepted events land in
the bucket of their event time; thread facts land in the bucket of the thread's start or of
the reply. Buckets behind `watermark - retention` are dropped, and event ids are remembered
only while a repeat of the event could still be on time, so state stays bounded.

Each bucket keeps what every person contributed to it, and the event ids are remembered with
their actor, so an erasure (`forget`) removes a person exactly: the bucket's sums lose that
person's part, as if their events had never arrived. The sums are not stored apart from the
parts: a bucket's figures are the sum of its people's rows.

The rows are compact (`_Day`): one day of buckets is two flat integer arrays, a row per
(bucket, person) that had an event, with people as small integers interned per team. A row
costs 72 bytes instead of the 400-odd of an object per bucket and per person; it is what
makes the state a third of what it was per person (docs/architecture.md).

`counts(as_of, members)` is called often (about once a second per changed team), so it
merges whole-day aggregates that are computed once and cached until an event or fact lands
in that day: its cost grows with days and people, not with events or buckets.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable, Sequence
from sys import intern
from typing import Any, Literal

from teampulse.contract.event import Event
from teampulse.gauges import formulas
from teampulse.gauges.adoption import AdoptionBook
from teampulse.gauges.config import GaugeConfig
from teampulse.gauges.content import ContentCatalog, ContentCounts
from teampulse.gauges.content_book import ContentBook
from teampulse.gauges.counters import EVENT_COUNTERS, column_of, increments_by_type
from teampulse.gauges.counts import ActivityCounts, TeamCounts, WindowCounts
from teampulse.gauges.eventtime import (
    baseline_sample_ends,
    bucket_of,
    expired_before,
    is_late,
    window_range,
)
from teampulse.gauges.snapshot import baseline_sums, engagement_score_of
from teampulse.gauges.threads import ReplyLink, ThreadFact, ThreadSummary, ThreadTeams

__all__ = ["TeamState"]

# stale: behind the retention, so in no window, but evidence for adoption, which has none;
# reported as late. Which events are stale depends on how far the fastest input stream has
# run ahead, so counting them for adoption keeps adoption independent of the reading speed
# of each partition (and of how many workers read them).
Outcome = Literal["accepted", "duplicate", "late", "stale"]


# The columns of a row, one person's part of one bucket: the event counters, in their order.
_WIDTH = len(EVENT_COUNTERS)
_EVENTS, _POSTS, _REPLIES = column_of("events"), column_of("posts"), column_of("replies")
_INCREMENTS = increments_by_type()
_COLUMNS = range(_WIDTH)
# A day's counts are 32-bit until a sum passes 2**31 - 1 (a month of learning time in one
# bucket, say): then that day widens to 64 bits. Half the bytes of the largest part of the
# state, and as exact.
_NARROW, _WIDE = "i", "q"
_EMPTY_ROWS = {code: array(code, bytes(array(code).itemsize * _WIDTH)) for code in (_NARROW, _WIDE)}


def _between(done: int, upto: int, held: dict[int, Any]) -> Iterable[int]:
    """The keys of `held` in done..upto - 1, when none is below `done`: the range, when it is
    shorter than the dict (the first time, or after a long silence, a scan is shorter)."""
    if upto - done <= len(held):
        return range(done, upto)
    return [key for key in held if key < upto]


# The other side of a reply interaction, seen from the team: (the other team, the team wrote
# the reply?, a reaction?). Within the team it is _WITHIN: no other team, and the direction
# counts nothing. A reaction counts for the network only (partners), not as a reply.
_Side = tuple[str, bool, bool]
_WITHIN: _Side = ("", True, False)
_REACTION_KEY = "\x1f"  # before a reaction's id among the reply ids of `_Day.links`


def _side_of(link: ReplyLink, team: str, sides: dict[_Side, _Side]) -> _Side:
    """The link's other side, one shared tuple per (team, direction): a team has few partners
    and many links, so a link costs a reference, not a tuple."""
    if not link.crossing:
        return _WITHIN
    outgoing = link.replier_team == team
    side = (link.parent_team if outgoing else link.replier_team, outgoing, link.reaction)
    return sides.setdefault(side, side)


def _lowest_bit(mask: int) -> int:
    return (mask & -mask).bit_length() - 1


class _Day:
    """The buckets of one day of event time, compactly.

    `keys[r]` is `person * buckets_per_day + bucket offset` of row r, and `parts[r * _WIDTH:
    (r + 1) * _WIDTH]` that person's counts in that bucket. Thread facts are few beside
    events and keep their own maps, by bucket offset. `present` has bit `offset` set for
    every bucket that exists (an event or a fact landed in it, and it was not dropped).
    """

    __slots__ = ("keys", "parts", "present", "summaries", "links", "bridges")

    def __init__(self) -> None:
        self.keys = array("q")
        self.parts = array(_NARROW)
        self.present = 0
        # (offset, thread, root) -> summary: one dict a day, not one an hour
        self.summaries: dict[tuple[int, str, str], ThreadSummary] | None = None
        # offset -> reply id -> its other side (None: removed by an erasure, for good)
        self.links: dict[int, dict[str, _Side | None]] | None = None
        # (offset, thread, start) -> a cross-team thread the team took part in (or no longer:
        # teams 0), by its start: one fact for each start it was told, like the summaries
        self.bridges: dict[tuple[int, str, float], ThreadTeams] | None = None

    def keep_rows(self, keep: Callable[[int], bool]) -> list[int]:
        """Keep the rows whose key passes; returns the keys of the rows dropped."""
        keys, parts = self.keys, self.parts
        kept_keys, kept_parts = array("q"), array(parts.typecode)
        dropped = []
        for row, key in enumerate(keys):
            if keep(key):
                kept_keys.append(key)
                kept_parts.extend(parts[row * _WIDTH : (row + 1) * _WIDTH])
            else:
                dropped.append(key)
        if dropped:
            self.keys, self.parts = kept_keys, kept_parts
        return dropped


class _Tally:
    """Buckets merged: people with their contributions, everything else as sums."""

    __slots__ = (
        "sums",
        "people",
        "threads_started",
        "threads_replied",
        "thread_replies",
        "reply_interactions",
        "cross_team_interactions",
        "partners",
        "latencies",
        "cross_latencies",
        "within_latencies",
        "bridged_threads",
        "cross_team_threads",
    )

    def __init__(self) -> None:
        self.sums = [0] * _WIDTH  # the event counters, by column
        self.people: dict[int, int] = {}  # person (interned per team) -> contributions
        self.threads_started = 0
        self.threads_replied = 0
        self.thread_replies = 0
        self.reply_interactions = 0
        self.cross_team_interactions = 0
        self.partners: dict[str, list[int]] = {}  # other team -> [replies to it, from it]
        self.latencies: list[float] = []
        self.cross_latencies: list[float] = []
        self.within_latencies: list[float] = []
        self.bridged_threads = 0
        self.cross_team_threads = 0

    def _add_people(self, people: dict[int, int]) -> None:
        mine = self.people
        if not mine:
            mine.update(people)
            return
        for actor, n in people.items():
            mine[actor] = mine.get(actor, 0) + n

    def add_buckets(self, day: _Day, per_day: int, first: int, last: int) -> None:
        """Add the buckets of offsets first..last of one day."""
        mine = self.people
        sums = self.sums
        parts = day.parts
        if first == 0 and last == per_day - 1:  # a whole day: each column is one strided slice
            for column in _COLUMNS:
                sums[column] += sum(parts[column::_WIDTH])
            posts, replies = parts[_POSTS::_WIDTH], parts[_REPLIES::_WIDTH]
            for key, n_posts, n_replies in zip(day.keys, posts, replies, strict=True):
                person = key // per_day
                mine[person] = mine.get(person, 0) + n_posts + n_replies
        else:
            for row, key in enumerate(day.keys):
                if not first <= key % per_day <= last:
                    continue
                at = row * _WIDTH
                for column in _COLUMNS:
                    sums[column] += parts[at + column]
                person = key // per_day
                mine[person] = mine.get(person, 0) + parts[at + _POSTS] + parts[at + _REPLIES]
        for (offset, _thread, _root), summary in day.summaries.items() if day.summaries else ():
            if not first <= offset <= last or not summary.current:
                continue
            self.threads_started += 1
            self.thread_replies += summary.replies
            latency = summary.first_reply_latency
            if latency is not None:
                self.threads_replied += 1
                self.latencies.append(latency)
                cross = summary.first_cross_reply_latency
                if cross is not None:
                    self.cross_latencies.append(cross)
                within = summary.first_within_reply_latency
                if within is not None:
                    self.within_latencies.append(within)
        for (offset, _thread, _start), teams in day.bridges.items() if day.bridges else ():
            if first <= offset <= last and teams.cross_team:
                self.bridged_threads += 1
                self.cross_team_threads += teams.owner
        for offset, links in day.links.items() if day.links else ():
            if not first <= offset <= last:
                continue
            partners = self.partners
            for side in links.values():
                if side is None:
                    continue
                other, outgoing, reaction = side
                if not reaction:
                    self.reply_interactions += 1
                if other:
                    if not reaction:
                        self.cross_team_interactions += 1
                    pair = partners.get(other)
                    if pair is None:
                        pair = partners[other] = [0, 0]
                    pair[0 if outgoing else 1] += 1

    def add(self, other: _Tally) -> None:
        sums = self.sums
        for column, n in enumerate(other.sums):
            sums[column] += n
        self._add_people(other.people)
        self.threads_started += other.threads_started
        self.threads_replied += other.threads_replied
        self.thread_replies += other.thread_replies
        self.reply_interactions += other.reply_interactions
        self.cross_team_interactions += other.cross_team_interactions
        self.bridged_threads += other.bridged_threads
        self.cross_team_threads += other.cross_team_threads
        partners = self.partners
        for team, (to_it, from_it) in other.partners.items():
            pair = partners.get(team)
            if pair is None:
                partners[team] = [to_it, from_it]
            else:
                pair[0] += to_it
                pair[1] += from_it
        self.latencies.extend(other.latencies)
        self.cross_latencies.extend(other.cross_latencies)
        self.within_latencies.extend(other.within_latencies)

    def to_counts(self) -> WindowCounts:
        return WindowCounts(
            **{counter.name: n for counter, n in zip(EVENT_COUNTERS, self.sums, strict=True)},
            active_members=len(self.people),
            threads_started=self.threads_started,
            threads_replied=self.threads_replied,
            thread_replies=self.thread_replies,
            reply_interactions=self.reply_interactions,
            cross_team_interactions=self.cross_team_interactions,
            bridged_threads=self.bridged_threads,
            cross_team_threads=self.cross_team_threads,
            partners=tuple(sorted((team, to, back) for team, (to, back) in self.partners.items())),
            contributions=tuple(sorted(n for n in self.people.values() if n)),
            first_reply_latencies=tuple(sorted(self.latencies)),
            first_cross_reply_latencies=tuple(sorted(self.cross_latencies)),
            first_within_reply_latencies=tuple(sorted(self.within_latencies)),
        )


_EMPTY_TALLY = _Tally()
# (first bucket, last bucket) -> (change counters of the days covered, aggregate)
_Pieces = dict[tuple[int, int], tuple[tuple[int, ...], _Tally]]


class TeamState:
    """Everything one team's gauges need, fed in arrival order by the `teams` stage."""

    def __init__(self, team: str, config: GaugeConfig) -> None:
        self.team = team
        self.config = config
        self.watermark: float | None = None  # latest event time accepted, any stream
        self._stream_watermarks: dict[str | None, float] = {}
        self._bucket_s = config.bucket_s
        self._per_day = config.buckets_per_day
        self._lateness_s = config.lateness_s
        self._days_held: dict[int, _Day] = {}  # day -> its buckets
        self._person_ids: dict[str, int] = {}  # pseudonym -> small integer, in this team
        self._next_person = 0
        self._seen: set[str] = set()
        # bucket -> (event ids, their actors): the ids an erasure forgets are the person's
        self._ids_by_bucket: dict[int, tuple[list[str], array[int]]] = {}
        self._ids_from = -(2**62)  # ids of buckets below this were forgotten
        self._ids_behind = False  # ids were kept below `_ids_from` since the last expiry
        self._kept_from = -(2**62)  # buckets below this were dropped
        # From these, expire() has something to do: the watermark from which a bucket falls
        # behind the retention, the slowest stream's watermark from which an id can be forgotten.
        self._next_expiry = -math.inf
        self._next_ids_expiry = -math.inf
        own = config.of(team)  # its tenant's configuration
        self._adoption = AdoptionBook(own.initiatives)
        self._content = (
            ContentBook(ContentCatalog(own.initiatives, own), config.bucket_s)
            if config.content_windows
            else None
        )
        self._sides: dict[_Side, _Side] = {}  # the other sides of reply links, shared
        # Aggregates are cached with the change counters of the days they cover and checked
        # when read, so applying an event only bumps its day's counter.
        self._changes: dict[int, int] = {}  # day -> how many changes landed in it
        self._days: dict[int, tuple[int, _Tally]] = {}  # day -> (its counter, aggregate)
        self._hours: dict[int, tuple[int, list[int]]] = {}  # day -> (counter, events/bucket)
        self._pieces: _Pieces = {}  # bucket ranges read by the last export
        # (last bucket of the window, members, hash of the scoring, value, events per
        # sample); samples end a week or more before it
        self._baseline: tuple[int, int, int, float | None, float | None] | None = None
        self._baseline_step = config.baseline_every_s // config.bucket_s
        # (last bucket, change counters of the reference days, profile, days, usual active):
        # the drop signal's reference weeks change only when a late event lands in them.
        self._reference: tuple[int, tuple[int, ...], ActivityCounts] | None = None

    # --- applying ---------------------------------------------------------------------------
    def apply_event(self, event: Event) -> Outcome:
        occurred_at = event.occurred_at
        stream_watermark = self._stream_watermarks.get(event.origin)
        if is_late(occurred_at, stream_watermark, self._lateness_s):
            return "late"
        index = bucket_of(occurred_at, self._bucket_s)
        if self.watermark is not None and index < expired_before(
            self.watermark, self.config.retention_s, self._bucket_s
        ):
            self._book().apply(event)  # its bucket is gone; adoption keeps no window
            return "stale"
        if event.id in self._seen:
            return "duplicate"
        self._seen.add(event.id)
        person = self._person_ids.get(event.actor)
        if person is None:
            person = self._person_ids[event.actor] = self._next_person
            self._next_person += 1
        ids = self._ids_by_bucket.get(index)
        if ids is None:
            # The first event of a new stream is never late, so it can land behind the
            # ids' horizon: expire() then looks at every bucket once more.
            self._ids_behind = self._ids_behind or index < self._ids_from
            self._ids_by_bucket[index] = ([event.id], array("q", (person,)))
        else:
            ids[0].append(event.id)
            ids[1].append(person)

        day, offset = self._slot_of(index)
        key = person * self._per_day + offset
        keys = day.keys
        if key in keys:
            at = keys.index(key) * _WIDTH
        else:
            at = len(keys) * _WIDTH
            keys.append(key)
            day.parts.extend(_EMPTY_ROWS[day.parts.typecode])
        parts = day.parts
        added = []
        for column, amount in _INCREMENTS[event.type]:
            value = 1 if amount is None else amount(event)
            added.append((column, value))
            try:
                parts[at + column] += value
            except OverflowError:  # the sum left 32 bits unchanged; from now on, 64
                parts = day.parts = array(_WIDE, parts)
                parts[at + column] += value
        self._book().apply(event)
        content = self._content_book()
        if content is not None:
            content.apply(event)
        self._add_to_day_caches(index, person, added)
        ids_due = False
        if stream_watermark is None or occurred_at > stream_watermark:
            watermarks = self._stream_watermarks
            watermarks[event.origin] = occurred_at
            # The slowest stream passes the ids' horizon with the event of the last stream
            # still behind it, so only a stream crossing it now needs the minimum of all.
            horizon = self._next_ids_expiry
            ids_due = (
                occurred_at >= horizon
                and (stream_watermark is None or stream_watermark < horizon)
                and min(watermarks.values()) >= horizon
            )
        if self.watermark is None or occurred_at > self.watermark:
            self.watermark = occurred_at
        if ids_due or self.watermark >= self._next_expiry:
            self.expire()
        return "accepted"

    def apply_fact(self, fact: ThreadFact) -> None:
        """Take a thread fact; an older version of what is already known changes nothing."""
        if isinstance(fact, ThreadSummary):
            index = bucket_of(fact.started_at, self._bucket_s)
            if index < self._kept_from:
                return
            day, offset = self._slot_of(index)
            if day.summaries is None:
                day.summaries = {}
            key = (offset, intern(fact.thread), intern(fact.root))
            known = day.summaries.get(key)
            if known is not None and (known.version > fact.version or known == fact):
                return
            day.summaries[key] = fact
        elif isinstance(fact, ThreadTeams):
            index = bucket_of(fact.started_at, self._bucket_s)
            if index < self._kept_from:
                return
            day, offset = self._slot_of(index)
            if day.bridges is None:
                day.bridges = {}
            bridge_key = (offset, intern(fact.thread), fact.started_at)
            held = day.bridges.get(bridge_key)
            if held is not None and (held.version > fact.version or held == fact):
                return
            day.bridges[bridge_key] = fact
        else:
            index = bucket_of(fact.at, self._bucket_s)
            if index < self._kept_from:
                return
            day, offset = self._slot_of(index)
            if day.links is None:
                day.links = {}
            links = day.links.setdefault(offset, {})
            side = None if fact.removed else _side_of(fact, self.team, self._sides)
            # A reaction's id is the producer's, like a reply's: kept apart from replies'.
            link_key = _REACTION_KEY + fact.reply if fact.reaction else fact.reply
            if link_key in links:
                known_side = links[link_key]
                if known_side is None:
                    return  # removed by an erasure: stays removed, whatever arrives after
                if known_side == side:
                    return
            links[intern(link_key)] = side
        self._touch(index)

    def forget(self, people: set[str]) -> bool:
        """Erasure: remove these people's events from every bucket, their event ids from the
        dedupe memory and their adoption progress; True when anything of theirs was held.

        Thread summaries and reply links are the thread stage's to correct (it sends facts
        that replace them). The watermarks stay: they are times, not people, and moving them
        back would re-open decisions (late, expired) already taken for everyone else.
        """
        if not people:
            return False
        # Their numbers go too, so nothing of theirs stays; if they come back they are new.
        persons = {self._person_ids.pop(p) for p in people if p in self._person_ids}
        touched: list[int] = []
        per_day = self._per_day
        for day_index, day in self._days_held.items():
            for key in day.keep_rows(lambda key: key // per_day not in persons) if persons else ():
                touched.append(day_index * per_day + key % per_day)
        for ids, actors in self._ids_by_bucket.values():
            if persons.isdisjoint(actors):
                continue
            pairs = list(zip(ids, actors, strict=True))
            self._seen.difference_update(i for i, a in pairs if a in persons)
            ids[:] = [i for i, a in pairs if a not in persons]
            actors[:] = array("q", (a for _, a in pairs if a not in persons))
        adoption_changed = self._book().forget(people)
        content = self._content_book()
        content_changed = content is not None and content.forget(people)
        for index in touched:
            self._touch(index)
        if touched or adoption_changed:
            self._baseline = None
        return bool(touched) or adoption_changed or content_changed

    def expire(self) -> None:
        """Drop buckets behind the retention and ids behind the lateness horizon."""
        if self.watermark is None:
            return
        # An id is needed while a repeat could still be on time in the slowest stream.
        slowest = min(self._stream_watermarks.values(), default=self.watermark)
        kept_from = expired_before(self.watermark, self.config.retention_s, self._bucket_s)
        ids_from = max(expired_before(slowest, self._lateness_s, self._bucket_s), kept_from)
        if ids_from > self._ids_from:
            # No ids exist below the previous horizon (events behind it are refused), so the
            # ones to forget are between the two; it runs every hour, so it must not scan.
            done = -(2**62) if self._ids_behind else self._ids_from
            self._ids_behind = False
            for index in _between(done, ids_from, self._ids_by_bucket):
                ids = self._ids_by_bucket.pop(index, None)
                if ids is not None:
                    self._seen.difference_update(ids[0])
            self._ids_from = ids_from
        if kept_from > self._kept_from:
            per_day = self._per_day
            gone = kept_from // per_day  # days before this one are entirely dropped
            gone_before = self._kept_from // per_day
            self._kept_from = kept_from
            # A bucket dropped is a change of its day (the caches holding it recompute) and of
            # the baseline if it sampled it.
            for day_index in _between(gone_before, gone, self._days_held):
                held = self._days_held.pop(day_index, None)
                if held is not None and held.present:
                    self._touch(day_index * per_day + _lowest_bit(held.present))
            first = kept_from - gone * per_day  # buckets of day `gone` before this go
            day = self._days_held.get(gone)
            dropped = day.present & ((1 << first) - 1) if day is not None else 0
            if day is not None and dropped:
                day.present &= ~dropped
                day.keep_rows(lambda key: key % per_day >= first)
                if day.summaries:
                    for key in [k for k in day.summaries if k[0] < first]:
                        del day.summaries[key]
                if day.bridges:
                    for bridge_key in [k for k in day.bridges if k[0] < first]:
                        del day.bridges[bridge_key]
                for offset in [o for o in day.links or () if o < first]:
                    del day.links[offset]  # type: ignore[union-attr]
                self._touch(gone * per_day + _lowest_bit(dropped))
            if gone > gone_before:  # once a day, not every hour
                if self._content is not None:
                    # A record behind the retention is behind every span the content gauges
                    # read, so dropping them once a day changes no figure.
                    self._content.expire(kept_from)
                for cache in (self._changes, self._days, self._hours):
                    for day_index in [d for d in cache if d < gone]:
                        del cache[day_index]  # (a cache still holding it mismatches, recomputes)
        # Nothing moves until a watermark reaches the next bucket boundary of its horizon.
        self._next_ids_expiry = (self._ids_from + 1) * self._bucket_s + self._lateness_s
        self._next_expiry = (self._kept_from + 1) * self._bucket_s + self.config.retention_s

    def _slot_of(self, index: int) -> tuple[_Day, int]:
        """The day holding bucket `index`, and the bucket's offset in it, marked as held."""
        day_index, offset = divmod(index, self._per_day)
        day = self._days_held.get(day_index)
        if day is None:
            day = self._days_held[day_index] = _Day()
        day.present |= 1 << offset
        return day, offset

    def _add_to_day_caches(self, index: int, person: int, added: list[tuple[int, int]]) -> None:
        """An event's part of bucket `index` is in the rows: add it to the day's cached
        aggregate and events per bucket too, if they were current, instead of scanning the
        day's rows again at the next read (the day an export reads most is the one events
        land in). Anything else that changes a day (a fact, an erasure, an expiry) makes them
        recompute from the rows."""
        day_index, offset = divmod(index, self._per_day)
        stamp = self._changes.get(day_index, 0)
        self._touch(index)
        now = self._changes[day_index]
        cached = self._days.get(day_index)
        if cached is not None and cached[0] == stamp and stamp:
            tally = cached[1]
            sums = tally.sums
            contributed = 0
            for column, value in added:
                sums[column] += value
                if column in (_POSTS, _REPLIES):
                    contributed += value
            tally.people[person] = tally.people.get(person, 0) + contributed
            self._days[day_index] = (now, tally)
        hours = self._hours.get(day_index)
        if hours is not None and hours[0] == stamp and stamp:
            for column, value in added:
                if column == _EVENTS:
                    hours[1][offset] += value
            self._hours[day_index] = (now, hours[1])

    def _book(self) -> AdoptionBook:
        """The adoption book, following the initiatives of the team's tenant in force (the
        tenants file can change them while the worker runs)."""
        book = self._adoption
        wanted = self.config.of(self.team).initiatives
        if book.initiatives is not wanted:
            book = self._adoption = book.following(wanted)
        return book

    def _content_book(self) -> ContentBook | None:
        """The content book, following the initiatives of the team's tenant in force, like
        the adoption book (`_book`)."""
        book = self._content
        if book is None:
            return None
        own = self.config.of(self.team)
        if book.initiatives is not own.initiatives:
            book = self._content = book.following(ContentCatalog(own.initiatives, own))
        return book

    def _touch(self, index: int) -> None:
        """Something changed in this bucket: forget the aggregates that include it."""
        day = index // self._per_day
        changes = self._changes
        changes[day] = changes.get(day, 0) + 1
        if self._baseline is not None and index <= self._baseline[0] - self._baseline_step:
            self._baseline = None  # inside the stretch the cached baseline sampled

    # --- reading ----------------------------------------------------------------------------
    def state_entries(self) -> dict[str, int]:
        """How much this team holds, by kind: hourly buckets, remembered event ids and
        adoption progress records. The first two stay bounded by the retention and the
        lateness; the last by the people the team has seen."""
        return {
            "buckets": sum(day.present.bit_count() for day in self._days_held.values()),
            "event_ids": len(self._seen),
            "adoption_records": self._adoption.progress_records,
            "content_records": self._content.records if self._content is not None else 0,
        }

    def counts(self, as_of: float, members: int, *, content: bool = True) -> TeamCounts:
        """The team's sufficient statistics for every window ending at `as_of`; without
        `content`, the content gauges' part is left empty (`content_counts` gives it)."""
        used: _Pieces = {}
        windows = {
            label: self._range(*window_range(as_of, seconds, self._bucket_s), used).to_counts()
            for label, seconds in self.config.windows.items()
        }
        baseline, evidence = self._baseline_of(as_of, members)
        window_s = self.config.baseline_window_s
        label = next((k for k, v in self.config.windows.items() if v == window_s), None)

        def current_window() -> WindowCounts:
            if label is not None:
                return windows[label]
            return self._range(*window_range(as_of, window_s, self._bucket_s), used).to_counts()

        sums = baseline_sums(baseline, evidence, current_window, members, self.config.of(self.team))
        activity = self._activity(as_of, windows, used)
        self._pieces = used  # keep only the aggregates still in use
        return TeamCounts(
            members=members,
            windows=windows,
            adoption=self._book().stage_counts(),
            **sums._asdict(),
            activity=activity,
            content=self.content_counts(as_of, members) if content else {},
        )

    def content_counts(self, as_of: float, members: int) -> dict[str, dict[str, ContentCounts]]:
        """`TeamCounts.content` of `counts(as_of, members)`."""
        book = self._content_book()
        if book is None:
            return {}
        return book.counts(
            {
                label: window_range(as_of, seconds, self._bucket_s)
                for label, seconds in self.config.content_windows.items()
            },
            members,
        )

    def _activity(
        self, as_of: float, windows: dict[str, WindowCounts], used: _Pieces
    ) -> ActivityCounts:
        """Events per bucket of the drop signal's span, and its reference weeks (cached)."""
        signal = self.config.scoring.drop_signal
        week = self.config.buckets_per_week
        last = bucket_of(as_of, self._bucket_s)
        first = last - signal.span_weeks * week + 1
        recent = tuple(self._events_per_bucket(first, last))
        week_s = week * self._bucket_s
        label = next((k for k, v in self.config.windows.items() if v == week_s), None)
        active = (
            windows[label].active_members
            if label is not None
            else self._range(last - week + 1, last, used).to_counts().active_members
        )
        per_day = self._per_day
        oldest = first - signal.reference_weeks * week
        days_read = range(oldest // per_day, first // per_day + 1)
        stamp = tuple(self._changes.get(d, 0) for d in days_read)
        cached = self._reference
        if cached is None or cached[:2] != (last, stamp):
            profile = [0] * week
            days: list[int] = []
            usual: list[int] = []
            for r in range(signal.reference_weeks):
                start = first - (r + 1) * week
                events = self._events_per_bucket(start, start + week - 1)
                for p in range(week):
                    profile[p] += events[p]
                days.extend(sum(events[d * per_day : (d + 1) * per_day]) for d in range(7))
                usual.append(self._range(start, start + week - 1, None).to_counts().active_members)
            reference = ActivityCounts(
                profile=tuple(profile), days=tuple(days), usual_active=tuple(usual)
            )
            cached = self._reference = (last, stamp, reference)
        reference = cached[2]
        return ActivityCounts.of(
            recent, reference.profile, reference.days, active, reference.usual_active
        )

    def baseline(self, as_of: float, members: int) -> float | None:
        """Mean of the baseline-window engagement score at the same time of earlier weeks.

        Samples whose window holds no accepted event (before the team started, or a spell of
        silence) are left out, so an idle spell does not redefine normal.
        """
        return self._baseline_of(as_of, members)[0]

    def _baseline_of(self, as_of: float, members: int) -> tuple[float | None, float | None]:
        """The baseline and the mean number of events of the samples it is the mean of."""
        last_bucket = bucket_of(as_of, self._bucket_s)
        config = self.config.of(self.team)  # scored with its tenant's weights
        scoring = hash(config.scoring)
        if self._baseline is not None and self._baseline[:3] == (last_bucket, members, scoring):
            return self._baseline[3], self._baseline[4]
        window_s = self.config.baseline_window_s
        width = window_s // self._bucket_s
        samples: list[float | None] = []
        events: list[float | None] = []
        for last in baseline_sample_ends(as_of, self.config):
            sample = self._range(last - width + 1, last, None).to_counts()
            active = sample.active_members > 0
            samples.append(
                engagement_score_of(sample, members, window_s, config) if active else None
            )
            events.append(sample.events if active else None)
        value = formulas.baseline_mean(samples)
        evidence = formulas.baseline_mean(events) if value is not None else None
        self._baseline = (last_bucket, members, scoring, value, evidence)
        return value, evidence

    def _range(self, first: int, last: int, used: _Pieces | None) -> _Tally:
        """Aggregate of buckets first..last from at most three cached pieces: the part of the
        first day, the whole days in between (one block), the part of the last day.

        `used` collects the pieces an export read needs, so they stay cached for the next read;
        without it (the baseline's samples), whole days are merged one by one.

        The aggregate may be a cached piece itself (when the other pieces are empty): callers
        only read it.
        """
        per_day = self._per_day
        first_day, last_day = first // per_day, last // per_day
        if first_day == last_day:
            return self._span(first, last, used)
        pieces = [self._span(first, (first_day + 1) * per_day - 1, used)]
        if last_day - first_day > 1:
            pieces.append(self._block(first_day + 1, last_day - 1, used))
        pieces.append(self._span(last_day * per_day, last, used))
        held = [piece for piece in pieces if piece is not _EMPTY_TALLY]
        if len(held) == 1:
            return held[0]  # a live window's days before the first event: no copy of today
        total = _Tally()
        for piece in held:
            total.add(piece)
        return total

    def _span(self, first: int, last: int, used: _Pieces | None) -> _Tally:
        """Buckets first..last of one day."""
        per_day = self._per_day
        day = first // per_day
        held = self._days_held.get(day)
        if held is None:
            return _EMPTY_TALLY
        # No bucket of the day outside the span holds anything (today, up to the current
        # hour, say): the span is the whole day, whose aggregate is kept current.
        inside = ((1 << (last - first + 1)) - 1) << (first - day * per_day)
        if not held.present & ~inside:
            return self._day(day)
        return self._cached(first, last, used, lambda: self._aggregate(first, last))

    def _block(self, first_day: int, last_day: int, used: _Pieces | None) -> _Tally:
        """Whole days first_day..last_day."""

        def merge() -> _Tally:
            tally = _Tally()
            for day in range(first_day, last_day + 1):
                tally.add(self._day(day))
            return tally

        if used is None or first_day == last_day:
            return merge() if first_day != last_day else self._day(first_day)
        per_day = self._per_day
        return self._cached(first_day * per_day, (last_day + 1) * per_day - 1, used, merge)

    def _cached(
        self, first: int, last: int, used: _Pieces | None, compute: Callable[[], _Tally]
    ) -> _Tally:
        key = (first, last)
        per_day = self._per_day
        changes = self._changes
        stamp = tuple(changes.get(d, 0) for d in range(first // per_day, last // per_day + 1))
        cached = used.get(key) if used is not None else None
        if cached is None or cached[0] != stamp:
            cached = self._pieces.get(key)
        if cached is None or cached[0] != stamp:
            cached = (stamp, compute())
        if used is not None:
            used[key] = cached
        return cached[1]

    def _day(self, day: int) -> _Tally:
        stamp = self._changes.get(day, 0)
        if stamp == 0:
            return _EMPTY_TALLY  # nothing ever landed in that day
        cached = self._days.get(day)
        if cached is None or cached[0] != stamp:
            first = day * self._per_day
            cached = self._days[day] = (stamp, self._aggregate(first, first + self._per_day - 1))
        return cached[1]

    def _aggregate(self, first: int, last: int) -> _Tally:
        """Buckets first..last of one day."""
        per_day = self._per_day
        day_index = first // per_day
        day = self._days_held.get(day_index)
        if day is None:
            return _EMPTY_TALLY
        tally = _Tally()
        tally.add_buckets(day, per_day, first - day_index * per_day, last - day_index * per_day)
        return tally

    def _events_per_bucket(self, first: int, last: int) -> list[int]:
        """Accepted events of each bucket first..last (any days), from per-day caches."""
        per_day = self._per_day
        events: list[int] = []
        for day_index in range(first // per_day, last // per_day + 1):
            start = day_index * per_day
            hours = self._day_events(day_index)
            events.extend(hours[max(first - start, 0) : min(last - start, per_day - 1) + 1])
        return events

    def _day_events(self, day_index: int) -> Sequence[int]:
        stamp = self._changes.get(day_index, 0)
        day = self._days_held.get(day_index)
        if stamp == 0 or day is None:
            return (0,) * self._per_day
        cached = self._hours.get(day_index)
        if cached is None or cached[0] != stamp:
            per_day = self._per_day
            hours = [0] * per_day
            parts = day.parts
            for row, key in enumerate(day.keys):
                hours[key % per_day] += parts[row * _WIDTH + _EVENTS]
            cached = self._hours[day_index] = (stamp, hours)
        return cached[1]
