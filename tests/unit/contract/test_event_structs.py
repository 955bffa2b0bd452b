"""The msgspec fast path decides every record exactly as `EventValidator` does."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teampulse.contract.event import EVENT_TYPES, Event
from teampulse.contract.event_structs import FastEventValidator
from teampulse.contract.events import (
    MAX_ACTOR_CHARS,
    MAX_DURATION_S,
    MAX_ID_CHARS,
    MAX_LENGTH,
    MAX_NAME_CHARS,
    MAX_REF_CHARS,
    MAX_TAG_CHARS,
    MAX_TAGS,
    EventValidator,
)
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Reason, Rejection
from teampulse.settings import Settings
from teampulse.simulation import build_organisation, generate_events

NOW = 1772496000.0  # 2026-03-03T00:00:00Z
SETTINGS = Settings(pseudonym_secret="structs-test-secret")
PSEUDONYMISER = Pseudonymiser("structs-test-secret")
VALIDATOR = EventValidator(SETTINGS, PSEUDONYMISER)
FAST = FastEventValidator(SETTINGS, PSEUDONYMISER)
PROPERTY = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID: dict[str, dict[str, Any]] = {
    "learning": {
        "id": "e1",
        "type": "learning.assessed",
        "occurred_at": "2026-03-02T10:30:00Z",
        "actor": "jane@example.com",
        "source": "lms",
        "team": "atlas",
        "initiative": "agile",
        "tags": ["a", "b"],
        "content": "course-1",
        "duration_s": 300,
        "success": True,
        "score": 0.5,
    },
    "discussion": {
        "id": "e2",
        "type": "discussion.replied",
        "occurred_at": "2026-03-02T10:30:00.250+01:00",
        "actor": "E123",
        "source": "chat",
        "thread": "t1",
        "post": "p2",
        "parent": "p1",
        "channel": "general",
        "length": 42,
    },
    "adoption": {
        "id": "e3",
        "type": "adoption.practiced",
        "occurred_at": "2026-03-02T10:30:00Z",
        "actor": "mailto:Jane@Example.com",
        "source": "tool",
        "practice": "retro",
    },
}
FIELDS = sorted({name for event in VALID.values() for name in event} | {"unknown"})


def text_around(limit: int) -> st.SearchStrategy[str]:
    """Strings at and around a length limit, ASCII and not."""
    return st.sampled_from([0, 1, limit - 1, limit, limit + 1]).flatmap(
        lambda n: st.sampled_from(["x" * n, "é" * n, "😀" * n])
    )


values = (
    st.none()
    | st.booleans()
    | st.sampled_from(
        [0, 1, -1, 0.5, 1.0, 1.5, 3.0, -0.0, MAX_DURATION_S, MAX_DURATION_S + 1, MAX_LENGTH]
    )
    | st.sampled_from([MAX_LENGTH + 1, 2**63, 2**64, 10**30, 1e300])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers()
    | st.sampled_from(list(EVENT_TYPES) + ["learning", "discussion.posted ", ""])
    | st.sampled_from(
        [
            "2026-03-02T10:30:00Z",
            "2026-03-02t10:30:00z",
            "2026-03-02 10:30:00+00:00",
            "2026-03-02T10:30:00",
            "2026-02-30T10:30:00Z",
            "2026-03-02T23:59:60Z",
            "2026-03-03T00:04:59Z",
            "2026-03-03T00:05:01Z",
            "2030-01-01T00:00:00Z",
        ]
    )
    | text_around(MAX_ID_CHARS)
    | text_around(MAX_NAME_CHARS)
    | text_around(MAX_REF_CHARS)
    | text_around(MAX_ACTOR_CHARS)
    | st.lists(text_around(MAX_TAG_CHARS) | st.integers(), max_size=3)
    | st.sampled_from([["t"] * MAX_TAGS, ["t"] * (MAX_TAGS + 1), [], {}, {"a": 1}])
)


@st.composite
def near_valid_records(draw: st.DrawFn) -> bytes:
    """A valid event with a few fields replaced, removed or added."""
    event = dict(VALID[draw(st.sampled_from(sorted(VALID)))])
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(FIELDS))
        if draw(st.integers(0, 3)) == 0:
            event.pop(name, None)
        else:
            event[name] = draw(values)
    # The standard library writes integers of any size, as some producers do.
    return json.dumps(event, ensure_ascii=False).encode()


@PROPERTY
@given(near_valid_records())
def test_every_record_is_decided_as_the_validator_decides_it(raw: bytes):
    assert FAST.parse(raw, NOW) == VALIDATOR.parse(raw, NOW)


@PROPERTY
@given(st.binary(max_size=200) | st.sampled_from([b"", b"[]", b"null", b'"x"', b"{}"]))
def test_arbitrary_bytes_are_decided_as_the_validator_decides_them(raw: bytes):
    assert FAST.parse(raw, NOW) == VALIDATOR.parse(raw, NOW)


HEAD = b'{"id":"e","type":"learning.started","occurred_at":"2026-03-02T10:30:00Z","actor":"a",'


@pytest.mark.parametrize(
    "raw",
    [
        HEAD + b'"source":"s","extra":1e400}',  # beyond a double, in an ignored field
        HEAD + b'"source":"s","extra":"\xff"}',  # invalid UTF-8, in an ignored field
        HEAD + b'"source":"s","extra":' + b"[" * 2000 + b"]" * 2000 + b"}",  # too deep
        HEAD + b'"source":"s","source":"t"}',  # repeated key: the last one counts
        HEAD + b'"source":"s","score":2,"score":0.5}',  # an invalid repeat
        HEAD + b'"source":"s","type":"adoption.practiced"}',  # the type repeated
        HEAD + b'"source":"s","extra":123456789012345678901234567890}',  # a huge integer
    ],
)
def test_documents_that_json_parsers_read_differently_are_decided_as_the_validator_does(
    raw: bytes,
):
    assert FAST.parse(raw, NOW) == VALIDATOR.parse(raw, NOW)


def test_a_record_over_the_size_limit_is_refused_as_too_large():
    raw = orjson.dumps({**VALID["learning"], "pad": "x" * SETTINGS.max_event_bytes})
    result = FAST.parse(raw, NOW)
    assert isinstance(result, Rejection) and result.reason == Reason.TOO_LARGE


class _NoFallback:
    def parse(self, raw: bytes | None, now: float) -> Event | Rejection:
        raise AssertionError("a valid event fell back to the slow validator")


@pytest.mark.parametrize("family", sorted(VALID))
def test_a_valid_event_is_accepted_without_the_slow_validator(family: str):
    fast = FastEventValidator(SETTINGS, PSEUDONYMISER)
    fast._validator = _NoFallback()  # type: ignore[assignment]
    raw = orjson.dumps(VALID[family])
    assert fast.parse(raw, NOW) == VALIDATOR.parse(raw, NOW)


def test_simulated_events_are_accepted_as_the_validator_accepts_them():
    org = build_organisation(seed=5, people=60, teams=6, departments=2, divisions=1)
    records = [
        orjson.dumps(e) for e in generate_events(org, NOW - 3 * 86400, NOW, seed=5, rate_scale=2.0)
    ]
    assert len(records) > 300
    fast = FastEventValidator(SETTINGS, PSEUDONYMISER)
    fast._validator = _NoFallback()  # type: ignore[assignment]
    assert [fast.parse(r, NOW) for r in records] == [VALIDATOR.parse(r, NOW) for r in records]
