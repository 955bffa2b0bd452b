"""Canonical events: bytes or a parsed JSON object in, an `Event` or a `Rejection` out.

This is the hot path of ingestion, so the checks are written by hand (no schema engine per
record). The published contract is schemas/canonical-event/v1.json; a unit test proves the
two agree on every example file and on a set of invalid records. docs/events.md explains
each field to producers.

Rules worth knowing (they are the contract):
* unknown extra fields are allowed and ignored, so producers can send more than we read;
* an optional field may be omitted or `null`, which mean the same;
* type-specific fields belong to a family; a field of another family is ignored like any
  unknown field (a `score` on a discussion event is not read, nor checked).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from teampulse.contract.event import (
    ADOPTION_TYPES,
    EVENT_TYPES,
    LEARNING_TYPES,
    Event,
)
from teampulse.contract.framing import decode_record
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Reason, Rejection
from teampulse.contract.timestamps import parse_rfc3339
from teampulse.settings import Settings

__all__ = ["FIELDS_OF_TYPE", "Check", "EventValidator", "Field"]

# Limits keep per-event state small and Prometheus labels sane; schemas/ repeats them.
MAX_ID_CHARS = 200  # event id: the dedupe key, kept in state for the lateness horizon
MAX_ACTOR_CHARS = 512  # raw person id before pseudonymising (e-mails, account names)
MAX_NAME_CHARS = 200  # source, team, initiative, channel
MAX_REF_CHARS = 1024  # content, thread, post, parent, practice: often IRIs
MAX_TAGS = 50
MAX_TAG_CHARS = 100
MAX_DURATION_S = 31 * 86400  # one learning record never spans more than a month
MAX_LENGTH = 10_000_000  # characters of one post


# --- field checks: each returns the accepted value, or _BAD ----------------------------------

_BAD: Any = object()


# Checks take any JSON value, hence `Any`; `type(v) is T` (not isinstance) keeps booleans out
# of numbers, as JSON Schema does.
Check = Callable[[Any], Any]


def _text(limit: int) -> Check:
    def check(value: Any) -> Any:
        return value if type(value) is str and 0 < len(value) <= limit else _BAD

    return check


def _number(low: float, high: float) -> Check:
    def check(value: Any) -> Any:
        kind = type(value)
        if (kind is float or kind is int) and low <= value <= high:  # NaN fails both
            return float(value)
        return _BAD

    return check


def _integer(low: int, high: int) -> Check:
    def check(value: Any) -> Any:
        if type(value) is float and math.isfinite(value) and value.is_integer():
            value = int(value)  # JSON Schema: 3.0 is an integer
        if type(value) is int and low <= value <= high:
            return value
        return _BAD

    return check


def _boolean(value: Any) -> Any:
    return value if type(value) is bool else _BAD


def _tags(value: Any) -> Any:
    if type(value) is not list or len(value) > MAX_TAGS:
        return _BAD
    for tag in value:
        if type(tag) is not str or not 0 < len(tag) <= MAX_TAG_CHARS:
            return _BAD
    return tuple(value)


_WHAT = {  # what a field must be, for the rejection detail
    "text": "a string of 1 to {0} characters",
    "number": "a number from {0} to {1}",
    "integer": "an integer from {0} to {1}",
    "boolean": "true or false",
    "tags": f"a list of at most {MAX_TAGS} strings of 1 to {MAX_TAG_CHARS} characters",
}

# (field, check, required, description)
Field = tuple[str, Check, bool, str]


def _field(name: str, kind: str, *limits: Any, required: bool = False) -> Field:
    check: Check
    if kind == "boolean":
        check = _boolean
    elif kind == "tags":
        check = _tags
    else:
        factories: dict[str, Callable[..., Check]] = {
            "text": _text,
            "number": _number,
            "integer": _integer,
        }
        check = factories[kind](*limits)
    return (name, check, required, _WHAT[kind].format(*limits))


_OPTIONAL_COMMON: tuple[Field, ...] = (
    _field("team", "text", MAX_NAME_CHARS),
    _field("initiative", "text", MAX_NAME_CHARS),
    _field("tags", "tags"),
)
_LEARNING: tuple[Field, ...] = (
    _field("content", "text", MAX_REF_CHARS),
    _field("duration_s", "number", 0, MAX_DURATION_S),
    _field("success", "boolean"),
    _field("score", "number", 0, 1),
)
_DISCUSSION_BASE: tuple[Field, ...] = (
    _field("thread", "text", MAX_REF_CHARS, required=True),
    _field("post", "text", MAX_REF_CHARS, required=True),
)
_DISCUSSION_TAIL: tuple[Field, ...] = (
    _field("channel", "text", MAX_NAME_CHARS),
    _field("length", "integer", 0, MAX_LENGTH),
    # the content the thread is about, when the platform knows it (the content gauges)
    _field("content", "text", MAX_REF_CHARS),
)
_PARENT_REQUIRED = _field("parent", "text", MAX_REF_CHARS, required=True)

FIELDS_OF_TYPE: dict[str, tuple[Field, ...]] = {
    **{t: _OPTIONAL_COMMON + _LEARNING for t in LEARNING_TYPES},
    "discussion.posted": _OPTIONAL_COMMON + _DISCUSSION_BASE + _DISCUSSION_TAIL,
    "discussion.replied": _OPTIONAL_COMMON
    + _DISCUSSION_BASE
    + (_PARENT_REQUIRED,)
    + _DISCUSSION_TAIL,
    "discussion.reacted": _OPTIONAL_COMMON
    + _DISCUSSION_BASE
    + (_PARENT_REQUIRED,)
    + _DISCUSSION_TAIL,
    **{
        t: _OPTIONAL_COMMON + (_field("practice", "text", MAX_REF_CHARS, required=True),)
        for t in ADOPTION_TYPES
    },
}

_ID_WHAT = _WHAT["text"].format(MAX_ID_CHARS)
_ACTOR_WHAT = _WHAT["text"].format(MAX_ACTOR_CHARS)
_SOURCE_WHAT = _WHAT["text"].format(MAX_NAME_CHARS)
_check_id = _text(MAX_ID_CHARS)
_check_actor = _text(MAX_ACTOR_CHARS)
_check_source = _text(MAX_NAME_CHARS)
_TYPES_LIST = ", ".join(EVENT_TYPES)


def _json_kind(value: object) -> str:
    names = {
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


class EventValidator:
    def __init__(self, settings: Settings, pseudonymiser: Pseudonymiser) -> None:
        self._max_bytes = settings.max_event_bytes
        self._future_skew_s = settings.future_skew_s
        self._pseudonymiser = pseudonymiser

    def parse(self, raw: bytes | None, now: float) -> Event | Rejection:
        """A Kafka record value -> Event or Rejection. `raw` is parsed exactly once."""
        obj = decode_record(raw, self._max_bytes)
        if isinstance(obj, Rejection):
            return obj
        return self.validate(obj, now)

    def validate(self, obj: object, now: float) -> Event | Rejection:
        """A parsed JSON value -> Event (actor pseudonymised) or Rejection."""
        if type(obj) is not dict:
            return Rejection(Reason.NOT_OBJECT, f"an event is a JSON object, not {_json_kind(obj)}")
        head = self._check_head(obj)
        if head is not None:
            return head
        occurred = obj.get("occurred_at")
        if type(occurred) is not str:
            return Rejection(Reason.SCHEMA, "occurred_at: required, an RFC 3339 date-time string")
        occurred_at = parse_rfc3339(occurred)
        if occurred_at is None:
            return Rejection(
                Reason.BAD_TIMESTAMP,
                f"occurred_at: {occurred[:64]!r} is not RFC 3339 with an offset "
                "(e.g. 2026-03-02T09:15:00Z)",
            )
        actor: Any = _check_actor(obj.get("actor"))
        if actor is _BAD:
            return Rejection(Reason.SCHEMA, f"actor: required, {_ACTOR_WHAT}")
        return self._complete(obj, occurred_at, self._pseudonymiser.person(actor), now)

    def from_mapped(
        self, fields: dict[str, Any], occurred_at: float, actor: str, now: float
    ) -> Event | Rejection:
        """Canonical fields produced by a mapper (xAPI), with event time and pseudonym already
        worked out -> Event or Rejection, by the same rules as a producer's event."""
        head = self._check_head(fields)
        if head is not None:
            return head
        return self._complete(fields, occurred_at, actor, now)

    @staticmethod
    def _check_head(obj: dict[str, Any]) -> Rejection | None:
        if _check_id(obj.get("id")) is _BAD:
            return Rejection(Reason.SCHEMA, f"id: required, {_ID_WHAT}")
        kind = obj.get("type")
        if type(kind) is not str:
            return Rejection(Reason.SCHEMA, f"type: required, one of {_TYPES_LIST}")
        if kind not in FIELDS_OF_TYPE:
            return Rejection(
                Reason.UNKNOWN_TYPE, f"type: {kind[:100]!r} is not one of {_TYPES_LIST}"
            )
        return None

    def _complete(
        self, obj: dict[str, Any], occurred_at: float, actor: str, now: float
    ) -> Event | Rejection:
        if occurred_at > now + self._future_skew_s:
            return Rejection(
                Reason.FUTURE,
                f"occurred_at: {occurred_at - now:.0f} s in the future, "
                f"more than the allowed {self._future_skew_s} s",
            )
        source: Any = _check_source(obj.get("source"))
        if source is _BAD:
            return Rejection(Reason.SCHEMA, f"source: required, {_SOURCE_WHAT}")
        kind = obj["type"]
        values: dict[str, Any] = {}
        for name, check, required, what in FIELDS_OF_TYPE[kind]:
            raw = obj.get(name)
            if raw is None:
                if required:
                    return Rejection(Reason.SCHEMA, f"{name}: required for {kind}, {what}")
                continue
            value = check(raw)
            if value is _BAD:
                return Rejection(Reason.SCHEMA, f"{name}: must be {what}")
            values[name] = value
        return Event(
            id=obj["id"],
            type=kind,
            occurred_at=occurred_at,
            actor=actor,
            source=source,
            **values,
        )
