"""Scheduling by tenant, against the real stack: tenant B's live event behind tenant A's
backlog in the same partition is applied while most of A's backlog still waits.

A's 40,000 events and then B's one are on the same input partition before the worker starts,
with batches of 100 records. Read in partition order, B's event would be applied last, after
400 batches; the tenant scheduler reads ahead and puts it into the first batch. The test
watches the worker's usage counters (`teampulse_tenant_events_total`, counted per batch) and
checks how much of A had been applied when B's event first shows. About 15 s."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest
import yaml
from aiokafka import AIOKafkaProducer

from teampulse.kafka.topics import ensure_topics
from teampulse.settings import settings_from_environment
from teampulse.tenancy.directory import TENANT_HEADER
from tests.integration.worker_harness import WorkerProcess, free_port, isolated_environment

pytestmark = pytest.mark.integration

AS_OF = "2026-03-16T12:00:00Z"
BACKLOG = 40_000
BATCH = 100
TENANTS = {
    "tenants": {
        "acme": {"pseudonym_secret": "acme-pseudonym-key-0001", "credentials": ["a:a-secret"]},
        "globex": {"pseudonym_secret": "globex-pseudonym-key-02", "credentials": ["g:g-secret"]},
    }
}


def event(event_id: str, team: str, minute: int) -> bytes:
    return orjson.dumps(
        {
            "id": event_id,
            "type": "learning.completed",
            "occurred_at": f"2026-03-{1 + minute // 1440:02d}T{minute // 60 % 24:02d}:"
            f"{minute % 60:02d}:00Z",
            "actor": f"pseudonym:{event_id}",
            "team": team,
            "source": "lms",
        }
    )


async def write_backlog_then_live(bootstrap: str, topic: str) -> None:
    """A's backlog, then B's live event, all on partition 0 of the events topic."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    await producer.start()
    try:
        acme = [(TENANT_HEADER, b"acme")]
        sent = [
            await producer.send(
                topic, event(f"a-{n}", f"backfill-{n % 20}", n // 100), partition=0, headers=acme
            )
            for n in range(BACKLOG)
        ]
        await asyncio.gather(*sent)
        live = event("b-1", "live", 20_000)
        await producer.send_and_wait(topic, live, partition=0, headers=[(TENANT_HEADER, b"globex")])
    finally:
        await producer.stop()


def test_a_tenants_live_event_overtakes_another_tenants_backlog_in_the_same_partition(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
):
    tenants_file = tmp_path / "tenants.yaml"
    tenants_file.write_text(yaml.safe_dump(TENANTS))
    env = isolated_environment(
        "scheduling",
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        clock=AS_OF,
        data_dir=str(tmp_path / "data"),
        tenants_file=str(tenants_file),
        batch_max=str(BATCH),
        group_settle_s="0",
    )
    settings = settings_from_environment(env)
    asyncio.run(ensure_topics(settings))
    asyncio.run(write_backlog_then_live(kafka_bootstrap, settings.topic("events")))

    worker = WorkerProcess(env, tmp_path / "worker.log", free_port()).start()
    try:
        applied_of_acme_when_globex_showed = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and applied_of_acme_when_globex_showed is None:
            events = {
                dict(labels)["tenant"]: value
                for (name, labels), value in worker.metrics().items()
                if name == "teampulse_tenant_events_total"
            }
            if events.get("globex"):
                applied_of_acme_when_globex_showed = events.get("acme", 0)
            time.sleep(0.05)
        assert applied_of_acme_when_globex_showed is not None, worker.log_tail()
        # Unscheduled, B's event comes after all 40,000 of A's (400 batches). Scheduled, it
        # is in the first batch: what A shows by then is what the scrape caught up with.
        assert applied_of_acme_when_globex_showed < BACKLOG / 2, (
            f"globex's event showed after {applied_of_acme_when_globex_showed:.0f} of acme's "
            f"{BACKLOG} backlog events were applied"
        )
        assert worker.alive()
    finally:
        worker.stop()
