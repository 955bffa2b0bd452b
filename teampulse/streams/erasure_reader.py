"""Keeps every erasure on every worker, as the roster reader keeps the roster.

The erasures topic is compacted and small (one record per erased person), and an erasure
must reach the worker that holds the person's state whatever the partition assignment, so
each worker reads all of it with a group-less consumer. `ready` is set once the records
present at start-up have been read: the hot stages and the team-state restores wait for it,
so no replay or re-read input brings an erased person back.

New erasures are handed to the listeners (the roster and the hot stages) as they arrive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from teampulse.contract.erasure import decode_erasure
from teampulse.kafka.reading import read_to_end, topic_partitions

__all__ = ["ErasureReader"]

log = logging.getLogger(__name__)

METADATA_RETRY_S = 1.0
LOAD_RETRY_S = 2.0

Listener = Callable[[set[str]], None]


class ErasureReader:
    def __init__(self, kafka: Mapping[str, Any], topic: str, key_check: str) -> None:
        self.erased: set[str] = set()
        self.ready = asyncio.Event()
        self.refused = 0  # records that are not erasures, or made with another key
        self._kafka = kafka  # kafka_client_options: where and how to connect
        self._topic = topic
        self._key_check = key_check
        self._listeners: list[Listener] = []

    def on_erased(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def run(self) -> None:
        consumer = await self._loaded()
        try:
            while True:  # aiokafka rides out an outage from here on by itself
                batches = await consumer.getmany(timeout_ms=500, max_records=5000)
                for tp, records in batches.items():
                    self._apply_all(tp, records)
        finally:
            await consumer.stop()

    async def _loaded(self) -> AIOKafkaConsumer:
        consumer = await self._started()
        while True:
            try:
                partitions = await self._partitions(consumer)
                consumer.assign(partitions)
                await consumer.seek_to_beginning(*partitions)
                async for tp, records in read_to_end(consumer, partitions):
                    self._apply_all(tp, records)
            except KafkaError as exc:
                log.warning(
                    "erasures not loaded yet (%r); trying again in %.0f s", exc, LOAD_RETRY_S
                )
                await asyncio.sleep(LOAD_RETRY_S)
                continue
            log.info("erasures loaded: %d people", len(self.erased))
            self.ready.set()
            return consumer

    async def _started(self) -> AIOKafkaConsumer:
        while True:
            consumer = AIOKafkaConsumer(**self._kafka, enable_auto_commit=False, group_id=None)
            try:
                await consumer.start()
                return consumer
            except KafkaError as exc:
                log.warning("erasure reader cannot reach Kafka (%r); trying again", exc)
                await asyncio.sleep(LOAD_RETRY_S)

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        while True:
            found = await topic_partitions(consumer, self._topic)
            if found:
                return found
            log.info("erasures topic %s not found yet; waiting for it", self._topic)
            await asyncio.sleep(METADATA_RETRY_S)

    def _apply_all(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        new: set[str] = set()
        for record in records:
            erasure = decode_erasure(record.value)
            if erasure is None or erasure.key_check != self._key_check:
                self.refused += 1
                log.warning(
                    "erasure record refused topic=%s partition=%d offset=%d reason=%s",
                    tp.topic,
                    tp.partition,
                    record.offset,
                    "not_an_erasure"
                    if erasure is None
                    else "another_pseudonym_key: run teampulse forget again with the "
                    "workers' TEAMPULSE_PSEUDONYM_SECRET",
                )
                continue
            if erasure.pseudonym not in self.erased:
                new.add(erasure.pseudonym)
        if new:
            self.erased |= new
            log.info("erasures received: %d people (%d in all)", len(new), len(self.erased))
            for listener in self._listeners:
                listener(new)
