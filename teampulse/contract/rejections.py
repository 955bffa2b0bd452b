"""Why a record was refused, as a value: a machine-readable reason and a human detail.

Rejections are errors as values at the edges: the validators return them instead of
raising, the streams stage counts them by reason and writes the original bytes to the
dead-letter topic in the format `dead_letter_record` builds (docs/events.md).
"""

from __future__ import annotations

import base64
import contextlib
import traceback
from dataclasses import dataclass
from enum import StrEnum

import orjson

from teampulse.contract.timestamps import format_rfc3339

__all__ = ["Reason", "Rejection", "dead_letter_record", "internal_rejection"]


class Reason(StrEnum):
    """Reason codes: label values of `teampulse_dead_letters_total`, keep them few and stable."""

    NOT_JSON = "not_json"  # bytes that do not parse as JSON (or are not UTF-8)
    NOT_OBJECT = "not_object"  # valid JSON, but not a JSON object
    TOO_LARGE = "too_large"  # more bytes than TEAMPULSE_MAX_EVENT_BYTES
    SCHEMA = "schema"  # a canonical event field is missing, of the wrong type or out of range
    UNKNOWN_TYPE = "unknown_type"  # `type` is a string, but not a type TeamPulse knows
    BAD_TIMESTAMP = "bad_timestamp"  # `occurred_at` (or an xAPI timestamp) does not parse
    FUTURE = "future"  # event time later than now + TEAMPULSE_FUTURE_SKEW_S
    LATE = "late"  # older than the team's watermark - lateness (decided by the gauges stage)
    XAPI_INVALID = "xapi_invalid"  # breaks a rule an xAPI LRS must enforce
    UNKNOWN_VERB = "unknown_verb"  # a valid statement whose verb IRI the verb map lacks
    UNMAPPABLE = "unmappable"  # valid xAPI that names no person (e.g. a Group as actor)
    ROSTER_INVALID = "roster_invalid"  # a roster record missing a field or of the wrong type
    UNENCODABLE = "unencodable"  # valid JSON that cannot be written back (nesting over 255
    # levels, an integer beyond 64 bits), so it cannot be stored or forwarded
    UNDECODABLE = "undecodable"  # the Kafka client could not decode the record (a batch
    # failing its CRC check, an unknown codec): skipped, nothing of it can be kept
    UNKNOWN_TENANT = "unknown_tenant"  # with tenants configured: no tenant header, or one
    # naming a tenant the tenants file does not hold (docs/tenancy.md)
    INTERNAL = "internal"  # handling the record raised an unexpected error (a bug): the
    # record is kept in the dead-letter topic to replay once fixed


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    detail: str  # names the field and the rule, e.g. "score: must be a number from 0 to 1"


def dead_letter_record(
    raw: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    rejection: Rejection,
    now: float,
) -> bytes:
    """The JSON value written to the dead-letter topic for one refused record.

    The original bytes are kept whole (base64) so the record can be repaired and replayed;
    `original` repeats them as text when they are valid UTF-8, for people reading the topic.
    """
    record: dict[str, object] = {
        "reason": str(rejection.reason),
        "detail": rejection.detail,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "rejected_at": format_rfc3339(now),
        "original_b64": base64.b64encode(raw or b"").decode("ascii"),
    }
    if raw is not None:
        with contextlib.suppress(UnicodeDecodeError):  # binary: original_b64 alone carries it
            record["original"] = bytes(raw).decode("utf-8")
    return orjson.dumps(record)


def internal_rejection(exc: BaseException) -> Rejection:
    """The `internal` rejection of a record whose handling raised `exc`: the error type and
    the innermost frame, never the message (it may quote the record's contents)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return Rejection(Reason.INTERNAL, f"unexpected {type(exc).__name__}{where}")
