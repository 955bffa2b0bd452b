"""`teampulse produce` against the real broker: what is sent where, keyed how, and what is
refused with which line and reason."""

from __future__ import annotations

import io
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from teampulse.ingest.produce import check_records, produce_file
from teampulse.settings import Settings

pytestmark = pytest.mark.integration

NOW = 1772496000.0  # 2026-03-03T00:00:00Z
STATEMENT_ID = "5b1d8e3c-0f4e-4d8e-9b5e-1f2a3b4c5d6e"

EVENT = {
    "id": "lms-1",
    "type": "learning.completed",
    "occurred_at": "2026-03-02T10:30:00Z",
    "actor": "jane.doe@example.com",
    "source": "lms",
    "content": "course:agile",
}
STATEMENT = {
    "id": STATEMENT_ID,
    "actor": {"mbox": "mailto:jane.doe@example.com"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"},
    "object": {"id": "https://lms.example.com/quizzes/final"},
    "timestamp": "2026-03-02T11:00:00Z",
}
ROSTER = {
    "person": "jane.doe@example.com",
    "team": "payments-platform",
    "department": "engineering",
    "division": "technology",
}


def ndjson(*lines: Any) -> bytes:
    return b"\n".join(line if isinstance(line, bytes) else orjson.dumps(line) for line in lines)


def settings_for(bootstrap: str, prefix: str) -> Settings:
    return Settings(
        kafka_bootstrap=bootstrap,
        topic_prefix=prefix,
        clock="2026-03-03T00:00:00Z",
        topic_partitions=1,
    )


@pytest.fixture
async def topics(kafka_bootstrap: str, unique_topic_prefix: str) -> AsyncIterator[str]:
    """The test's topic prefix; every topic created under it is deleted afterwards."""
    yield unique_topic_prefix
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(unique_topic_prefix)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


async def read_all(bootstrap: str, topic: str) -> list[tuple[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.seek(tp, 0)
        found: list[tuple[bytes, bytes]] = []
        while len(found) < end:
            batch = await consumer.getmany(tp, timeout_ms=2000)
            found += [(r.key, r.value) for r in batch.get(tp, [])]
        return found
    finally:
        await consumer.stop()


async def test_a_mixed_ndjson_file_goes_to_three_topics_and_rejects_are_reported(
    kafka_bootstrap: str, topics: str, tmp_path: Path
):
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(
        ndjson(
            EVENT,
            STATEMENT,
            b"",
            ROSTER,
            {**EVENT, "id": "lms-2", "score": 3},
            b"{oops",
            {
                **STATEMENT,
                "id": "6c2e9f4d-1a5b-4c6d-8e7f-9a0b1c2d3e4f",
                "verb": {"id": "http://adlnet.gov/expapi/verbs/suspended"},
            },
            {"hello": "world"},
        )
    )
    settings = settings_for(kafka_bootstrap, topics)
    summary = await produce_file(settings, path, None, False, progress=False)

    assert (summary.read, summary.accepted, summary.rejected) == (7, 3, 4)
    assert dict(summary.sent) == {"events": 1, "xapi": 1, "roster": 1}
    assert summary.rejections == [
        "line 5: schema: score: must be a number from 0 to 1",
        "line 6: not_json: unexpected character, expected a string key: line 1 column 2 (char 1)",
        "line 7: unknown_verb: verb.id: http://adlnet.gov/expapi/verbs/suspended is not mapped",
        "line 8: schema: cannot tell an event (type), a statement (verb) or a roster record "
        "(team): pass --kind",
    ]
    assert await read_all(kafka_bootstrap, settings.topic("events")) == [
        (b"lms-1", orjson.dumps(EVENT))
    ]
    assert await read_all(kafka_bootstrap, settings.topic("xapi")) == [
        (STATEMENT_ID.encode(), orjson.dumps(STATEMENT))
    ]
    assert await read_all(kafka_bootstrap, settings.topic("roster")) == [
        (b"jane.doe@example.com", orjson.dumps(ROSTER))
    ]


async def test_fail_on_reject_sends_nothing_at_all(
    kafka_bootstrap: str, topics: str, tmp_path: Path
):
    path = tmp_path / "events.json"
    path.write_bytes(orjson.dumps([EVENT, {**EVENT, "id": "lms-2", "type": "learning.enrolled"}]))
    settings = settings_for(kafka_bootstrap, topics)
    summary = await produce_file(settings, path, "events", True, progress=False)
    assert (summary.accepted, summary.rejected, summary.held_back) == (0, 1, 1)
    assert summary.rejections == [
        "record 2: unknown_type: type: 'learning.enrolled' is not one of learning.started, "
        "learning.progressed, learning.completed, learning.assessed, discussion.posted, "
        "discussion.replied, discussion.reacted, adoption.practiced"
    ]
    assert "nothing sent" in str(summary)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        assert not [t for t in await admin.list_topics() if t.startswith(topics)]
    finally:
        await admin.close()


async def test_stdin_with_a_forced_kind(
    kafka_bootstrap: str, topics: str, monkeypatch: pytest.MonkeyPatch
):
    statement_without_id = {k: v for k, v in STATEMENT.items() if k != "id"}
    stdin = io.TextIOWrapper(io.BytesIO(ndjson(statement_without_id, EVENT)))
    monkeypatch.setattr(sys, "stdin", stdin)
    settings = settings_for(kafka_bootstrap, topics)
    summary = await produce_file(settings, None, "xapi", False, progress=False)
    # The event is not a statement: forced to be read as one, it breaks the LRS rules.
    assert (summary.accepted, summary.rejected) == (1, 1)
    assert summary.rejections == ["line 2: xapi_invalid: statement: unknown property 'type'"]
    ((key, value),) = await read_all(kafka_bootstrap, settings.topic("xapi"))
    assert value == orjson.dumps(statement_without_id)
    assert len(key) == 36  # the id derived from the statement's content, stable on replay


def test_checking_alone_needs_no_kafka():
    outgoing, summary = check_records(orjson.dumps([EVENT, ROSTER, [1]]), Settings(), None, NOW)
    assert [(o.kind, o.key) for o in outgoing] == [
        ("events", b"lms-1"),
        ("roster", b"jane.doe@example.com"),
    ]
    assert summary.rejections == ["record 3: not_object: a record is a JSON object"]


async def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind must be one of events, xapi, roster"):
        await produce_file(Settings(), None, "statements", False)
