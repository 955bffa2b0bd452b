"""A record the Kafka client cannot decode (here: a batch whose bytes were damaged on the
broker's disk, so its CRC check fails) is skipped and dead-lettered; the worker neither
crashes nor loses the records around it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from teampulse.kafka.topics import ensure_topics
from teampulse.settings import settings_from_environment
from tests.integration.worker_harness import (
    REPO,
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
DAMAGED = 2  # offset of the record whose bytes are damaged


def event(index: int) -> dict[str, Any]:
    return {
        "id": f"crc-{index}",
        "type": "learning.started",
        "occurred_at": f"2026-03-16T10:{index:02d}:00Z",
        "actor": f"person-{index}",
        "team": "crc",
        "source": "lms",
        "content": f"course-{index}-marker",
    }


def segment_of(topic: str) -> Path:
    stack = Path(os.environ.get("TEAMPULSE_STACK_DIR") or REPO / ".stack")
    return stack / "kafka" / "data" / f"{topic}-0" / "00000000000000000000.log"


def test_a_record_failing_its_crc_is_dead_lettered_and_the_worker_carries_on(
    kafka_bootstrap: str, redis_url: str, teampulse_stack: Any, tmp_path: Path
):
    if teampulse_stack.mode != "local":
        pytest.skip("damages a log segment of the local stack's broker")
    env = isolated_environment(
        "crc",
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        clock=AS_OF,
        data_dir=str(tmp_path / "data"),
    )
    settings = settings_from_environment(env)
    asyncio.run(ensure_topics(settings))
    topic = settings.topic("events")
    for index in range(6):  # one batch per record
        asyncio.run(produce(kafka_bootstrap, topic, event_records([event(index)]), partition=0))
    segment = segment_of(topic)
    where = segment.read_bytes().index(f"course-{DAMAGED}-marker".encode())
    with segment.open("r+b") as damaged:  # what a failing disk does to one byte
        damaged.seek(where)
        damaged.write(b"X")

    worker = WorkerProcess(env, tmp_path / "worker.log", free_port()).start()
    try:

        def accepted() -> float | None:
            total = sum(
                value
                for (name, labels), value in worker.metrics().items()
                if name == "teampulse_events_total" and ("outcome", "accepted") in labels
            )
            return total if total >= 5 else None

        assert wait_for(accepted, timeout=60, what="the five intact records") == 5
        letters = wait_for(
            lambda: [
                orjson.loads(r)
                for r in asyncio.run(read_topic(kafka_bootstrap, settings.topic("deadletter")))
            ],
            timeout=20,
            what="the damaged record in the dead-letter topic",
        )
        assert [(d["reason"], d["topic"], d["partition"], d["offset"]) for d in letters] == [
            ("undecodable", topic, 0, DAMAGED)
        ]
        assert "CorruptRecordException" in letters[0]["detail"]
        samples = worker.metrics()
        assert samples[("teampulse_dead_letters_total", (("reason", "undecodable"),))] == 1
        assert worker.alive()
        assert "We experienced a crash" not in worker.log_tail(400)
    finally:
        worker.stop()
