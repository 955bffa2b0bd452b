"""The plain event counters: each one declared once, here.

A counter is a number per (team, bucket, person) that accepted events increment: its name
(the `WindowCounts` field), which event types increment it and by how much, and its catalogue
entry when it is published as a gauge of its own. Everything else is derived from this table:
the columns of `TeamState`'s compact rows and what `apply_event` adds to them, the merge of
buckets, the additive fields of `WindowCounts`, the reference model's count, the catalogue
(`gauges.catalog.WINDOWED`) and the published windowed gauges (`snapshot.window_gauges`).

Adding a counter touches three places: its declaration below, its field in
`counts.WindowCounts` (a typed field keeps `counts.posts` checked by mypy), and its line in
docs/metrics.md and docs/gauges.md. `tests/unit/gauges/test_counters.py` holds the rest to it.

Counts from the thread join (threads started, reply interactions...) are not event counters:
they come from thread facts, whose versions replace each other, and stay in `team_state`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from teampulse.contract.event import (
    ASSESSED,
    COMPLETED,
    EVENT_TYPES,
    LEARNING_TYPES,
    POSTED,
    REACTED,
    REPLIED,
    STARTED,
    Event,
)
from teampulse.gauges import formulas

__all__ = ["EVENT_COUNTERS", "EventCounter", "column_of", "increments_by_type"]


@dataclass(frozen=True, slots=True)
class EventCounter:
    name: str  # the WindowCounts field
    types: tuple[str, ...]  # the event types that increment it
    amount: Callable[[Event], int] | None = None  # what one event adds; None: 1
    gauge: str | None = None  # the published gauge; None: not published on its own
    help: str = ""  # its Prometheus HELP text
    unit: str = "events"
    divisor: int = 1  # published value = count / divisor (whole milliseconds -> seconds)

    def published(self, count: int) -> float:
        return count / self.divisor if self.divisor != 1 else count

    def of(self, event: Event) -> int:
        """What this event adds to the counter (the reference model's reading)."""
        if event.type not in self.types:
            return 0
        return 1 if self.amount is None else self.amount(event)


def _learning_ms(event: Event) -> int:
    return formulas.learning_millis(event.duration_s)


def _passed(event: Event) -> int:
    return 1 if event.success is True else 0


EVENT_COUNTERS: tuple[EventCounter, ...] = (
    # Every accepted event: the evidence a baseline rests on, and the drop signal's count.
    EventCounter("events", EVENT_TYPES),
    EventCounter(
        "learning_ms",
        LEARNING_TYPES,
        _learning_ms,
        gauge="learning_seconds",
        help="Time spent learning in the window",
        unit="seconds",
        divisor=1000,
    ),
    EventCounter(
        "starts", (STARTED,), gauge="starts", help="Learning activities started in the window"
    ),
    EventCounter(
        "completions",
        (COMPLETED,),
        gauge="completions",
        help="Learning activities completed in the window",
    ),
    EventCounter(
        "assessments_passed",
        (ASSESSED,),
        _passed,
        gauge="assessments_passed",
        help="Assessments passed (learning.assessed with success) in the window",
    ),
    EventCounter(
        "posts",
        (POSTED,),
        gauge="posts",
        help="Discussion posts (new threads or top-level posts) in the window",
    ),
    EventCounter("replies", (REPLIED,), gauge="replies", help="Discussion replies in the window"),
    EventCounter(
        "reactions", (REACTED,), gauge="reactions", help="Reactions (likes, shares) in the window"
    ),
)


def column_of(name: str) -> int:
    """The counter's column in a row of per-person counts (its place in the table)."""
    return next(i for i, c in enumerate(EVENT_COUNTERS) if c.name == name)


def increments_by_type() -> dict[str, tuple[tuple[int, Callable[[Event], int] | None], ...]]:
    """Event type -> (column, amount) of every counter it increments: the per-event work,
    looked up once per event instead of asking every counter."""
    return {
        kind: tuple(
            (column, counter.amount)
            for column, counter in enumerate(EVENT_COUNTERS)
            if kind in counter.types
        )
        for kind in EVENT_TYPES
    }
