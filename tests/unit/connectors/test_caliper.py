"""IMS Caliper 1.2 Sensor API envelopes, shaped like the spec's examples, to canonical events."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from teampulse.connectors import caliper
from teampulse.connectors.canonical import Mapped
from teampulse.connectors.config import ConnectorConfig
from teampulse.contract.rejections import Reason, Rejection
from tests.support.connector_payloads import (
    CONTEXT,
    GRADED,
    LEARNER,
    MESSAGE_POSTED,
    envelope,
)
from tests.unit.connectors.connector_constants import keyed


def event_of(kind: str, action: str, object_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "id": f"urn:uuid:{kind}-{action}",
        "type": kind,
        "actor": {"id": LEARNER, "type": "Person"},
        "action": action,
        "object": {"id": object_id},
        "eventTime": "2026-03-02T11:00:00.000Z",
        **extra,
    }


def mapped(config: ConnectorConfig, pseudonymiser, *events: dict[str, Any]) -> Mapped:
    result = caliper.map_envelope(envelope(*events), config.caliper, pseudonymiser)
    assert isinstance(result, Mapped), result
    return result


def test_a_posted_message_is_a_post_in_its_thread_and_forum(config, pseudonymiser):
    [event] = mapped(config, pseudonymiser, MESSAGE_POSTED).events
    assert event == {
        "id": "caliper:urn:uuid:0d015a85-abf5-49ee-abb1-46dbd57fe64e",
        "type": "discussion.posted",
        "occurred_at": "2026-03-02T11:05:00.000Z",
        "actor": keyed(LEARNER),
        "source": "caliper",
        "team": "atlas",
        "thread": "https://example.edu/terms/201801/courses/7/sections/1/forums/2/topics/1",
        "post": "https://example.edu/terms/201801/courses/7/sections/1/forums/2/topics/1/messages/3",
        "channel": "https://example.edu/forums/2",
        "length": 22,
    }


def test_a_message_with_reply_to_is_a_reply_to_that_message(config, pseudonymiser):
    reply = copy.deepcopy(MESSAGE_POSTED)
    reply["id"] = "urn:uuid:reply"
    reply["object"]["id"] += "/replies/1"
    reply["object"]["replyTo"] = {"id": MESSAGE_POSTED["object"]["id"], "type": "Message"}
    [event] = mapped(config, pseudonymiser, reply).events
    assert event["type"] == "discussion.replied"
    assert event["parent"] == MESSAGE_POSTED["object"]["id"]
    assert event["thread"] == MESSAGE_POSTED["object"]["isPartOf"]["id"]


def test_a_grade_is_an_assessment_of_the_assignee_with_its_share_of_the_maximum(
    config, pseudonymiser
):
    [event] = mapped(config, pseudonymiser, GRADED).events
    assert event["type"] == "learning.assessed"
    assert event["actor"] == keyed(LEARNER)  # the learner, not the autograder
    assert event["score"] == 0.75
    assert event["success"] is True
    assert event["content"] == "https://example.edu/terms/201801/courses/7/sections/1/assess/1"


def test_a_grade_without_its_assessment_names_no_content(config, pseudonymiser):
    graded = copy.deepcopy(GRADED)
    del graded["object"]["assignable"]
    [event] = mapped(config, pseudonymiser, graded).events
    assert "content" not in event  # the Attempt's IRI names the learner (.../users/554433/...)


def test_a_grade_below_the_pass_score_is_not_a_success(config, pseudonymiser):
    failed = copy.deepcopy(GRADED)
    failed["generated"]["scoreGiven"] = 5.0
    [event] = mapped(config, pseudonymiser, failed).events
    assert (event["score"], event["success"]) == (0.25, False)


@pytest.mark.parametrize(
    ("kind", "action", "expected"),
    [
        ("AssessmentEvent", "Started", "learning.started"),
        ("AssessmentEvent", "Submitted", "learning.assessed"),
        ("NavigationEvent", "NavigatedTo", "learning.progressed"),
        ("ViewEvent", "Viewed", "learning.progressed"),
    ],
)
def test_learning_events_map_by_type_and_action(config, pseudonymiser, kind, action, expected):
    [event] = mapped(
        config, pseudonymiser, event_of(kind, action, "https://example.edu/a/1")
    ).events
    assert (event["type"], event["content"]) == (expected, "https://example.edu/a/1")


def test_session_events_are_ignored_by_default(config, pseudonymiser):
    login = event_of("SessionEvent", "LoggedIn", "https://example.edu")
    result = mapped(config, pseudonymiser, login)
    assert (result.events, dict(result.ignored)) == ([], {"SessionEvent.LoggedIn": 1})


def test_the_configuration_can_count_a_navigation_as_a_start(pseudonymiser):
    config = ConnectorConfig.parse(
        {"caliper": {"actions": {"NavigationEvent": {"NavigatedTo": "learning.started"}}}}
    )
    navigated = event_of("NavigationEvent", "NavigatedTo", "https://example.edu/a/1")
    [event] = mapped(config, pseudonymiser, navigated).events
    assert event["type"] == "learning.started"


def test_an_unconfigured_action_is_ignored_as_unmapped(config, pseudonymiser):
    paused = event_of("MediaEvent", "Paused", "https://example.edu/video/1")
    assert dict(mapped(config, pseudonymiser, paused).ignored) == {"unmapped": 1}


def test_an_envelope_of_several_events_maps_each(config, pseudonymiser):
    result = mapped(config, pseudonymiser, MESSAGE_POSTED, GRADED)
    assert [e["type"] for e in result.events] == ["discussion.posted", "learning.assessed"]


def test_an_envelope_without_data_is_refused_as_schema(config, pseudonymiser):
    result = caliper.map_envelope(
        {"sensor": "s", "dataVersion": CONTEXT}, config.caliper, pseudonymiser
    )
    assert isinstance(result, Rejection) and result.reason is Reason.SCHEMA


def test_an_unknown_data_version_is_refused(config, pseudonymiser):
    bad = {**envelope(MESSAGE_POSTED), "dataVersion": "http://example.org/v9"}
    result = caliper.map_envelope(bad, config.caliper, pseudonymiser)
    assert isinstance(result, Rejection) and "dataVersion" in result.detail


def test_an_event_without_event_time_is_refused_naming_its_index(config, pseudonymiser):
    broken = {**GRADED, "eventTime": None}
    result = caliper.map_envelope(envelope(MESSAGE_POSTED, broken), config.caliper, pseudonymiser)
    assert isinstance(result, Rejection)
    assert (result.reason, result.detail.split(":")[0]) == (Reason.BAD_TIMESTAMP, "data[1]")
