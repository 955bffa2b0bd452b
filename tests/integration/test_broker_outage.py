"""Kafka stops and comes back: the ingest endpoint answers 503 with Retry-After in time and
never writes what it refused; the worker's log stays bounded, it recovers by itself, and its
gauges end exactly as the reference model's.

These tests stop the test stack's own broker (deploy/stack/down.sh kafka) and always start
it again, waiting until it answers, so the tests after them find it running.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
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

from teampulse.ingest.http import build_ingest_app
from teampulse.ingest.producer import ingest_producer
from teampulse.kafka.topics import ensure_topics
from teampulse.settings import Settings, settings_from_environment
from teampulse.simulation import build_organisation, generate_events, inject_faults
from tests.integration.conftest import broker_exclusively
from tests.integration.expectations import (
    mismatches,
    published_teams,
    reference_for,
    reference_series,
)
from tests.integration.worker_harness import (
    REPO,
    WorkerProcess,
    free_port,
    isolated_environment,
    produce,
    read_topic,
    wait_for,
)

# Stops the shared broker: run with no other module of the session using it (conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.stops_the_broker]

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
AS_OF_EPOCH = dt.datetime(2026, 3, 16, 12, tzinfo=dt.UTC).timestamp()


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
def broker(teampulse_stack: Any, kafka_bootstrap: str) -> Iterator[Broker]:
    if teampulse_stack.mode != "local":
        pytest.skip("stops the local stack's broker; a container broker is not stopped here")
    handle = Broker()
    with broker_exclusively(kafka_bootstrap):
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


def outage_input() -> tuple[list[dict], list[dict], list[bytes]]:
    """A fortnight of a simulated organisation, with duplicates: enough that the worker is
    still busy with the first half when the broker stops."""
    org = build_organisation(seed=17, people=400, teams=30, departments=6, divisions=2)
    events = list(generate_events(org, AS_OF_EPOCH - 14 * 86400, AS_OF_EPOCH, seed=17))
    records = [
        item if isinstance(item, bytes) else orjson.dumps(item)
        for item in inject_faults(events, seed=17, duplicate_rate=0.02, malformed_rate=0.0)
    ]
    return events, org.roster_records(), records


def test_the_worker_log_stays_bounded_during_an_outage_and_it_recovers_to_the_exact_gauges(
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
        pseudonym_secret="outage-secret",
    )
    settings = settings_from_environment(env)
    asyncio.run(ensure_topics(settings))
    events, roster, records = outage_input()
    half = len(records) // 2
    log = tmp_path / "worker.log"
    worker = WorkerProcess(env, log, free_port()).start()

    def send(part: list[bytes]) -> None:
        topic = settings.topic("events")
        asyncio.run(produce(kafka_bootstrap, topic, [(None, r) for r in part], partition=0))

    def accepted(at_least: int) -> Callable[[], float | None]:
        def probe() -> float | None:
            total = sum(
                value
                for (name, labels), value in worker.metrics().items()
                if name == "teampulse_events_total" and ("outcome", "accepted") in labels
            )
            return total if total >= at_least else None

        return probe

    try:
        asyncio.run(
            produce(
                kafka_bootstrap,
                settings.topic("roster"),
                [(r["person"].encode(), orjson.dumps(r)) for r in roster],
            )
        )
        send(records[:half])
        # The outage hits a worker that is running and mid-stream, not one still starting.
        wait_for(accepted(half // 4), timeout=60, what="a part of the first half", interval=0.1)
        before = len(log.read_text(errors="replace").splitlines())
        broker.stop()
        time.sleep(OUTAGE_S)
        during = len(log.read_text(errors="replace").splitlines()) - before
        broker.start()
        assert during < LOG_LINES_BOUND, worker.log_tail(60)

        send(records[half:])
        snapshot = reference_for(events, roster, settings, AS_OF_EPOCH)
        expected = reference_series(snapshot)
        try:
            wait_for(
                lambda: not mismatches(expected, worker.metrics()),
                timeout=RECOVERY_S,
                what="every gauge equal to the reference model's",
            )
        except AssertionError as exc:
            wrong = mismatches(expected, worker.metrics())
            raise AssertionError(f"{exc}\n{wrong[:5]}\n{worker.log_tail(80)}") from None
        assert published_teams(worker.metrics()) == set(snapshot.teams)
        assert worker.alive()
        assert asyncio.run(read_topic(kafka_bootstrap, settings.topic("deadletter"))) == []
    finally:
        worker.stop()
