"""Load-then-follow reading of a whole compacted topic, on every worker.

The roster, the erasures and every team's latest counts are small compacted topics that every
worker needs in full whatever its partitions, so each is read with a group-less consumer:
from the beginning to the end present at start-up (then `ready` is set, and what waits on it
may start), and from there on as records arrive. While Kafka cannot be reached as the worker
starts, the load tries again every LOAD_RETRY_S instead of raising, which would stop the
whole worker; the readers' apply functions are idempotent, so re-applying records is safe.
What a record means is the caller's: this module knows topics, not records' contents.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from teampulse.kafka.reading import read_to_end, topic_partitions

__all__ = ["ApplyBatch", "CompactedTopicReader", "ConsumerRecord", "TopicPartition"]

log = logging.getLogger(__name__)

METADATA_RETRY_S = 1.0
LOAD_RETRY_S = 2.0
FOLLOW_WAIT_MS = 500
FOLLOW_MAX_RECORDS = 5000

ApplyBatch = Callable[[TopicPartition, list[ConsumerRecord]], None]


class CompactedTopicReader:
    def __init__(
        self,
        kafka: Mapping[str, Any],
        topic: str,
        what: str,
        apply_batch: ApplyBatch,
        loaded_summary: Callable[[], str],
    ) -> None:
        """`what` names the topic's contents in log lines ("roster", "erasures");
        `loaded_summary` says what was loaded once the start-up records are read."""
        self.ready = asyncio.Event()
        self._kafka = kafka  # kafka_client_options: where and how to connect
        self._topic = topic
        self._what = what
        self._apply_batch = apply_batch
        self._loaded_summary = loaded_summary

    async def run(self) -> None:
        consumer = await self._loaded()
        try:
            while True:  # aiokafka rides out an outage from here on by itself
                batches = await consumer.getmany(
                    timeout_ms=FOLLOW_WAIT_MS, max_records=FOLLOW_MAX_RECORDS
                )
                for tp, records in batches.items():
                    self._apply_batch(tp, records)
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
                    self._apply_batch(tp, records)
            except KafkaError as exc:
                log.warning(
                    "%s not loaded yet (%r); trying again in %.0f s", self._what, exc, LOAD_RETRY_S
                )
                await asyncio.sleep(LOAD_RETRY_S)
                continue
            log.info("%s loaded: %s", self._what, self._loaded_summary())
            self.ready.set()
            return consumer

    async def _started(self) -> AIOKafkaConsumer:
        while True:
            consumer = AIOKafkaConsumer(**self._kafka, enable_auto_commit=False, group_id=None)
            try:
                await consumer.start()
                return consumer
            except KafkaError as exc:  # not started: nothing of it to stop
                log.warning("%s reader cannot reach Kafka (%r); trying again", self._what, exc)
                await asyncio.sleep(LOAD_RETRY_S)

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        while True:
            found = await topic_partitions(consumer, self._topic)
            if found:
                return found
            log.info("%s topic %s not found yet; waiting for it", self._what, self._topic)
            await asyncio.sleep(METADATA_RETRY_S)
