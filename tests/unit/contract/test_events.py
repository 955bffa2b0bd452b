"""Canonical events: what is accepted, what it becomes, and the reason for each refusal."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from teampulse.contract.event import EVENT_TYPES, Event
from teampulse.contract.events import FIELDS_OF_TYPE, EventValidator
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Reason, Rejection
from teampulse.settings import Settings

NOW = 1772496000.0  # 2026-03-03T00:00:00Z

JANE = "4175f91e00536a0f4f76d8392d0a9453"  # pseudonym of jane.doe@example.com under the test secret


def learning(**overrides: Any) -> dict[str, Any]:
    event = {
        "id": "lms-1",
        "type": "learning.completed",
        "occurred_at": "2026-03-02T10:30:00Z",
        "actor": "jane.doe@example.com",
        "source": "lms",
    }
    event.update(overrides)
    return event


def discussion(kind: str = "discussion.replied", **overrides: Any) -> dict[str, Any]:
    event = {
        "id": "msg-2",
        "type": kind,
        "occurred_at": "2026-03-02T12:07:30Z",
        "actor": "E20981",
        "source": "teams",
        "thread": "msg-1",
        "post": "msg-2",
        "parent": "msg-1",
    }
    event.update(overrides)
    return event


def rejection(result: Event | Rejection) -> tuple[str, str]:
    assert isinstance(result, Rejection), f"expected a rejection, got {result}"
    return result.reason.value, result.detail


def test_the_validator_knows_every_event_type():
    assert set(FIELDS_OF_TYPE) == set(EVENT_TYPES)


def test_a_full_learning_event_becomes_an_event_with_a_pseudonymous_actor(validator):
    raw = orjson.dumps(
        learning(
            team="payments-platform",
            initiative="agile-ways-of-working",
            tags=["core-path"],
            content="course:agile",
            duration_s=5400,
            success=True,
            score=0.85,
        )
    )
    assert validator.parse(raw, NOW) == Event(
        id="lms-1",
        type="learning.completed",
        occurred_at=1772447400.0,
        actor=JANE,
        source="lms",
        team="payments-platform",
        initiative="agile-ways-of-working",
        tags=("core-path",),
        content="course:agile",
        duration_s=5400.0,
        success=True,
        score=0.85,
    )


def test_a_reply_keeps_thread_post_parent_channel_and_length(validator):
    event = validator.validate(discussion(channel="agile-community", length=128), NOW)
    assert isinstance(event, Event)
    assert (event.thread, event.post, event.parent, event.channel, event.length) == (
        "msg-1",
        "msg-2",
        "msg-1",
        "agile-community",
        128,
    )


def test_an_offset_timestamp_is_converted_to_utc_epoch_seconds(validator):
    event = validator.validate(learning(occurred_at="2026-03-02T11:30:00.5+01:00"), NOW)
    assert event.occurred_at == 1772447400.5


def test_optional_fields_may_be_null_or_missing(validator):
    event = validator.validate(learning(team=None, initiative=None, tags=None, score=None), NOW)
    assert isinstance(event, Event)
    assert (event.team, event.initiative, event.tags, event.score) == (None, None, (), None)


def test_unknown_fields_and_fields_of_another_family_are_ignored(validator):
    event = validator.validate(
        discussion(score="not even a number", lms_session={"a": [1, 2]}, practice="x"), NOW
    )
    assert isinstance(event, Event)
    assert event.score is None and event.practice is None


def test_a_parent_on_a_root_post_is_not_kept(validator):
    event = validator.validate(discussion("discussion.posted", parent="msg-0"), NOW)
    assert event.parent is None


def test_an_integral_float_length_is_an_integer(validator):
    assert validator.validate(discussion(length=12.0), NOW).length == 12


def test_an_adoption_event_carries_its_practice(validator):
    event = validator.validate(
        learning(type="adoption.practiced", practice="sprint-retrospective"), NOW
    )
    assert event.practice == "sprint-retrospective"


# --- every reason code of canonical validation -----------------------------------------------


def test_bytes_that_are_not_json_are_not_json(validator):
    assert rejection(validator.parse(b"{not json", NOW))[0] == "not_json"


def test_invalid_utf8_is_not_json(validator):
    assert rejection(validator.parse(b'{"id": "\xff"}', NOW))[0] == "not_json"


def test_a_record_without_value_is_not_json(validator):
    assert rejection(validator.parse(None, NOW)) == ("not_json", "record has no value")


@pytest.mark.parametrize(
    "raw, kind",
    [
        (b"[1, 2]", "an array"),
        (b'"text"', "a string"),
        (b"42", "a number"),
        (b"null", "null"),
    ],
)
def test_json_that_is_not_an_object_is_not_object(validator, raw, kind):
    assert rejection(validator.parse(raw, NOW)) == (
        "not_object",
        f"an event is a JSON object, not {kind}",
    )


def test_a_record_over_the_size_limit_is_too_large(pseudonymiser: Pseudonymiser):
    small = EventValidator(Settings(max_event_bytes=100), pseudonymiser)
    raw = orjson.dumps(learning(content="x" * 200))
    assert rejection(small.parse(raw, NOW)) == ("too_large", f"{len(raw)} bytes, the limit is 100")


@pytest.mark.parametrize(
    "field, value, detail",
    [
        ("id", None, "id: required, a string of 1 to 200 characters"),
        ("id", "", "id: required, a string of 1 to 200 characters"),
        ("id", "x" * 201, "id: required, a string of 1 to 200 characters"),
        ("id", 17, "id: required, a string of 1 to 200 characters"),
        ("type", None, "type: required, one of learning.started"),
        ("occurred_at", 1772447400, "occurred_at: required, an RFC 3339 date-time string"),
        ("actor", "", "actor: required, a string of 1 to 512 characters"),
        ("actor", {"mbox": "x"}, "actor: required, a string of 1 to 512 characters"),
        ("source", None, "source: required, a string of 1 to 200 characters"),
        ("team", "", "team: must be a string of 1 to 200 characters"),
        ("tags", "core-path", "tags: must be a list of at most 50 strings"),
        ("tags", ["ok", 3], "tags: must be a list of at most 50 strings"),
        ("score", 1.5, "score: must be a number from 0 to 1"),
        ("score", -0.1, "score: must be a number from 0 to 1"),
        ("score", True, "score: must be a number from 0 to 1"),
        ("score", "0.5", "score: must be a number from 0 to 1"),
        ("duration_s", -1, "duration_s: must be a number from 0 to 2678400"),
        ("success", "yes", "success: must be true or false"),
        ("success", 1, "success: must be true or false"),
        ("content", 42, "content: must be a string of 1 to 1024 characters"),
    ],
)
def test_a_field_of_the_wrong_shape_breaks_the_schema_and_is_named(validator, field, value, detail):
    event = learning()
    if value is None:
        del event[field]
    else:
        event[field] = value
    reason, got = rejection(validator.validate(event, NOW))
    assert reason == "schema"
    assert got.startswith(detail)


@pytest.mark.parametrize(
    "kind, missing",
    [
        ("discussion.posted", "thread"),
        ("discussion.posted", "post"),
        ("discussion.replied", "parent"),
        ("discussion.reacted", "parent"),
    ],
)
def test_discussion_events_need_their_thread_post_and_parent(validator, kind, missing):
    event = discussion(kind)
    del event[missing]
    assert rejection(validator.validate(event, NOW)) == (
        "schema",
        f"{missing}: required for {kind}, a string of 1 to 1024 characters",
    )


def test_a_length_must_be_a_non_negative_integer(validator):
    assert rejection(validator.validate(discussion(length=2.5), NOW)) == (
        "schema",
        "length: must be an integer from 0 to 10000000",
    )
    assert rejection(validator.validate(discussion(length=-1), NOW))[0] == "schema"


def test_adoption_needs_a_practice(validator):
    assert rejection(validator.validate(learning(type="adoption.practiced"), NOW)) == (
        "schema",
        "practice: required for adoption.practiced, a string of 1 to 1024 characters",
    )


def test_an_unknown_type_is_unknown_type(validator):
    reason, detail = rejection(validator.validate(learning(type="learning.enrolled"), NOW))
    assert reason == "unknown_type"
    assert detail.startswith("type: 'learning.enrolled' is not one of learning.started, ")


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-02T10:30:00",  # no offset: ambiguous
        "2026-03-02",
        "02/03/2026 10:30",
        "2026-02-30T10:30:00Z",
        "2026-03-02T25:00:00Z",
        "20260302T103000Z",
        "",
    ],
)
def test_an_unparseable_timestamp_is_bad_timestamp(validator, text):
    assert rejection(validator.validate(learning(occurred_at=text), NOW))[0] == "bad_timestamp"


def test_an_event_beyond_the_future_skew_is_future(validator):
    # NOW + 300 s is allowed, NOW + 301 s is not (TEAMPULSE_FUTURE_SKEW_S = 300)
    assert isinstance(validator.validate(learning(occurred_at="2026-03-03T00:05:00Z"), NOW), Event)
    assert rejection(validator.validate(learning(occurred_at="2026-03-03T00:05:01Z"), NOW)) == (
        "future",
        "occurred_at: 301 s in the future, more than the allowed 300 s",
    )


def test_reasons_are_reason_members(validator):
    result = validator.parse(b"nope", NOW)
    assert isinstance(result, Rejection) and result.reason is Reason.NOT_JSON
