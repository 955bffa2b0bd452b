"""Joining replies to the posts they answer, across teams: the thread book.

A discussion thread can involve several teams, whose state lives on different partitions. The
`threads` stage is keyed by thread, so one `ThreadBook` sees every post of a thread (author
pseudonym, team, time) and turns them into absolute *facts* routed back to teams:

* `ThreadSummary`, to the team of the thread's root post: when the thread started, how many
  replies it has, how many came from someone other than the starter, when the first of those
  arrived. Keyed by (thread, root post) and versioned by the number of posts the book knew
  (erasures count what they removed, and one more), so a team keeps the newest one whatever
  order facts arrive in. If an earlier `posted`
  event turns up later, the root moves: the old root's team gets a retraction
  (`current=False`) with the new version.
* `ReplyLink`, to the replier's team and (if different) the parent author's team: one reply
  interaction, crossing teams or not. Keyed by reply id; a reply whose parent is not known yet
  waits in the book and is linked when the parent arrives. A reply links only to its own
  `parent` post in the same thread. A reaction to a post of another team is a link too
  (`reaction=True`), joined the same way, by the team of the post it reacts to.
* `ThreadTeams`, to every team that posted or replied in a thread of two teams or more (a
  cross-team thread): how many teams took part and whether this team is the thread's *owner*
  (the first of them by name), what bridging reads (docs/gauges.md, "Network"). Keyed by
  (thread, started_at) and versioned like the summary; sent only when the thread's start or
  its set of teams changes (a team joins, the root moves, an erasure), with `teams=0` to a
  team that no longer takes part or for a start that moved.

An erasure (`ThreadBook.forget`) removes a person's posts from their threads and returns the
facts that correct the teams: new summaries (a higher version; the root moves on, with a
retraction, when the person started the thread) and link removals (`removed=True`) for the
person's replies and for the replies that answered the person's posts.

Facts are absolute values, so applying one twice, or an old one after a new one, changes
nothing. Applying an event twice emits the same facts again.

A reaction is kept only as (its id, its team, its time) under the post it reacts to, never
with its author: what joins it when the post arrives later, and what an erasure of the
post's author removes. An erasure of the reactor leaves their reactions' links: the book
cannot tell whose they were (docs/gauges.md, "Network"). People without a team
(`UNASSIGNED_TEAM`) make no thread cross-team.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from sys import intern
from typing import Any

from teampulse.contract.event import POSTED, REACTED, REPLIED, UNASSIGNED_TEAM, Event
from teampulse.contract.tenant_scope import unscoped
from teampulse.gauges.config import GaugeConfig

__all__ = [
    "ReplyLink",
    "ThreadBook",
    "ThreadFact",
    "ThreadSummary",
    "ThreadTeams",
    "fact_from_wire",
    "post_id_of",
    "thread_id_of",
]


@dataclass(frozen=True, slots=True)
class ThreadSummary:
    team: str  # routing key: the team of the root post's author
    thread: str
    root: str  # post id of the root
    started_at: float
    replies: int
    replies_from_others: int
    first_reply_at: float | None  # first reply by someone other than the starter
    version: int  # posts the book knew of the thread; a team keeps the highest
    current: bool = True  # False: this root is no longer the thread's root (counts nothing)
    # The first reply by someone of another team, and by a teammate other than the starter.
    first_cross_reply_at: float | None = None
    first_within_reply_at: float | None = None

    kind = "summary"

    @property
    def first_reply_latency(self) -> float | None:
        """Seconds from the start to the first reply by someone else (0 if it came earlier)."""
        if self.first_reply_at is None:
            return None
        return max(0.0, self.first_reply_at - self.started_at)

    @property
    def first_cross_reply_latency(self) -> float | None:
        """Seconds from the start to the first reply from another team (0 if earlier)."""
        if self.first_cross_reply_at is None:
            return None
        return max(0.0, self.first_cross_reply_at - self.started_at)

    @property
    def first_within_reply_latency(self) -> float | None:
        """Seconds from the start to the first reply by a teammate of the starter."""
        if self.first_within_reply_at is None:
            return None
        return max(0.0, self.first_within_reply_at - self.started_at)

    def to_wire(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> ThreadSummary:
        return cls(**{k: v for k, v in wire.items() if k != "kind"})


@dataclass(frozen=True, slots=True)
class ReplyLink:
    team: str  # routing key: the replier's team, or the parent author's team
    reply: str  # post id of the reply
    replier_team: str
    parent_team: str
    at: float  # when the reply was written
    removed: bool = False  # an erasure took the reply or its parent: the link counts nothing
    # A reaction (`reply` is its id) to a post of another team: it counts in the network
    # (breadth, the matrix), not as a reply interaction.
    reaction: bool = False

    kind = "link"

    @property
    def crossing(self) -> bool:
        return self.replier_team != self.parent_team

    def to_wire(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> ReplyLink:
        return cls(**{k: v for k, v in wire.items() if k != "kind"})


@dataclass(frozen=True, slots=True)
class ThreadTeams:
    team: str  # routing key: a team that took part in the thread
    thread: str
    started_at: float  # the root's time: the bucket the thread counts in
    teams: int  # teams that took part (0: this team no longer, or the start moved)
    owner: bool  # the team counts the thread for its organisation (first team by name)
    version: int  # as the summary's: a team keeps the highest

    kind = "teams"

    @property
    def cross_team(self) -> bool:
        return self.teams >= 2

    def to_wire(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> ThreadTeams:
        return cls(**{k: v for k, v in wire.items() if k != "kind"})


ThreadFact = ThreadSummary | ReplyLink | ThreadTeams


def fact_from_wire(wire: Mapping[str, Any]) -> ThreadFact:
    kind = wire.get("kind")
    if kind == ThreadSummary.kind:
        return ThreadSummary.from_wire(wire)
    if kind == ReplyLink.kind:
        return ReplyLink.from_wire(wire)
    if kind == ThreadTeams.kind:
        return ThreadTeams.from_wire(wire)
    raise ValueError(f"unknown thread fact kind {kind!r}")


def post_id_of(event: Event) -> str:
    """A post's id: its `post` field, or the event id when the producer sent none."""
    return event.post or event.id


def thread_id_of(event: Event) -> str | None:
    """The thread of a discussion event; a post without one starts its own thread."""
    if event.thread:
        return event.thread
    return post_id_of(event) if event.type == POSTED else None


# The columns of a post in `_Thread.rows`: its event time, its author and team (numbers of the
# book's intern tables) and whether it is a reply. Doubles hold the numbers exactly (< 2**53).
_AT, _AUTHOR, _TEAM, _REPLY = range(4)
_WIDTH = 4
# A thread this long also keeps a dict from post id to position (below it, a list scan is
# cheaper than the dict's memory).
_INDEXED_FROM = 32
_REPLIER_WIDTH = 4  # author, replies, first reply's time, its team
_HOUR_S = 3600


class _Thread:
    """The posts of one thread, compactly: post ids and parents in one list (the post at
    2 * position, its parent after it), the rest of each post in a flat array of doubles
    (`_WIDTH` a post).

    An object and a dict per post cost about 300 bytes; a post costs 48 here."""

    __slots__ = (
        "names",
        "rows",
        "index",
        "waiting",
        "repliers",
        "replies",
        "root",
        "last_at",
        "erased",
        "forgotten",
        "oldest_at",
        "teams",
        "told",
        "reactions",
    )

    def __init__(self) -> None:
        # first occurrence of each post id, each followed by the post it answers (or None)
        self.names: list[str | None] = []
        self.rows = array("d")
        self.index: dict[str, int] | None = None  # post id -> position, for long threads
        self.waiting: dict[str, list[str]] | None = None  # parent id -> replies waiting for it
        # (author, replies, time of their first reply, team of that reply) per replier, flat:
        # the summary costs O(repliers), not O(posts), and counts the replies of posts
        # forgotten since
        self.repliers: array[float] | None = None
        self.replies = 0
        self.root: str | None = None
        self.last_at = -math.inf  # latest event time of any post: idle threads expire
        # Posts removed by erasures, plus one per erasure: a summary after an erasure has a
        # higher version than every summary before it, so it wins whatever order they arrive in.
        self.erased = 0
        self.forgotten = 0  # posts dropped behind the retention while the thread lives on
        # Earliest event time among the posts held besides the root: where forgetting old
        # posts of a thread that stays active starts.
        self.oldest_at = math.inf
        # The teams (book numbers) that posted in it, in order of arrival, unassigned people
        # left out; and what the teams were last told: (start, how many of `teams`), None
        # while it was never cross-team.
        self.teams: list[int] | None = None
        self.told: tuple[float, int] | None = None
        # post id -> the reactions to it: (reaction id, team, time), no author; those of
        # another team than the post's are links, the others keep their ids counted once
        self.reactions: dict[str, list[tuple[str, int, float]]] | None = None

    @property
    def version(self) -> int:
        """Posts ever known, plus one per erasure: never decreases."""
        return len(self) + self.erased + self.forgotten

    def __len__(self) -> int:
        return len(self.names) // 2

    @property
    def ids(self) -> list[str]:
        """The post ids, by position."""
        return self.names[0::2]  # type: ignore[return-value]

    def post_id(self, position: int) -> str:
        return self.names[2 * position]  # type: ignore[return-value]

    def parent(self, position: int) -> str | None:
        return self.names[2 * position + 1]

    def position(self, post_id: str) -> int:
        """Where the post is held, or -1."""
        if self.index is not None:
            return self.index.get(post_id, -1)
        names, start = self.names, 0
        while True:  # a parent slot can hold the same id: only even slots are posts
            try:
                found = names.index(post_id, start)
            except ValueError:
                return -1
            if found % 2 == 0:
                return found // 2
            start = found + 1

    def at(self, position: int) -> float:
        return self.rows[position * _WIDTH + _AT]

    def author(self, position: int) -> int:
        return int(self.rows[position * _WIDTH + _AUTHOR])

    def team(self, position: int) -> int:
        return int(self.rows[position * _WIDTH + _TEAM])

    def is_reply(self, position: int) -> bool:
        return self.rows[position * _WIDTH + _REPLY] != 0.0

    def add(self, post_id: str, parent: str | None, row: tuple[float, float, float, float]) -> None:
        self.names.append(post_id)
        self.names.append(parent)
        self.rows.extend(row)
        if self.index is not None:
            self.index[post_id] = len(self) - 1
        elif len(self) >= _INDEXED_FROM:
            self.index = {pid: i for i, pid in enumerate(self.ids)}

    def keep(self, keep: Callable[[int], bool]) -> list[str]:
        """Keep the posts whose position passes; the ids of the posts dropped."""
        kept = [i for i in range(len(self)) if keep(i)]
        if len(kept) == len(self):
            return []
        dropped_ids = [pid for i, pid in enumerate(self.ids) if not keep(i)]
        rows, names = self.rows, self.names
        self.names = [name for i in kept for name in names[2 * i : 2 * i + 2]]
        self.rows = array("d")
        for i in kept:
            self.rows.extend(rows[i * _WIDTH : (i + 1) * _WIDTH])
        self.index = (
            {pid: i for i, pid in enumerate(self.ids)} if len(self) >= _INDEXED_FROM else None
        )
        return dropped_ids

    def add_reply(self, author: int, at: float, team: int) -> None:
        repliers = self.repliers
        if repliers is None:
            repliers = self.repliers = array("d")
        for i in range(0, len(repliers), _REPLIER_WIDTH):
            if repliers[i] == author:
                repliers[i + 1] += 1
                if at < repliers[i + 2]:
                    repliers[i + 2], repliers[i + 3] = at, team
                break
        else:
            repliers.extend((author, 1, at, team))
        self.replies += 1

    def drop_repliers(self, authors: set[int]) -> None:
        repliers = self.repliers
        if not repliers:
            return
        kept = array("d")
        for i in range(0, len(repliers), _REPLIER_WIDTH):
            if int(repliers[i]) in authors:
                self.replies -= int(repliers[i + 1])
            else:
                kept.extend(repliers[i : i + _REPLIER_WIDTH])
        self.repliers = kept


class _Names:
    """Strings as small numbers, per book: every post of a person or a team carries the number."""

    __slots__ = ("numbers", "names")

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}
        self.names: list[str | None] = []  # None: forgotten (an erasure); numbers are not reused

    def number(self, name: str) -> int:
        number = self.numbers.get(name)
        if number is None:
            number = self.numbers[name] = len(self.names)
            self.names.append(intern(name))
        return number

    def name(self, number: int) -> str:
        name = self.names[number]
        assert name is not None, "a forgotten name is still in use"
        return name

    def forget(self, names: set[str]) -> set[int]:
        numbers = {self.numbers.pop(n) for n in names if n in self.numbers}
        for number in numbers:
            self.names[number] = None
        return numbers


def _file(by_hour: dict[int, list[str]], at: float, thread_id: str) -> None:
    hour = math.floor(at / _HOUR_S)
    entries = by_hour.get(hour)
    if entries is None:
        by_hour[hour] = [thread_id]
    else:
        entries.append(thread_id)


def _due(by_hour: dict[int, list[str]], horizon: float) -> list[str]:
    """Take out the entries filed at an hour that may be before `horizon` (its own hour too)."""
    last = math.floor(horizon / _HOUR_S)
    due: list[str] = []
    for hour in [h for h in by_hour if h <= last]:
        due.extend(by_hour.pop(hour))
    return due


class ThreadBook:
    """The posts of the threads of one partition, and the facts they imply."""

    def __init__(self, config: GaugeConfig) -> None:
        self._config = config
        self._threads: dict[str, _Thread] = {}
        self._posts = 0  # posts held over all threads, kept as they come and go
        self._people = _Names()
        self._teams = _Names()
        # What expiry reads, so it touches only what expires instead of every thread: thread
        # ids filed by the hour of a time, with stale entries skipped when they come up.
        # `_by_last` one entry per thread, at most as late as its `last_at`, moved on when it
        # comes up early; `_by_oldest` an entry for every value `oldest_at` took.
        self._by_last: dict[int, list[str]] = {}
        self._by_oldest: dict[int, list[str]] = {}

    def __len__(self) -> int:
        return len(self._threads)

    @property
    def posts(self) -> int:
        """Posts held over all threads (each thread keeps every post until it expires)."""
        return self._posts

    def apply(self, event: Event) -> list[ThreadFact]:
        """Record an accepted `posted`, `replied` or `reacted` event; return the facts to route
        to teams."""
        if event.type == REACTED:
            return self._react(event)
        if event.type not in (POSTED, REPLIED):
            return []
        thread_id = thread_id_of(event)
        if thread_id is None:
            return []  # a reply without a thread cannot be joined
        thread = self._threads.get(thread_id)
        if thread is None:
            thread_id = intern(thread_id)
            thread = self._threads[thread_id] = _Thread()
            _file(self._by_last, event.occurred_at, thread_id)
        post_id = intern(post_id_of(event))
        facts: list[ThreadFact] = []
        position = thread.position(post_id)
        if position >= 0:  # seen before: repeat the facts, change nothing
            summary = self._summary(thread_id, thread)
            if summary is not None:
                facts.append(summary)
            if thread.is_reply(position):
                facts.extend(self._links(thread, position))
            facts.extend(self._teams_facts(thread_id, thread, again=True))
            return facts

        if event.team is None:
            raise ValueError(f"event {event.id} reached the thread book without a team")
        is_reply = event.type == REPLIED
        at = event.occurred_at
        author, team = self._people.number(event.actor), self._teams.number(event.team)
        thread.add(
            post_id,
            intern(event.parent) if is_reply and event.parent else None,
            (at, author, team, 1.0 if is_reply else 0.0),
        )
        position = len(thread) - 1
        self._posts += 1
        thread.last_at = max(thread.last_at, at)
        if at < thread.oldest_at:
            thread.oldest_at = at
            _file(self._by_oldest, at, thread_id)
        if is_reply:
            thread.add_reply(author, at, team)
        if unscoped(event.team) != UNASSIGNED_TEAM:
            if thread.teams is None:
                thread.teams = [team]
            elif team not in thread.teams:
                thread.teams.append(team)

        if not is_reply and self._is_earlier_root(thread, post_id, at):
            previous = thread.root
            thread.root = post_id
            if previous is not None:
                facts.append(self._retraction(thread_id, thread, previous))
        summary = self._summary(thread_id, thread)
        if summary is not None:
            facts.append(summary)
        if is_reply:
            parent = thread.parent(position)
            if parent is not None and thread.position(parent) < 0:
                if thread.waiting is None:
                    thread.waiting = {}
                thread.waiting.setdefault(parent, []).append(post_id)
            facts.extend(self._links(thread, position))
        if thread.waiting and post_id in thread.waiting:
            for waiting_reply in thread.waiting.pop(post_id):
                facts.extend(self._links(thread, thread.position(waiting_reply)))
        if thread.reactions and post_id in thread.reactions:
            facts.extend(self._reaction_links(thread, post_id, position))
        facts.extend(self._teams_facts(thread_id, thread))
        return facts

    def _react(self, event: Event) -> list[ThreadFact]:
        """A reaction to a post: joined to the post's team now, or when the post arrives."""
        thread_id, parent = event.thread, event.parent
        if not thread_id or not parent:
            return []
        if event.team is None:
            raise ValueError(f"event {event.id} reached the thread book without a team")
        thread = self._threads.get(thread_id)
        if thread is None:
            thread_id = intern(thread_id)
            thread = self._threads[thread_id] = _Thread()
            _file(self._by_last, event.occurred_at, thread_id)
        thread.last_at = max(thread.last_at, event.occurred_at)
        if thread.reactions is None:
            thread.reactions = {}
        reaction_id = post_id_of(event)
        # A reaction id counts once in a thread, its first occurrence (as a post id does).
        first = next(
            (p for p, held in thread.reactions.items() if any(e[0] == reaction_id for e in held)),
            None,
        )
        if first is None:
            entry = (intern(reaction_id), self._teams.number(event.team), event.occurred_at)
            thread.reactions.setdefault(intern(parent), []).append(entry)
        else:
            parent = first
        position = thread.position(parent)
        if position < 0:
            return []  # waits for the post
        return [
            link
            for link in self._reaction_links(thread, parent, position)
            if link.reply == reaction_id
        ]

    def _reaction_links(self, thread: _Thread, parent: str, position: int) -> list[ReplyLink]:
        """The links of the reactions to a post that is known: those of another team."""
        assert thread.reactions is not None
        parent_team = thread.team(position)
        crossing = [e for e in thread.reactions[parent] if e[1] != parent_team]
        links: list[ReplyLink] = []
        parent_name = self._teams.name(parent_team)
        for reaction_id, team, at in crossing:
            name = self._teams.name(team)
            link = ReplyLink(
                team=name,
                reply=reaction_id,
                replier_team=name,
                parent_team=parent_name,
                at=at,
                reaction=True,
            )
            links.extend((link, replace(link, team=parent_name)))
        return links

    def expire(self, now_event_time: float) -> int:
        """Forget threads idle for longer than the retention, and the posts older than the
        retention of threads still active (not their root, nor their counts), so a thread
        that lives for months holds no more than the retention's posts. Returns how many
        threads were dropped."""
        horizon = now_event_time - self._config.retention_s
        threads = self._threads
        idle = 0
        for tid in _due(self._by_last, horizon):
            thread = threads.get(tid)
            if thread is None:
                continue
            if thread.last_at < horizon:
                self._posts -= len(threads.pop(tid))
                idle += 1
            else:  # posted to since its entry was made: comes up again at its last post
                _file(self._by_last, thread.last_at, tid)
        last_hour = math.floor(horizon / _HOUR_S)
        looked: set[str] = set()
        for tid in _due(self._by_oldest, horizon):
            thread = threads.get(tid)
            if thread is None or tid in looked:
                continue
            looked.add(tid)
            forgot = thread.oldest_at < horizon
            if forgot:
                self._forget_posts_before(thread, horizon)
            # The entry of its current `oldest_at` was just taken out, or is new: file it.
            if thread.oldest_at != math.inf and (
                forgot or math.floor(thread.oldest_at / _HOUR_S) <= last_hour
            ):
                _file(self._by_oldest, thread.oldest_at, tid)
        return idle

    def drop_threads(self, keep: Callable[[str], bool]) -> int:
        """The threads whose id `keep` refuses leave the book at once, with every post
        (a deleted tenant's); their expiry entries are skipped when they come up. Returns
        how many threads left."""
        gone = [thread_id for thread_id in self._threads if not keep(thread_id)]
        for thread_id in gone:
            self._posts -= len(self._threads.pop(thread_id))
        return len(gone)

    def forget(self, people: set[str]) -> list[ThreadFact]:
        """Erasure: remove these people's posts; return the facts that correct the teams."""
        facts: list[ThreadFact] = []
        if not people:
            return facts
        authors = {self._people.numbers[p] for p in people if p in self._people.numbers}
        if authors:
            for thread_id, thread in self._threads.items():
                gone = {pid for i, pid in enumerate(thread.ids) if thread.author(i) in authors}
                if gone:
                    facts.extend(self._forget_posts(thread_id, thread, gone, authors))
        self._people.forget(people)
        return facts

    def _forget_posts(
        self, thread_id: str, thread: _Thread, gone: set[str], authors: set[int]
    ) -> list[ThreadFact]:
        facts: list[ThreadFact] = []
        # Links that counted and will not: the people's own replies, and replies to them.
        for position, reply_id in enumerate(thread.ids):
            if thread.is_reply(position) and (reply_id in gone or thread.parent(position) in gone):
                facts.extend(
                    replace(link, removed=True)
                    for link in self._links(thread, position)
                    if isinstance(link, ReplyLink)
                )
        old_root = thread.root
        old_root_at = old_root_team = None
        if old_root is not None:
            root_position = thread.position(old_root)
            old_root_at, old_root_team = thread.at(root_position), thread.team(root_position)
        reacted = [pid for pid in gone if thread.reactions and pid in thread.reactions]
        for pid in reacted:  # the reactions to their posts count no more (and stay, waiting
            # for a post that will not come: their ids still count once)
            facts.extend(
                replace(link, removed=True)
                for link in self._reaction_links(thread, pid, thread.position(pid))
            )
        told = thread.told
        told_teams = (thread.teams or [])[: told[1]] if told is not None else []
        thread.keep(lambda i: thread.post_id(i) not in gone)
        self._posts -= len(gone)
        thread.erased += len(gone) + 1
        thread.drop_repliers(authors)
        if thread.waiting:
            for parent, waiting in list(thread.waiting.items()):
                waiting[:] = [r for r in waiting if r not in gone]
                if not waiting:
                    del thread.waiting[parent]
        if old_root in gone and old_root_at is not None and old_root_team is not None:
            roots = [
                (thread.at(i), pid) for i, pid in enumerate(thread.ids) if not thread.is_reply(i)
            ]
            thread.root = min(roots)[1] if roots else None
            facts.append(
                ThreadSummary(
                    team=self._teams.name(old_root_team),
                    thread=thread_id,
                    root=old_root,
                    started_at=old_root_at,
                    replies=0,
                    replies_from_others=0,
                    first_reply_at=None,
                    version=thread.version,
                    current=False,
                )
            )
        summary = self._summary(thread_id, thread)
        if summary is not None:
            facts.append(summary)
        # Who took part is counted again from the posts left (a team of posts forgotten
        # behind the retention drops out too: its thread started before every window).
        teams: list[int] = []
        for i in range(len(thread)):
            team = thread.team(i)
            if team not in teams and unscoped(self._teams.name(team)) != UNASSIGNED_TEAM:
                teams.append(team)
        thread.teams = teams or None
        told_names = [self._teams.name(t) for t in told_teams]
        facts.extend(self._teams_facts(thread_id, thread, again=True, told_names=told_names))
        return facts

    def _forget_posts_before(self, thread: _Thread, horizon: float) -> None:
        root = thread.root
        old = thread.keep(lambda i: thread.at(i) >= horizon or thread.post_id(i) == root)
        self._posts -= len(old)
        thread.forgotten += len(old)
        if thread.waiting and old:  # a forgotten reply no longer waits for its parent
            gone = set(old)
            for parent in list(thread.waiting):
                replies = [r for r in thread.waiting[parent] if r not in gone]
                if replies:
                    thread.waiting[parent] = replies
                else:
                    del thread.waiting[parent]
        thread.oldest_at = min(
            (thread.at(i) for i, pid in enumerate(thread.ids) if pid != root), default=math.inf
        )
        if thread.reactions:  # their links are behind the retention in the teams too
            for parent in list(thread.reactions):
                kept = [e for e in thread.reactions[parent] if e[2] >= horizon]
                if kept:
                    thread.reactions[parent] = kept
                else:
                    del thread.reactions[parent]

    # --- facts ----------------------------------------------------------------------------
    @staticmethod
    def _is_earlier_root(thread: _Thread, post_id: str, at: float) -> bool:
        if thread.root is None:
            return True
        return (at, post_id) < (thread.at(thread.position(thread.root)), thread.root)

    def _summary(self, thread_id: str, thread: _Thread) -> ThreadSummary | None:
        if thread.root is None:
            return None
        root = thread.position(thread.root)
        root_author = thread.author(root)
        others = 0
        first: float | None = None
        cross: float | None = None
        within: float | None = None
        root_team = thread.team(root)
        repliers = thread.repliers or ()
        for i in range(0, len(repliers), _REPLIER_WIDTH):
            if repliers[i] != root_author:
                others += int(repliers[i + 1])
                first_at = repliers[i + 2]
                team = repliers[i + 3]
                if first is None or first_at < first:
                    first = first_at
                if team != root_team:
                    if cross is None or first_at < cross:
                        cross = first_at
                elif within is None or first_at < within:
                    within = first_at
        return ThreadSummary(
            team=self._teams.name(thread.team(root)),
            thread=thread_id,
            root=thread.root,
            started_at=thread.at(root),
            replies=thread.replies,
            replies_from_others=others,
            first_reply_at=first,
            version=thread.version,
            first_cross_reply_at=cross,
            first_within_reply_at=within,
        )

    def _retraction(self, thread_id: str, thread: _Thread, old_root: str) -> ThreadSummary:
        root = thread.position(old_root)
        return ThreadSummary(
            team=self._teams.name(thread.team(root)),
            thread=thread_id,
            root=old_root,
            started_at=thread.at(root),
            replies=0,
            replies_from_others=0,
            first_reply_at=None,
            version=thread.version,
            current=False,
        )

    def _teams_facts(
        self,
        thread_id: str,
        thread: _Thread,
        again: bool = False,
        told_names: list[str] | None = None,
    ) -> list[ThreadFact]:
        """What the teams of a cross-team thread are told, when its start or its teams changed
        since they were last told (`again`: tell the current view once more, a repeat or an
        erasure). `told_names`: the teams last told, when they are no longer the first of
        `thread.teams` (an erasure counted them again)."""
        teams = thread.teams or []
        root = thread.root
        view = None
        if root is not None and len(teams) >= 2:
            view = (thread.at(thread.position(root)), len(teams))
        told = thread.told
        if view == told and not (again and (view is not None or told_names)):
            return []
        facts: list[ThreadFact] = []
        version = thread.version
        names = [self._teams.name(t) for t in teams]
        if told is not None:
            before = told_names if told_names is not None else names[: told[1]]
            # A team keeps one fact per (thread, start), the highest version: a team told
            # anew below gets no retraction of the same version beside it.
            kept = set(names) if view is not None and view[0] == told[0] else set()
            facts.extend(
                ThreadTeams(name, thread_id, told[0], 0, False, version)
                for name in before
                if name not in kept
            )
        if view is not None:
            owner = min(names)
            facts.extend(
                ThreadTeams(name, thread_id, view[0], view[1], name == owner, version)
                for name in names
            )
        thread.told = view
        return facts

    def _links(self, thread: _Thread, reply: int) -> list[ThreadFact]:
        parent_id = thread.parent(reply)
        parent = thread.position(parent_id) if parent_id is not None else -1
        if parent < 0:
            return []
        reply_team, parent_team = thread.team(reply), thread.team(parent)
        link = ReplyLink(
            team=self._teams.name(reply_team),
            reply=thread.post_id(reply),
            replier_team=self._teams.name(reply_team),
            parent_team=self._teams.name(parent_team),
            at=thread.at(reply),
        )
        if parent_team == reply_team:
            return [link]
        return [link, replace(link, team=link.parent_team)]
