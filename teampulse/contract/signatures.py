"""Signed statements (xAPI 1.0.3, Part Two, 2.6): a JWS in an attachment's raw part (pure).

A signed statement lists an attachment with the signature usageType whose raw part is a JWS
in compact serialization. The LRS refuses the statement when that JWS is malformed, is not
signed with RS256, RS384 or RS512, or its payload is not the statement itself (compared as
statements are: without the signature attachment and the properties an LRS sets). When the
JWS header carries an X.509 certificate (`x5c`), the signature must verify with its key.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from teampulse.contract.json_values import text_at

__all__ = ["SIGNATURE_USAGE", "signature_problem"]

SIGNATURE_USAGE = "http://adlnet.gov/expapi/attachments/signature"
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "RS256": hashes.SHA256,
    "RS384": hashes.SHA384,
    "RS512": hashes.SHA512,
}
# What an LRS sets or may rewrite, which a signer cannot have known.
_LRS_SET = ("id", "stored", "authority", "version", "timestamp")


def _unbase64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _comparable(statement: dict[str, Any]) -> dict[str, Any]:
    """The statement without the signature attachment and the LRS-set properties."""
    kept = {k: v for k, v in statement.items() if k not in _LRS_SET}
    attachments = kept.pop("attachments", None)
    if type(attachments) is list:
        others = [a for a in attachments if text_at(a, "usageType") != SIGNATURE_USAGE]
        if others:
            kept["attachments"] = others
    return kept


def signature_problem(statement: dict[str, Any], jws: bytes) -> str | None:
    """None when `jws` is a well-formed RS256/384/512 signature of `statement`, else why not."""
    try:
        header_b64, payload_b64, signature_b64 = jws.decode("ascii").strip().split(".")
        header = orjson.loads(_unbase64url(header_b64))
        payload = orjson.loads(_unbase64url(payload_b64))
        signature = _unbase64url(signature_b64)
    except (ValueError, binascii.Error):  # orjson.JSONDecodeError is a ValueError
        return "the signature is not a JWS in compact serialization"
    if type(header) is not dict:
        return "the signature's JWS header is not a JSON object"
    algorithm = _HASHES.get(text_at(header, "alg") or "")
    if algorithm is None:
        return "the signature's algorithm must be RS256, RS384 or RS512"
    if type(payload) is not dict or _comparable(payload) != _comparable(statement):
        return "the signature's payload does not match the statement"
    chain = header.get("x5c")
    if chain is None:
        return None
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode(chain[0], validate=True))
        key = certificate.public_key()
    except (ValueError, TypeError, KeyError, IndexError, binascii.Error):
        return "the signature's x5c does not hold an X.509 certificate"
    if not isinstance(key, rsa.RSAPublicKey):
        return "the signature's certificate does not hold an RSA key"
    signed = f"{header_b64}.{payload_b64}".encode("ascii")
    try:
        key.verify(signature, signed, padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        return "the signature does not verify with the key of its x5c certificate"
    return None
