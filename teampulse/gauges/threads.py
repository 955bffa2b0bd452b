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
  `parent` post in the same thread.

An erasure (`ThreadBook.forget`) removes a person's posts from their threads and returns the
facts that correct the teams: new summaries (a higher version; the root moves on, with a
retraction, when the person started the thread) and link removals (`removed=True`) for the
person's replies and for the replies that answered the person's posts.

Facts are absolute values, so applying one twice, or an old one after a new one, changes
nothing. Applying an event twice emits the same facts again. Reactions are not joined.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from sys import intern
from typing import Any

from teampulse.contract.event import POSTED, REPLIED, Event
from teampulse.gauges.config import GaugeConfig

__all__ = [
    "ReplyLink",
    "ThreadBook",
    "ThreadFact",
    "ThreadSummary",
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

    kind = "link"

    @property
    def crossing(self) -> bool:
        return self.replier_team != self.parent_team

    def to_wire(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> ReplyLink:
        return cls(**{k: v for k, v in wire.items() if k != "kind"})


ThreadFact = ThreadSummary | ReplyLink


def fact_from_wire(wire: Mapping[str, Any]) -> ThreadFact:
    kind = wire.get("kind")
    if kind == ThreadSummary.kind:
        return ThreadSummary.from_wire(wire)
    if kind == ReplyLink.kind:
        return ReplyLink.from_wire(wire)
    raise ValueError(f"unknown thread fact kind {kind!r}")


def post_id_of(event: Event) -> str:
    """A post's id: its `post` field, or the event id when the producer sent none."""
    return event.post or event.id


def thread_id_of(event: Event) -> str | None:
    """The thread of a discussion event; a post without one starts its own thread."""
    if event.thread:
        return event.thread
    return post_id_of(event) if event.type == POSTED else None


@dataclass(slots=True)
class _Post:
    author: str
    team: str
    at: float
    is_reply: bool
    parent: str | None


@dataclass(slots=True)
class _Thread:
    posts: dict[str, _Post] = field(default_factory=dict)  # first occurrence of each post id
    waiting: dict[str, list[str]] | None = None  # parent id -> replies waiting for it
    # author -> (replies, time of their first reply, team of that reply): the summary costs
    # O(repliers), not O(posts)
    repliers: dict[str, tuple[int, float, str]] | None = None
    replies: int = 0
    root: str | None = None
    last_at: float = float("-inf")  # latest event time of any post: idle threads expire
    # Posts removed by erasures, plus one per erasure: a summary after an erasure has a
    # higher version than every summary before it, so it wins whatever order they arrive in.
    erased: int = 0
    forgotten: int = 0  # posts dropped behind the retention while the thread lives on
    # Earliest event time among the posts held besides the root: where forgetting old posts
    # of a thread that stays active starts.
    oldest_at: float = float("inf")

    @property
    def version(self) -> int:
        """Posts ever known, plus one per erasure: never decreases."""
        return len(self.posts) + self.erased + self.forgotten


class ThreadBook:
    """The posts of the threads of one partition, and the facts they imply."""

    def __init__(self, config: GaugeConfig) -> None:
        self._config = config
        self._threads: dict[str, _Thread] = {}
        self._posts = 0  # posts held over all threads, kept as they come and go
        # What expiry reads, so it touches only what expires instead of every thread. Both
        # are heaps of (time, thread id) and may hold stale entries (lazily skipped):
        # `_by_last` one entry per thread, at most as late as its `last_at`, moved on when
        # it comes up early; `_by_oldest` an entry for every value `oldest_at` took.
        self._by_last: list[tuple[float, str]] = []
        self._by_oldest: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._threads)

    @property
    def posts(self) -> int:
        """Posts held over all threads (each thread keeps every post until it expires)."""
        return self._posts

    def apply(self, event: Event) -> list[ThreadFact]:
        """Record an accepted `posted` or `replied` event; return the facts to route to teams."""
        if event.type not in (POSTED, REPLIED):
            return []
        thread_id = thread_id_of(event)
        if thread_id is None:
            return []  # a reply without a thread cannot be joined
        thread = self._threads.get(thread_id)
        if thread is None:
            thread = self._threads[thread_id] = _Thread()
            heapq.heappush(self._by_last, (event.occurred_at, thread_id))
        post_id = intern(post_id_of(event))
        facts: list[ThreadFact] = []
        if post_id in thread.posts:  # seen before: repeat the facts, change nothing
            post = thread.posts[post_id]
            summary = self._summary(thread_id, thread)
            if summary is not None:
                facts.append(summary)
            if post.is_reply:
                facts.extend(self._links(thread, post_id))
            return facts

        if event.team is None:
            raise ValueError(f"event {event.id} reached the thread book without a team")
        post = _Post(
            author=intern(event.actor),  # shared by every post of the person
            team=intern(event.team),
            at=event.occurred_at,
            is_reply=event.type == REPLIED,
            parent=intern(event.parent) if event.type == REPLIED and event.parent else None,
        )
        thread.posts[post_id] = post
        self._posts += 1
        thread.last_at = max(thread.last_at, post.at)
        if post.at < thread.oldest_at:
            thread.oldest_at = post.at
            heapq.heappush(self._by_oldest, (post.at, thread_id))
        if post.is_reply:
            if thread.repliers is None:
                thread.repliers = {}
            count, first_at, team = thread.repliers.get(post.author, (0, post.at, post.team))
            if post.at < first_at:
                team = post.team
            thread.repliers[post.author] = (count + 1, min(first_at, post.at), team)
            thread.replies += 1

        if not post.is_reply and self._is_earlier_root(thread, post_id, post):
            previous = thread.root
            thread.root = post_id
            if previous is not None:
                facts.append(self._retraction(thread_id, thread, previous))
        summary = self._summary(thread_id, thread)
        if summary is not None:
            facts.append(summary)
        if post.is_reply:
            if post.parent is not None and post.parent not in thread.posts:
                if thread.waiting is None:
                    thread.waiting = {}
                thread.waiting.setdefault(post.parent, []).append(post_id)
            facts.extend(self._links(thread, post_id))
        if thread.waiting and post_id in thread.waiting:
            for waiting_reply in thread.waiting.pop(post_id):
                facts.extend(self._links(thread, waiting_reply))
        return facts

    def expire(self, now_event_time: float) -> int:
        """Forget threads idle for longer than the retention, and the posts older than the
        retention of threads still active (not their root, nor their counts), so a thread
        that lives for months holds no more than the retention's posts. Returns how many
        threads were dropped."""
        horizon = now_event_time - self._config.retention_s
        threads, by_last, by_oldest = self._threads, self._by_last, self._by_oldest
        idle = 0
        while by_last and by_last[0][0] < horizon:
            _, tid = heapq.heappop(by_last)
            thread = threads.get(tid)
            if thread is None:
                continue
            if thread.last_at < horizon:
                self._posts -= len(threads.pop(tid).posts)
                idle += 1
            else:  # posted to since its entry was made: comes up again at its last post
                heapq.heappush(by_last, (thread.last_at, tid))
        while by_oldest and by_oldest[0][0] < horizon:
            oldest_at, tid = heapq.heappop(by_oldest)
            thread = threads.get(tid)
            if thread is not None and thread.oldest_at == oldest_at:
                self._forget_posts_before(thread, horizon)
                if thread.oldest_at != math.inf:
                    heapq.heappush(by_oldest, (thread.oldest_at, tid))
        return idle

    def drop_threads(self, keep: Callable[[str], bool]) -> int:
        """The threads whose id `keep` refuses leave the book at once, with every post
        (a deleted tenant's); their expiry entries are skipped when they come up. Returns
        how many threads left."""
        gone = [thread_id for thread_id in self._threads if not keep(thread_id)]
        for thread_id in gone:
            self._posts -= len(self._threads.pop(thread_id).posts)
        return len(gone)

    def forget(self, people: set[str]) -> list[ThreadFact]:
        """Erasure: remove these people's posts; return the facts that correct the teams."""
        facts: list[ThreadFact] = []
        if not people:
            return facts
        for thread_id, thread in self._threads.items():
            gone = {pid for pid, post in thread.posts.items() if post.author in people}
            if gone:
                facts.extend(self._forget_posts(thread_id, thread, gone, people))
        return facts

    def _forget_posts(
        self, thread_id: str, thread: _Thread, gone: set[str], people: set[str]
    ) -> list[ThreadFact]:
        facts: list[ThreadFact] = []
        # Links that counted and will not: the people's own replies, and replies to them.
        for reply_id, post in thread.posts.items():
            if post.is_reply and (reply_id in gone or post.parent in gone):
                facts.extend(
                    replace(link, removed=True)
                    for link in self._links(thread, reply_id)
                    if isinstance(link, ReplyLink)
                )
        old_root = thread.root
        old_root_post = thread.posts[old_root] if old_root is not None else None
        for post_id in gone:
            del thread.posts[post_id]
        self._posts -= len(gone)
        thread.erased += len(gone) + 1
        if thread.repliers:
            for person in people:
                count, _first, _team = thread.repliers.pop(person, (0, 0.0, ""))
                thread.replies -= count
        if thread.waiting:
            for parent, waiting in list(thread.waiting.items()):
                waiting[:] = [r for r in waiting if r not in gone]
                if not waiting:
                    del thread.waiting[parent]
        if old_root in gone and old_root is not None and old_root_post is not None:
            roots = [(p.at, pid) for pid, p in thread.posts.items() if not p.is_reply]
            thread.root = min(roots)[1] if roots else None
            facts.append(
                ThreadSummary(
                    team=old_root_post.team,
                    thread=thread_id,
                    root=old_root,
                    started_at=old_root_post.at,
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
        return facts

    def _forget_posts_before(self, thread: _Thread, horizon: float) -> None:
        old = [pid for pid, p in thread.posts.items() if p.at < horizon and pid != thread.root]
        for pid in old:
            del thread.posts[pid]
        self._posts -= len(old)
        thread.forgotten += len(old)
        if thread.waiting:  # a forgotten reply no longer waits for its parent
            gone = set(old)
            for parent in list(thread.waiting):
                replies = [r for r in thread.waiting[parent] if r not in gone]
                if replies:
                    thread.waiting[parent] = replies
                else:
                    del thread.waiting[parent]
        thread.oldest_at = min(
            (p.at for pid, p in thread.posts.items() if pid != thread.root), default=float("inf")
        )

    # --- facts ----------------------------------------------------------------------------
    @staticmethod
    def _is_earlier_root(thread: _Thread, post_id: str, post: _Post) -> bool:
        if thread.root is None:
            return True
        root = thread.posts[thread.root]
        return (post.at, post_id) < (root.at, thread.root)

    @staticmethod
    def _summary(thread_id: str, thread: _Thread) -> ThreadSummary | None:
        if thread.root is None:
            return None
        root = thread.posts[thread.root]
        others = 0
        first: float | None = None
        cross: float | None = None
        within: float | None = None
        for author, (count, first_at, team) in (thread.repliers or {}).items():
            if author != root.author:
                others += count
                if first is None or first_at < first:
                    first = first_at
                if team != root.team:
                    if cross is None or first_at < cross:
                        cross = first_at
                elif within is None or first_at < within:
                    within = first_at
        return ThreadSummary(
            team=root.team,
            thread=thread_id,
            root=thread.root,
            started_at=root.at,
            replies=thread.replies,
            replies_from_others=others,
            first_reply_at=first,
            version=thread.version,
            first_cross_reply_at=cross,
            first_within_reply_at=within,
        )

    @staticmethod
    def _retraction(thread_id: str, thread: _Thread, old_root: str) -> ThreadSummary:
        root = thread.posts[old_root]
        return ThreadSummary(
            team=root.team,
            thread=thread_id,
            root=old_root,
            started_at=root.at,
            replies=0,
            replies_from_others=0,
            first_reply_at=None,
            version=thread.version,
            current=False,
        )

    @staticmethod
    def _links(thread: _Thread, reply_id: str) -> list[ThreadFact]:
        reply = thread.posts[reply_id]
        parent = thread.posts.get(reply.parent) if reply.parent is not None else None
        if parent is None:
            return []
        link = ReplyLink(
            team=reply.team,
            reply=reply_id,
            replier_team=reply.team,
            parent_team=parent.team,
            at=reply.at,
        )
        if parent.team == reply.team:
            return [link]
        return [link, ReplyLink(**{**asdict(link), "team": parent.team})]
