"""The records one batch produces, sent as whole Kafka batches and awaited together.

`producer.send` costs 3-4 µs per record (a coroutine, a future, the partitioner); records
appended to a `BatchBuilder` cost well under one, and every destination partition is known
in advance (keys are hashed once per key, see `teampulse.engine.partitioner`). The input
offsets of a batch are committed only once Kafka has acknowledged every record it produced,
so a crash never loses a record behind a commit.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from aiokafka import AIOKafkaProducer

__all__ = ["BatchOutbox"]


class BatchOutbox:
    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._records: dict[tuple[str, int], list[tuple[bytes | None, bytes]]] = defaultdict(list)
        self.count = 0

    def add(self, topic: str, partition: int, key: bytes | None, value: bytes) -> None:
        self._records[(topic, partition)].append((key, value))
        self.count += 1

    def destinations(self) -> set[tuple[str, int]]:
        """The (topic, partition) pairs the records added so far go to."""
        return set(self._records)

    async def flush(self) -> list[asyncio.Future[Any]]:
        """Hand every record to the producer; returns the futures of the broker's
        acknowledgements (the caller decides when to wait for them)."""
        records, self._records = self._records, defaultdict(list)
        self.count = 0
        acks: list[asyncio.Future[Any]] = []
        for (topic, partition), pending in records.items():
            batch = self._producer.create_batch()
            for key, value in pending:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    acks.append(await self._producer.send_batch(batch, topic, partition=partition))
                    batch = self._producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        raise ValueError(f"a record for {topic} exceeds the producer's batch size")
            acks.append(await self._producer.send_batch(batch, topic, partition=partition))
        return acks
