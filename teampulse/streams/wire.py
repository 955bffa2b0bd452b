"""Bytes between stages: thread facts encoded once, decoded without a dict in between.

Events travel as `teampulse.contract.event.encode_wire`'s JSON. Thread facts are the core's
dataclasses; msgspec encodes and decodes them directly (about 1 µs each instead of 10 via
`dataclasses.asdict`), and the `kind` that tells them apart is a fixed prefix of the JSON,
the same document `orjson.dumps(fact.to_wire())` writes, so earlier logs replay unchanged.
"""

from __future__ import annotations

import msgspec
import orjson

from teampulse.gauges.threads import (
    ReplyLink,
    ThreadFact,
    ThreadSummary,
    ThreadTeams,
    fact_from_wire,
)

_SUMMARY = b'{"kind":"summary",'
_LINK = b'{"kind":"link",'
_TEAMS = b'{"kind":"teams",'
_encode = msgspec.json.Encoder().encode
_decode_summary = msgspec.json.Decoder(ThreadSummary).decode
_decode_link = msgspec.json.Decoder(ReplyLink).decode
_decode_teams = msgspec.json.Decoder(ThreadTeams).decode
_PREFIX = {ThreadSummary: _SUMMARY, ReplyLink: _LINK, ThreadTeams: _TEAMS}


def encode_fact(fact: ThreadFact) -> bytes:
    body = _encode(fact)
    return _PREFIX[type(fact)] + body[1:]


def decode_fact(raw: bytes) -> ThreadFact:
    if raw.startswith(_SUMMARY):
        return _decode_summary(raw)
    if raw.startswith(_LINK):
        return _decode_link(raw)
    if raw.startswith(_TEAMS):
        return _decode_teams(raw)
    return fact_from_wire(orjson.loads(raw))  # another key order: the general reader
