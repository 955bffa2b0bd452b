"""Records the Kafka client cannot decode are skipped and reported, instead of crash-looping.

aiokafka raises from inside its fetcher when a record batch fails its CRC check (a corrupt
log segment) or uses a codec it cannot decompress. The exception reaches Faust's consumer,
the worker crashes ("We experienced a crash!"), and since the committed offset still points
at that batch it crashes again on every restart. Nothing can be read from such a record, so
the only choices are to stop for good or to step over it; this steps over it, one offset at
a time, and reports each offset so that the worker dead-letters it (reason `undecodable`,
topic, partition, offset; no bytes) and counts it. The records before and after it are
delivered as usual.

It works by replacing aiokafka's `FetchResult.getall` (aiokafka is pinned to 0.14.x); every
consumer in the process is covered, including Faust's, which runs in its own thread, so the
skipped offsets are handed over through a thread-safe queue.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiokafka.consumer.fetcher import FetchResult
from aiokafka.errors import CorruptRecordException, UnsupportedCodecError

__all__ = ["SkippedRecord", "skip_undecodable_records", "take_skipped"]

log = logging.getLogger(__name__)

UNDECODABLE = (CorruptRecordException, UnsupportedCodecError)
MAX_PENDING_REPORTS = 100_000  # skipped offsets waiting to be dead-lettered


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    topic: str
    partition: int
    offset: int
    cause: str  # the error type and message (aiokafka's, never record contents)


_skipped: deque[SkippedRecord] = deque(maxlen=MAX_PENDING_REPORTS)
_original_getall: Any = None


def _getall(self: Any, max_records: int | None = None) -> list[Any]:
    """aiokafka's FetchResult.getall, stepping over an offset that cannot be decoded."""
    tp = self._topic_partition
    if not self.check_assignment(tp) or not self.has_more():
        return []
    records = self._partition_records
    taken: list[Any] = []
    try:
        for message in records:
            taken.append(message)
            if max_records is not None and len(taken) >= max_records:
                self._update_position()
                return taken
    except UNDECODABLE as exc:
        # The iterator stops at the first offset it could not hand out; the next fetch
        # starts one further on (and meets the same batch again if it holds more records).
        offset = records.next_fetch_offset
        records.next_fetch_offset = offset + 1
        self._update_position()
        self._partition_records = None
        cause = f"{type(exc).__name__}: {exc}"[:300]
        log.error(
            "undecodable record skipped topic=%s partition=%d offset=%d cause=%s",
            tp.topic,
            tp.partition,
            offset,
            cause,
        )
        _skipped.append(SkippedRecord(tp.topic, tp.partition, offset, cause))
        return taken
    self._update_position()
    self._partition_records = None
    return taken


def skip_undecodable_records() -> None:
    """Installs the replacement once per process."""
    global _original_getall
    if _original_getall is None:
        _original_getall = FetchResult.getall
        FetchResult.getall = _getall  # type: ignore[method-assign]


def take_skipped() -> list[SkippedRecord]:
    """The offsets skipped since the last call (from any thread)."""
    taken: list[SkippedRecord] = []
    while _skipped:
        taken.append(_skipped.popleft())
    return taken
