"""Microsoft Graph change notifications for Teams channel messages -> canonical events
(docs/connectors/msteams.md).

A notification request is `{"value": [...]}`, possibly batching the notifications of several
subscriptions. Graph's guidance is to answer 2xx and then judge each notification: one
without the subscription's `clientState`, or whose content fails its `dataSignature` (or
does not decrypt with our key), is not genuine and is discarded, counted by reason, while
the rest of the request is taken. (Graph retries any other answer for hours and throttles
endpoints that fail; and an answer that differs would tell a forger what it got wrong.) Then:
* lifecycle notifications (`lifecycleEvent`: reauthorizationRequired, subscriptionRemoved,
  missed) are counted under their name; the subscription command renews or re-creates;
* a chatMessage arrives as rich notification (`includeResourceData`): `encryptedContent`
  is decrypted here with the subscription's private key, as Graph documents: the
  `dataKey` is RSA-OAEP (SHA-1) encrypted, the `data` AES-256-CBC with PKCS#7 padding and
  the key's first 16 bytes as IV, and `dataSignature` is the HMAC-SHA256 of the data;
* `created`: a message without `replyToId` -> discussion.posted, with it ->
  discussion.replied to the thread's root (Teams threads are one level deep); every
  reaction in the resource -> discussion.reacted; `updated`: only its reactions (each one
  keyed by message, user and reaction, so a re-sent update counts each reaction once);
* system messages, bot messages (`from.application`), deletions and messages of chats
  rather than channels are ignored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from enum import StrEnum
from typing import Any

import orjson
from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from teampulse.connectors.canonical import (
    Mapped,
    door_actor,
    iso8601_event_time,
    schema_problem,
    text_of,
)
from teampulse.connectors.config import PlatformConfig
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Rejection

__all__ = [
    "SOURCE",
    "NotGenuine",
    "decrypt_resource",
    "map_message",
    "map_notifications",
]

SOURCE = "msteams"
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
AES_IV_BYTES = 16


class NotGenuine(StrEnum):
    """Why a notification was discarded: the reasons of its count on /metrics."""

    CLIENT_STATE = "bad_client_state"  # not the clientState of our subscription
    DATA_SIGNATURE = "bad_data_signature"  # the content was changed after Graph signed it
    UNDECRYPTABLE = "undecryptable"  # the content is not encrypted for our key


def _ours(item: dict[str, Any], client_state: str) -> bool:
    offered = item.get("clientState")
    return type(offered) is str and hmac.compare_digest(offered.encode(), client_state.encode())


def decrypt_resource(
    encrypted: Any, private_key: rsa.RSAPrivateKey
) -> dict[str, Any] | NotGenuine | Rejection:
    """The chatMessage of a rich notification's `encryptedContent`."""
    if type(encrypted) is not dict:
        return schema_problem("encryptedContent: an object is required")
    try:
        data = base64.b64decode(encrypted["data"], validate=True)
        key = private_key.decrypt(
            base64.b64decode(encrypted["dataKey"], validate=True),
            OAEP(mgf=MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None),
        )
        signature = base64.b64decode(encrypted["dataSignature"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error, InvalidKey):
        return NotGenuine.UNDECRYPTABLE
    expected = hmac.new(key, data, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        return NotGenuine.DATA_SIGNATURE  # and, as Graph says, not decrypted
    try:
        decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:AES_IV_BYTES])).decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
        unpadder = padding.PKCS7(algorithms.AES.block_size).unpadder()
        resource = orjson.loads(unpadder.update(padded) + unpadder.finalize())
    except (ValueError, orjson.JSONDecodeError):
        return schema_problem("encryptedContent: the data does not decrypt to JSON")
    if type(resource) is not dict:
        return schema_problem("encryptedContent: the resource is not a JSON object")
    return resource


def map_notifications(
    payload: Any,
    client_state: str,
    config: PlatformConfig,
    pseudonymiser: Pseudonymiser,
    private_key: rsa.RSAPrivateKey | None,
) -> Mapped | Rejection:
    """A notification request body -> what to write, ignore and discard."""
    items = payload.get("value") if type(payload) is dict else None
    if type(items) is not list:
        return schema_problem('a Graph notification request is {"value": [...]}')
    mapped = Mapped()
    for index, item in enumerate(items):
        if type(item) is dict and not _ours(item, client_state):
            mapped.discard(NotGenuine.CLIENT_STATE)
            continue
        result = _item(item, config, pseudonymiser, private_key)
        if isinstance(result, Rejection):
            return Rejection(result.reason, f"value[{index}]: {result.detail}")
        mapped.extend(result)
    return mapped


def _item(
    item: Any,
    config: PlatformConfig,
    pseudonymiser: Pseudonymiser,
    private_key: rsa.RSAPrivateKey | None,
) -> Mapped | Rejection:
    if type(item) is not dict:
        return schema_problem("a notification is a JSON object")
    lifecycle = item.get("lifecycleEvent")
    if lifecycle is not None:
        known = lifecycle if lifecycle in LIFECYCLE_EVENTS else "other"
        return Mapped().ignore(f"lifecycle_{known}")
    change = item.get("changeType")
    if change == "deleted":
        return Mapped().ignore("deleted")
    if "encryptedContent" not in item:
        # A basic notification names the message but does not carry it.
        return Mapped().ignore("without_resource_data")
    if private_key is None:
        return Mapped().ignore("no_decryption_key")
    message = decrypt_resource(item["encryptedContent"], private_key)
    if isinstance(message, NotGenuine):
        return Mapped().discard(message)
    if isinstance(message, Rejection):
        return message
    tenant = text_of(item.get("tenantId")) or "tenant"
    return map_message(message, change == "created", tenant, config, pseudonymiser)


def _user_id(identity_set: Any) -> str | None:
    user = identity_set.get("user") if type(identity_set) is dict else None
    return text_of(user.get("id")) if type(user) is dict else None


def map_message(
    message: dict[str, Any],
    created: bool,
    tenant: str,
    config: PlatformConfig,
    pseudonymiser: Pseudonymiser,
) -> Mapped | Rejection:
    """A chatMessage resource -> its post or reply (when `created`) and its reactions."""
    if message.get("messageType", "message") != "message":
        return Mapped().ignore("system_message")
    sender = message.get("from")
    if type(sender) is dict and sender.get("application") is not None:
        return Mapped().ignore("bot_message")
    identity = message.get("channelIdentity")
    channel = text_of(identity.get("channelId")) if type(identity) is dict else None
    message_id = text_of(message.get("id"))
    if channel is None:
        # A one-to-one or group chat's message: genuine, so acknowledged, but not measured.
        return Mapped().ignore("not_channel_message")
    if message_id is None:
        return schema_problem("chatMessage: id is required")
    route = config.route(channel)
    post = f"msteams:{channel}:{message_id}"
    root_id = text_of(message.get("replyToId"))
    thread = f"msteams:{channel}:{root_id}" if root_id else post
    mapped = Mapped()
    if created:
        author = _user_id(sender)
        created_at = iso8601_event_time(message.get("createdDateTime"), "createdDateTime")
        if isinstance(created_at, Rejection):
            return created_at
        if author is None:
            return schema_problem("chatMessage: from.user.id is required")
        body = message.get("body")
        content = body.get("content") if type(body) is dict else None
        fields: dict[str, Any] = {
            "id": post,
            "type": "discussion.replied" if root_id else "discussion.posted",
            "occurred_at": created_at,
            "actor": door_actor(pseudonymiser, f"account:msteams:{tenant}|{author}"),
            "source": SOURCE,
            "thread": thread,
            "post": post,
            "channel": channel,
            **route,
        }
        if root_id:
            fields["parent"] = thread
        if type(content) is str:
            fields["length"] = len(content)
        about = config.content_of(content if type(content) is str else None, channel)
        if about is not None:
            fields["content"] = about
        mapped.events.append(fields)
    reactions = message.get("reactions")
    for reaction in reactions if type(reactions) is list else ():
        reacted = _reaction(reaction, post, thread, channel, tenant, route, pseudonymiser)
        if isinstance(reacted, Rejection):
            return reacted
        mapped.events.append(reacted)
    if not mapped.events:
        mapped.ignore("edited")  # an update without reactions: an edit
    return mapped


def _reaction(
    reaction: Any,
    post: str,
    thread: str,
    channel: str,
    tenant: str,
    route: dict[str, str],
    pseudonymiser: Pseudonymiser,
) -> dict[str, Any] | Rejection:
    if type(reaction) is not dict:
        return schema_problem("reactions: each reaction is an object")
    user = _user_id(reaction.get("user"))
    kind = text_of(reaction.get("reactionType"))
    when = iso8601_event_time(reaction.get("createdDateTime"), "reactions.createdDateTime")
    if isinstance(when, Rejection):
        return when
    if user is None or kind is None:
        return schema_problem("reactions: user.user.id and reactionType are required")
    actor = door_actor(pseudonymiser, f"account:msteams:{tenant}|{user}")
    # Keyed by the pseudonym, not the user id: ids travel into the pipeline's state.
    reaction_id = f"{post}:reaction:{actor}:{kind}"[:200]
    return {
        "id": reaction_id,
        "type": "discussion.reacted",
        "occurred_at": when,
        "actor": actor,
        "source": SOURCE,
        "thread": thread,
        "post": reaction_id,
        "parent": post,
        "channel": channel,
        **route,
    }
