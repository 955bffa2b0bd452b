"""Discourse webhook deliveries, as Discourse sends them, to canonical events."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from teampulse.connectors import discourse
from teampulse.connectors.canonical import Mapped
from teampulse.connectors.signatures import SignatureProblem
from teampulse.contract.rejections import Reason, Rejection
from tests.support.connector_payloads import WEBHOOK_SECRET, headers, post
from tests.unit.connectors.connector_constants import NOW, keyed


def mapped_one(result: object) -> dict[str, Any]:
    assert isinstance(result, Mapped), result
    assert len(result.events) == 1
    return result.events[0]


def map_post(config, pseudonymiser, **overrides: Any) -> object:
    return discourse.map_delivery(
        headers("post_created", "post"),
        {"post": post(**overrides)},
        config.discourse,
        pseudonymiser,
        NOW,
    )


def test_a_delivery_signed_with_the_webhook_secret_is_accepted():
    body = orjson.dumps({"post": post()})
    signed = headers("post_created", "post", body)
    assert discourse.signature_problem(WEBHOOK_SECRET, signed, body) is None


def test_a_tampered_body_is_a_bad_signature():
    body = orjson.dumps({"post": post()})
    signed = headers("post_created", "post", body)
    problem = discourse.signature_problem(WEBHOOK_SECRET, signed, body + b" ")
    assert problem is SignatureProblem.BAD


def test_another_secret_is_a_bad_signature():
    body = b"{}"
    signed = headers("post_created", "post", body, secret="other")
    assert discourse.signature_problem(WEBHOOK_SECRET, signed, body) is SignatureProblem.BAD


def test_an_unsigned_delivery_is_missing_its_signature():
    unsigned = headers("post_created", "post")
    del unsigned["X-Discourse-Event-Signature"]
    problem = discourse.signature_problem(WEBHOOK_SECRET, unsigned, b"{}")
    assert problem is SignatureProblem.MISSING


def test_the_first_post_of_a_topic_is_a_post(config, pseudonymiser):
    event = mapped_one(map_post(config, pseudonymiser))
    assert event == {
        "id": "discourse:forum.example.com:post:310/1",
        "type": "discussion.posted",
        "occurred_at": "2026-03-02T09:00:00.123Z",
        "actor": keyed("account:discourse:forum.example.com|jane"),
        "source": "discourse",
        "thread": "discourse:forum.example.com:topic:310",
        "post": "discourse:forum.example.com:post:310/1",
        "channel": "7",
        "initiative": "agile-ways-of-working",
        "length": 30,
    }


def test_a_post_with_reply_to_post_number_replies_to_that_post(config, pseudonymiser):
    event = mapped_one(
        map_post(config, pseudonymiser, id=1205, post_number=4, reply_to_post_number=2)
    )
    assert event["type"] == "discussion.replied"
    assert event["parent"] == "discourse:forum.example.com:post:310/2"
    assert event["post"] == "discourse:forum.example.com:post:310/4"


def test_a_later_post_without_reply_to_post_number_answers_the_topic(config, pseudonymiser):
    event = mapped_one(map_post(config, pseudonymiser, id=1203, post_number=2))
    assert event["type"] == "discussion.replied"
    assert event["parent"] == "discourse:forum.example.com:post:310/1"


def test_topic_created_is_the_same_event_as_its_first_post(config, pseudonymiser):
    topic = {
        "id": 310,
        "title": "Remote retros",
        "created_at": "2026-03-02T09:00:00.100Z",
        "archetype": "regular",
        "category_id": 7,
        "posts_count": 1,
        "created_by": {"id": 42, "username": "jane", "name": "Jane Doe"},
    }
    event = mapped_one(
        discourse.map_delivery(
            headers("topic_created", "topic"),
            {"topic": topic},
            config.discourse,
            pseudonymiser,
            NOW,
        )
    )
    first_post = mapped_one(map_post(config, pseudonymiser))
    assert (event["id"], event["type"], event["actor"]) == (
        first_post["id"],
        "discussion.posted",
        first_post["actor"],
    )


def test_post_liked_is_a_reaction_to_the_liked_post(config, pseudonymiser):
    like = {"like": {"post": post(id=1205, post_number=4), "user": {"id": 51, "username": "bob"}}}
    event = mapped_one(
        discourse.map_delivery(
            headers("post_liked", "like"), like, config.discourse, pseudonymiser, NOW
        )
    )
    assert event["type"] == "discussion.reacted"
    assert event["parent"] == "discourse:forum.example.com:post:310/4"
    assert event["id"] == "discourse:forum.example.com:like:1205:" + event["actor"]
    assert event["actor"] == keyed("account:discourse:forum.example.com|bob")
    assert event["occurred_at"] == "2026-03-03T00:00:00.000Z"  # Discourse sends no like time


def test_the_likers_username_appears_in_no_field(config, pseudonymiser):
    like = {"like": {"post": post(), "user": {"id": 51, "username": "bob.smith"}}}
    result = discourse.map_delivery(
        headers("post_liked", "like"), like, config.discourse, pseudonymiser, NOW
    )
    assert "bob.smith" not in orjson.dumps(mapped_one(result)).decode()


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"topic_archetype": "private_message"}, "private_message"),
        ({"post_type": 4}, "post_type_4"),
        ({"post_type": 3}, "post_type_3"),
    ],
)
def test_private_messages_whispers_and_small_actions_are_ignored(
    config, pseudonymiser, overrides, reason
):
    assert map_post(config, pseudonymiser, **overrides) == Mapped(ignored={reason: 1})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["post_edited", "post_destroyed", "ping"])
def test_edits_deletions_and_pings_are_ignored(config, pseudonymiser, name):
    result = discourse.map_delivery(
        headers(name, "post"), {"post": post()}, config.discourse, pseudonymiser, NOW
    )
    assert result == Mapped(ignored={f"event_{name}": 1})  # type: ignore[arg-type]


def test_a_post_without_created_at_is_refused_as_a_bad_timestamp(config, pseudonymiser):
    result = map_post(config, pseudonymiser, created_at="last tuesday")
    assert isinstance(result, Rejection) and result.reason is Reason.BAD_TIMESTAMP


def test_post_created_without_a_post_is_refused_as_schema(config, pseudonymiser):
    result = discourse.map_delivery(
        headers("post_created", "post"), {"topic": {}}, config.discourse, pseudonymiser, NOW
    )
    assert isinstance(result, Rejection) and result.reason is Reason.SCHEMA
