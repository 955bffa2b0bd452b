"""The content gauges' state of one team, on the stream (definitions: `gauges.content`).

Only the events the content gauges read are kept, per person, as (bucket, content or channel)
pairs: learning starts and completions with a content id, posts and replies that name a
content or are in an initiative's channel, and practice evidence (the initiatives it proves,
as a bit mask). Everything is dropped behind the retention (`expire`), and a person's records
go with an erasure (`forget`). State cost: about 90 bytes per kept event of those kinds
(docs/architecture.md, "State per person"), nothing per content item: the per-content counts
are computed when read: each window keeps the sum of every person's part (`_Totals`); a
read after an event takes the person's old part (from their records as of the last read)
away and adds the new one, and only a window that moved (once an hour) is summed anew.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
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
_KIND_BITS = 3
_KINDS = 1 << _KIND_BITS  # a record's code is bucket * _KINDS + kind


class _Records:
    """One person's records, compactly: the codes in a flat integer array (8 bytes each), the
    values (interned content ids and channels, small masks: shared objects) in a list."""

    __slots__ = ("codes", "values")

    def __init__(self) -> None:
        self.codes = array("q")
        self.values: list[str | int] = []

    def __len__(self) -> int:
        return len(self.codes)

    def __iter__(self) -> Iterator[_Record]:
        for code, value in zip(self.codes, self.values, strict=True):
            bucket, kind = divmod(code, _KINDS)
            yield bucket, kind, value

    def append(self, record: _Record) -> None:
        bucket, kind, value = record
        self.codes.append(bucket * _KINDS + kind)
        self.values.append(value)

    def oldest(self) -> int:
        return min(self.codes) // _KINDS

    def copy(self) -> _Records:
        records = _Records()
        records.codes = array("q", self.codes)
        records.values = list(self.values)
        return records

    def keep_from(self, kept_from: int) -> None:
        pairs = zip(self.codes, self.values, strict=True)
        kept = [(c, v) for c, v in pairs if c // _KINDS >= kept_from]
        self.codes = array("q", (c for c, _ in kept))
        self.values = [v for _, v in kept]


class _Part:
    """One person's part of one window: what they add to each content's counts."""

    __slots__ = ("learned", "done", "posts", "replies", "practised_after", "recent")

    def __init__(self) -> None:
        self.learned: set[str] = set()  # keys they started or completed
        self.done: dict[str, int] = {}  # key -> their first completion's bucket
        self.posts: dict[str, int] = {}  # key -> their posts that reference it
        self.replies: dict[str, int] = {}
        self.practised_after: dict[str, tuple[bool, ...]] = {}  # key -> practised, per span
        self.recent: set[tuple[int, int]] = set()  # (initiative, span index) practised lately


class _Totals:
    """The sum of every person's part of one window, kept by adding and taking away parts."""

    __slots__ = ("by_key", "recent")

    def __init__(self) -> None:
        # key -> [learners, completers, posts, replies, contributors, practised per span...,
        # completers who practised lately per span...]
        self.by_key: dict[str, list[int]] = {}
        self.recent: dict[tuple[int, int], int] = {}  # (initiative, span) -> people

    def add(self, part: _Part, sign: int, spans: int, initiative_of: _InitiativeOf) -> None:
        by_key = self.by_key
        width = 5 + 2 * spans

        def row(key: str) -> list[int]:
            found = by_key.get(key)
            if found is None:
                found = by_key[key] = [0] * width
            return found

        for key in part.learned:
            row(key)[0] += sign
        for key, n in part.posts.items():
            row(key)[2] += sign * n
        for key, n in part.replies.items():
            row(key)[3] += sign * n
        for key in part.posts.keys() | part.replies.keys():
            row(key)[4] += sign
        for pair in part.recent:
            self.recent[pair] = self.recent.get(pair, 0) + sign
        for key in part.done:
            counts = row(key)
            counts[1] += sign
            initiative = initiative_of(key)
            if initiative is None:
                continue
            flags = part.practised_after[key]
            for i in range(spans):
                counts[5 + i] += sign * flags[i]
                counts[5 + spans + i] += sign * ((initiative, i) in part.recent)


_InitiativeOf = Callable[[str], "int | None"]


class ContentBook:
    def __init__(self, catalog: ContentCatalog, bucket_s: int) -> None:
        self._catalog = catalog
        self._bucket_s = bucket_s
        self._people: dict[str, _Records] = {}
        self._totals: dict[tuple[int, int], _Totals] = {}  # (first, last bucket) -> sums
        # People whose records changed since the last read -> their records as of it (None:
        # they had none): their old parts are taken from the sums with these, then the new
        # ones added. Parts are not kept: they would cost more than the records.
        self._before: dict[str, _Records | None] = {}
        self._version = 0
        # ((version, members, windows), counts): read once a tick, changed far less often
        self._cached: tuple[tuple[object, ...], dict[str, dict[str, ContentCounts]]] | None = None
        # channels of any initiative: a post elsewhere without a content id is never read
        self._channels = catalog.all_channels

    @property
    def initiatives(self) -> tuple[object, ...]:
        """The initiatives its catalogue was built from (a tenant's, as the file gave them)."""
        return self._catalog.initiatives

    def following(self, catalog: ContentCatalog) -> ContentBook:
        """This book under another catalogue (a tenant's initiatives changed in the tenants
        file), as the adoption book follows them: every learning and conversation record
        stays (they name content and channels, not initiatives); practice evidence stays for
        an initiative configured as before and is dropped for a changed or removed one; a new
        or changed initiative counts practice from the events that arrive from now on (the
        state keeps no event to read again), and so do the channels it adds."""
        book = ContentBook(catalog, self._bucket_s)
        before = {initiative.id: i for i, initiative in enumerate(self._catalog.initiatives)}
        moved: dict[int, int] = {}  # old bit -> new bit, for the initiatives kept as they were
        for index, initiative in enumerate(catalog.initiatives):
            old = before.get(initiative.id)
            if old is not None and self._catalog.initiatives[old] == initiative:
                moved[old] = index
        for person, records in self._people.items():
            kept = _Records()
            for bucket, kind, value in records:
                if kind == _PRACTICE:
                    mask = 0
                    for old, new in moved.items():
                        if value >> old & 1:  # type: ignore[operator]
                            mask |= 1 << new
                    if not mask:
                        continue
                    value = mask
                kept.append((bucket, kind, value))
            if len(kept):
                book._people[person] = kept
        book._version = self._version + 1
        return book

    def apply(self, event: Event) -> None:
        """Keep what the content gauges read of one accepted event."""
        kind = event.type
        content = event.content
        record: _Record
        bucket = bucket_of(event.occurred_at, self._bucket_s)
        if kind in (STARTED, COMPLETED):
            if content is None:
                return
            record = (bucket, _STARTED if kind == STARTED else _COMPLETED, intern(content))
        elif kind in (POSTED, REPLIED):
            if content is not None:
                record = (bucket, _POST if kind == POSTED else _REPLY, intern(content))
            elif event.channel is not None and event.channel in self._channels:
                channel_kind = _CHANNEL_POST if kind == POSTED else _CHANNEL_REPLY
                record = (bucket, channel_kind, event.channel)
            else:
                return
        elif kind == PRACTICED:
            mask = 0
            for index in self._catalog.practised(event):
                mask |= 1 << index
            if not mask:
                return
            record = (bucket, _PRACTICE, mask)
        else:
            return
        records = self._people.get(event.actor)
        self._remember(event.actor, records)
        if records is None:
            records = self._people[event.actor] = _Records()
        records.append(record)
        self._version += 1

    def forget(self, people: set[str]) -> bool:
        changed = False
        for person in people:
            records = self._people.pop(person, None)
            if records is not None:
                self._remember(person, records)
                changed = True
        if changed:
            self._version += 1
        return changed

    def expire(self, kept_from: int) -> None:
        """Drop the records of buckets before `kept_from` (they are in no span read, so no
        figure changes: the people's parts are recomputed at the next read all the same)."""
        for person in list(self._people):
            records = self._people[person]
            if records.oldest() < kept_from:
                self._remember(person, records)
                records.keep_from(kept_from)
                if not records:
                    del self._people[person]

    def _remember(self, person: str, records: _Records | None) -> None:
        if person not in self._before and self._totals:
            self._before[person] = records.copy() if records is not None else None

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
        wanted = set(windows.values())
        for window in [w for w in self._totals if w not in wanted]:  # windows that moved on
            del self._totals[window]
        before, self._before = self._before, {}
        spans = len(self._catalog.spans)
        initiative_of = self._catalog.initiative_of
        kept = [window for window in wanted if window in self._totals]
        for window in wanted:
            if window not in self._totals:  # a new window (the hour turned): every part anew
                totals = self._totals[window] = _Totals()
                for records in self._people.values():
                    totals.add(self._parts(records, [window])[0], 1, spans, initiative_of)
        if kept:
            # A changed person's records are decoded once for every window.
            for person, old in before.items():
                current = self._people.get(person)
                for held, sign in ((old, -1), (current, 1)):
                    if held:
                        parts = self._parts(held, kept)
                        for window, part in zip(kept, parts, strict=True):
                            self._totals[window].add(part, sign, spans, initiative_of)
        result = {label: self._window(window, members) for label, window in windows.items()}
        self._cached = (stamp, result)
        return result

    def _window(self, window: tuple[int, int], members: int) -> dict[str, ContentCounts]:
        catalog = self._catalog
        spans = len(catalog.spans)
        totals = self._totals[window]
        result = {}
        for key in sorted(totals.by_key):
            counts = totals.by_key[key]
            learners, done, posts, replies, contributors = counts[:5]
            if not learners and not contributors:
                continue
            initiative = catalog.initiative_of(key)
            if initiative is None:
                after: tuple[int, ...] = ()
                others_practiced: tuple[int, ...] = ()
            elif done:
                after = tuple(counts[5 : 5 + spans])
                others_practiced = tuple(
                    totals.recent.get((initiative, i), 0) - counts[5 + spans + i]
                    for i in range(spans)
                )
            else:
                after = others_practiced = (0,) * spans
            result[key] = ContentCounts(
                learners=learners,
                completers=done,
                posts=posts,
                replies=replies,
                contributors=contributors,
                practiced=after,
                others=max(0, members - done) if done else 0,
                others_practiced=others_practiced,
            )
        return result

    def _parts(self, records: _Records, windows: list[tuple[int, int]]) -> list[_Part]:
        """One person's part of each window (first, last bucket)."""
        kinds, bits = _KINDS - 1, _KIND_BITS  # (code >> bits, code & kinds) is divmod(code, _KINDS)
        pairs = zip(records.codes, records.values, strict=True)
        every = [(code >> bits, code & kinds, value) for code, value in pairs]
        completions = [(r[0], r[2]) for r in every if r[1] == _COMPLETED]
        practice = [(r[0], r[2]) for r in every if r[1] == _PRACTICE]
        return [self._part(every, completions, practice, *window) for window in windows]

    def _part(
        self,
        every: list[_Record],
        completions: list[tuple[int, str | int]],
        practice: list[tuple[int, str | int]],
        first: int,
        last: int,
    ) -> _Part:
        """One person's part of the window first..last (gauges.content has the rules), from
        their records decoded, their completions and their practice."""
        catalog = self._catalog
        keys_of = catalog.keys_of
        reach = catalog.conversation_buckets
        part = _Part()
        for bucket, kind, value in every:
            if kind == _PRACTICE or not first <= bucket <= last:
                continue
            if kind in (_STARTED, _COMPLETED):
                for key in keys_of(value):  # type: ignore[arg-type]
                    part.learned.add(key)
                    if kind == _COMPLETED and bucket < part.done.get(key, bucket + 1):
                        part.done[key] = bucket
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
            talk = part.posts if kind in (_POST, _CHANNEL_POST) else part.replies
            for key in referenced:
                talk[key] = talk.get(key, 0) + 1
        for index, span in enumerate(catalog.spans):
            for bucket, mask in practice:
                if last - span < bucket <= last:
                    for initiative in range(len(catalog.initiatives)):
                        if mask >> initiative & 1:  # type: ignore[operator]
                            part.recent.add((initiative, index))
        for key, at in part.done.items():
            initiative = catalog.initiative_of(key)
            if initiative is not None:
                bit = 1 << initiative
                part.practised_after[key] = tuple(
                    any(mask & bit and at <= b < at + span for b, mask in practice)  # type: ignore[operator]
                    for span in catalog.spans
                )
        # Most parts have no conversation or practice: one shared empty container instead of
        # one each (a part is never changed once built).
        for name in ("posts", "replies", "practised_after", "done"):
            if not getattr(part, name):
                setattr(part, name, _NO_COUNTS)
        for name in ("learned", "recent"):
            if not getattr(part, name):
                setattr(part, name, _NO_KEYS)
        return part


_NO_COUNTS: dict = {}  # type: ignore[type-arg]
_NO_KEYS: set = set()  # type: ignore[type-arg]
