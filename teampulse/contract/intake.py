"""Deciding what a batch sent over HTTP becomes, before anything is written (pure).

The HTTP endpoint (teampulse/ingest/http.py) is all or nothing, as an xAPI LRS must be: a batch
is either refused whole (`Refusal`: status, machine-readable error, detail) or planned
(`Intake`: every id to answer with, the records to write, the ids already known with the
same content). The rules:

* every record must pass the core validator (LRS rules for statements, the canonical
  contract for events) and fit in one Kafka record (TEAMPULSE_MAX_EVENT_BYTES);
* a statement without id gets one (the endpoint passes `new_id`);
* two records with the same id in one batch refuse the batch (400);
* an id seen recently with the same content is not written again ("unchanged");
  with different content it refuses the batch (409);
* a record that orjson cannot write back (nesting over 255 levels, an integer beyond 64
  bits) refuses the batch (400 `unencodable`): it could be neither stored nor compared.

Content is compared by digest, ignoring what an LRS sets itself (`id`, `stored`,
`authority`, `version`) so that a client re-sending its own statement matches. Timestamps are
stored in UTC, so the same instant written with another offset is the same content.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from teampulse.contract.events import EventValidator
from teampulse.contract.json_values import encoded, object_at, text_at
from teampulse.contract.rejections import Reason, Rejection
from teampulse.contract.timestamps import iso8601_in_utc
from teampulse.contract.xapi_rules import statement_problem

__all__ = [
    "Intake",
    "NewRecord",
    "RecentIds",
    "Refusal",
    "content_digest",
    "plan_events",
    "plan_statements",
]

LRS_SET_PROPERTIES = ("id", "stored", "authority", "version")
Rewrite = Callable[[dict[str, Any]], dict[str, Any]]


def content_digest(record: dict[str, Any], ignored: Iterable[str] = ()) -> bytes | None:
    """16-byte digest of a record's content, independent of key order; None when the record
    cannot be written as JSON."""
    skip = set(ignored)
    content = {k: v for k, v in record.items() if k not in skip} if skip else record
    canonical = encoded(content, sort_keys=True)
    if canonical is None:
        return None
    return hashlib.blake2b(canonical, digest_size=16).digest()


class RecentIds:
    """A bounded memory of recently written ids and their content digests (LRU)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._digests: OrderedDict[str, bytes] = OrderedDict()

    def digest_of(self, record_id: str) -> bytes | None:
        digest = self._digests.get(record_id)
        if digest is not None:
            self._digests.move_to_end(record_id)
        return digest

    def remember(self, record_id: str, digest: bytes) -> None:
        self._digests[record_id] = digest
        self._digests.move_to_end(record_id)
        while len(self._digests) > self.capacity:
            self._digests.popitem(last=False)

    def __len__(self) -> int:
        return len(self._digests)


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int  # 400, 409 or 413
    error: str  # machine-readable: a Reason value, duplicate_id, conflict, too_large, ...
    detail: str


@dataclass(frozen=True, slots=True)
class NewRecord:
    id: str
    value: bytes  # what goes to Kafka
    digest: bytes


@dataclass(slots=True)
class Intake:
    ids: list[str] = field(default_factory=list)  # every id, in the order sent
    new: list[NewRecord] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _unencodable(label: str, index: int) -> Refusal:
    return Refusal(
        400,
        Reason.UNENCODABLE.value,
        f"{label} {index}: nested deeper than 255 levels or holds an integer beyond 64 bits",
    )


def _settle(
    planned: list[tuple[str, dict[str, Any], bytes]],
    recent: RecentIds,
    max_record_bytes: int,
    label: str,
) -> Intake | Refusal:
    """The checks shared by statements and events, once each record is valid and has an id."""
    intake = Intake()
    seen_in_batch: set[str] = set()
    for index, (record_id, record, digest) in enumerate(planned):
        if record_id in seen_in_batch:
            return Refusal(400, "duplicate_id", f"{label} {index}: id {record_id} is sent twice")
        seen_in_batch.add(record_id)
        intake.ids.append(record_id)
        known = recent.digest_of(record_id)
        if known == digest:
            intake.unchanged.append(record_id)
            continue
        if known is not None:
            return Refusal(
                409,
                "conflict",
                f"{label} {index}: id {record_id} was already received with different content",
            )
        value = encoded(record)
        if value is None:
            return _unencodable(label, index)
        if len(value) > max_record_bytes:
            return Refusal(
                413,
                "too_large",
                f"{label} {index}: {len(value)} bytes, the limit per {label} is {max_record_bytes}",
            )
        intake.new.append(NewRecord(record_id, value, digest))
    return intake


def _timestamps_in_utc(statement: dict[str, Any]) -> dict[str, Any]:
    """The statement with its `timestamp` (and a SubStatement's) in UTC, as xAPI 2.0 asks of
    an LRS and 1.0.3 allows; the same instant sent with another offset is then the same
    content, as the spec's comparison rules want."""
    converted = dict(statement)
    timestamp = text_at(statement, "timestamp")
    if timestamp is not None:
        converted["timestamp"] = iso8601_in_utc(timestamp) or timestamp
    inner = object_at(statement, "object")
    inner_timestamp = text_at(inner, "timestamp")
    if inner is not None and inner_timestamp is not None:
        converted["object"] = {
            **inner,
            "timestamp": iso8601_in_utc(inner_timestamp) or inner_timestamp,
        }
    return converted


def plan_statements(
    statements: list[Any],
    recent: RecentIds,
    *,
    stored: str,
    new_id: Callable[[], str],
    max_record_bytes: int,
    statement_id: str | None = None,
    version: str | None = None,
    attached: frozenset[str] = frozenset(),
    keyed: Rewrite | None = None,
) -> Intake | Refusal:
    """xAPI statements (already parsed) -> what to write. `stored` is the LRS's RFC 3339 "now";
    `statement_id` is the `statementId` of a PUT; `version` the X-Experience-API-Version;
    `attached` the SHA-2 hashes of the raw attachment parts sent with them; `keyed` rewrites
    a valid statement before it is written (a tenant's person ids keyed at the door), while
    its digest stays that of the statement as sent, so a re-sent statement still matches."""
    planned: list[tuple[str, dict[str, Any], bytes]] = []
    for index, statement in enumerate(statements):
        problem = statement_problem(statement, version=version, attached=attached)
        if problem is not None:
            return Refusal(400, "xapi_invalid", f"statement {index}: {problem}")
        statement = _timestamps_in_utc(statement)
        given = statement.get("id")
        if statement_id is not None:
            if given is not None and given.lower() != statement_id.lower():
                return Refusal(
                    400, "xapi_invalid", "statement 0: id differs from the statementId parameter"
                )
            given = statement_id
        record_id = (given or new_id()).lower()  # UUIDs compare without case
        digest = content_digest(statement, LRS_SET_PROPERTIES)
        if digest is None:
            return _unencodable("statement", index)
        # What the LRS sets: the id, `stored`, and `timestamp` when the statement has none.
        record = {**statement, "id": record_id, "stored": stored}
        record.setdefault("timestamp", stored)
        if keyed is not None:
            record = keyed(record)
        planned.append((record_id, record, digest))
    return _settle(planned, recent, max_record_bytes, "statement")


def plan_events(
    records: list[Any],
    recent: RecentIds,
    validator: EventValidator,
    *,
    now: float,
    max_record_bytes: int,
    keyed: Rewrite | None = None,
) -> Intake | Refusal:
    """Canonical events (already parsed) -> what to write. They are written as received (the
    pipeline pseudonymises and validates again, like any producer's record), or as `keyed`
    rewrites them once valid (as for statements)."""
    planned: list[tuple[str, dict[str, Any], bytes]] = []
    for index, record in enumerate(records):
        result = validator.validate(record, now)
        if isinstance(result, Rejection):
            return Refusal(400, result.reason.value, f"record {index}: {result.detail}")
        digest = content_digest(record)
        if digest is None:
            return _unencodable("record", index)
        planned.append((result.id, record if keyed is None else keyed(record), digest))
    return _settle(planned, recent, max_record_bytes, "record")
