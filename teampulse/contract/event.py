"""The canonical event as it travels inside TeamPulse after validation.

Producers send the JSON described in schemas/; `teampulse.contract.events` turns it into an
`Event`. Between pipeline stages an Event travels as a compact JSON object (`encode_wire`,
fields that are None or empty left out), so each stage decodes it once and never
re-validates it. `Event` is a msgspec struct rather than a dataclass: encoding, decoding and
copying one costs about a microsecond instead of the 30 of `dataclasses.asdict`.
"""

from __future__ import annotations

from typing import Any

import msgspec

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
    "decode_wire",
    "encode_wire",
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


# gc=False: an event holds only strings and numbers, it can never be part of a cycle, and the
# collector need not walk the millions a worker creates.
class Event(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    id: str
    type: str
    occurred_at: float  # epoch seconds, UTC, event time
    actor: str  # pseudonym: the raw person id never gets this far
    source: str
    team: str | None = None
    initiative: str | None = None
    tags: tuple[str, ...] = ()
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
    # The tenant whose credential brought the event in (docs/tenancy.md), set by the ingest
    # stage from the record's header; None for the one implicit tenant of a deployment
    # without a tenants file, so its records are what they were before tenants existed.
    tenant: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """Compact dict: fields that are None or empty are left out."""
        wire: dict[str, Any] = msgspec.to_builtins(self)
        return wire

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Event:
        if "tags" in wire:
            wire = {**wire, "tags": tuple(wire["tags"])}
        return cls(**wire)

    def with_team(self, team: str) -> Event:
        return msgspec.structs.replace(self, team=team)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Event)


def encode_wire(event: Event) -> bytes:
    """The event's compact JSON (the same document as `orjson.dumps(event.to_wire())`)."""
    return _encoder.encode(event)


def decode_wire(wire: bytes) -> Event:
    """An event from `encode_wire`'s JSON (or a state log written by an earlier version)."""
    return _decoder.decode(wire)
