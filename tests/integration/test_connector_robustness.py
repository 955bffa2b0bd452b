"""Signed but arbitrary deliveries to every connector route of the real `teampulse ingest`:
always an answer below 500, whatever part of a documented payload is replaced by any JSON.
The people in these payloads are in no team of the roster (the events land as unassigned)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.integration.connector_stack import (
    CALIPER_TOKEN,
    DISCOURSE_SECRET,
    NOW,
    SLACK_SECRET,
    ConnectorStack,
)
from tests.support.connector_payloads import (
    GRADED,
    MESSAGE_POSTED,
    callback,
    chat_message,
    envelope,
    message,
    notification,
    post,
)
from tests.support.json_mutations import mutations

pytestmark = pytest.mark.integration

ANSWERS = {200, 202, 400, 401, 409, 413, 422}


def slack_request(payload: Any) -> tuple[str, bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    signature = hmac.new(SLACK_SECRET.encode(), f"v0:{NOW}:".encode() + body, hashlib.sha256)
    headers = {
        "X-Slack-Request-Timestamp": str(NOW),
        "X-Slack-Signature": "v0=" + signature.hexdigest(),
    }
    return "/slack/events", body, headers


def discourse_request(payload: Any) -> tuple[str, bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    digest = hmac.new(DISCOURSE_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-Discourse-Event": "post_created",
        "X-Discourse-Event-Signature": f"sha256={digest}",
    }
    return "/discourse/webhook", body, headers


def caliper_request(payload: Any) -> tuple[str, bytes, dict[str, str]]:
    return (
        "/caliper/events",
        json.dumps(payload).encode(),
        {"Authorization": f"Bearer {CALIPER_TOKEN}"},
    )


def teams_request(payload: Any) -> tuple[str, bytes, dict[str, str]]:
    return "/msteams/notifications", json.dumps(payload).encode(), {}


def nobodys(event: dict[str, Any]) -> dict[str, Any]:
    """A Caliper example by someone outside the roster and the routed groups, so the fuzzed
    events land on no team the other connector tests measure."""
    changed = copy.deepcopy(event)
    changed["id"] = event["id"].replace("urn:uuid:", "urn:uuid:fuzz-")
    changed.pop("group", None)
    changed["actor"] = {"id": "https://example.edu/users/fuzz", "type": "Person"}
    if isinstance(changed["object"], dict) and "assignee" in changed["object"]:
        changed["object"]["assignee"] = changed["actor"]
    return changed


@pytest.fixture(scope="module")
def teams_payload(connector_stack: ConnectorStack) -> dict[str, Any]:
    message = chat_message("fuzz-1", "aad-fuzz", "19:fuzz@thread.tacv2", "2026-03-02T10:00:00Z")
    return {"value": [notification(message, connector_stack.private_key.public_key())]}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_connector_answers_any_signed_payload_below_500(
    connector_stack: ConnectorStack, teams_payload: dict[str, Any], data: st.DataObject
):
    documents = {
        "slack": (callback(message(user="U0FUZZ")), slack_request),
        "discourse": ({"post": post(topic_id=9090, username="fuzzer")}, discourse_request),
        "caliper": (envelope(nobodys(MESSAGE_POSTED), nobodys(GRADED)), caliper_request),
        "msteams": (teams_payload, teams_request),
    }
    platform = data.draw(st.sampled_from(sorted(documents)))
    document, request = documents[platform]
    # The standard library writes what orjson refuses (integers past 64 bits, NaN), as a
    # careless sender might.
    path, body, headers = request(data.draw(mutations(document)))
    answer = connector_stack.post(path, body, {"Content-Type": "application/json", **headers})
    event(f"{platform} -> {answer.status}")
    assert answer.status in ANSWERS, (answer.status, answer.body[:300])
    if answer.status >= 400:
        assert set(answer.json()) == {"error", "detail"}  # type: ignore[arg-type]
