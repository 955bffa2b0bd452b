"""The canonical event as it travels inside TeamPulse after validation.

Producers send the JSON described in schemas/; `teampulse.contract.events` turns it into an
`Event`. Between pipeline stages an Event travels as a compact JSON object (`to_wire`), so
each stage parses it once with orjson and never re-validates it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

__all__ = [
    "ADOPTION_TYPES",
    "ASSESSED",
    "COMPLETED",
    "DISCUSSION_TYPES",
    "EVENT_TYPES",
    "LEARNING_TYPES",
    "POSTED",
    "REACTED",
    "REPLIED",
    "STARTED",
    "UNASSIGNED_TEAM",
    "Event",
]

# The event types of the contract (schemas/canonical-event/v1.json), named once.
STARTED = "learning.started"
PROGRESSED = "learning.progressed"
COMPLETED = "learning.completed"
ASSESSED = "learning.assessed"
POSTED = "discussion.posted"
REPLIED = "discussion.replied"
REACTED = "discussion.reacted"
PRACTICED = "adoption.practiced"

LEARNING_TYPES = (STARTED, PROGRESSED, COMPLETED, ASSESSED)
DISCUSSION_TYPES = (POSTED, REPLIED, REACTED)
ADOPTION_TYPES = (PRACTICED,)
EVENT_TYPES = LEARNING_TYPES + DISCUSSION_TYPES + ADOPTION_TYPES

UNASSIGNED_TEAM = "unassigned"


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type: str
    occurred_at: float  # epoch seconds, UTC, event time
    actor: str  # pseudonym: the raw person id never gets this far
    source: str
    team: str | None = None
    initiative: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    # learning
    content: str | None = None
    duration_s: float | None = None
    success: bool | None = None
    score: float | None = None
    # discussion
    thread: str | None = None
    post: str | None = None
    parent: str | None = None
    channel: str | None = None
    length: int | None = None
    # adoption
    practice: str | None = None
    # Where the pipeline read the event ("topic:partition"): lateness is judged per input
    # stream, so one partition consumed ahead of another does not make the other's late.
    origin: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """Compact dict for orjson: fields that are None or empty are left out."""
        return {k: v for k, v in asdict(self).items() if v is not None and v != ()}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Event:
        if "tags" in wire:
            wire = {**wire, "tags": tuple(wire["tags"])}
        return cls(**wire)

    def with_team(self, team: str) -> Event:
        return replace(self, team=team)
