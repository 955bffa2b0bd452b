"""Collapses repeated log lines, so an outage or a bug hit by every record cannot flood the log.

While Kafka is down every client retries every 100 ms and logs each failed attempt at
ERROR: one worker wrote 136,000 "Unable connect to node" lines in 80 s. The filter lets the
first occurrence of a message through, counts the ones like it that follow within the
interval, and lets the next occurrence after the interval through with that count:

    Unable connect to node with id 1: ... [97 more like this in the last 10 s]

so the log grows by a few lines per kind of message and interval, whatever the rate. Lines
are alike when they come from the same logger at the same level with the same format string
(`log.warning("... offset=%d", offset)` for every record is one kind; the first line of each
interval shows an example); a message without arguments is compared whole. A count still
pending when the messages stop is not written (the next line would carry it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RepeatedMessageFilter", "limit_repeated_messages"]

MAX_TRACKED_MESSAGES = 1024  # distinct messages remembered; older windows are forgotten first
_DECIDED = "_teampulse_repeat_decision"  # one decision per record, however many handlers


@dataclass
class _Window:
    started: float
    repeats: int = 0


class RepeatedMessageFilter(logging.Filter):
    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._clock = clock
        self._windows: dict[tuple[str, int, str], _Window] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        decided = getattr(record, _DECIDED, None)
        if decided is not None:
            return bool(decided)
        passes = self._decide(record)
        setattr(record, _DECIDED, passes)
        return passes

    def _decide(self, record: logging.LogRecord) -> bool:
        if self.interval_s <= 0:
            return True
        now = self._clock()
        message = record.getMessage()
        kind = str(record.msg) if record.args else message
        key = (record.name, record.levelno, kind)
        window = self._windows.get(key)
        if window is None:
            self._remember(key, now)
            return True
        if now - window.started < self.interval_s:
            window.repeats += 1
            return False
        if window.repeats:
            elapsed = now - window.started
            record.msg = f"{message} [{window.repeats} more like this in the last {elapsed:.0f} s]"
            record.args = ()
        window.started, window.repeats = now, 0
        return True

    def _remember(self, key: tuple[str, int, str], now: float) -> None:
        if len(self._windows) >= MAX_TRACKED_MESSAGES:
            expired = [k for k, w in self._windows.items() if now - w.started >= self.interval_s]
            for old in expired or list(self._windows)[: MAX_TRACKED_MESSAGES // 2]:
                del self._windows[old]
        self._windows[key] = _Window(now)


def limit_repeated_messages(logger: logging.Logger, interval_s: float) -> RepeatedMessageFilter:
    """Puts one filter on every handler of `logger` (the root logger: records of every
    library propagate to its handlers, where a logger's own filters would not see them)."""
    limiter = RepeatedMessageFilter(interval_s)
    for handler in logger.handlers:
        handler.addFilter(limiter)
    return limiter
