"""`teampulse tenant-relay` against the real broker: a tenant's own topic is copied into the
shared input topic with the tenant the topic names (whatever header its producer set), its
person ids keyed; a suspended tenant's records wait in its topic until it is resumed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.ingest.relay import TenantRelay
from teampulse.kafka.reading import topic_partitions
from teampulse.kafka.topics import RETENTION, topic_settings
from teampulse.settings import Settings
from teampulse.tenancy.directory import TENANT_HEADER
from teampulse.tenancy.source import TenantsSource

pytestmark = pytest.mark.integration

ACME_KEY = "acme-pseudonym-key-0001"
RELOAD_S = 0.2
TENANTS = {
    "tenants": {
        "acme": {"pseudonym_secret": ACME_KEY},
        "globex": {"pseudonym_secret": "globex-pseudonym-key-02"},
    }
}


def event(event_id: str) -> bytes:
    return orjson.dumps(
        {
            "id": event_id,
            "type": "learning.completed",
            "occurred_at": "2026-03-02T10:30:00Z",
            "actor": "jane@example.com",
            "source": "lms",
        }
    )


async def send(bootstrap: str, topic: str, value: bytes, headers: list) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"k", headers=headers)
    finally:
        await producer.stop()


async def shared_records(bootstrap: str, topic: str, count: int, timeout_s: float = 30) -> list:
    """The first `count` records of the shared topic, waiting for them to arrive."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        found: list[Any] = []
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(found) < count and asyncio.get_running_loop().time() < deadline:
            partitions = await topic_partitions(consumer, topic)
            if partitions and not consumer.assignment():
                consumer.assign(partitions)
                await consumer.seek_to_beginning(*partitions)
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                found.extend(records)
        return found
    finally:
        await consumer.stop()


def relay_settings(bootstrap: str, prefix: str, tenants_file: Path, **more: Any) -> Settings:
    """A relay of its own topics and group, reading `tenants_file`, one partition a topic."""
    return Settings(
        kafka_bootstrap=bootstrap,
        topic_prefix=prefix,
        app_id=prefix.rstrip("."),
        tenants_file=tenants_file,
        tenants_reload_s=RELOAD_S,
        topic_partitions=1,
        **more,
    )


async def test_a_tenants_topic_reaches_the_shared_topic_as_that_tenants(
    kafka_bootstrap: str, unique_topic_prefix: str, tmp_path: Path
):
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(TENANTS))
    settings = relay_settings(kafka_bootstrap, unique_topic_prefix, path)
    relay = TenantRelay(settings, TenantsSource(settings), lambda: 1772496000.0)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        acme_topic = settings.topic("tenant.acme.events")
        shared = settings.topic("events")
        while not relay.followed:  # the relay created and follows the tenants' topics
            await asyncio.sleep(0.1)
        forged = [(TENANT_HEADER, b"globex")]  # set by acme's own producer: ignored
        await send(kafka_bootstrap, acme_topic, event("e-1"), forged)
        await send(kafka_bootstrap, acme_topic, b"not json", [])
        first, second = await shared_records(kafka_bootstrap, shared, 2)
        assert first.headers == ((TENANT_HEADER, b"acme"),)
        assert orjson.loads(first.value)["actor"] == "pseudonym:" + Pseudonymiser(ACME_KEY).person(
            "jane@example.com"
        )
        assert (second.value, second.headers) == (b"not json", ((TENANT_HEADER, b"acme"),))

        suspended = yaml.safe_load(path.read_text())
        suspended["tenants"]["acme"]["suspended"] = True
        path.write_text(yaml.safe_dump(suspended))
        while settings.topic("tenant.acme.events") in relay.followed:
            await asyncio.sleep(0.1)
        await send(kafka_bootstrap, acme_topic, event("e-2"), [])
        await send(kafka_bootstrap, settings.topic("tenant.globex.events"), event("e-3"), [])
        third = (await shared_records(kafka_bootstrap, shared, 3))[2]
        assert (orjson.loads(third.value)["id"], third.headers) == (
            "e-3",
            ((TENANT_HEADER, b"globex"),),
        )
        await asyncio.sleep(1.0)
        assert len(await shared_records(kafka_bootstrap, shared, 4, timeout_s=1)) == 3

        path.write_text(yaml.safe_dump(TENANTS))  # resumed: what waited is relayed
        fourth = (await shared_records(kafka_bootstrap, shared, 4))[3]
        assert (orjson.loads(fourth.value)["id"], fourth.headers) == (
            "e-2",
            ((TENANT_HEADER, b"acme"),),
        )
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)


async def retention_ms(settings: Settings, names: list[str]) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        found = await topic_settings(admin, [settings.topic(name) for name in names])
        return {name: found[settings.topic(name)][RETENTION] for name in names}
    finally:
        await admin.close()


async def test_a_tenants_retention_is_its_own_topics_and_a_change_is_applied_without_a_restart(
    kafka_bootstrap: str, unique_topic_prefix: str, tmp_path: Path
):
    path = tmp_path / "tenants.yaml"
    raw = yaml.safe_load(yaml.safe_dump(TENANTS))
    raw["tenants"]["acme"]["retention"] = "30d"
    path.write_text(yaml.safe_dump(raw))
    settings = relay_settings(kafka_bootstrap, unique_topic_prefix, path, input_retention="7d")
    relay = TenantRelay(settings, TenantsSource(settings), lambda: 1772496000.0)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    day_ms = 86_400_000
    names = ["tenant.acme.events", "tenant.acme.xapi", "tenant.globex.events"]
    try:
        while not relay.followed:
            await asyncio.sleep(0.1)
        assert await retention_ms(settings, names) == {
            "tenant.acme.events": str(30 * day_ms),
            "tenant.acme.xapi": str(30 * day_ms),
            "tenant.globex.events": str(7 * day_ms),  # the shared input topics'
        }
        raw["tenants"]["acme"]["retention"] = "3d"
        path.write_text(yaml.safe_dump(raw))
        for _ in range(100):
            found = await retention_ms(settings, names[:1])
            if found == {"tenant.acme.events": str(3 * day_ms)}:
                break
            await asyncio.sleep(0.1)
        assert found == {"tenant.acme.events": str(3 * day_ms)}
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
