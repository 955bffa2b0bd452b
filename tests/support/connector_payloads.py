"""Payloads in the formats the platforms document, for the connector tests (unit and
integration alike).

* Slack Events API `event_callback` deliveries;
* Discourse webhook deliveries (headers and `post` payloads, signed as Discourse signs);
* IMS Caliper 1.2 envelopes and events shaped like the specification's examples;
* Microsoft Graph rich change notifications for chatMessage, encrypted as Graph documents
  it: the resource with a fresh 32-byte key (AES-256-CBC, PKCS#7 padding, the key's first
  16 bytes as IV), `dataKey` that key encrypted with the subscription's certificate
  (RSA-OAEP with SHA-1), `dataSignature` the HMAC-SHA256 of the encrypted data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TEAM_ID = "fbe2bf47-16c8-47cf-b4a5-4b9b187c508b"
CLIENT_STATE = "secretClientValue"


def encrypt_resource(resource: dict[str, Any], public_key: rsa.RSAPublicKey) -> dict[str, str]:
    key = os.urandom(32)
    padder = padding.PKCS7(algorithms.AES.block_size).padder()
    padded = padder.update(orjson.dumps(resource)) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    data = encryptor.update(padded) + encryptor.finalize()
    data_key = public_key.encrypt(
        key, OAEP(mgf=MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    )
    return {
        "data": base64.b64encode(data).decode(),
        "dataSignature": base64.b64encode(hmac.new(key, data, hashlib.sha256).digest()).decode(),
        "dataKey": base64.b64encode(data_key).decode(),
        "encryptionCertificateId": "teampulse",
        "encryptionCertificateThumbprint": "07293748CC064953A3052FB978C735FB89E61C3D",
    }


def chat_message(
    message_id: str,
    user: str,
    channel: str,
    created: str,
    reply_to: str | None = None,
    reactions: list[dict[str, Any]] | None = None,
    content: str = "<p>Shall we try pairing?</p>",
) -> dict[str, Any]:
    """A chatMessage resource with the properties Graph documents."""
    return {
        "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#teams('{TEAM_ID}')/"
        f"channels('{channel}')/messages/$entity",
        "id": message_id,
        "replyToId": reply_to,
        "etag": message_id,
        "messageType": "message",
        "createdDateTime": created,
        "lastModifiedDateTime": created,
        "deletedDateTime": None,
        "subject": None,
        "importance": "normal",
        "locale": "en-us",
        "from": {
            "application": None,
            "device": None,
            "user": {
                "id": user,
                "displayName": "Someone",
                "userIdentityType": "aadUser",
                "tenantId": TENANT,
            },
        },
        "body": {"contentType": "html", "content": content},
        "channelIdentity": {"teamId": TEAM_ID, "channelId": channel},
        "attachments": [],
        "mentions": [],
        "reactions": reactions or [],
    }


def reaction(user: str, when: str, kind: str = "like") -> dict[str, Any]:
    return {
        "reactionType": kind,
        "createdDateTime": when,
        "user": {
            "application": None,
            "device": None,
            "user": {"id": user, "displayName": None, "userIdentityType": "aadUser"},
        },
    }


def notification(
    message: dict[str, Any],
    public_key: rsa.RSAPublicKey,
    change: str = "created",
    client_state: str = CLIENT_STATE,
) -> dict[str, Any]:
    channel = message["channelIdentity"]["channelId"]
    return {
        "subscriptionId": "10493aa0-4d29-4df5-bc0c-ef742cc6cd7f",
        "changeType": change,
        "clientState": client_state,
        "subscriptionExpirationDateTime": "2026-03-03T01:00:00+00:00",
        "resource": f"teams('{TEAM_ID}')/channels('{channel}')/messages('{message['id']}')",
        "resourceData": {
            "id": message["id"],
            "@odata.type": "#Microsoft.Graph.chatMessage",
            "@odata.id": f"teams('{TEAM_ID}')/channels('{channel}')/messages('{message['id']}')",
        },
        "encryptedContent": encrypt_resource(message, public_key),
        "tenantId": TENANT,
    }


def lifecycle(event: str, client_state: str = CLIENT_STATE) -> dict[str, Any]:
    return {
        "subscriptionId": "10493aa0-4d29-4df5-bc0c-ef742cc6cd7f",
        "subscriptionExpirationDateTime": "2026-03-03T01:00:00+00:00",
        "tenantId": TENANT,
        "clientState": client_state,
        "lifecycleEvent": event,
    }


# --- Slack --------------------------------------------------------------------------------


def callback(event: dict[str, Any], event_id: str = "Ev0PV52K21") -> dict[str, Any]:
    return {
        "token": "XXYYZZ",
        "team_id": "T0001",
        "api_app_id": "A0PNCHHK2",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1772450000,
    }


def message(**overrides: Any) -> dict[str, Any]:
    event = {
        "type": "message",
        "channel": "C0OPEN",
        "user": "U2147483697",
        "text": "Hello world",
        "ts": "1772450000.000200",
        "event_ts": "1772450000.000200",
        "channel_type": "channel",
    }
    event.update(overrides)
    return event


# --- Discourse ----------------------------------------------------------------------------


WEBHOOK_SECRET = "discourse-webhook-secret"


INSTANCE = "https://forum.example.com"


def headers(event: str, kind: str, body: bytes = b"", secret: str = WEBHOOK_SECRET) -> dict:
    """Headers of a Discourse delivery; the signature is sha256= HMAC-SHA256 of the body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Discourse-Instance": INSTANCE,
        "X-Discourse-Event-Id": "41",
        "X-Discourse-Event-Type": kind,
        "X-Discourse-Event": event,
        "X-Discourse-Event-Signature": f"sha256={digest}",
        "Content-Type": "application/json",
    }


def post(**overrides: Any) -> dict[str, Any]:
    """A `post` payload with the fields Discourse's WebHookPostSerializer sends."""
    body = {
        "id": 1201,
        "name": "Jane Doe",
        "username": "jane",
        "created_at": "2026-03-02T09:00:00.123Z",
        "raw": "How do we run retros remotely?",
        "cooked": "<p>How do we run retros remotely?</p>",
        "post_number": 1,
        "post_type": 1,
        "reply_to_post_number": None,
        "topic_id": 310,
        "topic_slug": "remote-retros",
        "topic_title": "Remote retros",
        "topic_archetype": "regular",
        "category_id": 7,
        "category_slug": "agile",
        "user_id": 42,
    }
    body.update(overrides)
    return body


# --- Caliper ------------------------------------------------------------------------------


CONTEXT = "http://purl.imsglobal.org/ctx/caliper/v1p2"


LEARNER = "https://example.edu/users/554433"


SECTION = "https://lms.example.edu/sections/1"


def envelope(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "sensor": "https://example.edu/sensors/1",
        "sendTime": "2026-03-02T11:05:01.000Z",
        "dataVersion": CONTEXT,
        "data": list(events),
    }


MESSAGE_POSTED: dict[str, Any] = {
    "@context": CONTEXT,
    "id": "urn:uuid:0d015a85-abf5-49ee-abb1-46dbd57fe64e",
    "type": "MessageEvent",
    "profile": "ForumProfile",
    "actor": {"id": LEARNER, "type": "Person"},
    "action": "Posted",
    "object": {
        "id": "https://example.edu/terms/201801/courses/7/sections/1/forums/2/topics/1/messages/3",
        "type": "Message",
        "body": "I like the agile path.",
        "isPartOf": {
            "id": "https://example.edu/terms/201801/courses/7/sections/1/forums/2/topics/1",
            "type": "Thread",
            "isPartOf": {"id": "https://example.edu/forums/2", "type": "Forum"},
        },
        "dateCreated": "2026-03-02T11:05:00.000Z",
    },
    "eventTime": "2026-03-02T11:05:00.000Z",
    "edApp": "https://example.edu",
    "group": {"id": SECTION, "type": "CourseSection"},
}


GRADED: dict[str, Any] = {
    "@context": CONTEXT,
    "id": "urn:uuid:a50ca17f-5971-47bb-8fca-4e6e6879001d",
    "type": "GradeEvent",
    "profile": "GradingProfile",
    "actor": {"id": "https://example.edu/autograder", "type": "SoftwareApplication"},
    "action": "Graded",
    "object": {
        "id": "https://example.edu/terms/201801/courses/7/sections/1/assess/1/users/554433/attempts/1",
        "type": "Attempt",
        "assignee": {"id": LEARNER, "type": "Person"},
        "assignable": {"id": "https://example.edu/terms/201801/courses/7/sections/1/assess/1"},
        "count": 1,
    },
    "generated": {
        "id": "https://example.edu/scores/1",
        "type": "Score",
        "scoreGiven": 15.0,
        "maxScore": 20.0,
    },
    "eventTime": "2026-03-02T11:10:00.000Z",
}
