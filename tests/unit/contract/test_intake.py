"""What a batch sent over HTTP becomes: all or nothing, ids assigned, known ids not rewritten."""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from teampulse.contract.intake import (
    RecentIds,
    Refusal,
    content_digest,
    plan_events,
    plan_statements,
)

STORED = "2026-03-03T00:00:00.000Z"
ID_A = "5b1d8e3c-0f4e-4d8e-9b5e-1f2a3b4c5d6e"
ID_B = "6c2e9f4d-1a5b-4c6d-8e7f-9a0b1c2d3e4f"


def statement(**overrides: Any) -> dict[str, Any]:
    made = {
        "id": ID_A,
        "actor": {"mbox": "mailto:jane@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "urn:course:1"},
        "timestamp": "2026-03-02T10:30:00Z",
    }
    made.update(overrides)
    return {k: v for k, v in made.items() if v is not ...}


def plan(statements: list[Any], recent: RecentIds | None = None, **kwargs: Any) -> Any:
    counter = itertools.count()
    return plan_statements(
        statements,
        recent or RecentIds(10),
        stored=STORED,
        new_id=lambda: f"00000000-0000-4000-8000-{next(counter):012d}",
        max_record_bytes=kwargs.pop("max_record_bytes", 65_536),
        **kwargs,
    )


def test_new_statements_are_planned_with_stored_and_their_ids_in_order():
    intake = plan([statement(), statement(id=ID_B, timestamp=...)])
    assert intake.ids == [ID_A, ID_B]
    written = [orjson.loads(record.value) for record in intake.new]
    assert [w["stored"] for w in written] == [STORED, STORED]
    assert written[0]["timestamp"] == "2026-03-02T10:30:00Z"
    assert written[1]["timestamp"] == STORED  # the LRS fills a missing timestamp with stored


def test_a_missing_id_is_assigned_and_ids_are_lowercased():
    intake = plan([statement(id=...), statement(id=ID_B.upper())])
    assert intake.ids == ["00000000-0000-4000-8000-000000000000", ID_B]


def test_one_invalid_statement_refuses_the_batch():
    assert plan([statement(), statement(id=ID_B, actor=...)]) == Refusal(
        400, "xapi_invalid", "statement 1: actor: required"
    )


def test_the_same_id_twice_in_a_batch_is_refused():
    assert plan([statement(), statement()]) == Refusal(
        400, "duplicate_id", f"statement 1: id {ID_A} is sent twice"
    )


def test_a_known_id_with_the_same_content_is_unchanged_and_not_written_again():
    recent = RecentIds(10)
    recent.remember(ID_A, content_digest(statement(), ("id", "stored", "authority", "version")))
    # Key order and LRS-set properties do not make content different.
    resent = {"stored": "2026-03-01T00:00:00Z", **dict(reversed(statement().items()))}
    intake = plan([resent, statement(id=ID_B)], recent)
    assert (intake.ids, intake.unchanged, [r.id for r in intake.new]) == (
        [ID_A, ID_B],
        [ID_A],
        [ID_B],
    )


def test_a_known_id_with_other_content_is_a_conflict():
    recent = RecentIds(10)
    recent.remember(ID_A, b"another digest..")
    assert plan([statement()], recent) == Refusal(
        409, "conflict", f"statement 0: id {ID_A} was already received with different content"
    )


def test_a_statement_larger_than_one_kafka_record_is_too_large():
    refusal = plan([statement()], max_record_bytes=100)
    assert (refusal.status, refusal.error) == (413, "too_large")
    assert refusal.detail.endswith("bytes, the limit per statement is 100")


def test_put_uses_the_statement_id_and_refuses_another_id_in_the_body():
    assert plan([statement(id=...)], statement_id=ID_B).ids == [ID_B]
    assert plan([statement()], statement_id=ID_B) == Refusal(
        400, "xapi_invalid", "statement 0: id differs from the statementId parameter"
    )


def test_events_are_written_as_received_and_refused_with_their_reason(validator):
    event = {
        "id": "lms-1",
        "type": "learning.started",
        "occurred_at": "2026-03-02T10:30:00Z",
        "actor": "jane@example.com",
        "source": "lms",
    }
    intake = plan_events(
        [event], RecentIds(10), validator, now=1772496000.0, max_record_bytes=65_536
    )
    assert [(r.id, orjson.loads(r.value)) for r in intake.new] == [("lms-1", event)]
    refused = plan_events(
        [event, {**event, "id": "lms-2", "score": 7}],
        RecentIds(10),
        validator,
        now=1772496000.0,
        max_record_bytes=65_536,
    )
    assert refused == Refusal(400, "schema", "record 1: score: must be a number from 0 to 1")


def test_recent_ids_forget_the_least_recently_used_beyond_capacity():
    recent = RecentIds(2)
    recent.remember("a", b"1")
    recent.remember("b", b"2")
    assert recent.digest_of("a") == b"1"  # "a" is now the most recent
    recent.remember("c", b"3")
    assert (recent.digest_of("a"), recent.digest_of("b"), recent.digest_of("c")) == (
        b"1",
        None,
        b"3",
    )
    assert len(recent) == 2


def test_a_timestamp_with_an_offset_is_stored_in_utc():
    intake = plan([statement(timestamp="2026-03-02T11:30:00.125+01:00")])
    (written,) = [orjson.loads(record.value) for record in intake.new]
    assert written["timestamp"] == "2026-03-02T10:30:00.125Z"


def test_a_substatement_timestamp_is_stored_in_utc():
    inner = {
        "objectType": "SubStatement",
        "actor": {"mbox": "mailto:bob@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "urn:course:1"},
        "timestamp": "2026-03-02T05:30:00-05:00",
    }
    intake = plan([statement(object=inner)])
    (written,) = [orjson.loads(record.value) for record in intake.new]
    assert written["object"]["timestamp"] == "2026-03-02T10:30:00Z"


def test_the_same_instant_with_another_offset_is_the_same_content():
    recent = RecentIds(10)
    first = plan([statement(timestamp="2026-03-02T10:30:00Z")], recent)
    (record,) = first.new
    recent.remember(record.id, record.digest)
    again = plan([statement(timestamp="2026-03-02T12:30:00+02:00")], recent)
    assert (again.unchanged, again.new) == ([ID_A], [])


def test_context_agents_are_refused_in_a_1_0_3_request_and_accepted_in_a_2_0_0_one():
    coach = {"objectType": "contextAgent", "agent": {"mbox": "mailto:coach@example.com"}}
    sent = statement(context={"contextAgents": [coach]})
    assert plan([sent], version="1.0.3") == Refusal(
        400, "xapi_invalid", "statement 0: context: unknown property 'contextAgents'"
    )
    assert plan([sent], version="2.0.0").ids == [ID_A]
