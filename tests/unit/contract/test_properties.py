"""Whatever arrives, the validators answer with exactly one Event or one Rejection and never
raise: the streams stage relies on it to account for every record once."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teampulse.contract.event import Event
from teampulse.contract.events import EventValidator
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Reason, Rejection
from teampulse.contract.roster import RosterEntry, parse_roster_record
from teampulse.contract.xapi import XapiMapper
from teampulse.settings import Settings

NOW = 1772496000.0  # 2026-03-03T00:00:00Z
SETTINGS = Settings(pseudonym_secret="contract-test-secret")
PSEUDONYMISER = Pseudonymiser("contract-test-secret")
VALIDATOR = EventValidator(SETTINGS, PSEUDONYMISER)
MAPPER = XapiMapper(SETTINGS, PSEUDONYMISER)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=25,
)

EVENT_FIELDS = [
    "id",
    "type",
    "occurred_at",
    "actor",
    "source",
    "team",
    "initiative",
    "tags",
    "content",
    "duration_s",
    "success",
    "score",
    "thread",
    "post",
    "parent",
    "channel",
    "length",
    "practice",
]
event_like = st.dictionaries(
    st.sampled_from(EVENT_FIELDS),
    st.sampled_from(
        [
            "learning.completed",
            "discussion.replied",
            "adoption.practiced",
            "2026-03-02T10:30:00Z",
            "2027-01-01T00:00:00Z",
            "x",
            "",
        ]
    )
    | json_values,
    max_size=len(EVENT_FIELDS),
)

VALID_STATEMENT: dict[str, Any] = {
    "id": "5b1d8e3c-0f4e-4d8e-9b5e-1f2a3b4c5d6e",
    "actor": {"objectType": "Agent", "mbox": "mailto:jane.doe@example.com"},
    "verb": {"id": "http://id.tincanapi.com/verb/replied", "display": {"en-US": "replied"}},
    "object": {
        "id": "https://community.example.com/posts/1",
        "definition": {"name": {"en": "A post"}},
    },
    "result": {"response": "yes", "duration": "PT5M", "score": {"scaled": 0.5}},
    "context": {
        "contextActivities": {"parent": [{"id": "urn:thread:1"}]},
        "extensions": {"urn:teampulse:extension:team": "search"},
    },
    "timestamp": "2026-03-02T10:30:00Z",
}


@st.composite
def mutated_statements(draw: st.DrawFn) -> object:
    """A valid statement with one property, at any depth, replaced by arbitrary JSON."""
    statement = orjson.loads(orjson.dumps(VALID_STATEMENT))
    node: Any = statement
    while True:
        keys = list(node)
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict) and child and draw(st.booleans()):
            node = child
            continue
        if isinstance(child, list) and child and isinstance(child[0], dict) and draw(st.booleans()):
            node = child[0]
            continue
        if draw(st.booleans()):
            del node[key]
        else:
            node[key] = draw(json_values)
        return statement


def exactly_one_outcome(result: object) -> None:
    assert isinstance(result, Event) != isinstance(result, Rejection)
    if isinstance(result, Rejection):
        assert isinstance(result.reason, Reason)
        assert isinstance(result.detail, str) and result.detail


@PROPERTY
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(raw: bytes):
    exactly_one_outcome(VALIDATOR.parse(raw, NOW))
    exactly_one_outcome(MAPPER.parse(raw, NOW))
    roster = parse_roster_record(raw, raw, PSEUDONYMISER)
    assert isinstance(roster, RosterEntry | Rejection)


@PROPERTY
@given(json_values)
def test_arbitrary_json_never_raises(value: object):
    exactly_one_outcome(VALIDATOR.validate(value, NOW))
    exactly_one_outcome(VALIDATOR.parse(orjson.dumps(value), NOW))
    assert MAPPER.check(value) is None or isinstance(MAPPER.check(value), str)
    if isinstance(value, dict):
        exactly_one_outcome(MAPPER.to_event(value, NOW))
    exactly_one_outcome(MAPPER.parse(orjson.dumps(value), NOW))
    roster = parse_roster_record(b"E1", orjson.dumps(value), PSEUDONYMISER)
    assert isinstance(roster, RosterEntry | Rejection)


@PROPERTY
@given(event_like)
def test_event_shaped_objects_never_raise(value: dict[str, Any]):
    exactly_one_outcome(VALIDATOR.validate(value, NOW))


@PROPERTY
@given(mutated_statements())
def test_mutated_statements_never_raise_and_agree_with_check(statement: dict[str, Any]):
    problem = MAPPER.check(statement)
    result = MAPPER.to_event(statement, NOW)
    exactly_one_outcome(result)
    if problem is not None:
        assert result == Rejection(Reason.XAPI_INVALID, problem)
    elif isinstance(result, Event):
        assert b"jane" not in orjson.dumps(result.to_wire())
