"""What every connector returns, and the rules they share for ids, people and time.

A delivery maps to a `Mapped`: canonical event dicts to write, plus the items it ignored
with a reason (a bot message, an edit, a session event) and the items it discarded as not
genuine (a Graph notification without our clientState), so the endpoint can count them.
A delivery that is not what the platform documents is a `Rejection` (reason code and
detail, teampulse.contract.rejections), answered 400.

Rules (docs/connectors/):
* the canonical id is derived from the platform's own id of the fact (`slack:<event_id>`),
  so a retried delivery is the same event and counts once;
* the actor is pseudonymised here, at the door: `pseudonym:<hex>`, the keyed hash of the
  platform identity (e.g. `account:slack:T024BE7LD|U2147483697`); a roster record whose
  person is that identity gives the person's team;
* event time is the platform's time of the fact, not the time of delivery (a Discourse like
  carries no time of its own: it takes the time it is delivered).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from teampulse.contract.pseudonym import PSEUDONYM_PREFIX, Pseudonymiser
from teampulse.contract.rejections import Reason, Rejection
from teampulse.contract.timestamps import format_rfc3339, parse_iso8601_timestamp

__all__ = [
    "CanonicalEvent",
    "Mapped",
    "door_actor",
    "event_time",
    "iso8601_event_time",
    "schema_problem",
    "text_of",
]
CanonicalEvent = dict[str, Any]


@dataclass(slots=True)
class Mapped:
    events: list[CanonicalEvent] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)  # reason -> items
    discarded: Counter[str] = field(default_factory=Counter)  # reason -> items

    def ignore(self, reason: str) -> Mapped:
        self.ignored[reason] += 1
        return self

    def discard(self, reason: str) -> Mapped:
        self.discarded[reason] += 1
        return self

    def extend(self, other: Mapped) -> None:
        self.events.extend(other.events)
        self.ignored.update(other.ignored)
        self.discarded.update(other.discarded)


def door_actor(pseudonymiser: Pseudonymiser, identity: str) -> str:
    """The canonical `actor` of a platform identity: already keyed, never the raw id."""
    return PSEUDONYM_PREFIX + pseudonymiser.person(identity)


def schema_problem(detail: str) -> Rejection:
    return Rejection(Reason.SCHEMA, detail)


def text_of(value: Any) -> str | None:
    """A non-empty string, a number as text (ids are often numbers), or None."""
    if type(value) is str and value:
        return value
    if type(value) is int:
        return str(value)
    return None


def event_time(seconds: float | None) -> str | None:
    """Epoch seconds -> the canonical `occurred_at`; None for what no calendar holds
    (NaN, infinity, a year past 9999)."""
    if seconds is None or not math.isfinite(seconds):
        return None
    try:
        return format_rfc3339(seconds)
    except (ValueError, OverflowError, OSError):
        return None


def iso8601_event_time(value: Any, what: str) -> str | Rejection:
    """A platform's ISO 8601 instant -> `occurred_at`, or a bad_timestamp rejection."""
    seconds = parse_iso8601_timestamp(value) if type(value) is str else None
    text = event_time(seconds)
    if text is None:
        return Rejection(Reason.BAD_TIMESTAMP, f"{what}: an ISO 8601 instant is required")
    return text
