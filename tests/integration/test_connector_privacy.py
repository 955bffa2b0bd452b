"""What the connectors write names nobody: after one delivery per platform by a person with
distinctive ids, names and words, no Kafka topic of the stack holds any of them, not even the
`events` topic the endpoint writes to (the keying happens at the door)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from teampulse.kafka.reading import topic_partitions
from tests.integration.connector_stack import (
    CALIPER_TOKEN,
    DISCOURSE_SECRET,
    NOW,
    SLACK_SECRET,
    ConnectorStack,
)
from tests.integration.worker_harness import read_topic, wait_for
from tests.support.connector_payloads import (
    CONTEXT,
    callback,
    chat_message,
    envelope,
    message,
    notification,
    post,
    reaction,
)

pytestmark = pytest.mark.integration

SLACK_USER = "U0ROSASECRET"
FORUM_USER = "rosa.secretary"
AAD_USER = "aad-rosa-secret-0001"
EMAIL = "rosa.secretary@example.com"
NAME = "Rosa Secretary"
WORDS = "confidential-budget-words"
NEEDLES = (SLACK_USER, FORUM_USER, AAD_USER, EMAIL, NAME, WORDS)


def send_one_of_each(stack: ConnectorStack) -> list[str]:
    """A post by the same person on every platform, a like and a reaction; what their
    canonical ids start with, to wait for."""
    slack_message = message(user=SLACK_USER, text=WORDS, ts=f"{NOW - 900}.000900")
    slack_message["user_profile"] = {"real_name": NAME, "display_name": FORUM_USER}
    body = orjson.dumps(callback(slack_message, "Ev0PRIVACY"))
    signature = hmac.new(SLACK_SECRET.encode(), f"v0:{NOW}:".encode() + body, hashlib.sha256)
    slack_headers = {
        "X-Slack-Request-Timestamp": str(NOW),
        "X-Slack-Signature": "v0=" + signature.hexdigest(),
    }
    assert stack.post("/slack/events", body, slack_headers).status == 200

    forum_post = post(topic_id=4242, username=FORUM_USER, name=NAME, raw=WORDS)
    body = orjson.dumps({"post": forum_post})
    digest = hmac.new(DISCOURSE_SECRET.encode(), body, hashlib.sha256).hexdigest()
    forum_headers = {
        "X-Discourse-Event": "post_created",
        "X-Discourse-Instance": "https://forum.example.com",
        "X-Discourse-Event-Signature": f"sha256={digest}",
    }
    assert stack.post("/discourse/webhook", body, forum_headers).status == 200
    like = {"like": {"post": post(topic_id=4242, post_number=1), "user": {"username": FORUM_USER}}}
    body = orjson.dumps(like)
    digest = hmac.new(DISCOURSE_SECRET.encode(), body, hashlib.sha256).hexdigest()
    like_headers = {**forum_headers, "X-Discourse-Event": "post_liked"}
    like_headers["X-Discourse-Event-Signature"] = f"sha256={digest}"
    assert stack.post("/discourse/webhook", body, like_headers).status == 200

    teams_message = chat_message(
        "1772495000009", AAD_USER, "19:privacy@thread.tacv2", "2026-03-02T23:30:00Z", content=WORDS
    )
    teams_message["from"]["user"]["displayName"] = NAME
    teams_message["reactions"] = [reaction(AAD_USER, "2026-03-02T23:35:00Z")]
    body = orjson.dumps({"value": [notification(teams_message, stack.private_key.public_key())]})
    assert stack.post("/msteams/notifications", body, {}).status == 202

    posted = {
        "@context": CONTEXT,
        "id": "urn:uuid:5b1e6b38-8c5f-4d7e-9d7a-privacy00001",
        "type": "MessageEvent",
        "actor": {"id": f"mailto:{EMAIL}", "type": "Person", "name": NAME},
        "action": "Posted",
        "object": {
            "id": "https://example.edu/forums/9/messages/1",
            "type": "Message",
            "body": WORDS,
        },
        "eventTime": "2026-03-02T23:40:00.000Z",
    }
    caliper_headers = {
        "Authorization": f"Bearer {CALIPER_TOKEN}",
        "Content-Type": "application/json",  # required of a sensor (Caliper 1.2, 5.4)
    }
    assert (
        stack.post("/caliper/events", orjson.dumps(envelope(posted)), caliper_headers).status == 200
    )
    return [
        "slack:Ev0PRIVACY",
        "discourse:forum.example.com:post:4242/1",
        "discourse:forum.example.com:like:1201:",  # then the liker's pseudonym
        "msteams:19:privacy@thread.tacv2:1772495000009",
        "msteams:19:privacy@thread.tacv2:1772495000009:reaction:",
        "caliper:urn:uuid:5b1e6b38-8c5f-4d7e-9d7a-privacy00001",
    ]


async def everything_written(stack: ConnectorStack) -> dict[str, bytes]:
    """Keys and values of every record on every topic of this stack, topic by topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.settings.kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        names = [n for n in await consumer.topics() if n.startswith(stack.settings.topic_prefix)]
        for name in names:
            await topic_partitions(consumer, name)  # fresh metadata for each
    finally:
        await consumer.stop()
    bootstrap = stack.settings.kafka_bootstrap
    return {name: b"\n".join(await read_topic(bootstrap, name)) for name in sorted(names)}


def test_no_topic_holds_a_platform_id_a_name_or_the_words(connector_stack: ConnectorStack):
    ids = send_one_of_each(connector_stack)
    team_state = connector_stack.settings.topic("team-state")

    def all_applied() -> bool:
        applied = b"\n".join(
            asyncio.run(read_topic(connector_stack.settings.kafka_bootstrap, team_state))
        )
        return all(event_id.encode() in applied for event_id in ids)

    wait_for(all_applied, timeout=60, what="the worker applying every event")
    written = asyncio.run(everything_written(connector_stack))
    assert connector_stack.settings.topic("events") in written
    leaks = [
        f"{topic}: {needle!r}"
        for topic, content in written.items()
        for needle in NEEDLES
        if needle.lower().encode() in content.lower()
    ]
    assert leaks == []
