"""`teampulse tenant-relay`: a tenant's own Kafka producers, into the shared input topics.

A tenant whose systems write to Kafka directly gets input topics of its own,
`<prefix>tenant.<id>.events` and `<prefix>tenant.<id>.xapi`, writable by its principal only
(docs/tenancy.md, docs/security.md). The topic names the tenant: the relay copies each record
to the shared topic of its route with the `teampulse-tenant` header set from the topic,
whatever headers the producer set, and keys the person id of a valid record with the tenant's
pseudonym secret on the way, as the ingest endpoint does. A record that is not valid is copied
as it is, so the worker dead-letters it with its reason.

Offsets are committed once Kafka acknowledged the copies (at least once: a record copied twice
after a crash is one event, the pipeline deduplicates by id). The tenants file is followed:
a new tenant's topics are created and relayed, a suspended or removed tenant's are no longer
read (its records wait in its topics, until their retention).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from teampulse.contract.event import Event
from teampulse.contract.events import EventValidator
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.xapi_rules import statement_problem
from teampulse.kafka.security import kafka_client_options
from teampulse.kafka.topics import ensure_topics
from teampulse.settings import Settings
from teampulse.tenancy.directory import TenantDirectory
from teampulse.tenancy.door import keyed_event, keyed_statement
from teampulse.tenancy.source import TenantsSource

__all__ = ["RELAY_GROUP_SUFFIX", "TenantRelay", "relayed_value"]

log = logging.getLogger(__name__)

RELAY_GROUP_SUFFIX = ".tenant-relay"
POLL_MS = 500


def relayed_value(
    route: str, value: bytes, pseudonymiser: Pseudonymiser, validator: EventValidator, now: float
) -> bytes:
    """What the relay writes for one record of a tenant's topic (pure): a valid record with
    its person keyed, anything else as it came."""
    try:
        record: Any = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
    if type(record) is not dict:
        return value
    if route == "xapi":
        if statement_problem(record) is not None:
            return value
        return orjson.dumps(keyed_statement(record, pseudonymiser))
    if not isinstance(validator.validate(record, now), Event):
        return value
    return orjson.dumps(keyed_event(record, pseudonymiser))


class TenantRelay:
    def __init__(
        self, settings: Settings, tenants: TenantsSource, clock: Callable[[], float]
    ) -> None:
        self.settings = settings
        self.tenants = tenants
        self.clock = clock
        self.validator = EventValidator(settings, Pseudonymiser(settings.pseudonym_secret))
        self.relayed = 0
        self._subscribed: dict[str, tuple[str, str]] = {}  # full topic name -> (tenant, route)
        self._retention: dict[str, int | None] = {}  # the tenants' retention the topics have

    @property
    def followed(self) -> frozenset[str]:
        """The tenants' topics being relayed now."""
        return frozenset(self._subscribed)

    def _wanted(self, directory: TenantDirectory) -> dict[str, tuple[str, str]]:
        return {
            self.settings.topic(name): owner for name, owner in directory.tenant_topics().items()
        }

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        """Subscribes to the topics of the tenants in force, creating those that are new."""
        directory = self.tenants.directory
        wanted = self._wanted(directory)
        retention = directory.tenant_topic_retention()
        if wanted == self._subscribed and retention == self._retention:
            return
        # Creates a new tenant's topics, and sets each tenant's retention on its own topics
        # (a changed `retention` of the tenants file takes effect here, without a restart).
        await ensure_topics(self.settings, retention)
        self._retention = retention
        if wanted == self._subscribed:
            return
        self._subscribed = wanted
        if wanted:
            consumer.subscribe(sorted(wanted))
        else:
            consumer.unsubscribe()
        log.info("relaying the topics of %d tenants", len({t for t, _ in wanted.values()}))

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Relays until cancelled (or `stop` is set)."""
        kafka = kafka_client_options(self.settings)
        consumer = AIOKafkaConsumer(
            **kafka,
            group_id=self.settings.app_id + RELAY_GROUP_SUFFIX,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        producer = AIOKafkaProducer(**kafka, acks="all", enable_idempotence=True, linger_ms=5)
        await consumer.start()
        await producer.start()
        next_reload = 0.0
        loop = asyncio.get_running_loop()
        try:
            while stop is None or not stop.is_set():
                if loop.time() >= next_reload:
                    self.tenants.reload_if_changed()
                    await self._follow(consumer)
                    next_reload = loop.time() + self.settings.tenants_reload_s
                if not self._subscribed:
                    await asyncio.sleep(POLL_MS / 1000)
                    continue
                batches = await consumer.getmany(timeout_ms=POLL_MS)
                if batches:
                    await self._copy(batches, producer)
                    await consumer.commit()
        finally:
            await producer.stop()
            await consumer.stop()

    async def _copy(
        self, batches: dict[Any, list[ConsumerRecord]], producer: AIOKafkaProducer
    ) -> None:
        directory = self.tenants.directory
        now = self.clock()
        delivered = []
        for tp, records in batches.items():
            owner = self._subscribed.get(tp.topic)
            if owner is None:
                continue  # a topic no longer followed: its new subscription skips it too
            tenant, route = owner
            pseudonymiser = directory.pseudonymiser(tenant)
            headers = directory.record_headers(tenant)
            for record in records:
                value = relayed_value(
                    route, record.value or b"", pseudonymiser, self.validator, now
                )
                delivered.append(
                    await producer.send(
                        self.settings.topic(route), value=value, key=record.key, headers=headers
                    )
                )
        await asyncio.gather(*delivered)  # every copy acknowledged before the commit
        self.relayed += len(delivered)
