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
from tests.support.vendor_samples import vendor_sample
from tests.unit.connectors.connector_constants import keyed

# The specification's own example envelopes (sources in tests/support/vendor_samples.py).
V1P2_ENVELOPE = "caliper/v1p2-caliperEnvelopeEventSingle.json"
V1P1_ENVELOPE = "caliper/v1p1-caliperEnvelopeEventSingle.json"


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


def test_an_event_without_event_time_is_refused_naming_its_index(config, pseudonymiser):
    broken = {**GRADED, "eventTime": None}
    result = caliper.map_envelope(envelope(MESSAGE_POSTED, broken), config.caliper, pseudonymiser)
    assert isinstance(result, Rejection)
    assert (result.reason, result.detail.split(":")[0]) == (Reason.BAD_TIMESTAMP, "data[1]")


# --- the Caliper 1.2 Sensor API rules (§5.2 Envelope, §6.1 HTTP Responses) ---------------------


@pytest.mark.parametrize("sample", [V1P2_ENVELOPE, V1P1_ENVELOPE])
def test_the_specifications_example_envelope_is_mapped(config, pseudonymiser, sample):
    """IMSGlobal/caliper-spec fixtures/v1p2 and v1p1 caliperEnvelopeEventSingle.json."""
    result = caliper.map_envelope(vendor_sample(sample), config.caliper, pseudonymiser)
    assert isinstance(result, Mapped), result
    [event] = result.events
    assert (event["id"], event["type"], event["content"]) == (
        "caliper:urn:uuid:c51570e4-f8ed-4c18-bb3a-dfe51b2cc594",
        "learning.started",
        "https://example.edu/terms/201601/courses/7/sections/1/assess/1",
    )


@pytest.mark.parametrize("required", ["sensor", "sendTime", "dataVersion", "data"])
def test_an_envelope_without_a_required_property_is_malformed(config, pseudonymiser, required):
    """§5.2: sensor, sendTime, dataVersion and data are required; §6.1: a malformed envelope
    is answered 400. The spec's v1p2 example envelope with one property removed."""
    envelope_ = vendor_sample(V1P2_ENVELOPE)
    del envelope_[required]
    result = caliper.map_envelope(envelope_, config.caliper, pseudonymiser)
    assert isinstance(result, Rejection), result
    assert result.reason is Reason.SCHEMA and required in result.detail


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("sensor", 1),
        ("sendTime", "when the sensor felt like it"),
        ("dataVersion", ["http://purl.imsglobal.org/ctx/caliper/v1p2"]),
        ("data", []),  # "an ordered collection of one or more" events or entities
        ("data", {"type": "Event"}),
    ],
)
def test_an_envelope_property_of_the_wrong_form_is_malformed(config, pseudonymiser, prop, value):
    envelope_ = {**vendor_sample(V1P2_ENVELOPE), prop: value}
    result = caliper.map_envelope(envelope_, config.caliper, pseudonymiser)
    assert isinstance(result, Rejection) and prop in result.detail, result


def test_events_without_an_envelope_are_malformed(config, pseudonymiser):
    """§6.1: a message without an enclosing envelope is answered 400."""
    [bare_event] = vendor_sample(V1P2_ENVELOPE)["data"]
    result = caliper.map_envelope(bare_event, config.caliper, pseudonymiser)
    assert isinstance(result, Rejection) and result.reason is Reason.SCHEMA


@pytest.mark.parametrize(
    "version",
    [
        "http://purl.imsglobal.org/ctx/caliper/v1p0",
        "http://purl.imsglobal.org/ctx/caliper/v1p3",
        "http://purl.imsglobal.org/ctx/caliper/v1p",
        "http://purl.imsglobal.org/ctx/caliper/v1p2-draft",
        "http://purl.imsglobal.org/ctx/caliper/v1p1/extension",
        "https://purl.imsglobal.org/ctx/caliper/v1p2",
        "1.2",
    ],
)
def test_a_data_version_this_endpoint_does_not_support_is_unprocessable(
    config, pseudonymiser, version
):
    """§6.1: a dataVersion the endpoint cannot support is answered 422, not 400; only the
    Context IRIs of 1.1 and 1.2 are supported, compared whole (no prefix)."""
    envelope_ = {**vendor_sample(V1P2_ENVELOPE), "dataVersion": version}
    result = caliper.map_envelope(envelope_, config.caliper, pseudonymiser)
    assert result == caliper.UnsupportedDataVersion(version)


def test_the_unprocessable_answer_names_the_supported_versions():
    detail = caliper.UnsupportedDataVersion("http://example.org/v9").detail
    assert detail == (
        "dataVersion 'http://example.org/v9' is not supported; send "
        "http://purl.imsglobal.org/ctx/caliper/v1p1 or http://purl.imsglobal.org/ctx/caliper/v1p2"
    )
