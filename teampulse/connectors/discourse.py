"""Discourse webhook deliveries -> canonical discussion events (docs/connectors/discourse.md).

The event is named by `X-Discourse-Event` (payload kind in `X-Discourse-Event-Type`):
* `post_created`: post 1 of a topic -> discussion.posted; any later post ->
  discussion.replied whose parent is `reply_to_post_number`, or post 1 when the post answers
  the topic itself (Discourse leaves `reply_to_post_number` empty then);
* `topic_created` -> discussion.posted of the topic's first post (same id as that post's
  `post_created`, so a forum sending both counts it once); its `tags` can name the content
  the topic is about (`content_tag_prefix`), which a post's payload does not carry;
* `post_liked` (a `like` payload) and reactions (any payload carrying `post` and `user`
  under `like` or `reaction`) -> discussion.reacted;
* private messages, whispers and small-action posts, edits, deletions and `ping` are ignored.

Ids: thread `discourse:<instance>:topic:<topic_id>`, post
`discourse:<instance>:post:<topic_id>/<post_number>`; the canonical id of a post is its post
id, of a like `discourse:<instance>:like:<post_id>:<the liker's pseudonym>` (never the
username: ids travel into the pipeline's state).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from teampulse.connectors.canonical import (
    Mapped,
    door_actor,
    event_time,
    iso8601_event_time,
    schema_problem,
    text_of,
)
from teampulse.connectors.config import PlatformConfig
from teampulse.connectors.signatures import SignatureProblem
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Rejection

__all__ = ["SOURCE", "map_delivery", "signature_problem"]

SOURCE = "discourse"
SIGNATURE_HEADER = "x-discourse-event-signature"
REGULAR_POST = 1  # Discourse post_type: 1 regular, 2 moderator action, 3 small action, 4 whisper
REACTION_KINDS = ("like", "reaction")


def signature_problem(
    secret: str, headers: Mapping[str, str], body: bytes
) -> SignatureProblem | None:
    """`X-Discourse-Event-Signature: sha256=<hex HMAC-SHA256 of the raw body>`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    offered = lowered.get(SIGNATURE_HEADER)
    if not offered:
        return SignatureProblem.MISSING
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), offered.strip().encode()):
        return SignatureProblem.BAD
    return None


def _instance(headers: Mapping[str, str]) -> str:
    lowered = {k.lower(): v for k, v in headers.items()}
    base = lowered.get("x-discourse-instance", "").strip().rstrip("/")
    return base.removeprefix("https://").removeprefix("http://") or "discourse"


def map_delivery(
    headers: Mapping[str, str],
    payload: Any,
    config: PlatformConfig,
    pseudonymiser: Pseudonymiser,
    now: float,
) -> Mapped | Rejection:
    """One webhook request (headers and parsed JSON body) -> what to write. `now` is the
    time of a like, which Discourse does not send."""
    lowered = {k.lower(): v for k, v in headers.items()}
    name = lowered.get("x-discourse-event", "")
    if type(payload) is not dict:
        return schema_problem("a Discourse delivery is a JSON object")
    instance = _instance(headers)
    if name == "post_created":
        post = payload.get("post")
        if type(post) is not dict:
            return schema_problem("post_created: a `post` object is required")
        return _post(instance, post, config, pseudonymiser)
    if name == "topic_created":
        topic = payload.get("topic")
        if type(topic) is not dict:
            return schema_problem("topic_created: a `topic` object is required")
        return _topic(instance, topic, config, pseudonymiser)
    for kind in REACTION_KINDS:
        if type(payload.get(kind)) is dict:
            return _reaction(instance, payload[kind], config, pseudonymiser, now)
    return Mapped().ignore(f"event_{name[:40] or 'unnamed'}")


def _thread(instance: str, topic_id: str) -> str:
    return f"discourse:{instance}:topic:{topic_id}"


def _post_ref(instance: str, topic_id: str, number: int) -> str:
    return f"discourse:{instance}:post:{topic_id}/{number}"


def _base(
    instance: str,
    username: str,
    occurred_at: str,
    category: str | None,
    config: PlatformConfig,
    pseudonymiser: Pseudonymiser,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "occurred_at": occurred_at,
        "actor": door_actor(pseudonymiser, f"account:discourse:{instance}|{username}"),
        "source": SOURCE,
        **config.route(category),
    }
    if category is not None:
        fields["channel"] = category
    return fields


def _post(
    instance: str, post: dict[str, Any], config: PlatformConfig, pseudonymiser: Pseudonymiser
) -> Mapped | Rejection:
    if post.get("topic_archetype") == "private_message":
        return Mapped().ignore("private_message")
    post_type = post.get("post_type", REGULAR_POST)
    if post_type != REGULAR_POST:
        return Mapped().ignore(f"post_type_{post_type if type(post_type) is int else 'other'}")
    topic_id, username = text_of(post.get("topic_id")), text_of(post.get("username"))
    number = post.get("post_number")
    if topic_id is None or username is None or type(number) is not int or number < 1:
        return schema_problem("post: topic_id, post_number and username are required")
    created = iso8601_event_time(post.get("created_at"), "post.created_at")
    if isinstance(created, Rejection):
        return created
    ref = _post_ref(instance, topic_id, number)
    fields = _base(
        instance, username, created, text_of(post.get("category_id")), config, pseudonymiser
    )
    fields.update(id=ref, thread=_thread(instance, topic_id), post=ref)
    raw = post.get("raw")
    if type(raw) is str:
        fields["length"] = len(raw)
    content = config.content_of(raw if type(raw) is str else None, fields.get("channel"))
    if content is not None:
        fields["content"] = content
    if number == 1:
        fields["type"] = "discussion.posted"
    else:
        answered = post.get("reply_to_post_number")
        parent = answered if type(answered) is int and answered >= 1 else 1
        fields.update(type="discussion.replied", parent=_post_ref(instance, topic_id, parent))
    return Mapped(events=[fields])


def _topic(
    instance: str, topic: dict[str, Any], config: PlatformConfig, pseudonymiser: Pseudonymiser
) -> Mapped | Rejection:
    if topic.get("archetype") == "private_message":
        return Mapped().ignore("private_message")
    creator = topic.get("created_by")
    username = text_of(creator.get("username")) if type(creator) is dict else None
    topic_id = text_of(topic.get("id"))
    if topic_id is None or username is None:
        return schema_problem("topic: id and created_by.username are required")
    created = iso8601_event_time(topic.get("created_at"), "topic.created_at")
    if isinstance(created, Rejection):
        return created
    ref = _post_ref(instance, topic_id, 1)
    fields = _base(
        instance, username, created, text_of(topic.get("category_id")), config, pseudonymiser
    )
    fields.update(id=ref, type="discussion.posted", thread=_thread(instance, topic_id), post=ref)
    content = config.content_of(None, fields.get("channel"), _tags(topic.get("tags")))
    if content is not None:
        fields["content"] = content
    return Mapped(events=[fields])


def _tags(tags: Any) -> list[str]:
    """A topic's tags: names, or (newer Discourse) objects with a `name`."""
    names = []
    for tag in tags if type(tags) is list else ():
        name = text_of(tag.get("name")) if type(tag) is dict else text_of(tag)
        if name is not None:
            names.append(name)
    return names


def _reaction(
    instance: str,
    reaction: dict[str, Any],
    config: PlatformConfig,
    pseudonymiser: Pseudonymiser,
    now: float,
) -> Mapped | Rejection:
    post, user = reaction.get("post"), reaction.get("user")
    if type(post) is not dict or type(user) is not dict:
        return schema_problem("like: `post` and `user` objects are required")
    if post.get("topic_archetype") == "private_message":
        return Mapped().ignore("private_message")
    topic_id, number = text_of(post.get("topic_id")), post.get("post_number")
    post_id, username = text_of(post.get("id")), text_of(user.get("username"))
    if topic_id is None or post_id is None or username is None or type(number) is not int:
        return schema_problem("like: post.id, post.topic_id, post.post_number, user.username")
    liked = _post_ref(instance, topic_id, number)
    liked_at = event_time(now) or ""  # `now` is the endpoint's clock: always a calendar time
    fields = _base(
        instance, username, liked_at, text_of(post.get("category_id")), config, pseudonymiser
    )
    # Keyed by the pseudonym, not the username: ids travel into the pipeline's state.
    like_id = f"discourse:{instance}:like:{post_id}:{fields['actor']}"
    fields.update(
        id=like_id,
        type="discussion.reacted",
        thread=_thread(instance, topic_id),
        post=like_id,
        parent=liked,
    )
    return Mapped(events=[fields])
