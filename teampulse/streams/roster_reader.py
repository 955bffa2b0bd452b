"""Keeps the whole roster in memory on every worker.

The roster topic is compacted and small (one record per person), so each worker reads all
of its partitions with a group-less consumer instead of a Faust GlobalTable, whose recovery
can loop when several workers share it (see its docstring). Roster changes take effect as
they arrive; `ready` is set once the records present at start-up have been read, so that
the first events are not resolved against an empty roster. An erased person's entry is left
out, whenever it arrives (the erasure reader's set, `forget`): an erasure takes the person out
of their team's size too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Rejection
from teampulse.contract.roster import RosterEntry, parse_roster_record
from teampulse.enrichment.roster import Roster
from teampulse.kafka.reading import read_to_end, topic_partitions

__all__ = ["RosterReader"]

log = logging.getLogger(__name__)

METADATA_RETRY_S = 1.0
LOAD_RETRY_S = 2.0


class RosterReader:
    def __init__(
        self,
        kafka: Mapping[str, Any],
        topic: str,
        pseudonymiser: Pseudonymiser,
        erased: AbstractSet[str] = frozenset(),
    ) -> None:
        self.roster = Roster()
        self._erased = erased
        self.ready = asyncio.Event()
        self.rejected = 0
        self._kafka = kafka  # kafka_client_options: where and how to connect
        self._topic = topic
        self._pseudonymiser = pseudonymiser

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
        """A consumer that has read the roster to its end. While Kafka cannot be reached (an
        outage as the worker starts) it tries again every LOAD_RETRY_S instead of raising,
        which would crash the whole worker; re-applying records is idempotent."""
        consumer = await self._started()
        while True:
            try:
                partitions = await self._partitions(consumer)
                consumer.assign(partitions)
                await consumer.seek_to_beginning(*partitions)
                async for tp, records in read_to_end(consumer, partitions):
                    self._apply_all(tp, records)
            except KafkaError as exc:
                log.warning("roster not loaded yet (%r); trying again in %.0f s", exc, LOAD_RETRY_S)
                await asyncio.sleep(LOAD_RETRY_S)
                continue
            log.info("roster loaded: %d people", len(self.roster))
            self.ready.set()
            return consumer

    async def _started(self) -> AIOKafkaConsumer:
        while True:
            consumer = AIOKafkaConsumer(**self._kafka, enable_auto_commit=False, group_id=None)
            try:
                await consumer.start()
                return consumer
            except KafkaError as exc:  # not started: nothing of it to stop
                log.warning("roster reader cannot reach Kafka (%r); trying again", exc)
                await asyncio.sleep(LOAD_RETRY_S)

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        while True:
            found = await topic_partitions(consumer, self._topic)
            if found:
                return found
            log.info("roster topic %s not found yet; waiting for it", self._topic)
            await asyncio.sleep(METADATA_RETRY_S)

    def forget(self, people: set[str]) -> None:
        """Erasure: take these people out of the roster (later records of theirs are left out)."""
        for person in people:
            self.roster.remove(person)

    def _apply_all(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        for record in records:
            self._apply(record.key, record.value, tp, record.offset)

    def _apply(
        self, key: bytes | None, value: bytes | None, tp: TopicPartition, offset: int
    ) -> None:
        parsed = parse_roster_record(key, value, self._pseudonymiser)
        if isinstance(parsed, RosterEntry):
            if parsed.person not in self._erased:
                self.roster.apply(parsed)
        elif isinstance(parsed, Rejection):
            self.rejected += 1
            log.warning(
                "roster record rejected topic=%s partition=%d offset=%d reason=%s",
                tp.topic,
                tp.partition,
                offset,
                parsed.reason,
            )
        else:
            self.roster.remove(parsed)
