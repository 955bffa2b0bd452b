"""The published JSON Schemas and the hand-written validators say the same thing.

Every example file under schemas/examples/ is valid by its schema AND accepted by the
validator; every record of the invalid set is refused by both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson
import pytest

from teampulse.contract.event import Event
from teampulse.contract.roster import RosterEntry, parse_roster_record
from teampulse.contract.xapi import XapiMapper

NOW = 1772496000.0  # 2026-03-03T00:00:00Z, after every example
SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
EVENT_EXAMPLES = sorted((SCHEMAS / "examples" / "canonical-event").glob("*.json"))
ROSTER_EXAMPLES = sorted((SCHEMAS / "examples" / "roster-record").glob("*.json"))
XAPI_EXAMPLES = sorted((SCHEMAS / "examples" / "xapi").glob("*.json"))


def compiled(relative: str) -> Any:
    return fastjsonschema.compile(json.loads((SCHEMAS / relative).read_text()))


EVENT_SCHEMA = compiled("canonical-event/v1.json")
ROSTER_SCHEMA = compiled("roster-record/v1.json")


def schema_accepts(schema: Any, record: object) -> bool:
    try:
        schema(record)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def test_there_is_an_example_of_every_event_type():
    types = {json.loads(path.read_text())["type"] for path in EVENT_EXAMPLES}
    assert types == {
        "learning.started",
        "learning.progressed",
        "learning.completed",
        "learning.assessed",
        "discussion.posted",
        "discussion.replied",
        "discussion.reacted",
        "adoption.practiced",
    }


@pytest.mark.parametrize("path", EVENT_EXAMPLES, ids=lambda p: p.name)
def test_event_example_is_valid_by_schema_and_validator(path, validator):
    record = json.loads(path.read_text())
    assert schema_accepts(EVENT_SCHEMA, record)
    assert isinstance(validator.parse(path.read_bytes(), NOW), Event)


BASE = {
    "id": "e-1",
    "type": "learning.completed",
    "occurred_at": "2026-03-02T10:30:00Z",
    "actor": "E1",
    "source": "lms",
}
REPLY = {**BASE, "type": "discussion.replied", "thread": "t", "post": "p", "parent": "q"}


def without(record: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in fields}


INVALID_EVENTS = {
    "array": [BASE],
    "no id": without(BASE, "id"),
    "empty id": {**BASE, "id": ""},
    "id of 201 characters": {**BASE, "id": "x" * 201},
    "numeric id": {**BASE, "id": 5},
    "no type": without(BASE, "type"),
    "unknown type": {**BASE, "type": "learning.enrolled"},
    "no occurred_at": without(BASE, "occurred_at"),
    "occurred_at without offset": {**BASE, "occurred_at": "2026-03-02T10:30:00"},
    "occurred_at as a date": {**BASE, "occurred_at": "2026-03-02"},
    "occurred_at as epoch": {**BASE, "occurred_at": 1772447400},
    "no actor": without(BASE, "actor"),
    "actor of 513 characters": {**BASE, "actor": "a" * 513},
    "null actor": {**BASE, "actor": None},
    "no source": without(BASE, "source"),
    "empty team": {**BASE, "team": ""},
    "numeric initiative": {**BASE, "initiative": 7},
    "tags as a string": {**BASE, "tags": "a"},
    "51 tags": {**BASE, "tags": [str(i) for i in range(51)]},
    "empty tag": {**BASE, "tags": [""]},
    "score above 1": {**BASE, "score": 1.01},
    "negative score": {**BASE, "score": -0.5},
    "boolean score": {**BASE, "score": True},
    "negative duration": {**BASE, "duration_s": -1},
    "duration over 31 days": {**BASE, "duration_s": 2678401},
    "success as a string": {**BASE, "success": "true"},
    "content as a number": {**BASE, "content": 12},
    "reply without thread": without(REPLY, "thread"),
    "reply without post": without(REPLY, "post"),
    "reply without parent": without(REPLY, "parent"),
    "reaction without parent": without({**REPLY, "type": "discussion.reacted"}, "parent"),
    "reply with fractional length": {**REPLY, "length": 1.5},
    "reply with negative length": {**REPLY, "length": -3},
    "reply with null thread": {**REPLY, "thread": None},
    "practice missing": {**BASE, "type": "adoption.practiced"},
}

VALID_EVENTS = {
    "minimal learning": BASE,
    "score 0 and 1 bounds": {**BASE, "score": 0, "duration_s": 0},
    "score 1": {**BASE, "score": 1},
    "200-character id": {**BASE, "id": "x" * 200},
    "50 tags": {**BASE, "tags": [str(i) for i in range(50)]},
    "integral float length": {**REPLY, "length": 12.0},
    "posted without parent": without({**REPLY, "type": "discussion.posted"}, "parent"),
    "score on a reply is ignored": {**REPLY, "score": "n/a"},
    "lowercase t and z": {**BASE, "occurred_at": "2026-03-02t10:30:00z"},
    "negative offset": {**BASE, "occurred_at": "2026-03-02T05:30:00-05:00"},
    "extra fields": {**BASE, "x-custom": {"nested": [None, 1]}},
}


@pytest.mark.parametrize("name", INVALID_EVENTS)
def test_schema_and_validator_both_refuse(name, validator):
    record = INVALID_EVENTS[name]
    assert not schema_accepts(EVENT_SCHEMA, record)
    assert not isinstance(validator.validate(record, NOW), Event)


@pytest.mark.parametrize("name", VALID_EVENTS)
def test_schema_and_validator_both_accept(name, validator):
    record = VALID_EVENTS[name]
    assert schema_accepts(EVENT_SCHEMA, record)
    assert isinstance(validator.validate(record, NOW), Event)


# --- roster records ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ROSTER_EXAMPLES, ids=lambda p: p.name)
def test_roster_example_is_valid_by_schema_and_parser(path, pseudonymiser):
    assert schema_accepts(ROSTER_SCHEMA, json.loads(path.read_text()))
    parsed = parse_roster_record(b"E99999", path.read_bytes(), pseudonymiser)
    assert isinstance(parsed, RosterEntry)


ROSTER = {"person": "E1", "team": "t", "department": "d", "division": "v"}
INVALID_ROSTER = {
    "no team": without(ROSTER, "team"),
    "no department": without(ROSTER, "department"),
    "no division": without(ROSTER, "division"),
    "empty team": {**ROSTER, "team": ""},
    "active as a string": {**ROSTER, "active": "yes"},
    "numeric person": {**ROSTER, "person": 7},
    "null person": {**ROSTER, "person": None},
    "array": [ROSTER],
}


@pytest.mark.parametrize("name", INVALID_ROSTER)
def test_roster_schema_and_parser_both_refuse(name, pseudonymiser):
    record = INVALID_ROSTER[name]
    assert not schema_accepts(ROSTER_SCHEMA, record)
    assert not isinstance(
        parse_roster_record(b"E1", orjson.dumps(record), pseudonymiser), RosterEntry
    )


# --- xAPI examples -----------------------------------------------------------------------


@pytest.mark.parametrize("path", XAPI_EXAMPLES, ids=lambda p: p.name)
def test_xapi_example_is_a_valid_statement_that_maps_to_an_event(path, mapper: XapiMapper):
    statement = json.loads(path.read_text())
    assert mapper.check(statement) is None
    assert isinstance(mapper.to_event(statement, NOW), Event)
