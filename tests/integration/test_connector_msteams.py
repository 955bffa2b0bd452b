"""Graph change notifications for Teams channel messages through `teampulse ingest`, Kafka
and the worker's gauges."""

from __future__ import annotations

import orjson
import pytest

from tests.integration.connector_stack import CLIENT_STATE, ConnectorStack
from tests.support.connector_payloads import (
    chat_message,
    encrypt_resource,
    lifecycle,
    notification,
    reaction,
)
from tests.support.vendor_samples import vendor_sample

pytestmark = pytest.mark.integration

CHANNEL = "19:general@thread.tacv2"
WEEK = "7d"
JSON = {"Content-Type": "application/json"}
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


# Graph: answer 2xx, then validate clientState; a notification that does not match is not
# valid (learn.microsoft.com/graph/change-notifications-delivery-webhooks, "Processing the
# change notification"); Graph retries any other answer for up to 4 hours and throttles
# endpoints that fail. So the forgery gets the same 202 as the genuine, and is only counted.


def test_the_documented_notification_with_another_client_state_is_202_and_discarded(
    connector_stack,
):
    """Graph's own "Change notification example", its clientState changed."""
    stack = connector_stack
    forged = vendor_sample("msgraph/change-notification.json")
    forged["value"][0]["clientState"] = "not-" + CLIENT_STATE
    before = stack.connector_count("msteams", "discarded", "bad_client_state")
    answer = stack.post("/msteams/notifications", orjson.dumps(forged), JSON)
    assert (answer.status, answer.body) == (202, b"")
    assert stack.connector_count("msteams", "discarded", "bad_client_state") == before + 1


def test_a_tampered_data_signature_is_202_discarded_and_not_written(connector_stack):
    """Graph's example rich notification with a chatMessage encrypted for our key, its
    dataSignature changed: "assume the payload has been tampered with and don't decrypt it"."""
    stack = connector_stack
    message = chat_message("1772490900009", "aad-alice", CHANNEL, "2026-03-02T22:35:00Z")
    payload = vendor_sample("msgraph/chatmessage-with-resource-data.json")
    [item] = payload["value"]
    item["encryptedContent"].update(encrypt_resource(message, stack.private_key.public_key()))
    item["encryptedContent"]["dataSignature"] = (
        "AAAA" + item["encryptedContent"]["dataSignature"][4:]
    )
    item["clientState"] = CLIENT_STATE
    written = stack.connector_count("msteams", "written")
    before = stack.connector_count("msteams", "discarded", "bad_data_signature")
    answer = stack.post("/msteams/notifications", orjson.dumps(payload), JSON)
    assert (answer.status, answer.body) == (202, b"")
    assert stack.connector_count("msteams", "discarded", "bad_data_signature") == before + 1
    assert stack.connector_count("msteams", "written") == written


def test_a_notification_that_is_not_graphs_shape_is_400(connector_stack):
    answer = connector_stack.post("/msteams/notifications", orjson.dumps({"items": []}), {})
    assert (answer.status, answer.json()["error"]) == (400, "schema")
