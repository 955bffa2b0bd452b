"""Graph rich change notifications for chatMessage, encrypted as Graph documents it.

Graph encrypts the resource with a fresh 32-byte key: AES-256-CBC, PKCS#7 padding, the
key's first 16 bytes as IV; `dataKey` is that key encrypted with the subscription's
certificate (RSA-OAEP with SHA-1); `dataSignature` the HMAC-SHA256 of the encrypted data.
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
