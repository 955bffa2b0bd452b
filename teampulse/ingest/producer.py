"""The ingest endpoint's Kafka producer, and what the write path needs of one."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

from teampulse.kafka.security import kafka_client_options
from teampulse.settings import Settings

__all__ = ["INGEST_RETRY_BACKOFF_MS", "KafkaProducer", "ingest_producer"]

INGEST_RETRY_BACKOFF_MS = 100


class KafkaProducer(Protocol):
    """What the endpoint needs of aiokafka's AIOKafkaProducer."""

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Awaitable[Any]: ...


def ingest_producer(settings: Settings) -> Any:
    """The endpoint's producer, configured so that a record it answered 503 for is never
    written afterwards.

    aiokafka retries a batch until it is delivered when idempotence is on (it never expires
    one), so a statement refused during an outage would reach Kafka when the broker returns.
    Without idempotence a batch fails for good once it is older than `request_timeout_ms`,
    and every send has settled, delivered or failed, within two request timeouts (a batch
    may wait for one request in flight to the same broker, then has its own) plus the retry
    backoff. Both fit in the write timeout, so when the endpoint answers 503 the producer has
    already given the records up. A retried send may duplicate a record the broker wrote but
    whose acknowledgement was lost; the pipeline's dedupe by id counts it once.
    """
    from aiokafka import AIOKafkaProducer

    timeout_ms = int(settings.ingest_write_timeout_s * 1000)
    return AIOKafkaProducer(
        **kafka_client_options(settings),
        acks="all",
        enable_idempotence=False,
        linger_ms=5,
        retry_backoff_ms=INGEST_RETRY_BACKOFF_MS,
        request_timeout_ms=max(1, (timeout_ms - 2 * INGEST_RETRY_BACKOFF_MS) // 2 - 100),
    )
