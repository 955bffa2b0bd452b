"""A batched, acknowledged Kafka writer for the tools that feed TeamPulse (produce, simulate)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from teampulse.kafka.security import kafka_client_options, kafka_connection_problem
from teampulse.settings import Settings

__all__ = ["KafkaSender"]

# Futures awaited together: enough to keep the producer's batches full, few enough that a
# broker error surfaces quickly.
IN_FLIGHT = 5000


class KafkaSender:
    def __init__(self, settings: Settings) -> None:
        self._producer = AIOKafkaProducer(
            **kafka_client_options(settings), acks="all", enable_idempotence=True, linger_ms=20
        )
        self._settings = settings
        self._pending: list[asyncio.Future] = []

    async def __aenter__(self) -> KafkaSender:
        try:
            await self._producer.start()
        except KafkaConnectionError:
            problem = await kafka_connection_problem(self._settings)
            raise SystemExit(problem.message) from None
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self.flush()
        finally:
            await self._producer.stop()

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        self._pending.append(
            await self._producer.send(topic, value=value, key=key, headers=headers)
        )
        if len(self._pending) >= IN_FLIGHT:
            await self.flush()

    async def send_all(
        self, topic: str, records: Iterable[tuple[bytes | None, bytes | None]]
    ) -> int:
        sent = 0
        for key, value in records:
            await self.send(topic, key, value)
            sent += 1
        return sent

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)
