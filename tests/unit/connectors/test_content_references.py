"""The connectors name the content a post or reply is about, by the rule of
docs/connectors/README.md ("Content"): a link to the learning platform in the message, a
Discourse topic tag, a Caliper message's place up `isPartOf`, else the channel's content."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from teampulse.connectors import caliper, discourse, msteams, slack
from teampulse.connectors.canonical import Mapped
from teampulse.connectors.config import ConnectorConfig, ConnectorConfigError
from tests.support.connector_payloads import (
    CLIENT_STATE,
    MESSAGE_POSTED,
    SECTION,
    callback,
    chat_message,
    envelope,
    headers,
    message,
    notification,
    post,
)
from tests.unit.connectors.connector_constants import NOW

LMS_LINK = r"https://lms\.example\.com/courses/(?P<content>[\w-]+)"
TEAMS_CHANNEL = "19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2"


@pytest.fixture
def config() -> ConnectorConfig:
    return ConnectorConfig.parse(
        {
            "slack": {
                "content_links": [LMS_LINK],
                "channels": {"C0AGILE": {"content": "agile-course-cloud"}},
            },
            "msteams": {
                "content_links": [LMS_LINK],
                "channels": {TEAMS_CHANNEL: {"content": "teams-course"}},
            },
            "discourse": {
                "content_links": [LMS_LINK],
                "content_tag_prefix": "agile-course-",
                "channels": {7: {"initiative": "agile-ways-of-working", "content": "agile-path"}},
            },
            "caliper": {
                "content_links": [LMS_LINK],
                "channels": {SECTION: {"team": "atlas", "content": "agile-section-course"}},
            },
        }
    )


def one(result: object) -> dict[str, Any]:
    assert isinstance(result, Mapped), result
    assert len(result.events) == 1, result
    return result.events[0]


# --- Slack -------------------------------------------------------------------------------------


def test_a_slack_message_linking_the_course_is_about_it(config, pseudonymiser):
    # Slack writes a link as <url|label> in `text`
    text = "Worth it: <https://lms.example.com/courses/agile-course-cloud|Agile in the cloud>"
    event = one(slack.map_delivery(callback(message(text=text)), config.slack, pseudonymiser))
    assert event["content"] == "agile-course-cloud"


def test_a_slack_channel_with_a_content_names_it_for_its_messages_but_not_its_reactions(
    config, pseudonymiser
):
    reply = message(channel="C0AGILE", thread_ts="1772449000.000100")
    event = one(slack.map_delivery(callback(reply), config.slack, pseudonymiser))
    reaction = {
        "type": "reaction_added",
        "user": "U024BE7LH",
        "reaction": "thumbsup",
        "item": {"type": "message", "channel": "C0AGILE", "ts": "1772449000.000100"},
        "event_ts": "1772450100.000300",
    }
    reacted = one(slack.map_delivery(callback(reaction), config.slack, pseudonymiser))
    assert (event["type"], event["content"]) == ("discussion.replied", "agile-course-cloud")
    assert "content" not in reacted


def test_a_slack_message_with_no_link_in_a_plain_channel_names_no_content(config, pseudonymiser):
    event = one(slack.map_delivery(callback(message()), config.slack, pseudonymiser))
    assert "content" not in event


# --- Microsoft Teams ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def teams_event(config, pseudonymiser, key, body_html: str, channel: str) -> dict[str, Any]:
    chat = chat_message(
        "1616990032035", "8ea0e38b", channel, "2026-03-02T10:00:00Z", content=body_html
    )
    return one(
        msteams.map_notifications(
            {"value": [notification(chat, key.public_key())]},
            CLIENT_STATE,
            config.msteams,
            pseudonymiser,
            key,
        )
    )


def test_a_teams_message_linking_the_course_is_about_it_before_its_channels(
    config, pseudonymiser, key
):
    html = '<p>See <a href="https://lms.example.com/courses/agile-101">the course</a></p>'
    linked = teams_event(config, pseudonymiser, key, html, TEAMS_CHANNEL)
    plain = teams_event(config, pseudonymiser, key, "<p>Shall we try pairing?</p>", TEAMS_CHANNEL)
    assert (linked["content"], plain["content"]) == ("agile-101", "teams-course")


# --- Discourse ---------------------------------------------------------------------------------


def test_a_discourse_topic_tagged_with_a_course_is_about_it(config, pseudonymiser):
    topic = {
        "id": 310,
        "title": "Remote retros",
        "created_at": "2026-03-02T09:00:00.100Z",
        "archetype": "regular",
        "category_id": 12,
        "tags": ["retros", "agile-course-cloud"],
        "created_by": {"id": 42, "username": "jane", "name": "Jane Doe"},
    }

    def created(topic: dict) -> dict:
        return one(
            discourse.map_delivery(
                headers("topic_created", "topic"),
                {"topic": topic},
                config.discourse,
                pseudonymiser,
                NOW,
            )
        )

    event = created(topic)
    # newer Discourse sends tags as objects
    topic["tags"] = [{"id": 3, "name": "agile-course-remote", "slug": "agile-course-remote"}]
    newer = created(topic)
    assert (event["content"], newer["content"]) == ("agile-course-cloud", "agile-course-remote")


def test_a_discourse_post_takes_a_link_else_its_categorys_content(config, pseudonymiser):
    linked = post(raw="Done with https://lms.example.com/courses/agile-101 today", post_number=2)
    events = [
        one(
            discourse.map_delivery(
                headers("post_created", "post"), {"post": p}, config.discourse, pseudonymiser, NOW
            )
        )
        for p in (linked, post(), post(category_id=12))
    ]
    assert [e.get("content") for e in events] == ["agile-101", "agile-path", None]


# --- Caliper -----------------------------------------------------------------------------------


def caliper_event(config, pseudonymiser, item: dict[str, Any]) -> dict[str, Any]:
    return one(caliper.map_envelope(envelope(item), config.caliper, pseudonymiser))


def test_a_caliper_forum_of_a_resource_is_about_that_resource(config, pseudonymiser):
    item = copy.deepcopy(MESSAGE_POSTED)
    forum = item["object"]["isPartOf"]["isPartOf"]
    forum["isPartOf"] = {"id": "https://example.edu/resources/agile-reading", "type": "Reading"}
    assert caliper_event(config, pseudonymiser, item)["content"] == (
        "https://example.edu/resources/agile-reading"
    )


def test_a_caliper_message_takes_a_link_in_its_body_else_its_groups_content(config, pseudonymiser):
    linked = copy.deepcopy(MESSAGE_POSTED)
    linked["object"]["body"] = "Start at https://lms.example.com/courses/agile-101 first."
    # the spec's example: a Thread in a Forum in the CourseSection: only containers
    assert caliper_event(config, pseudonymiser, linked)["content"] == "agile-101"
    plain = caliper_event(config, pseudonymiser, MESSAGE_POSTED)
    assert plain["content"] == "agile-section-course"


def test_an_ispartof_cycle_or_odd_shapes_end_the_walk_without_an_error(config, pseudonymiser):
    item = copy.deepcopy(MESSAGE_POSTED)
    thread = item["object"]["isPartOf"]
    thread["isPartOf"] = thread  # a cycle: Thread in itself
    item["object"]["body"] = 42
    assert caliper_event(config, pseudonymiser, item)["content"] == "agile-section-course"


# --- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern, why",
    [("https://lms/(unclosed", "is not a regular expression"), ("https://lms/.*", "no group")],
)
def test_a_link_rule_that_cannot_name_a_content_is_refused_at_start(pattern, why):
    with pytest.raises(ConnectorConfigError, match=why):
        ConnectorConfig.parse({"slack": {"content_links": [pattern]}})
