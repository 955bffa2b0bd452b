"""Kafka stops and comes back: the ingest endpoint answers 503 with Retry-After in time and
never writes what it refused; the worker's log stays bounded and it recovers by itself.

These tests stop the test stack's own broker (deploy/stack/down.sh kafka) and always start
it again, waiting until it answers, so the tests after them find it running.
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import ClientSession, ClientTimeout
from aiohttp.test_utils import TestServer

from teampulse.ingest.http import build_ingest_app, ingest_producer
from teampulse.kafka.topics import ensure_topics
from teampulse.settings import Settings, settings_from_environment
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

STACK = REPO / "deploy" / "stack"
WRITE_TIMEOUT_S = 5.0
OUTAGE_S = 30
LOG_LINES_BOUND = 200
# The consumer group re-forms after the broker returns (coordinator found again, session
# re-established); on a loaded machine that has taken over a minute.
RECOVERY_S = 90
BASIC = "Basic " + base64.b64encode(b"lrs:s3cret").decode()
HEADERS = {"X-Experience-API-Version": "1.0.3", "Authorization": BASIC}
AS_OF = "2026-03-16T12:00:00Z"


class Broker:
    """The test stack's Kafka, stopped and started as an operator would."""

    def __init__(self) -> None:
        self.stopped = False

    def stop(self) -> None:
        subprocess.run(
            ["bash", str(STACK / "down.sh"), "kafka"], check=True, capture_output=True, timeout=60
        )
        self.stopped = True

    def start(self) -> None:
        """Starts Kafka and returns once it answers (up.sh waits for a metadata reply)."""
        subprocess.run(
            ["bash", str(STACK / "up.sh"), "kafka"], check=True, capture_output=True, timeout=180
        )
        self.stopped = False


@pytest.fixture
def broker(teampulse_stack: Any) -> Iterator[Broker]:
    if teampulse_stack.mode != "local":
        pytest.skip("stops the local stack's broker; a container broker is not stopped here")
    handle = Broker()
    try:
        yield handle
    finally:
        if handle.stopped:
            handle.start()


def statement(marker: str) -> dict[str, Any]:
    """A statement without id: the endpoint assigns one, so a client that retries after an
    error makes a duplicate if the refused copy was written after all."""
    return {
        "actor": {"objectType": "Agent", "mbox": "mailto:jane.doe@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": f"https://lms.example.com/courses/{marker}"},
        "timestamp": "2026-03-02T10:30:00Z",
    }


@pytest.fixture
async def endpoint(kafka_bootstrap: str, unique_topic_prefix: str) -> AsyncIterator[Any]:
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=unique_topic_prefix,
        ingest_credentials="lrs:s3cret",
        ingest_write_timeout_s=WRITE_TIMEOUT_S,
        ingest_retry_after_s=7,
    )
    await ensure_topics(settings)
    producer = ingest_producer(settings)
    await producer.start()
    server = TestServer(build_ingest_app(settings, producer), host="127.0.0.1")
    await server.start_server()
    # The client waits longer than the bound, so a late answer fails the test by its timing.
    http = ClientSession(timeout=ClientTimeout(total=WRITE_TIMEOUT_S * 4))
    try:
        yield settings, http, str(server.make_url("/xAPI/statements"))
    finally:
        await http.close()
        await server.close()
        await producer.stop()


async def test_during_an_outage_the_endpoint_answers_503_in_time_and_never_writes_it(
    endpoint: Any, broker: Broker
):
    settings, http, url = endpoint
    marker = f"outage-{uuid.uuid4().hex[:8]}"
    body = orjson.dumps(statement(marker))
    warm = await http.post(url, data=orjson.dumps(statement("warm-up")), headers=HEADERS)
    assert warm.status == 200

    broker.stop()
    started = time.monotonic()
    refused = await http.post(url, data=body, headers=HEADERS)
    took = time.monotonic() - started
    assert refused.status == 503
    assert refused.headers["Retry-After"] == "7"
    assert (await refused.json())["error"] == "kafka_unavailable"
    assert took <= WRITE_TIMEOUT_S + 0.5
    broker.start()

    # The client retries as Retry-After says until one attempt is taken; each refusal in
    # between must leave nothing behind either.
    deadline = time.monotonic() + 45
    answers = []
    while time.monotonic() < deadline:
        answer = await http.post(url, data=body, headers=HEADERS)
        answers.append(answer.status)
        if answer.status == 200:
            break
        await asyncio.sleep(1)
    assert answers[-1] == 200, answers
    assert set(answers[:-1]) <= {503}
    await asyncio.sleep(2)  # room for a refused copy to arrive late, if the producer kept one
    records = await read_topic(settings.kafka_bootstrap, settings.topic("xapi"))
    assert len([r for r in records if marker.encode() in r]) == 1


def test_the_worker_log_stays_bounded_during_an_outage_and_it_recovers(
    kafka_bootstrap: str,
    redis_url: str,
    broker: Broker,
    tmp_path: Path,
):
    env = isolated_environment(
        "outage",
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        clock=AS_OF,
        data_dir=str(tmp_path / "data"),
    )
    settings = settings_from_environment(env)
    asyncio.run(ensure_topics(settings))
    log = tmp_path / "worker.log"
    worker = WorkerProcess(env, log, free_port()).start()

    def send(first: int) -> None:
        events = [
            {
                "id": f"event-{i}",
                "type": "learning.started",
                "occurred_at": f"2026-03-16T10:{i:02d}:00Z",
                "actor": f"person-{i}",
                "team": "recovered",
                "source": "lms",
            }
            for i in range(first, first + 20)
        ]
        asyncio.run(produce(kafka_bootstrap, settings.topic("events"), event_records(events)))

    def accepted(expected: int) -> Callable[[], float | None]:
        def probe() -> float | None:
            total = sum(
                value
                for (name, labels), value in worker.metrics().items()
                if name == "teampulse_events_total" and ("outcome", "accepted") in labels
            )
            return total if total >= expected else None

        return probe

    try:
        send(0)  # the outage hits a worker that is running, not one still starting
        wait_for(accepted(20), timeout=60, what="the events sent before the outage")
        before = len(log.read_text(errors="replace").splitlines())
        broker.stop()
        time.sleep(OUTAGE_S)
        during = len(log.read_text(errors="replace").splitlines()) - before
        broker.start()
        assert during < LOG_LINES_BOUND, worker.log_tail(60)

        send(20)
        try:
            counted = wait_for(accepted(40), timeout=RECOVERY_S, what="the events after it")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{worker.log_tail(80)}") from None
        assert counted == 40
        assert worker.alive()
        assert asyncio.run(read_topic(kafka_bootstrap, settings.topic("deadletter"))) == []
    finally:
        worker.stop()
