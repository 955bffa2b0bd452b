"""The reason codes and the dead-letter record: the format other tools read back."""

from __future__ import annotations

import base64

import orjson

from teampulse.contract.rejections import Reason, Rejection, dead_letter_record


def test_reason_codes_are_the_documented_label_values():
    assert [r.value for r in Reason] == [
        "not_json",
        "not_object",
        "too_large",
        "schema",
        "unknown_type",
        "bad_timestamp",
        "future",
        "late",
        "xapi_invalid",
        "unknown_verb",
        "unmappable",
        "roster_invalid",
        "unencodable",
        "undecodable",
        "unknown_tenant",
        "internal",
    ]


def test_dead_letter_record_keeps_source_position_reason_and_original_bytes():
    record = orjson.loads(
        dead_letter_record(
            b'{"id": 1}',
            "teampulse.events",
            3,
            1042,
            Rejection(Reason.SCHEMA, "id: required, a string of 1 to 200 characters"),
            now=1772496000.25,
        )
    )
    assert record == {
        "reason": "schema",
        "detail": "id: required, a string of 1 to 200 characters",
        "topic": "teampulse.events",
        "partition": 3,
        "offset": 1042,
        "rejected_at": "2026-03-03T00:00:00.250Z",
        "original_b64": "eyJpZCI6IDF9",
        "original": '{"id": 1}',
    }


def test_dead_letter_record_of_binary_garbage_has_only_the_base64_copy():
    garbage = b"\xff\xfe\x00binary"
    record = orjson.loads(
        dead_letter_record(
            garbage, "teampulse.xapi", 0, 7, Rejection(Reason.NOT_JSON, "unexpected byte"), 0.0
        )
    )
    assert "original" not in record
    assert base64.b64decode(record["original_b64"]) == garbage
    assert record["rejected_at"] == "1970-01-01T00:00:00.000Z"


def test_dead_letter_record_of_a_record_without_value_is_empty():
    record = orjson.loads(
        dead_letter_record(
            None, "teampulse.events", 1, 2, Rejection(Reason.NOT_JSON, "record has no value"), 0.0
        )
    )
    assert record["original_b64"] == ""
    assert "original" not in record
