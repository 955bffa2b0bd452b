"""Keeps every team's latest counts on every worker, as the roster reader keeps the roster.

A team's drop signal is set against the whole organisation, and a worker owns only some of
the teams: each worker reads all of the compacted `team-counts` topic (one record per team,
published by the team's owner) with a group-less consumer, so every worker judges against
the same organisation whatever the partition layout. `ready` is set once the records
present at start-up have been read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from teampulse.kafka.reading import read_to_end, topic_partitions
from teampulse.streams.partitions import RollupInputs

__all__ = ["TeamCountsReader"]

log = logging.getLogger(__name__)

METADATA_RETRY_S = 1.0
LOAD_RETRY_S = 2.0
FOLLOW_WAIT_MS = 500
FOLLOW_MAX_RECORDS = 5000


class TeamCountsReader:
    def __init__(self, kafka: Mapping[str, Any], topic: str) -> None:
        self.latest = RollupInputs()
        self.ready = asyncio.Event()
        self.refused = 0  # records that are not a team's counts
        self._kafka = kafka  # kafka_client_options: where and how to connect
        self._topic = topic

    def take_change(self) -> bool:
        changed, self.latest.changed = self.latest.changed, False
        return changed

    async def run(self) -> None:
        consumer = await self._loaded()
        try:
            while True:  # aiokafka rides out an outage from here on by itself
                batches = await consumer.getmany(
                    timeout_ms=FOLLOW_WAIT_MS, max_records=FOLLOW_MAX_RECORDS
                )
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
                    "team counts not loaded yet (%r); trying again in %.0f s", exc, LOAD_RETRY_S
                )
                await asyncio.sleep(LOAD_RETRY_S)
                continue
            log.info("team counts loaded: %d teams", len(self.latest.counts))
            self.ready.set()
            return consumer

    async def _started(self) -> AIOKafkaConsumer:
        while True:
            consumer = AIOKafkaConsumer(**self._kafka, enable_auto_commit=False, group_id=None)
            try:
                await consumer.start()
                return consumer
            except KafkaError as exc:
                log.warning("team counts reader cannot reach Kafka (%r); trying again", exc)
                await asyncio.sleep(LOAD_RETRY_S)

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        while True:
            found = await topic_partitions(consumer, self._topic)
            if found:
                return found
            log.info("team counts topic %s not found yet; waiting for it", self._topic)
            await asyncio.sleep(METADATA_RETRY_S)

    def _apply_all(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        for record in records:
            try:
                self.latest.apply(record.value or b"")
            except (ValueError, KeyError, TypeError) as exc:
                # Written by the workers only; a record they cannot read is skipped, not fatal.
                self.refused += 1
                log.warning(
                    "team counts record refused topic=%s partition=%d offset=%d reason=%r",
                    tp.topic, tp.partition, record.offset, exc,
                )  # fmt: skip
