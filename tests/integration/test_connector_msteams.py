"""Graph change notifications for Teams channel messages through `teampulse ingest`, Kafka
and the worker's gauges."""

from __future__ import annotations

import orjson
import pytest

from tests.integration.connector_stack import CLIENT_STATE, ConnectorStack
from tests.support.connector_payloads import (
    chat_message,
    lifecycle,
    notification,
    reaction,
)

pytestmark = pytest.mark.integration

CHANNEL = "19:general@thread.tacv2"
WEEK = "7d"
ROOT = chat_message("1772490000001", "aad-alice", CHANNEL, "2026-03-02T22:20:00Z")
REPLY = chat_message(
    "1772490600002", "aad-bob", CHANNEL, "2026-03-02T22:30:00Z", reply_to="1772490000001"
)


def notify(stack: ConnectorStack, *items: dict, path: str = "/msteams/notifications") -> int:
    body = orjson.dumps({"value": list(items)})
    return stack.post(path, body, {"Content-Type": "application/json"}).status


def test_a_post_and_a_reply_from_another_team_are_counted_and_cross_teams(connector_stack):
    stack = connector_stack
    key = stack.private_key.public_key()
    assert notify(stack, notification(ROOT, key), notification(REPLY, key)) == 202
    stack.wait_gauge("team_posts", 1, team="cobalt", window=WEEK)
    stack.wait_gauge("team_replies", 1, team="delta", window=WEEK)
    stack.wait_gauge("team_cross_team_ratio", 1.0, team="cobalt", window=WEEK)


def test_a_reaction_in_an_updated_message_counts_once_however_often_it_is_sent(connector_stack):
    stack = connector_stack
    key = stack.private_key.public_key()
    liked = {**ROOT, "reactions": [reaction("aad-bob", "2026-03-02T22:40:00Z")]}
    duplicates = stack.connector_count("msteams", "duplicate")
    assert notify(stack, notification(liked, key, change="updated")) == 202
    assert notify(stack, notification(liked, key, change="updated")) == 202
    stack.wait_gauge("team_reactions", 1, team="delta", window=WEEK)
    assert stack.connector_count("msteams", "duplicate") == duplicates + 1


def test_lifecycle_notifications_are_accepted_and_counted(connector_stack):
    stack = connector_stack
    reason = "lifecycle_reauthorizationRequired"
    before = stack.connector_count("msteams", "ignored", reason)
    assert notify(stack, lifecycle("reauthorizationRequired"), path="/msteams/lifecycle") == 202
    assert stack.connector_count("msteams", "ignored", reason) == before + 1


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("path", ["/msteams/notifications", "/msteams/lifecycle"])
def test_the_validation_token_is_echoed_as_text(connector_stack, method, path):
    token = "Validation: Testing client application reachability for subscription Request-Id: 1"
    answer = connector_stack.post(
        f"{path}?validationToken={token.replace(' ', '%20')}",
        b"" if method == "POST" else None,  # type: ignore[arg-type]
        {"Content-Type": "text/plain"},
        method=method,
    )
    assert (answer.status, answer.body.decode()) == (200, token)
    assert answer.headers["Content-Type"].startswith("text/plain")


def test_a_notification_with_another_client_state_is_401(connector_stack):
    key = connector_stack.private_key.public_key()
    forged = notification(ROOT, key, client_state="not-" + CLIENT_STATE)
    answer = connector_stack.post("/msteams/notifications", orjson.dumps({"value": [forged]}), {})
    assert (answer.status, answer.json()["error"]) == (401, "bad_client_state")


def test_a_notification_that_is_not_graphs_shape_is_400(connector_stack):
    answer = connector_stack.post("/msteams/notifications", orjson.dumps({"items": []}), {})
    assert (answer.status, answer.json()["error"]) == (400, "schema")
