"""Records written with each compression codec Kafka producers use (gzip, snappy, lz4, zstd)
are read by the worker and by the ingest endpoint's start-up recall."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from teampulse.ingest.http import ENDPOINT, build_ingest_app
from teampulse.ingest.write import DIGEST_HEADER, recall_recent_ids
from teampulse.kafka.topics import ensure_topics
from teampulse.settings import settings_from_environment
from tests.integration.worker_harness import (
    WorkerProcess,
    free_port,
    isolated_environment,
    wait_for,
)

pytestmark = pytest.mark.integration

CODECS = ("gzip", "snappy", "lz4", "zstd")
PER_CODEC = 10
AS_OF = "2026-03-16T12:00:00Z"


async def produce_compressed(
    bootstrap: str,
    topic: str,
    codec: str,
    records: Iterable[tuple[bytes, bytes, list[tuple[str, bytes]]]],
) -> None:
    """One producer per codec; a long linger puts the records in one compressed batch."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, compression_type=codec, linger_ms=200, acks="all"
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=value, key=key, headers=headers, partition=0)
            for key, value, headers in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def event(codec: str, index: int) -> dict[str, Any]:
    return {
        "id": f"{codec}-{index}",
        "type": "learning.started",
        "occurred_at": f"2026-03-16T09:{index:02d}:00Z",
        "actor": f"person-{index % 5}@example.com",
        "team": "compressed",
        "source": f"lms-{codec}",
        "content": "course:agile",
    }


def test_the_worker_counts_records_of_every_codec(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
):
    env = isolated_environment(
        "codecs",
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        clock=AS_OF,
        data_dir=str(tmp_path_factory.mktemp("worker-data")),
    )
    settings = settings_from_environment(env)
    asyncio.run(ensure_topics(settings))
    for codec in CODECS:
        records = [
            (e["id"].encode(), orjson.dumps(e), []) for e in (event(codec, i) for i in range(10))
        ]
        asyncio.run(produce_compressed(kafka_bootstrap, settings.topic("events"), codec, records))
    worker = WorkerProcess(env, tmp_path_factory.mktemp("logs") / "worker.log", free_port())
    worker.start()
    try:

        def accepted_by_source() -> dict[str, float] | None:
            found = {
                dict(labels)["source"]: value
                for (name, labels), value in worker.metrics().items()
                if name == "teampulse_events_total" and ("outcome", "accepted") in labels
            }
            return found if sum(found.values()) >= PER_CODEC * len(CODECS) else None

        counted = wait_for(accepted_by_source, timeout=60, what="every compressed record counted")
        assert counted == {f"lms-{codec}": PER_CODEC for codec in CODECS}
        assert worker.alive()
    finally:
        worker.stop()


async def test_the_ingest_recall_reads_records_of_every_codec(
    kafka_bootstrap: str, unique_topic_prefix: str
):
    settings = settings_from_environment(
        {
            "TEAMPULSE_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "TEAMPULSE_TOPIC_PREFIX": unique_topic_prefix,
        }
    )
    await ensure_topics(settings)
    digests = {}
    for number, codec in enumerate(CODECS):
        statement_id = f"00000000-0000-4000-8000-00000000000{number}"
        digests[statement_id] = bytes([number]) * 16
        record = (statement_id.encode(), b"{}", [(DIGEST_HEADER, digests[statement_id])])
        await produce_compressed(kafka_bootstrap, settings.topic("xapi"), codec, [record])
    app = build_ingest_app(settings, producer=None, insecure_no_auth=True)  # type: ignore[arg-type]
    writer = app[ENDPOINT].writer

    assert await recall_recent_ids(settings, writer) == len(CODECS)
    for statement_id, digest in digests.items():
        assert writer.recent("default", "xapi").digest_of(statement_id) == digest
