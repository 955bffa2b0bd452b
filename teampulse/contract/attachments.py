"""Statements sent as `multipart/mixed` with their attachments' raw data (pure).

xAPI 1.0.3, Part Three, 1.5.2: the first part is the statement (or array) as
`application/json`; each further part is one attachment's raw data, with the header
`X-Experience-API-Hash` (its SHA-2, hexadecimal) and `Content-Transfer-Encoding: binary`.
`split_parts` cuts a body at its boundary; `check_parts` checks every raw part against the
attachments that name it (`sha2`, `length`) and answers the hashes that were sent, for the
rules to accept attachments without `fileUrl`, after checking the JWS of a signed
statement (teampulse.contract.signatures). TeamPulse keeps the metadata in the statement;
the bytes are checked and dropped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from teampulse.contract.json_values import text_at
from teampulse.contract.signatures import SIGNATURE_USAGE, signature_problem

__all__ = ["HASH_HEADER", "Part", "check_parts", "split_parts"]

HASH_HEADER = "x-experience-api-hash"
# SHA-2 digests by the length of their hexadecimal form.
_SHA2_BY_HEX_LENGTH = {56: "sha224", 64: "sha256", 96: "sha384", 128: "sha512"}


@dataclass(frozen=True, slots=True)
class Part:
    headers: dict[str, str]  # names lowercased
    content: bytes


def _part(raw: bytes) -> Part | str:
    if raw.startswith(b"\r\n"):
        head, content = b"", raw[2:]
    else:
        head, separator, content = raw.partition(b"\r\n\r\n")
        if not separator:
            return "a part has no blank line after its headers"
    headers: dict[str, str] = {}
    for line in head.split(b"\r\n") if head else []:
        name, colon, value = line.partition(b":")
        if not colon:
            return "a part has a malformed header line"
        headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    return Part(headers, content)


def split_parts(body: bytes, boundary: str) -> list[Part] | str:
    """The parts of a multipart body, or the problem with it."""
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    segments = (b"\r\n" + body).split(delimiter)
    if len(segments) < 2:
        return "the body does not contain its boundary"
    parts: list[Part] = []
    for segment in segments[1:]:
        if segment.startswith(b"--"):
            return parts
        line_end = segment.find(b"\r\n")
        if line_end < 0 or segment[:line_end].strip():
            return "a boundary line is malformed"
        part = _part(segment[line_end + 2 :])
        if isinstance(part, str):
            return part
        parts.append(part)
    return "the body has no closing boundary"


def _attachments(statements: list[Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for statement in statements:
        listed = statement.get("attachments") if type(statement) is dict else None
        if type(listed) is list:
            found.extend(a for a in listed if type(a) is dict)
    return found


def check_parts(statements: list[Any], parts: list[Part]) -> frozenset[str] | str:
    """The SHA-2 hashes of the raw parts (after the statements' part), or the first problem:
    a part without its hash header, content that does not hash to it, a part no attachment
    names, or a length other than the attachment says."""
    by_hash: dict[str, bytes] = {}
    for index, part in enumerate(parts, start=1):
        claimed = part.headers.get(HASH_HEADER, "").lower()
        algorithm = _SHA2_BY_HEX_LENGTH.get(len(claimed))
        if algorithm is None:
            return f"part {index}: X-Experience-API-Hash must be a SHA-2 digest in hexadecimal"
        if hashlib.new(algorithm, part.content).hexdigest() != claimed:
            return f"part {index}: its content does not match its X-Experience-API-Hash"
        by_hash[claimed] = part.content
    named: set[str] = set()
    for attachment in _attachments(statements):
        sha2 = (text_at(attachment, "sha2") or "").lower()
        content = by_hash.get(sha2)
        if content is None:
            continue
        named.add(sha2)
        length = attachment.get("length")
        if type(length) is int and length != len(content):
            return f"attachment {sha2[:16]}...: length is {length}, its part has {len(content)}"
    for sha2 in by_hash:
        if sha2 not in named:
            return f"a part with hash {sha2[:16]}... matches no attachment of the statements"
    for index, statement in enumerate(statements):
        problem = _signature_problem(statement, by_hash)
        if problem is not None:
            return f"statement {index}: {problem}"
    return frozenset(by_hash)


def _signature_problem(statement: object, by_hash: dict[str, bytes]) -> str | None:
    """The problem with a signed statement's JWS, when its raw part was sent."""
    for attachment in _attachments([statement]):
        if text_at(attachment, "usageType") != SIGNATURE_USAGE:
            continue
        jws = by_hash.get((text_at(attachment, "sha2") or "").lower())
        if jws is None or type(statement) is not dict:
            continue
        if text_at(attachment, "contentType") != "application/octet-stream":
            return "a signature attachment's contentType must be application/octet-stream"
        problem = signature_problem(statement, jws)
        if problem is not None:
            return problem
    return None
