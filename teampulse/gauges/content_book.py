"""The content gauges' state of one team, on the stream (definitions: `gauges.content`).

Only the events the content gauges read are kept, per person, as (bucket, content or channel)
pairs: learning starts and completions with a content id, posts and replies that name a
content or are in an initiative's channel, and practice evidence (the initiatives it proves,
as a bit mask). Everything is dropped behind the retention (`expire`), and a person's records
go with an erasure (`forget`). State cost: about 90 bytes per kept event of those kinds
(docs/architecture.md, "State per person"), nothing per content item: the per-content counts
are computed when read and cached until the state or the window moves.
"""

from __future__ import annotations

from sys import intern

from teampulse.contract.event import COMPLETED, POSTED, PRACTICED, REPLIED, STARTED, Event
from teampulse.gauges.content import ContentCatalog, ContentCounts
from teampulse.gauges.eventtime import bucket_of

__all__ = ["ContentBook"]

# What a record is: a learning start, a completion, a post or a reply naming a content, a
# post or a reply in an initiative's channel without a content id, practice evidence.
_STARTED, _COMPLETED, _POST, _REPLY, _CHANNEL_POST, _CHANNEL_REPLY, _PRACTICE = range(7)
# (bucket, kind, content id or channel; for practice the initiatives' bit mask)
_Record = tuple[int, int, str | int]


class ContentBook:
    def __init__(self, catalog: ContentCatalog, bucket_s: int) -> None:
        self._catalog = catalog
        self._bucket_s = bucket_s
        self._people: dict[str, list[_Record]] = {}
        self._version = 0
        # ((version, members, windows), counts): read once a tick, changed far less often
        self._cached: tuple[tuple[object, ...], dict[str, dict[str, ContentCounts]]] | None = None
        # channels of any initiative: a post elsewhere without a content id is never read
        self._channels = catalog.all_channels

    def apply(self, event: Event) -> None:
        """Keep what the content gauges read of one accepted event."""
        kind = event.type
        content = event.content
        record: _Record
        if kind in (STARTED, COMPLETED):
            if content is None:
                return
            record = (0, _STARTED if kind == STARTED else _COMPLETED, intern(content))
        elif kind in (POSTED, REPLIED):
            if content is not None:
                record = (0, _POST if kind == POSTED else _REPLY, intern(content))
            elif event.channel is not None and event.channel in self._channels:
                record = (0, _CHANNEL_POST if kind == POSTED else _CHANNEL_REPLY, event.channel)
            else:
                return
        elif kind == PRACTICED:
            mask = 0
            for index in self._catalog.practised(event):
                mask |= 1 << index
            if not mask:
                return
            record = (0, _PRACTICE, mask)
        else:
            return
        record = (bucket_of(event.occurred_at, self._bucket_s), record[1], record[2])
        self._people.setdefault(event.actor, []).append(record)
        self._version += 1

    def forget(self, people: set[str]) -> bool:
        changed = False
        for person in people:
            if self._people.pop(person, None) is not None:
                changed = True
        if changed:
            self._version += 1
        return changed

    def expire(self, kept_from: int) -> None:
        """Drop the records of buckets before `kept_from`."""
        changed = False
        for person in list(self._people):
            records = self._people[person]
            if records and min(r[0] for r in records) < kept_from:
                kept = [r for r in records if r[0] >= kept_from]
                changed = True
                if kept:
                    self._people[person] = kept
                else:
                    del self._people[person]
        if changed:
            self._version += 1

    @property
    def records(self) -> int:
        return sum(len(r) for r in self._people.values())

    def counts(
        self, windows: dict[str, tuple[int, int]], members: int
    ) -> dict[str, dict[str, ContentCounts]]:
        """Per content window (label -> first and last bucket), per content key, the counts."""
        stamp = (self._version, members, tuple(windows.items()))
        cached = self._cached
        if cached is not None and cached[0] == stamp:
            return cached[1]
        result = {
            label: self._window(first, last, members) for label, (first, last) in windows.items()
        }
        self._cached = (stamp, result)
        return result

    def _window(self, first: int, last: int, members: int) -> dict[str, ContentCounts]:
        catalog = self._catalog
        keys_of = catalog.keys_of
        learners: dict[str, set[str]] = {}
        first_completion: dict[str, dict[str, int]] = {}
        posts: dict[str, int] = {}
        replies: dict[str, int] = {}
        contributors: dict[str, set[str]] = {}
        practice: dict[str, list[tuple[int, int]]] = {}  # person -> (bucket, mask)
        reach = catalog.conversation_buckets
        for person, records in self._people.items():
            completions = [(r[0], r[2]) for r in records if r[1] == _COMPLETED]
            for bucket, kind, value in records:
                if kind == _PRACTICE:
                    practice.setdefault(person, []).append((bucket, value))  # type: ignore[arg-type]
                    continue
                if not first <= bucket <= last:
                    continue
                if kind in (_STARTED, _COMPLETED):
                    for key in keys_of(value):  # type: ignore[arg-type]
                        learners.setdefault(key, set()).add(person)
                        if kind == _COMPLETED:
                            done = first_completion.setdefault(key, {})
                            if bucket < done.get(person, bucket + 1):
                                done[person] = bucket
                    continue
                if kind in (_POST, _REPLY):
                    referenced = set(keys_of(value))  # type: ignore[arg-type]
                else:
                    referenced = {
                        key
                        for done_at, content in completions
                        if done_at <= bucket < done_at + reach
                        for key in keys_of(content)  # type: ignore[arg-type]
                        if (initiative := catalog.initiative_of(key)) is not None
                        and catalog.in_channels(initiative, value)  # type: ignore[arg-type]
                    }
                talk = posts if kind in (_POST, _CHANNEL_POST) else replies
                for key in referenced:
                    talk[key] = talk.get(key, 0) + 1
                    contributors.setdefault(key, set()).add(person)
        # Who practised each initiative in the last span, once per (initiative, span): the
        # others of a content are these minus its completers.
        recent: dict[tuple[int, int], set[str]] = {}
        result = {}
        for key in sorted(learners.keys() | contributors.keys()):
            done = first_completion.get(key, {})
            initiative = catalog.initiative_of(key)
            practiced: tuple[int, ...] = ()
            others_practiced: tuple[int, ...] = ()
            if initiative is not None:
                bit = 1 << initiative
                practiced = tuple(
                    sum(
                        1
                        for person, at in done.items()
                        if any(
                            mask & bit and at <= b < at + span
                            for b, mask in practice.get(person, ())
                        )
                    )
                    for span in catalog.spans
                )
                others = []
                for span in catalog.spans if done else ():
                    practised = recent.get((initiative, span))
                    if practised is None:
                        practised = recent[(initiative, span)] = {
                            person
                            for person, held in practice.items()
                            if any(mask & bit and last - span < b <= last for b, mask in held)
                        }
                    others.append(len(practised) - sum(1 for person in done if person in practised))
                others_practiced = tuple(others) if done else (0,) * len(catalog.spans)
            result[key] = ContentCounts(
                learners=len(learners.get(key, ())),
                completers=len(done),
                posts=posts.get(key, 0),
                replies=replies.get(key, 0),
                contributors=len(contributors.get(key, ())),
                practiced=practiced,
                others=max(0, members - len(done)) if done else 0,
                others_practiced=others_practiced,
            )
        return result
