"""Signed statements: a JWS (RS256/384/512) whose payload is the statement, verified with the
key of its x5c certificate when it has one."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from teampulse.contract.attachments import Part, check_parts
from teampulse.contract.signatures import SIGNATURE_USAGE, signature_problem

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
HASH_BY_ALG = {"RS256": hashes.SHA256(), "RS384": hashes.SHA384(), "RS512": hashes.SHA512()}


def certificate(key: rsa.RSAPrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lms.example.com")])
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jws(payload: dict[str, Any], alg: str = "RS256", *, x5c: str | None = None) -> bytes:
    header: dict[str, Any] = {"alg": alg}
    if x5c is not None:
        header["x5c"] = [x5c]
    signing_input = f"{b64url(orjson.dumps(header))}.{b64url(orjson.dumps(payload))}"
    digest = HASH_BY_ALG.get(alg, hashes.SHA256())
    signature = KEY.sign(signing_input.encode(), padding.PKCS1v15(), digest)
    return f"{signing_input}.{b64url(signature)}".encode()


ORIGINAL: dict[str, Any] = {
    "actor": {"mbox": "mailto:jane@example.com"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
    "object": {"id": "https://lms.example.com/courses/agile"},
}


def signed(token: bytes) -> dict[str, Any]:
    """The original statement with its signature attachment, as the LRS receives it."""
    return {
        **ORIGINAL,
        "id": "5b1d8e3c-0f4e-4d8e-9b5e-1f2a3b4c5d6e",
        "attachments": [
            {
                "usageType": SIGNATURE_USAGE,
                "display": {"en-US": "signature"},
                "contentType": "application/octet-stream",
                "length": len(token),
                "sha2": hashlib.sha256(token).hexdigest(),
            }
        ],
    }


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512"])
def test_a_signature_of_the_statement_with_its_certificate_is_valid(alg: str):
    token = jws(ORIGINAL, alg, x5c=certificate(KEY))
    assert signature_problem(signed(token), token) is None


def test_a_signature_without_a_certificate_is_valid_when_well_formed():
    token = jws(ORIGINAL)
    assert signature_problem(signed(token), token) is None


@pytest.mark.parametrize(
    "token, problem",
    [
        (b"not.a-jws", "the signature is not a JWS in compact serialization"),
        (jws(ORIGINAL, "HS256"), "the signature's algorithm must be RS256, RS384 or RS512"),
        (
            jws({**ORIGINAL, "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"}}),
            "the signature's payload does not match the statement",
        ),
        (
            jws(ORIGINAL, x5c=certificate(OTHER_KEY)),
            "the signature does not verify with the key of its x5c certificate",
        ),
        (
            jws(ORIGINAL, x5c="bm90IGEgY2VydA=="),
            "the signature's x5c does not hold an X.509 certificate",
        ),
    ],
)
def test_a_malformed_signature_is_refused_with_its_reason(token: bytes, problem: str):
    assert signature_problem(signed(token), token) == problem


def test_a_signed_statement_sent_with_a_bad_jws_part_is_refused_by_the_part_check():
    token = jws({**ORIGINAL, "object": {"id": "https://lms.example.com/other"}})
    part = Part({"x-experience-api-hash": hashlib.sha256(token).hexdigest()}, token)
    assert check_parts([signed(token)], [part]) == (
        "statement 0: the signature's payload does not match the statement"
    )


def test_an_ec_certificate_is_not_an_rs_signature_key():
    ec_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ec_key.public_key())
        .serial_number(2)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=1))
        .sign(ec_key, hashes.SHA256())
    )
    x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    token = jws(ORIGINAL, x5c=x5c)
    assert signature_problem(signed(token), token) == (
        "the signature's certificate does not hold an RSA key"
    )
