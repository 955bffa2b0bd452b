"""A hostile record among valid ones on the real broker: every valid record is counted, the
hostile one lands in the dead-letter topic with its reason, and no agent restarts."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from teampulse.kafka.topics import ensure_topics
from teampulse.settings import Settings, settings_from_environment
from tests.integration.worker_harness import (
    WorkerProcess,
    event_records,
    free_port,
    isolated_environment,
    produce,
    read_topic,
    wait_for,
)

pytestmark = pytest.mark.integration

AS_OF = "2026-03-16T12:00:00Z"
# What Faust logs when an agent raises and is restarted.
CRASH_MARKS = ("crashed", "We experienced a crash", "Traceback")


def crash_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if any(mark in line for mark in CRASH_MARKS)]


def learning_event(index: int, team: str) -> dict[str, Any]:
    return {
        "id": f"{team}-{index}",
        "type": "learning.started",
        "occurred_at": f"2026-03-16T{index // 60:02d}:{index % 60:02d}:00Z",
        "actor": f"person-{index % 7}@example.com",
        "team": team,
        "source": "lms",
        "content": "course:agile",
    }


HOSTILE_STATEMENT = {
    "id": "5b1d8e3c-0f4e-4d8e-9b5e-1f2a3b4c5d6e",
    "actor": {"objectType": "Agent", "mbox": "mailto:mallory@example.com"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/answered"},
    "object": {
        "id": "https://lms.example.com/quiz/1",
        "definition": {"interactionType": {"not": "a string"}},
    },
    "timestamp": "2026-03-16T10:00:00Z",
}


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[WorkerProcess, Settings]]:
    env = isolated_environment(
        "hostile",
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        clock=AS_OF,
        data_dir=str(tmp_path_factory.mktemp("worker-data")),
    )
    settings = settings_from_environment(env)
    asyncio.run(ensure_topics(settings))
    process = WorkerProcess(env, tmp_path_factory.mktemp("logs") / "worker.log", free_port())
    process.start()
    try:
        wait_for(process.metrics, timeout=60, what="the worker's /metrics")
        yield process, settings
    finally:
        process.stop()


def accepted(process: WorkerProcess, team: str) -> float:
    """Events of a team the gauges stage accepted (from its 28-day starts gauge)."""
    key = ("teampulse_team_starts", (("team", team), ("window", "28d")))
    return process.metrics().get(key, 0.0)


def dead_letters(bootstrap: str, settings: Settings) -> list[dict[str, Any]]:
    records = asyncio.run(read_topic(bootstrap, settings.topic("deadletter")))
    return [orjson.loads(r) for r in records]


def roster(team: str, size: int) -> list[tuple[bytes, bytes]]:
    people = [f"person-{i}@example.com" for i in range(size)]
    return [
        (p.encode(), orjson.dumps({"team": team, "department": "d", "division": "v"}))
        for p in people
    ]


def test_a_hostile_statement_between_valid_events_loses_none_of_them(worker, kafka_bootstrap):
    process, settings = worker
    team = "alpha"
    asyncio.run(produce(kafka_bootstrap, settings.topic("roster"), roster(team, 7)))
    before = [learning_event(i, team) for i in range(30)]
    after = [learning_event(i, team) for i in range(30, 59)]
    events = settings.topic("events")
    asyncio.run(produce(kafka_bootstrap, events, event_records(before), partition=0))
    hostile = orjson.dumps(HOSTILE_STATEMENT)
    asyncio.run(produce(kafka_bootstrap, settings.topic("xapi"), [(None, hostile)], partition=0))
    asyncio.run(produce(kafka_bootstrap, events, event_records(after), partition=0))

    wait_for(lambda: accepted(process, team) == 59, timeout=45, what="59 accepted starts")
    letters = wait_for(
        lambda: [d for d in dead_letters(kafka_bootstrap, settings) if d["topic"].endswith("xapi")],
        timeout=20,
        what="the hostile statement in the dead-letter topic",
    )
    assert len(letters) == 1
    assert letters[0]["reason"] == "xapi_invalid"
    assert letters[0]["detail"].startswith("object.definition.interactionType: must be one of")
    assert base64.b64decode(letters[0]["original_b64"]) == hostile
    assert process.alive()
    assert crash_lines(process.log_tail(400)) == []


def test_a_record_that_breaks_an_agent_is_dead_lettered_as_internal_and_the_batch_goes_on(
    worker, kafka_bootstrap
):
    """Nothing a producer sends raises any more, so the break comes from a record on an
    internal topic that is not what TeamPulse writes there: the teams agent meets it."""
    process, settings = worker
    team = "bravo"
    asyncio.run(produce(kafka_bootstrap, settings.topic("roster"), roster(team, 7)))
    wire = [
        orjson.dumps({**learning_event(i, team), "occurred_at": 1773658800.0 + i, "actor": "p"})
        for i in range(20)
    ]
    broken = b'{"id": "x", "type": "learning.started", "secret": "jane@example.com"}'
    records = [(team.encode(), w) for w in wire[:10]]
    records += [(team.encode(), broken)]
    records += [(team.encode(), w) for w in wire[10:]]
    asyncio.run(produce(kafka_bootstrap, settings.topic("by-team"), records))

    wait_for(lambda: accepted(process, team) == 20, timeout=45, what="20 accepted starts")
    letters = wait_for(
        lambda: [d for d in dead_letters(kafka_bootstrap, settings) if d["reason"] == "internal"],
        timeout=20,
        what="the broken record dead-lettered as internal",
    )
    assert len(letters) == 1
    assert base64.b64decode(letters[0]["original_b64"]) == broken
    assert letters[0]["topic"] == settings.topic("by-team")
    # the wire decoder refuses the record; the detail names the error, never its message
    assert letters[0]["detail"].startswith("unexpected ValidationError")
    assert "jane" not in letters[0]["detail"]
    counted = process.metrics()
    assert counted[("teampulse_dead_letters_total", (("reason", "internal"),))] == 1
    log = process.log_tail(400)
    warnings = [line for line in log.splitlines() if "dead-lettered as internal" in line]
    assert len(warnings) == 1 and "topic=" + settings.topic("by-team") in warnings[0]
    assert "jane@example.com" not in log
    assert process.alive()
    assert crash_lines(log) == []
