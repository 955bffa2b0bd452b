"""The write path of the ingest endpoint, shared by the xAPI, events and connector routes.

The records planned from a request go to their topic, and the answer comes only after Kafka
acknowledged every one (acks=all). If Kafka does not take them within
TEAMPULSE_INGEST_WRITE_TIMEOUT_S, the answer is 503 with Retry-After, and the records are
never written later (see `ingest_producer`): a client may retry, with or without ids, and
nothing is doubled.

Known ids are remembered in memory (RECENT_IDS per route and tenant, least recently used
dropped first: two tenants may use the same id) and recalled at start from the digests this
endpoint writes as a Kafka header on every record, beside the tenant's header. Several
endpoint processes do not share that memory: a statement re-sent to another process is
written again, and the pipeline's dedupe by id counts it once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from teampulse.contract.intake import Intake, NewRecord, RecentIds, Refusal
from teampulse.ingest.producer import KafkaProducer
from teampulse.ingest.responses import error_response, refusal_response
from teampulse.kafka.security import kafka_client_options
from teampulse.settings import Settings
from teampulse.tenancy.directory import IMPLICIT_TENANT, TENANT_HEADER

__all__ = [
    "DIGEST_HEADER",
    "RECENT_IDS",
    "IngestWriter",
    "KafkaUnavailable",
    "planned",
    "recall_recent_ids",
]

log = logging.getLogger(__name__)

RECENT_IDS = 200_000  # ids remembered per route for same-content / 409 decisions (~50 MB)
DIGEST_HEADER = "teampulse-digest"
ROUTES = ("xapi", "events")


class KafkaUnavailable(Exception):
    """Kafka did not take a request's records within the write timeout."""


def planned(plan: Callable[[], Intake | Refusal]) -> Intake | Refusal:
    """The plan for a request's records. The validators answer any JSON with a refusal; should
    one raise all the same (a bug), the records are refused as `internal`, a 400 like any
    refusal of input: nothing was written, and the error type is logged, never the content."""
    try:
        return plan()
    except Exception as exc:  # noqa: BLE001 - input must never cause a 5xx
        cause = type(exc).__name__
        log.warning("ingest records refused as internal: unexpected %s", cause)
        return Refusal(400, "internal", f"the records could not be validated ({cause})")


class IngestWriter:
    """The recent ids per route, the writes in flight, and the count of records by outcome."""

    def __init__(
        self,
        settings: Settings,
        producer: KafkaProducer,
        registry: CollectorRegistry,
        recent_ids: int = RECENT_IDS,
    ) -> None:
        self.settings = settings
        self.producer = producer
        self.recent_capacity = recent_ids
        self._recent: dict[tuple[str, str], RecentIds] = {}
        # (tenant, route, id) -> (digest, done) of the writes not yet acknowledged by Kafka
        self.in_flight: dict[tuple[str, str, str], tuple[bytes, asyncio.Future[None]]] = {}
        self.records = Counter(
            "teampulse_ingest_records",
            "Records received over HTTP, by outcome (written, unchanged, refused)",
            ["route", "outcome"],
            registry=registry,
        )
        self.tenant_records = Counter(
            "teampulse_tenant_records",
            "Records written to Kafka per tenant and route: each tenant's usage",
            ["tenant", "route"],
            registry=registry,
        )

    def recent(self, tenant: str, route: str) -> RecentIds:
        """The ids `tenant` wrote recently on `route`."""
        found = self._recent.get((tenant, route))
        if found is None:
            found = self._recent[(tenant, route)] = RecentIds(self.recent_capacity)
        return found

    async def write(
        self,
        route: str,
        intake: Intake | Refusal,
        received: int,
        answer: Callable[[Intake], web.StreamResponse],
        tenant: str = IMPLICIT_TENANT,
        headers: tuple[tuple[str, bytes], ...] = (),
    ) -> web.StreamResponse:
        """Writes what `intake` plans for `tenant` (its records carry `headers`) and answers
        with `answer(intake)` once Kafka took it."""
        if isinstance(intake, Refusal):
            self.records.labels(route, "refused").inc(received)
            return refusal_response(intake)
        # Another request may be writing the same id right now: same content -> this answer
        # waits for that write (and fails with it); other content -> conflict.
        waiting: list[asyncio.Future[None]] = []
        claimed: list[NewRecord] = []
        for record in intake.new:
            flying = self.in_flight.get((tenant, route, record.id))
            if flying is None:
                claimed.append(record)
            elif flying[0] == record.digest:
                waiting.append(flying[1])
            else:
                self.records.labels(route, "refused").inc(received)
                return error_response(
                    409, "conflict", f"id {record.id} is being written with other content"
                )
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for record in claimed:
            self.in_flight[(tenant, route, record.id)] = (record.digest, done)
        try:
            await self._send(self.settings.topic(route), claimed, headers)
            recent = self.recent(tenant, route)
            for record in claimed:
                recent.remember(record.id, record.digest)
            done.set_result(None)
            if waiting:
                await asyncio.gather(*(asyncio.shield(w) for w in waiting))
        except Exception as exc:  # noqa: BLE001 - any Kafka failure is a 503 for the client
            if not done.done():
                done.set_exception(exc)
                done.exception()  # mark it retrieved: the waiters re-raise it themselves
            log.warning("ingest write failed route=%s records=%d: %r", route, len(claimed), exc)
            self.records.labels(route, "refused").inc(received)
            unavailable = error_response(
                503, "kafka_unavailable", "the records were not stored; retry"
            )
            unavailable.headers["Retry-After"] = str(self.settings.ingest_retry_after_s)
            return unavailable
        finally:
            for record in claimed:
                self.in_flight.pop((tenant, route, record.id), None)
        self.records.labels(route, "written").inc(len(claimed))
        self.tenant_records.labels(tenant, route).inc(len(claimed))
        self.records.labels(route, "unchanged").inc(received - len(claimed))
        response = answer(intake)
        response.headers["X-TeamPulse-Written"] = str(len(claimed))
        response.headers["X-TeamPulse-Unchanged"] = str(received - len(claimed))
        return response

    async def _send(
        self, topic: str, records: list[NewRecord], headers: tuple[tuple[str, bytes], ...]
    ) -> None:
        """Hands the records to the producer and waits for every acknowledgement, for at most
        the write timeout; raises when any record is not acknowledged by then."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.ingest_write_timeout_s
        delivered: list[Any] = []  # aiokafka's delivery futures
        try:
            async with asyncio.timeout_at(deadline):
                for record in records:
                    delivered.append(
                        await self.producer.send(
                            topic,
                            value=record.value,
                            key=record.id.encode(),
                            headers=[(DIGEST_HEADER, record.digest), *headers],
                        )
                    )
        except TimeoutError:
            raise KafkaUnavailable("the producer did not take the records in time") from None
        if not delivered:
            return
        done, pending = await asyncio.wait(delivered, timeout=max(0.0, deadline - loop.time()))
        if pending:
            # Not expected with ingest_producer's timeouts; said loudly, since these records
            # might still be written.
            log.error("ingest write outcome unknown for %d records after the timeout", len(pending))
            raise KafkaUnavailable("Kafka did not acknowledge the records in time")
        for future in done:
            future.result()  # the first failure, if any


async def recall_recent_ids(settings: Settings, writer: IngestWriter) -> int:
    """Reads back the newest records of the xapi and events topics and remembers their ids
    and digests, so that a restart keeps answering re-sent statements as unchanged / 409."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    from teampulse.kafka.reading import read_to_end

    names = [settings.topic(route) for route in ROUTES]
    admin = AIOKafkaAdminClient(**kafka_client_options(settings))
    await admin.start()
    try:
        described = {t["topic"]: t for t in await admin.describe_topics(names)}
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        **kafka_client_options(settings), enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    recalled = 0
    try:
        for route, topic in zip(ROUTES, names, strict=True):
            found = described.get(topic, {})
            if found.get("error_code") != 0 or not found.get("partitions"):
                continue  # no such topic yet: nothing to recall
            partitions = [TopicPartition(topic, p["partition"]) for p in found["partitions"]]
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.beginning_offsets(partitions)
            quota = writer.recent_capacity // len(partitions)
            for tp in partitions:
                consumer.seek(tp, max(starts[tp], ends[tp] - quota))
            async for _tp, records in read_to_end(consumer, partitions):
                for record in records:
                    headers = dict(record.headers or ())
                    digest = headers.get(DIGEST_HEADER)
                    if digest is not None and record.key is not None:
                        record_id = record.key.decode("utf-8", "replace")
                        tenant = headers.get(TENANT_HEADER, IMPLICIT_TENANT.encode())
                        recent = writer.recent(tenant.decode("utf-8", "replace"), route)
                        recent.remember(record_id, digest)
                        recalled += 1
    finally:
        await consumer.stop()
    return recalled
