"""Slack Events API deliveries -> canonical discussion events (docs/connectors/slack.md).

* `url_verification` -> the challenge to echo;
* `event_callback` with a `message` event: a top-level message -> discussion.posted; a
  thread reply (`thread_ts` present and not its own `ts`) -> discussion.replied whose parent
  and thread are the thread's root; `reaction_added` -> discussion.reacted on the item;
* bot messages, edits, deletions and channel notices (other `subtype`s) are ignored with a
  reason; so is any other event type the app is subscribed to, and an event of a shape Slack
  calls irregular (a `hidden` thread notice without subtype or user): Slack counts every
  answer but a 2xx as a failed delivery and disables apps that fail often, so only the outer
  event wrapper, the same for every event, is refused when it is not Slack's.

Ids: thread and post are `slack:<team>:<channel>:<ts>`; the canonical id is
`slack:<event_id>`, the same on every retry (`X-Slack-Retry-Num`).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from slack_sdk.signature import Clock, SignatureVerifier

from teampulse.connectors.canonical import (
    Mapped,
    door_actor,
    event_time,
    schema_problem,
    text_of,
)
from teampulse.connectors.config import PlatformConfig
from teampulse.connectors.signatures import SignatureProblem
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Rejection

__all__ = ["SOURCE", "Challenge", "map_delivery", "signature_problem", "workspace_of"]

SOURCE = "slack"
MAX_SIGNATURE_AGE_S = 300  # Slack's documented replay window, the SDK's too
# Message subtypes written by a person: kept. Every other subtype is a bot, an edit, a
# deletion or a notice (joined, renamed, ...) and is ignored under its own name.
PERSON_SUBTYPES = frozenset({"thread_broadcast", "file_share", "me_message"})


@dataclass(frozen=True, slots=True)
class Challenge:
    challenge: str


class _FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def signature_problem(
    secret: str, headers: Mapping[str, str], body: bytes, now: float
) -> SignatureProblem | None:
    """Slack's v0 request signature, checked with slack-sdk's verifier at instant `now`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get("x-slack-request-timestamp")
    signature = lowered.get("x-slack-signature")
    if not timestamp or not signature:
        return SignatureProblem.MISSING
    try:
        signed_at = int(timestamp)
    except ValueError:
        return SignatureProblem.STALE
    if abs(now - signed_at) > MAX_SIGNATURE_AGE_S:
        return SignatureProblem.STALE
    try:
        expected = SignatureVerifier(secret, _FixedClock(now)).generate_signature(
            timestamp=timestamp, body=body
        )
    except UnicodeDecodeError:  # the SDK signs text; a body that is not UTF-8 is not Slack's
        return SignatureProblem.BAD
    if expected is None or not hmac.compare_digest(expected, signature):
        return SignatureProblem.BAD
    return None


def workspace_of(body: bytes) -> str | None:
    """The workspace (`team_id`) a delivery names, read before its signature is checked, to
    know whose signing secret to check it with; None when it names none (url_verification)
    or is not JSON (the signature check and the mapper refuse it then)."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return text_of(payload.get("team_id")) if type(payload) is dict else None


def _ts_time(ts: Any) -> str | None:
    """A Slack `ts` ("1355517523.000005", epoch seconds) -> `occurred_at`."""
    try:
        return event_time(float(ts)) if type(ts) is str else None
    except ValueError:
        return None


def map_delivery(
    payload: Any, config: PlatformConfig, pseudonymiser: Pseudonymiser
) -> Challenge | Mapped | Rejection:
    """One Events API request body (parsed JSON) -> what to answer and write."""
    if type(payload) is not dict:
        return schema_problem("a Slack delivery is a JSON object")
    kind = payload.get("type")
    if kind == "url_verification":
        challenge = text_of(payload.get("challenge"))
        if challenge is None:
            return schema_problem("challenge: required for url_verification")
        return Challenge(challenge)
    if kind != "event_callback":
        return Mapped().ignore(f"delivery_{str(kind)[:40]}")
    event_id, team_id = text_of(payload.get("event_id")), text_of(payload.get("team_id"))
    event = payload.get("event")
    if event_id is None or team_id is None or type(event) is not dict:
        return schema_problem("event_callback: event_id, team_id and event are required")
    event_type = event.get("type")
    if event_type == "message":
        return _message(event_id, team_id, event, config, pseudonymiser)
    if event_type == "reaction_added":
        return _reaction(event_id, team_id, event, config, pseudonymiser)
    return Mapped().ignore(f"event_{str(event_type)[:40]}")


def _message(
    event_id: str,
    team_id: str,
    event: dict[str, Any],
    config: PlatformConfig,
    pseudonymiser: Pseudonymiser,
) -> Mapped | Rejection:
    subtype = event.get("subtype")
    if event.get("bot_id") is not None or subtype == "bot_message":
        return Mapped().ignore("bot_message")
    if subtype is not None and subtype not in PERSON_SUBTYPES:
        return Mapped().ignore(f"subtype_{str(subtype)[:40]}")
    if event.get("hidden") is True:
        # message_replied arrives without its subtype over the Events API (Slack's "bug
        # alert"); the reply itself comes as a message event of its own.
        return Mapped().ignore("hidden_message")
    user, channel, ts = (text_of(event.get(k)) for k in ("user", "channel", "ts"))
    occurred_at = _ts_time(ts)
    if user is None or channel is None or ts is None or occurred_at is None:
        return Mapped().ignore("irregular_message")
    post = f"slack:{team_id}:{channel}:{ts}"
    thread_ts = text_of(event.get("thread_ts"))
    fields: dict[str, Any] = {
        "id": f"slack:{event_id}",
        "occurred_at": occurred_at,
        "actor": door_actor(pseudonymiser, f"account:slack:{team_id}|{user}"),
        "source": SOURCE,
        "post": post,
        "channel": channel,
        **config.route(channel),
    }
    text = event.get("text")
    if type(text) is str:
        fields["length"] = len(text)
    content = config.content_of(text if type(text) is str else None, channel)
    if content is not None:
        fields["content"] = content
    if thread_ts is not None and thread_ts != ts:
        root = f"slack:{team_id}:{channel}:{thread_ts}"
        fields.update(type="discussion.replied", thread=root, parent=root)
    else:
        fields.update(type="discussion.posted", thread=post)
    return Mapped(events=[fields])


def _reaction(
    event_id: str,
    team_id: str,
    event: dict[str, Any],
    config: PlatformConfig,
    pseudonymiser: Pseudonymiser,
) -> Mapped | Rejection:
    item = event.get("item")
    if type(item) is not dict or item.get("type") != "message":
        return Mapped().ignore("reaction_not_on_message")  # files and file comments
    user = text_of(event.get("user"))
    channel, ts = text_of(item.get("channel")), text_of(item.get("ts"))
    occurred_at = _ts_time(event.get("event_ts"))
    if user is None or channel is None or ts is None or occurred_at is None:
        return Mapped().ignore("irregular_reaction")
    # The payload does not say which thread the reacted message is in; its own ts stands for
    # the thread: a reaction to a thread's first message is joined to it (the team network),
    # one to a reply is counted but joined to nothing.
    reacted = f"slack:{team_id}:{channel}:{ts}"
    return Mapped(
        events=[
            {
                "id": f"slack:{event_id}",
                "type": "discussion.reacted",
                "occurred_at": occurred_at,
                "actor": door_actor(pseudonymiser, f"account:slack:{team_id}|{user}"),
                "source": SOURCE,
                "thread": reacted,
                "post": f"slack:{event_id}",
                "parent": reacted,
                "channel": channel,
                **config.route(channel),
            }
        ]
    )
