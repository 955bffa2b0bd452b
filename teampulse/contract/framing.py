"""How several JSON records travel in one body or file: a JSON array, or NDJSON.

Files, `POST /events` bodies and `teampulse replay` inputs all hold either one JSON value
(an array of records, or a single record) or one JSON value per line (NDJSON). This is the
one reader of that framing; each caller decides what a record that is not JSON means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from teampulse.contract.rejections import Reason, Rejection

__all__ = ["JsonRecord", "decode_record", "split_json_records"]

MAX_DETAIL_CHARS = 200


@dataclass(frozen=True, slots=True)
class JsonRecord:
    where: str  # "record 3" (in an array or a single value) or "line 7" (NDJSON)
    raw: bytes | None  # the line as written (NDJSON); None inside a JSON value
    value: Any  # the parsed value, or a Rejection (reason not_json) when it is not JSON


def split_json_records(data: bytes) -> list[JsonRecord]:
    """The records of `data`, in order; an empty list when it holds nothing but blanks.

    A body that starts with `[` is one JSON array. Anything else is read as NDJSON; when a
    line is not JSON but the whole body is one JSON value (a pretty-printed record), that
    value is the one record."""
    if data.lstrip()[:1] == b"[":
        try:
            values = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            detail = f"not a JSON array: {exc}"[:MAX_DETAIL_CHARS]
            return [JsonRecord("file", None, Rejection(Reason.NOT_JSON, detail))]
        return [JsonRecord(f"record {n}", None, v) for n, v in enumerate(values, start=1)]
    records = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value: Any = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            value = Rejection(Reason.NOT_JSON, str(exc)[:MAX_DETAIL_CHARS])
        records.append(JsonRecord(f"line {number}", line, value))
    if any(isinstance(r.value, Rejection) for r in records):
        try:
            return [JsonRecord("record 1", None, orjson.loads(data))]
        except orjson.JSONDecodeError:
            pass
    return records


def decode_record(raw: bytes | None, max_bytes: int) -> Any:
    """One Kafka record value -> its JSON value, or a Rejection (no value, too large, not JSON)."""
    if raw is None:
        return Rejection(Reason.NOT_JSON, "record has no value")
    if len(raw) > max_bytes:
        return Rejection(Reason.TOO_LARGE, f"{len(raw)} bytes, the limit is {max_bytes}")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Rejection(Reason.NOT_JSON, str(exc)[:MAX_DETAIL_CHARS])
