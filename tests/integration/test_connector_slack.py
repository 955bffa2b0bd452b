"""Slack Events API deliveries through `teampulse ingest`, Kafka and the worker's gauges."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson
import pytest

from tests.integration.connector_stack import NOW, SLACK_SECRET, ConnectorStack
from tests.support.vendor_samples import vendor_sample

pytestmark = pytest.mark.integration

ROOT_TS = f"{NOW - 3600}.000100"
WEEK = "7d"


def signed(body: bytes, timestamp: int = NOW, secret: str = SLACK_SECRET) -> dict[str, str]:
    base = f"v0:{timestamp}:".encode() + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature,
    }


def callback(event_id: str, event: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "token": "XXYYZZ",
            "team_id": "T0001",
            "api_app_id": "A0PNCHHK2",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": NOW - 3600,
        }
    )


def message(user: str, ts: str, channel: str = "C0OPEN", **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": "Who can pair on the migration?",
        "ts": ts,
        "event_ts": ts,
        "channel_type": "channel",
        **extra,
    }


def deliver(stack: ConnectorStack, body: bytes, retry: int | None = None) -> int:
    headers = signed(body)
    if retry is not None:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    return stack.post("/slack/events", body, headers).status


def test_a_thread_reply_from_another_team_moves_cross_team_ratio(connector_stack):
    stack = connector_stack
    assert deliver(stack, callback("Ev01ROOT", message("U0ALICE", ROOT_TS))) == 200
    same_team = message("U0CAROL", f"{NOW - 3000}.000200", thread_ts=ROOT_TS)
    assert deliver(stack, callback("Ev02CAROL", same_team)) == 200
    stack.wait_gauge("team_cross_team_ratio", 0.0, team="atlas", window=WEEK)

    other_team = message("U0BOB", f"{NOW - 2400}.000300", thread_ts=ROOT_TS)
    assert deliver(stack, callback("Ev03BOB", other_team)) == 200
    stack.wait_gauge("team_cross_team_ratio", 0.5, team="atlas", window=WEEK)
    assert stack.gauge("team_cross_team_ratio", team="borealis", window=WEEK) == 1.0


def test_a_retried_delivery_counts_once(connector_stack):
    stack = connector_stack
    reply = callback("Ev04RETRY", message("U0BOB", f"{NOW - 1800}.000400", thread_ts=ROOT_TS))
    duplicates_before = stack.connector_count("slack", "duplicate")
    assert deliver(stack, reply) == 200
    assert deliver(stack, reply, retry=1) == 200
    assert deliver(stack, reply, retry=2) == 200
    assert stack.connector_count("slack", "duplicate") == duplicates_before + 2
    stack.wait_gauge("team_replies", 2, team="borealis", window=WEEK)  # Ev03BOB and this one


def test_a_reaction_is_counted_for_the_reacting_team(connector_stack):
    stack = connector_stack
    reaction = {
        "type": "reaction_added",
        "user": "U0BOB",
        "reaction": "thumbsup",
        "item_user": "U0ALICE",
        "item": {"type": "message", "channel": "C0OPEN", "ts": ROOT_TS},
        "event_ts": f"{NOW - 1200}.000500",
    }
    assert deliver(stack, callback("Ev05REACT", reaction)) == 200
    stack.wait_gauge("team_reactions", 1, team="borealis", window=WEEK)


def test_a_team_channel_puts_the_post_on_that_team_whoever_wrote_it(connector_stack):
    stack = connector_stack
    post = message("U0BOB", f"{NOW - 600}.000600", channel="C0ATLAS")
    assert deliver(stack, callback("Ev06CHANNEL", post)) == 200
    stack.wait_gauge("team_posts", 2, team="atlas", window=WEEK)  # Ev01ROOT and this one


def test_a_bot_message_is_answered_200_and_counted_as_ignored(connector_stack):
    stack = connector_stack
    bot = message("U0BOT", f"{NOW - 500}.000700", subtype="bot_message", bot_id="B01")
    before = stack.connector_count("slack", "ignored", "bot_message")
    assert deliver(stack, callback("Ev07BOT", bot)) == 200
    assert stack.connector_count("slack", "ignored", "bot_message") == before + 1


def test_url_verification_echoes_the_challenge(connector_stack):
    body = orjson.dumps(
        {"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV", "type": "url_verification"}
    )
    answer = connector_stack.post("/slack/events", body, signed(body))
    assert (answer.status, answer.body) == (200, b"3eZbrw1aBm2rZgRNFdxV")


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, "missing_signature"),
        (signed(b"other body"), "bad_signature"),
        (signed(b"{}", secret="not-our-secret"), "bad_signature"),
    ],
)
def test_unsigned_or_wrongly_signed_requests_are_401_with_the_reason(
    connector_stack, headers, error
):
    answer = connector_stack.post("/slack/events", b"{}", headers)
    assert (answer.status, answer.json()["error"]) == (401, error)


def test_a_replayed_old_signature_is_401_stale(connector_stack):
    answer = connector_stack.post("/slack/events", b"{}", signed(b"{}", timestamp=NOW - 600))
    assert (answer.status, answer.json()["error"]) == (401, "stale_timestamp")


def test_a_callback_without_slacks_wrapper_is_400_and_tells_slack_not_to_retry(connector_stack):
    delivery = vendor_sample("slack/message.channels.json")  # docs.slack.dev, message.channels
    del delivery["event_id"]
    body = orjson.dumps(delivery)
    answer = connector_stack.post("/slack/events", body, signed(body))
    assert (answer.status, answer.json()["error"]) == (400, "schema")
    assert answer.headers["X-Slack-No-Retry"] == "1"


# Slack counts every answer but a 2xx as a failed delivery and disables the subscriptions of
# an app that fails too often (docs.slack.dev/reference/events/app_rate_limited): an event
# TeamPulse does not use, whatever its shape, is answered 200 and counted as ignored.


def test_message_replied_as_the_events_api_sends_it_is_200_and_ignored(connector_stack):
    """docs.slack.dev/reference/events/message/message_replied, its example payload, without
    the subtype, which (the page's "bug alert") the Events API leaves out."""
    stack = connector_stack
    delivery = vendor_sample("slack/message_replied.json")
    del delivery["event"]["subtype"]
    delivery["event_id"] = "Ev09REPLIED"
    before = stack.connector_count("slack", "ignored", "hidden_message")
    body = orjson.dumps(delivery)
    answer = stack.post("/slack/events", body, signed(body))
    assert answer.status == 200 and "X-Slack-No-Retry" not in answer.headers
    assert stack.connector_count("slack", "ignored", "hidden_message") == before + 1


def test_a_message_of_an_irregular_shape_is_200_and_ignored(connector_stack):
    stack = connector_stack
    before = stack.connector_count("slack", "ignored", "irregular_message")
    assert deliver(stack, callback("Ev08IRREGULAR", message("U0ALICE", "not-a-ts"))) == 200
    assert stack.connector_count("slack", "ignored", "irregular_message") == before + 1


def test_a_signed_body_that_is_not_json_is_400(connector_stack):
    answer = connector_stack.post("/slack/events", b"not json", signed(b"not json"))
    assert (answer.status, answer.json()["error"]) == (400, "not_json")
