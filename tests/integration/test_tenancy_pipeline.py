"""Tenants through the worker, against the real stack: the tenant the ingest edge (or
`teampulse produce --tenant`) wrote in a record's header travels with the event into the team
state; a record whose tenant cannot be
established (no header, or a tenant the file does not hold) goes to the dead-letter topic with
reason `unknown_tenant`, and the worker carries on."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from aiokafka import AIOKafkaProducer

from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.ingest.http import build_ingest_app
from teampulse.ingest.produce import produce_file
from teampulse.ingest.producer import ingest_producer
from teampulse.kafka.topics import ensure_topics
from teampulse.settings import Settings, settings_from_environment
from teampulse.tenancy.directory import TENANT_HEADER
from tests.integration.worker_harness import (
    WorkerProcess,
    free_port,
    isolated_environment,
    read_topic,
    wait_for,
)

pytestmark = pytest.mark.integration

AS_OF = "2026-03-16T12:00:00Z"
ACME_KEY, GLOBEX_KEY = "acme-pseudonym-key-0001", "globex-pseudonym-key-02"
TENANTS = {
    "tenants": {
        "acme": {"pseudonym_secret": ACME_KEY, "credentials": ["acme-lms:acme-secret"]},
        "globex": {"pseudonym_secret": GLOBEX_KEY, "credentials": ["globex-lms:globex-secret"]},
    }
}


def event(event_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "learning.completed",
        "occurred_at": "2026-03-16T10:00:00Z",
        "actor": "jane.doe@example.com",
        "team": "red",
        "source": "lms",
        "content": "course:agile",
        **extra,
    }


async def through_the_edge(settings: Settings, user_and_secret: bytes, sent: dict) -> int:
    """POST /events to an ingest endpoint of `settings`, as an LRS client of that tenant."""
    producer = ingest_producer(settings)
    await producer.start()
    server = TestServer(build_ingest_app(settings, producer), host="127.0.0.1")
    await server.start_server()
    try:
        async with ClientSession() as http:
            response = await http.post(
                str(server.make_url("/events")),
                data=orjson.dumps([sent]),
                headers={"Authorization": "Basic " + base64.b64encode(user_and_secret).decode()},
            )
            return response.status
    finally:
        await server.close()
        await producer.stop()


async def straight_to_kafka(
    bootstrap: str, topic: str, sent: dict, headers: list[tuple[str, bytes]]
) -> None:
    """What a producer with write access to the topic, but not the edge, would write."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, orjson.dumps(sent), key=b"k", headers=headers)
    finally:
        await producer.stop()


def test_the_tenant_travels_with_the_event_and_an_unattributable_record_dead_letters(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
):
    tenants_file = tmp_path / "tenants.yaml"
    tenants_file.write_text(yaml.safe_dump(TENANTS))
    env = isolated_environment(
        "tenancy",
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        clock=AS_OF,
        data_dir=str(tmp_path / "data"),
        tenants_file=str(tenants_file),
    )
    settings = settings_from_environment(env)
    asyncio.run(ensure_topics(settings))
    events_topic = settings.topic("events")
    assert asyncio.run(through_the_edge(settings, b"acme-lms:acme-secret", event("e-acme"))) == 200
    globex_sent = event("e-globex", tenant="acme")  # a forged tenant in the payload
    assert asyncio.run(through_the_edge(settings, b"globex-lms:globex-secret", globex_sent)) == 200
    produced = tmp_path / "events.ndjson"
    produced.write_bytes(orjson.dumps(event("e-produced", actor="john@example.com")))
    summary = asyncio.run(produce_file(settings, produced, tenant="acme", progress=False))
    assert summary.sent == {"events": 1}
    asyncio.run(straight_to_kafka(kafka_bootstrap, events_topic, event("e-nobody"), []))
    ghost = [(TENANT_HEADER, b"ghost")]
    asyncio.run(straight_to_kafka(kafka_bootstrap, events_topic, event("e-ghost"), ghost))

    worker = WorkerProcess(env, tmp_path / "worker.log", free_port()).start()
    try:

        def outcomes() -> dict[str, float] | None:
            found: dict[str, float] = {}
            for (name, labels), value in worker.metrics().items():
                outcome = dict(labels).get("outcome", "")
                if name == "teampulse_events_total" and value:
                    found[outcome] = found.get(outcome, 0) + value
            return found if found.get("accepted", 0) + found.get("rejected", 0) >= 5 else None

        assert wait_for(outcomes, timeout=90, what="the five records handled") == {
            "accepted": 3,
            "rejected": 2,
        }
        letters = wait_for(
            lambda: [
                orjson.loads(r)
                for r in asyncio.run(read_topic(kafka_bootstrap, settings.topic("deadletter")))
            ],
            timeout=20,
            what="the two unattributable records in the dead-letter topic",
        )
        assert sorted((d["reason"], orjson.loads(d["original"])["id"]) for d in letters) == [
            ("unknown_tenant", "e-ghost"),
            ("unknown_tenant", "e-nobody"),
        ]
        details = {orjson.loads(d["original"])["id"]: d["detail"] for d in letters}
        assert details["e-ghost"].startswith("tenant 'ghost' is not in the tenants file")
        assert details["e-nobody"].startswith("no teampulse-tenant header")
        samples = worker.metrics()
        assert samples[("teampulse_dead_letters_total", (("reason", "unknown_tenant"),))] == 2
        assert samples[("teampulse_tenants", ())] == 2

        # The team state holds each event with its tenant and its tenant's pseudonym.
        state = b"".join(asyncio.run(read_topic(kafka_bootstrap, settings.topic("team-state"))))
        for tenant, key in (("acme", ACME_KEY), ("globex", GLOBEX_KEY)):
            pseudonym = Pseudonymiser(key).person("jane.doe@example.com")
            assert f'"actor":"{pseudonym}"'.encode() in state
            assert f'"tenant":"{tenant}"'.encode() in state
        # `produce --tenant acme` keyed its person with acme's key too
        john = Pseudonymiser(ACME_KEY).person("john@example.com")
        assert f'"actor":"{john}"'.encode() in state
        assert state.count(b'"tenant":"acme"') == 2  # globex's forged field changed nothing
        assert b"jane" not in state
        assert worker.alive()
    finally:
        worker.stop()
