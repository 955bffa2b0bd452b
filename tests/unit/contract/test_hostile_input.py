"""Structure-aware fuzzing of the validators: the published examples, with the value at every
path swapped for every other JSON type and for hostile values, never make a validator raise;
each answer is an acceptance or a rejection with a known reason code.

A sweep tries every (example, path, hostile value) once; hypothesis then swaps in arbitrary
JSON and adds unexpected members, at paths it picks.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teampulse.contract.event import Event
from teampulse.contract.events import EventValidator
from teampulse.contract.intake import Intake, RecentIds, Refusal, plan_events, plan_statements
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Reason, Rejection
from teampulse.contract.roster import RosterEntry, parse_roster_record
from teampulse.contract.xapi import XapiMapper
from teampulse.contract.xapi_rules import statement_problem
from teampulse.settings import Settings

NOW = 1772496000.0  # 2026-03-03T00:00:00Z, after every example
SECRET = "contract-test-secret"
SETTINGS = Settings(pseudonym_secret=SECRET)
PSEUDONYMISER = Pseudonymiser(SECRET)
VALIDATOR = EventValidator(SETTINGS, PSEUDONYMISER)
MAPPER = XapiMapper(SETTINGS, PSEUDONYMISER)
EXAMPLES = Path(__file__).resolve().parents[3] / "schemas" / "examples"

REASONS = {reason.value for reason in Reason}
# What the HTTP intake answers besides the reasons: batch-level refusals.
INTAKE_ERRORS = REASONS | {"duplicate_id", "conflict", "too_large"}

Path_ = tuple[str | int, ...]
MARK = "\x00invalid-utf8\x00"  # replaced by invalid UTF-8 bytes in the serialised record


def _nested(depth: int, leaf: object) -> object:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"n": value}
    return value


HOSTILE: list[object] = [
    # every JSON type
    {},
    {"objectType": "Group", "id": {"x": 1}},
    [],
    [{"a": [1, None]}, "x"],
    0,
    -1,
    1.5,
    True,
    False,
    None,
    "",
    "x",
    # numbers out of range, and what JSON itself cannot carry
    2**64,
    -(2**63) - 1,
    10**400,
    1e308,
    -1e308,
    5e-324,
    float("nan"),
    float("inf"),
    float("-inf"),
    # huge and strange strings
    "x" * 1_000_000,
    "\ud800",
    MARK,
    # deep nesting: past orjson's writing limit (255) and close to its reading limit (1024)
    _nested(300, "deep"),
    _nested(1000, 1),
    # far past and far future instants, and almost-instants
    "0001-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "2026-03-02T09:15:00.",
    "2026-03-02T09:15:00.Z",
    "2026-03-02T09:15:60Z",
    "P99999999999999999999Y",
    # label- and key-breaking names
    'team"} 1\n# HELP',
    "team\nnext",
    "{team}:*",
    "t" * 10_000,
]


def _load(kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{kind}/{path.name}", json.loads(path.read_text()))
        for path in sorted((EXAMPLES / kind).glob("*.json"))
    ]


EVENTS = _load("canonical-event")
STATEMENTS = _load("xapi")
ROSTER = _load("roster-record")


MAX_PATH_DEPTH = 12  # the examples are shallower; deeper paths lie inside hostile values


def paths(value: object, prefix: Path_ = ()) -> Iterator[Path_]:
    """Every path in the value, the root included (down to MAX_PATH_DEPTH)."""
    yield prefix
    if len(prefix) >= MAX_PATH_DEPTH:
        return
    if type(value) is dict:
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif type(value) is list:
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


def _spine_copy(document: object, path: Path_) -> tuple[object, Any]:
    """A copy of the containers along `path` (the rest shared, so deep values cost nothing)
    and the copied container that `path` ends in."""
    root: Any = copy.copy(document)
    node = root
    for step in path:
        child = copy.copy(node[step])
        node[step] = child
        node = child
    return root, node


def swapped(document: object, path: Path_, value: object) -> object:
    if not path:
        return value
    root, parent = _spine_copy(document, path[:-1])
    parent[path[-1]] = value
    return root


def with_member(document: object, path: Path_, key: str, value: object) -> object:
    root, node = _spine_copy(document, path)
    if type(node) is dict:
        node[key] = value
    return root


def raw_of(document: object) -> bytes | None:
    """The bytes a producer could send for the document (NaN as the non-standard token some
    JSON writers emit; MARK as invalid UTF-8), or None when Python's json cannot write it."""
    try:
        text = json.dumps(document, allow_nan=True)
    except (ValueError, RecursionError):
        return None
    raw = text.encode("utf-8", "surrogatepass")
    return raw.replace(json.dumps(MARK).encode(), b'"\xff\xfe"')


def assert_outcome(result: object) -> None:
    if isinstance(result, Rejection):
        assert result.reason.value in REASONS
        assert isinstance(result.detail, str) and result.detail
    else:
        assert isinstance(result, Event)


def assert_intake(result: object) -> None:
    if isinstance(result, Refusal):
        assert result.error in INTAKE_ERRORS and result.status in (400, 409, 413)
    else:
        assert isinstance(result, Intake)


def check_event(document: object) -> None:
    assert_outcome(VALIDATOR.validate(document, NOW))
    raw = raw_of(document)
    if raw is not None:
        assert_outcome(VALIDATOR.parse(raw, NOW))
    assert_intake(
        plan_events(
            [document], RecentIds(10), VALIDATOR, now=NOW, max_record_bytes=SETTINGS.max_event_bytes
        )
    )


def check_statement(document: object) -> None:
    problem = statement_problem(document)
    assert problem is None or isinstance(problem, str)
    if type(document) is dict:
        assert_outcome(MAPPER.to_event(document, NOW))
    raw = raw_of(document)
    if raw is not None:
        assert_outcome(MAPPER.parse(raw, NOW))
    assert_intake(
        plan_statements(
            [document],
            RecentIds(10),
            stored="2026-03-03T00:00:00.000Z",
            new_id=lambda: "00000000-0000-4000-8000-000000000000",
            max_record_bytes=SETTINGS.max_event_bytes,
        )
    )


def check_roster(document: object) -> None:
    raw = raw_of(document)
    if raw is None:
        return
    for key in (b"E1", None, b"\xff"):
        result = parse_roster_record(key, raw, PSEUDONYMISER)
        if isinstance(result, Rejection):
            assert result.reason.value in REASONS
        else:
            assert isinstance(result, RosterEntry | str)


CHECKS: dict[str, tuple[list[tuple[str, dict[str, Any]]], Callable[[object], None]]] = {
    "event": (EVENTS, check_event),
    "statement": (STATEMENTS, check_statement),
    "roster": (ROSTER, check_roster),
}


@pytest.mark.parametrize("kind", sorted(CHECKS))
def test_every_hostile_value_at_every_path_is_accepted_or_rejected_with_a_reason(kind: str):
    examples, check = CHECKS[kind]
    for name, example in examples:
        for path in paths(example):
            for value in HOSTILE:
                try:
                    check(swapped(example, path, value))
                except Exception as exc:  # noqa: BLE001 - name the case that broke
                    case = f"{name} at {path} = {str(value)[:40]!r}"
                    raise AssertionError(f"{case}: {exc!r}") from exc


@pytest.mark.parametrize("kind", sorted(CHECKS))
def test_an_unexpected_member_anywhere_is_accepted_or_rejected_with_a_reason(kind: str):
    examples, check = CHECKS[kind]
    for name, example in examples:
        for path in paths(example):
            for key, value in (("", None), ("k" * 10_000, 1), ("extensions", _nested(300, 0))):
                try:
                    check(with_member(example, path, key, value))
                except Exception as exc:  # noqa: BLE001 - name the case that broke
                    raise AssertionError(f"{name} at {path} + {key[:20]!r}: {exc!r}") from exc


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=40)
    | st.sampled_from(HOSTILE)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mutated(draw: st.DrawFn, examples: list[tuple[str, dict[str, Any]]]) -> object:
    """An example with one to three paths swapped for arbitrary JSON or given extra members."""
    _, document = draw(st.sampled_from(examples))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(paths(document))))
        if draw(st.booleans()):
            document = swapped(document, path, draw(json_values))
        else:
            key = draw(st.text(max_size=10) | st.sampled_from(["objectType", "id", "extensions"]))
            document = with_member(document, path, key, draw(json_values))
    return document


@FUZZ
@given(mutated(EVENTS))
def test_fuzzed_events_never_raise(document: object):
    check_event(document)


@FUZZ
@given(mutated(STATEMENTS))
def test_fuzzed_statements_never_raise(document: object):
    check_statement(document)


@FUZZ
@given(mutated(ROSTER))
def test_fuzzed_roster_records_never_raise(document: object):
    check_roster(document)
