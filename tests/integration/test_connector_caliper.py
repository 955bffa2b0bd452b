"""Caliper Sensor API envelopes through `teampulse ingest`, Kafka and the worker's gauges."""

from __future__ import annotations

import orjson
import pytest

from tests.integration.connector_stack import CALIPER_TOKEN

pytestmark = pytest.mark.integration

CONTEXT = "http://purl.imsglobal.org/ctx/caliper/v1p2"
LEARNER = {"id": "https://example.edu/users/554433", "type": "Person"}
SECTION = {"id": "https://lms.example.edu/sections/1", "type": "CourseSection"}
ASSESSMENT = "https://example.edu/terms/2026/courses/7/sections/1/assess/1"
BEARER = {"Authorization": f"Bearer {CALIPER_TOKEN}", "Content-Type": "application/json"}
WEEK = "7d"


def envelope(*events: dict) -> bytes:
    return orjson.dumps(
        {
            "sensor": "https://example.edu/sensors/1",
            "sendTime": "2026-03-02T21:00:00.000Z",
            "dataVersion": CONTEXT,
            "data": list(events),
        }
    )


EVENTS = (
    {
        "@context": CONTEXT,
        "id": "urn:uuid:3a648e68-f00d-4c08-aa59-8738e1884f2c",
        "type": "AssessmentEvent",
        "actor": LEARNER,
        "action": "Started",
        "object": {"id": ASSESSMENT, "type": "Assessment"},
        "eventTime": "2026-03-02T20:00:00.000Z",
        "group": SECTION,
    },
    {
        "@context": CONTEXT,
        "id": "urn:uuid:a50ca17f-5971-47bb-8fca-4e6e6879001d",
        "type": "GradeEvent",
        "actor": {"id": "https://example.edu/autograder", "type": "SoftwareApplication"},
        "action": "Graded",
        "object": {
            "id": f"{ASSESSMENT}/users/554433/attempts/1",
            "type": "Attempt",
            "assignee": LEARNER,
            "assignable": {"id": ASSESSMENT, "type": "Assessment"},
        },
        "generated": {
            "id": "https://example.edu/scores/1",
            "type": "Score",
            "scoreGiven": 18,
            "maxScore": 20,
        },
        "eventTime": "2026-03-02T20:40:00.000Z",
        "group": SECTION,
    },
    {
        "@context": CONTEXT,
        "id": "urn:uuid:0d015a85-abf5-49ee-abb1-46dbd57fe64e",
        "type": "MessageEvent",
        "actor": LEARNER,
        "action": "Posted",
        "object": {
            "id": "https://example.edu/forums/2/topics/1/messages/3",
            "type": "Message",
            "body": "The quiz on retros was useful.",
            "isPartOf": {"id": "https://example.edu/forums/2/topics/1", "type": "Thread"},
        },
        "eventTime": "2026-03-02T20:45:00.000Z",
        "group": SECTION,
    },
    {
        "@context": CONTEXT,
        "id": "urn:uuid:956b4a02-8de0-4991-b8c5-b6eebb6b4cab",
        "type": "SessionEvent",
        "actor": LEARNER,
        "action": "LoggedIn",
        "object": {"id": "https://example.edu", "type": "SoftwareApplication"},
        "eventTime": "2026-03-02T19:59:00.000Z",
    },
)


def test_an_envelope_lands_in_the_learning_and_conversation_gauges(connector_stack):
    stack = connector_stack
    answer = stack.post("/caliper/events", envelope(*EVENTS), BEARER)
    assert (answer.status, answer.json()) == (200, {"written": 3, "duplicates": 0, "ignored": 1})
    stack.wait_gauge("team_starts", 1, team="granite", window=WEEK)
    stack.wait_gauge("team_assessments_passed", 1, team="granite", window=WEEK)
    stack.wait_gauge("team_posts", 1, team="granite", window=WEEK)


def test_the_same_envelope_sent_again_writes_nothing(connector_stack):
    answer = connector_stack.post("/caliper/events", envelope(*EVENTS), BEARER)
    assert (answer.status, answer.json()) == (200, {"written": 0, "duplicates": 3, "ignored": 1})


def test_an_envelope_without_the_bearer_token_is_401(connector_stack):
    answer = connector_stack.post("/caliper/events", envelope(*EVENTS), {})
    assert (answer.status, answer.json()["error"]) == (401, "unauthorized")


def test_an_event_without_event_time_refuses_the_envelope_with_its_index(connector_stack):
    broken = {**EVENTS[0], "id": "urn:uuid:broken", "eventTime": "soon"}
    answer = connector_stack.post("/caliper/events", envelope(EVENTS[2], broken), BEARER)
    assert answer.status == 400
    assert answer.json() == {
        "error": "bad_timestamp",
        "detail": "data[1]: eventTime: an ISO 8601 instant is required",
    }
