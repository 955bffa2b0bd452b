"""Erasure records (GDPR article 17): the person's pseudonym, never the identifier given.

`teampulse forget PERSON` keys the identifier exactly as ingestion does
(`Pseudonymiser.person`) and writes one record per pseudonym to the compacted erasures
topic, keyed by the pseudonym, so compaction keeps one record per person forever. Every
worker reads the whole topic and removes the person from all its state; see docs/privacy.md.

A record also carries a check of the key it was made with (an HMAC of a fixed text, which
reveals nothing of the key): a worker keyed differently would compute another pseudonym for
the same person, so it reports such a record instead of silently erasing no one.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import orjson

from teampulse.contract.pseudonym import Pseudonymiser

__all__ = ["Erasure", "decode_erasure", "erasure_of", "identifier_doubt", "key_check"]

KEY_CHECK_TEXT = b"teampulse erasure key check"
KEY_CHECK_CHARS = 16


def key_check(secret: str) -> str:
    """A short fingerprint of the pseudonym key: equal keys, equal checks."""
    digest = hmac.new(secret.encode("utf-8"), KEY_CHECK_TEXT, hashlib.sha256).hexdigest()
    return digest[:KEY_CHECK_CHARS]


@dataclass(frozen=True)
class Erasure:
    pseudonym: str
    erased_at: float  # when `forget` was run (the configured clock), for the record
    key_check: str

    def key(self) -> bytes:
        return self.pseudonym.encode()

    def to_wire(self) -> bytes:
        return orjson.dumps(
            {"pseudonym": self.pseudonym, "erased_at": self.erased_at, "key_check": self.key_check}
        )


def erasure_of(identifier: str, secret: str, now: float) -> Erasure:
    """The erasure of one person identifier, keyed like the ingest stage keys actors."""
    text = identifier.strip()
    if not text:
        raise ValueError("an empty identifier names no one")
    pseudonym = Pseudonymiser(secret, cache_size=1).person(text)
    return Erasure(pseudonym, now, key_check(secret))


def identifier_doubt(identifier: str) -> str | None:
    """Why an identifier probably names no one, or None. An account without its `|name` is
    what a shell leaves of an unquoted `account:<homePage>|<name>` (the `|` became a pipe)."""
    text = identifier.strip()
    if text.startswith("account:") and "|" not in text:
        return (
            f"{identifier!r} has no '|<name>' part, so it names an account nobody has; an "
            "unquoted | is a shell pipe: quote the identifier, "
            "'account:<homePage>|<name>', and run forget again"
        )
    return None


def decode_erasure(value: bytes | None) -> Erasure | None:
    """A record of the erasures topic, or None when it is not one (logged by the reader)."""
    if not value:
        return None
    try:
        wire = orjson.loads(value)
        return Erasure(str(wire["pseudonym"]), float(wire["erased_at"]), str(wire["key_check"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
