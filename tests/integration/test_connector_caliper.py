"""Caliper Sensor API envelopes through `teampulse ingest`, Kafka and the worker's gauges."""

from __future__ import annotations

import orjson
import pytest

from tests.integration.connector_stack import CALIPER_TOKEN, ConnectorStack
from tests.support.vendor_samples import vendor_sample

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


def counts(stack: ConnectorStack) -> tuple[float, float, float]:
    return (
        stack.connector_count("caliper", "written"),
        stack.connector_count("caliper", "duplicate"),
        stack.connector_count("caliper", "ignored", "SessionEvent.LoggedIn"),
    )


def test_an_envelope_lands_in_the_learning_and_conversation_gauges(connector_stack):
    stack = connector_stack
    written, duplicates, ignored = counts(stack)
    answer = stack.post("/caliper/events", envelope(*EVENTS), BEARER)
    # Caliper 1.2, 6.1: a success is 2xx, by best practice 200, with an empty body.
    assert (answer.status, answer.body) == (200, b"")
    assert counts(stack) == (written + 3, duplicates, ignored + 1)
    stack.wait_gauge("team_starts", 1, team="granite", window=WEEK)
    stack.wait_gauge("team_assessments_passed", 1, team="granite", window=WEEK)
    stack.wait_gauge("team_posts", 1, team="granite", window=WEEK)


def test_the_same_envelope_sent_again_writes_nothing(connector_stack):
    written, duplicates, ignored = counts(connector_stack)
    answer = connector_stack.post("/caliper/events", envelope(*EVENTS), BEARER)
    assert (answer.status, answer.body) == (200, b"")
    assert counts(connector_stack) == (written, duplicates + 3, ignored + 1)


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


# --- the Caliper 1.2 endpoint rules (6.1 HTTP Responses), on the specification's examples -------
# IMSGlobal/caliper-spec fixtures/v1p2 and v1p1 caliperEnvelopeEventSingle.json (sources in
# tests/support/vendor_samples.py); their one event is an AssessmentEvent Started.
V1P2 = "caliper/v1p2-caliperEnvelopeEventSingle.json"
V1P1 = "caliper/v1p1-caliperEnvelopeEventSingle.json"


def received(stack: ConnectorStack) -> float:
    """Events of the specification's examples taken: written the first time, then duplicates."""
    return stack.connector_count("caliper", "written") + stack.connector_count(
        "caliper", "duplicate"
    )


@pytest.mark.parametrize("sample", [V1P2, V1P1])
def test_the_specifications_example_envelope_is_taken_with_an_empty_200(connector_stack, sample):
    before = received(connector_stack)
    answer = connector_stack.post("/caliper/events", orjson.dumps(vendor_sample(sample)), BEARER)
    assert (answer.status, answer.body) == (200, b"")
    assert received(connector_stack) == before + 1


@pytest.mark.parametrize("required", ["sensor", "sendTime", "dataVersion", "data"])
def test_an_envelope_without_a_required_property_is_400_and_counts_nothing(
    connector_stack, required
):
    malformed = vendor_sample(V1P2)
    malformed["data"][0]["id"] = f"urn:uuid:{required}-missing"  # would be new if taken
    del malformed[required]
    before = received(connector_stack)
    answer = connector_stack.post("/caliper/events", orjson.dumps(malformed), BEARER)
    assert (answer.status, answer.json()["error"]) == (400, "schema")
    assert required in answer.json()["detail"]
    assert received(connector_stack) == before


@pytest.mark.parametrize(
    "version",
    ["http://purl.imsglobal.org/ctx/caliper/v1p3", "http://purl.imsglobal.org/ctx/caliper/v1p25"],
)
def test_a_data_version_this_endpoint_cannot_support_is_422(connector_stack, version):
    unsupported = {**vendor_sample(V1P2), "dataVersion": version}
    before = received(connector_stack)
    answer = connector_stack.post("/caliper/events", orjson.dumps(unsupported), BEARER)
    assert (answer.status, answer.json()["error"]) == (422, "unsupported_data_version")
    assert received(connector_stack) == before


def test_a_body_that_is_not_json_by_its_content_type_is_415(connector_stack):
    headers = {**BEARER, "Content-Type": "text/plain"}
    answer = connector_stack.post("/caliper/events", orjson.dumps(vendor_sample(V1P2)), headers)
    assert (answer.status, answer.json()["error"]) == (415, "unsupported_media_type")
