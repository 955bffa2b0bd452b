"""Discourse webhook deliveries through `teampulse ingest`, Kafka and the worker's gauges."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson
import pytest

from tests.integration.connector_stack import DISCOURSE_SECRET, ConnectorStack

pytestmark = pytest.mark.integration

WEEK = "7d"


def post(number: int, username: str, created_at: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": 5000 + number,
        "username": username,
        "created_at": created_at,
        "raw": "Our first remote retro went well.",
        "post_number": number,
        "post_type": 1,
        "reply_to_post_number": None,
        "topic_id": 77,
        "topic_archetype": "regular",
        "category_id": 7,
        **extra,
    }


def deliver(stack: ConnectorStack, event: str, kind: str, payload: dict, secret: str = "") -> Any:
    body = orjson.dumps(payload)
    digest = hmac.new((secret or DISCOURSE_SECRET).encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Discourse-Instance": "https://forum.example.com",
        "X-Discourse-Event-Id": "12",
        "X-Discourse-Event-Type": kind,
        "X-Discourse-Event": event,
        "X-Discourse-Event-Signature": f"sha256={digest}",
    }
    return stack.post("/discourse/webhook", body, headers)


def test_a_topic_a_reply_and_a_like_are_counted_for_their_teams(connector_stack):
    stack = connector_stack
    first = post(1, "jane", "2026-03-02T20:00:00.000Z")
    topic = {
        "id": 77,
        "created_at": "2026-03-02T20:00:00.000Z",
        "archetype": "regular",
        "category_id": 7,
        "created_by": {"id": 1, "username": "jane"},
    }
    duplicates = stack.connector_count("discourse", "duplicate")
    assert deliver(stack, "topic_created", "topic", {"topic": topic}).status == 200
    assert deliver(stack, "post_created", "post", {"post": first}).status == 200
    reply = post(2, "bob", "2026-03-02T20:30:00.000Z", reply_to_post_number=1)
    assert deliver(stack, "post_created", "post", {"post": reply}).status == 200
    like = {"like": {"post": first, "user": {"id": 2, "username": "bob"}}}
    assert deliver(stack, "post_liked", "like", like).status == 200

    stack.wait_gauge("team_posts", 1, team="ember", window=WEEK)  # the topic counts once
    stack.wait_gauge("team_replies", 1, team="fjord", window=WEEK)
    stack.wait_gauge("team_reactions", 1, team="fjord", window=WEEK)
    stack.wait_gauge("team_cross_team_ratio", 1.0, team="ember", window=WEEK)
    assert stack.connector_count("discourse", "duplicate") == duplicates + 1


def test_an_edit_is_answered_200_and_ignored(connector_stack):
    stack = connector_stack
    payload = {"post": post(2, "bob", "2026-03-02T20:30:00.000Z")}
    before = stack.connector_count("discourse", "ignored", "event_post_edited")
    assert deliver(stack, "post_edited", "post", payload).status == 200
    assert stack.connector_count("discourse", "ignored", "event_post_edited") == before + 1


def test_a_delivery_signed_with_another_secret_is_401(connector_stack):
    answer = deliver(connector_stack, "post_created", "post", {"post": {}}, secret="guess")
    assert (answer.status, answer.json()["error"]) == (401, "bad_signature")


def test_an_unsigned_delivery_is_401(connector_stack):
    answer = connector_stack.post("/discourse/webhook", b"{}", {"X-Discourse-Event": "ping"})
    assert (answer.status, answer.json()["error"]) == (401, "missing_signature")
