"""Slack Events API deliveries, in the format of Slack's documentation, to canonical events."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson
import pytest

from teampulse.connectors import slack
from teampulse.connectors.canonical import Mapped
from teampulse.connectors.signatures import SignatureProblem
from teampulse.contract.rejections import Reason, Rejection
from tests.support.connector_payloads import callback, message
from tests.support.vendor_samples import vendor_sample
from tests.unit.connectors.connector_constants import NOW, keyed

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the example secret of Slack's docs


def signed(body: bytes, timestamp: int, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Headers as Slack sends them: v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


def mapped_one(result: object) -> dict[str, Any]:
    assert isinstance(result, Mapped), result
    assert len(result.events) == 1
    return result.events[0]


# --- signatures --------------------------------------------------------------------------------


def test_a_request_signed_as_slack_documents_is_accepted():
    body = orjson.dumps(callback(message()))
    headers = signed(body, int(NOW))
    assert slack.signature_problem(SIGNING_SECRET, headers, body, NOW) is None


def test_a_body_changed_after_signing_is_a_bad_signature():
    body = orjson.dumps(callback(message()))
    headers = signed(body, int(NOW))
    tampered = body.replace(b"Hello", b"Howdy")
    assert slack.signature_problem(SIGNING_SECRET, headers, tampered, NOW) is SignatureProblem.BAD


def test_another_secret_is_a_bad_signature():
    body = b"{}"
    headers = signed(body, int(NOW), secret="not-the-app-secret")
    assert slack.signature_problem(SIGNING_SECRET, headers, body, NOW) is SignatureProblem.BAD


def test_a_signature_older_than_five_minutes_is_stale():
    body = b"{}"
    headers = signed(body, int(NOW) - 301)
    assert slack.signature_problem(SIGNING_SECRET, headers, body, NOW) is SignatureProblem.STALE


def test_a_non_numeric_timestamp_is_stale():
    headers = {"X-Slack-Request-Timestamp": "yesterday", "X-Slack-Signature": "v0=00"}
    assert slack.signature_problem(SIGNING_SECRET, headers, b"{}", NOW) is SignatureProblem.STALE


def test_no_signature_headers_is_missing():
    assert slack.signature_problem(SIGNING_SECRET, {}, b"{}", NOW) is SignatureProblem.MISSING


def test_a_body_that_is_not_utf8_is_a_bad_signature():
    body = b"\xff\xfe"
    headers = signed(body, int(NOW))
    assert slack.signature_problem(SIGNING_SECRET, headers, body, NOW) is SignatureProblem.BAD


# --- mapping -----------------------------------------------------------------------------------


def test_url_verification_returns_the_challenge(config, pseudonymiser):
    payload = {
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    }
    result = slack.map_delivery(payload, config.slack, pseudonymiser)
    assert result == slack.Challenge("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")


def test_a_channel_message_is_a_post_in_its_own_thread(config, pseudonymiser):
    event = mapped_one(slack.map_delivery(callback(message()), config.slack, pseudonymiser))
    assert event == {
        "id": "slack:Ev0PV52K21",
        "type": "discussion.posted",
        "occurred_at": "2026-03-02T11:13:20.000Z",
        "actor": keyed("account:slack:T0001|U2147483697"),
        "source": "slack",
        "thread": "slack:T0001:C0OPEN:1772450000.000200",
        "post": "slack:T0001:C0OPEN:1772450000.000200",
        "channel": "C0OPEN",
        "length": 11,
    }


def test_a_thread_reply_answers_the_threads_root(config, pseudonymiser):
    reply = message(ts="1772450100.000300", thread_ts="1772450000.000200", user="U0BOB")
    event = mapped_one(slack.map_delivery(callback(reply, "Ev0REPLY"), config.slack, pseudonymiser))
    assert event["type"] == "discussion.replied"
    assert event["thread"] == event["parent"] == "slack:T0001:C0OPEN:1772450000.000200"
    assert event["post"] == "slack:T0001:C0OPEN:1772450100.000300"


def test_a_thread_root_carrying_its_own_thread_ts_is_a_post(config, pseudonymiser):
    root = message(thread_ts="1772450000.000200")
    event = mapped_one(slack.map_delivery(callback(root), config.slack, pseudonymiser))
    assert event["type"] == "discussion.posted"


def test_reaction_added_is_a_reaction_to_the_item(config, pseudonymiser):
    reaction = {
        "type": "reaction_added",
        "user": "U024BE7LH",
        "reaction": "thumbsup",
        "item_user": "U0G9QF9C6",
        "item": {"type": "message", "channel": "C0OPEN", "ts": "1772450000.000200"},
        "event_ts": "1772450400.083113",
    }
    event = mapped_one(
        slack.map_delivery(callback(reaction, "Ev0REACT"), config.slack, pseudonymiser)
    )
    assert event["type"] == "discussion.reacted"
    assert event["parent"] == "slack:T0001:C0OPEN:1772450000.000200"
    assert event["actor"] == keyed("account:slack:T0001|U024BE7LH")
    assert event["occurred_at"] == "2026-03-02T11:20:00.083Z"


def test_a_team_channel_sets_the_team(config, pseudonymiser):
    event = mapped_one(
        slack.map_delivery(callback(message(channel="C0TEAM")), config.slack, pseudonymiser)
    )
    assert event["team"] == "atlas"
    assert "initiative" not in event


def test_an_initiative_channel_sets_the_initiative_and_leaves_the_team_to_the_roster(
    config, pseudonymiser
):
    event = mapped_one(
        slack.map_delivery(callback(message(channel="C0AGILE")), config.slack, pseudonymiser)
    )
    assert event["initiative"] == "agile-ways-of-working"
    assert "team" not in event


def test_the_same_event_delivered_again_maps_to_the_same_event(config, pseudonymiser):
    first = slack.map_delivery(callback(message()), config.slack, pseudonymiser)
    retry = slack.map_delivery(callback(message()), config.slack, pseudonymiser)
    assert first == retry


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (message(subtype="bot_message", bot_id="B123"), "bot_message"),
        (message(bot_id="B123"), "bot_message"),
        (message(subtype="message_changed"), "subtype_message_changed"),
        (message(subtype="message_deleted"), "subtype_message_deleted"),
        (message(subtype="channel_join"), "subtype_channel_join"),
        ({"type": "app_mention", "user": "U1"}, "event_app_mention"),
    ],
)
def test_bots_edits_and_notices_are_ignored_with_their_reason(config, pseudonymiser, event, reason):
    result = slack.map_delivery(callback(event), config.slack, pseudonymiser)
    assert result == Mapped(ignored={reason: 1})  # type: ignore[arg-type]


def test_the_raw_user_id_never_appears_in_the_event(config, pseudonymiser):
    event = mapped_one(slack.map_delivery(callback(message()), config.slack, pseudonymiser))
    assert "U2147483697" not in orjson.dumps(event).decode()


# --- Slack's rules, on the samples of Slack's own documentation -------------------------------
# Slack counts every answer but a 2xx as a failed delivery and disables the event
# subscriptions of an app that fails too often (docs.slack.dev/reference/events/app_rate_limited),
# so an event TeamPulse does not use is ignored, never refused.


def test_the_documented_channel_message_is_a_post(config, pseudonymiser):
    """docs.slack.dev/reference/events/message.channels, its example payload."""
    delivery = vendor_sample("slack/message.channels.json")
    event = mapped_one(slack.map_delivery(delivery, config.slack, pseudonymiser))
    assert (event["id"], event["type"], event["post"], event["length"]) == (
        "slack:Ev123ABC456",
        "discussion.posted",
        "slack:T123ABC456:C123ABC456:1355517523.000005",
        len("Live long and prospect."),
    )


def test_message_replied_as_the_events_api_delivers_it_is_ignored(config, pseudonymiser):
    """docs.slack.dev/reference/events/message/message_replied: "This event is missing the
    subtype field when dispatched over the Events API", and it carries no user of its own
    (the reply itself arrives as its own message event)."""
    delivery = vendor_sample("slack/message_replied.json")
    del delivery["event"]["subtype"]
    result = slack.map_delivery(delivery, config.slack, pseudonymiser)
    assert result == Mapped(ignored={"hidden_message": 1})  # type: ignore[arg-type]


def test_message_replied_with_its_documented_subtype_is_ignored(config, pseudonymiser):
    delivery = vendor_sample("slack/message_replied.json")
    result = slack.map_delivery(delivery, config.slack, pseudonymiser)
    assert result == Mapped(ignored={"subtype_message_replied": 1})  # type: ignore[arg-type]


@pytest.mark.parametrize("missing", ["user", "channel", "ts"])
def test_a_message_event_of_an_irregular_shape_is_ignored(config, pseudonymiser, missing):
    """The documented channel message with a field removed: Slack sent it, so it is answered
    2xx and counted as ignored."""
    delivery = vendor_sample("slack/message.channels.json")
    del delivery["event"][missing]
    result = slack.map_delivery(delivery, config.slack, pseudonymiser)
    assert result == Mapped(ignored={"irregular_message": 1})  # type: ignore[arg-type]


def test_the_documented_reaction_is_a_reaction_to_its_message(config, pseudonymiser):
    """docs.slack.dev/reference/events/reaction_added, its example payload."""
    delivery = vendor_sample("slack/reaction_added.json")
    event = mapped_one(slack.map_delivery(delivery, config.slack, pseudonymiser))
    assert (event["type"], event["parent"]) == (
        "discussion.reacted",
        "slack:T123ABC456:C123ABC456:1360782400.498405",
    )


def test_a_reaction_event_of_an_irregular_shape_is_ignored(config, pseudonymiser):
    delivery = vendor_sample("slack/reaction_added.json")
    del delivery["event"]["user"]
    result = slack.map_delivery(delivery, config.slack, pseudonymiser)
    assert result == Mapped(ignored={"irregular_reaction": 1})  # type: ignore[arg-type]


def test_the_app_rate_limited_notice_is_taken_and_ignored(config, pseudonymiser):
    """docs.slack.dev/reference/events/app_rate_limited: a delivery without an inner event,
    sent when Slack limits the app; answering it 2xx keeps the app from failing further."""
    delivery = vendor_sample("slack/app_rate_limited.json")
    result = slack.map_delivery(delivery, config.slack, pseudonymiser)
    assert result == Mapped(ignored={"delivery_app_rate_limited": 1})  # type: ignore[arg-type]


@pytest.mark.parametrize("missing", ["event_id", "team_id", "event"])
def test_a_callback_without_the_documented_wrapper_is_refused(config, pseudonymiser, missing):
    """The outer event wrapper is the same for every event (docs.slack.dev/apis/events-api,
    "Callback field"): a signed request without it is not a delivery of Slack's."""
    delivery = vendor_sample("slack/message.channels.json")
    del delivery[missing]
    result = slack.map_delivery(delivery, config.slack, pseudonymiser)
    assert isinstance(result, Rejection) and result.reason is Reason.SCHEMA
