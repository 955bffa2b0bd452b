"""Attachments' raw data in a multipart/mixed body: split at the boundary, checked against
the statements' sha2 and length."""

from __future__ import annotations

import hashlib
from typing import Any

from teampulse.contract.attachments import Part, check_parts, split_parts

DATA = b"line one\r\n--not-a-boundary\r\n\x00\xff binary"
SHA = hashlib.sha256(DATA).hexdigest()


def attachment(**overrides: Any) -> dict[str, Any]:
    made = {
        "usageType": "http://example.com/attachment-usage/report",
        "display": {"en-US": "report"},
        "contentType": "application/octet-stream",
        "length": len(DATA),
        "sha2": SHA,
    }
    made.update(overrides)
    return made


def body(boundary: str, *parts: tuple[str, bytes]) -> bytes:
    out = b""
    for headers, content in parts:
        out += f"--{boundary}\r\n{headers}\r\n\r\n".encode() + content + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def test_a_body_splits_into_its_parts_with_headers_and_exact_bytes():
    sent = body(
        "b0undary",
        ("Content-Type: application/json", b'{"a": 1}'),
        (f"Content-Type: application/octet-stream\r\nX-Experience-API-Hash: {SHA}", DATA),
    )
    parts = split_parts(sent, "b0undary")
    assert parts == [
        Part({"content-type": "application/json"}, b'{"a": 1}'),
        Part({"content-type": "application/octet-stream", "x-experience-api-hash": SHA}, DATA),
    ]


def test_a_body_without_its_closing_boundary_is_a_problem():
    sent = body("b", ("Content-Type: application/json", b"{}"))[: -len(b"--b--\r\n")]
    assert split_parts(sent, "b") == "the body has no closing boundary"


def test_parts_matching_the_attachments_answer_their_hashes():
    part = Part({"x-experience-api-hash": SHA}, DATA)
    assert check_parts([{"attachments": [attachment()]}], [part]) == frozenset({SHA})


def test_a_part_whose_content_does_not_hash_to_its_header_is_refused():
    part = Part({"x-experience-api-hash": SHA}, DATA + b"!")
    assert check_parts([{"attachments": [attachment()]}], [part]) == (
        "part 1: its content does not match its X-Experience-API-Hash"
    )


def test_a_part_without_its_hash_header_is_refused():
    assert check_parts([{"attachments": [attachment()]}], [Part({}, DATA)]) == (
        "part 1: X-Experience-API-Hash must be a SHA-2 digest in hexadecimal"
    )


def test_a_length_other_than_the_part_is_refused():
    part = Part({"x-experience-api-hash": SHA}, DATA)
    assert check_parts([{"attachments": [attachment(length=3)]}], [part]) == (
        f"attachment {SHA[:16]}...: length is 3, its part has {len(DATA)}"
    )


def test_a_part_no_attachment_names_is_refused():
    part = Part({"x-experience-api-hash": SHA}, DATA)
    assert check_parts([{"attachments": []}], [part]) == (
        f"a part with hash {SHA[:16]}... matches no attachment of the statements"
    )
