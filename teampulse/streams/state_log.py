"""Per-partition state of a stage, kept in memory and made durable as an append-only log.

A stage appends, per batch and input partition, the operations it applied (the raw wire
bytes of accepted events and facts) to a log topic partition with the same number. Faust
flushes the producer before it commits input offsets, so the log is always at least as far
as the committed offsets. When a partition is assigned (start-up, rebalance, restart after a
crash) its state is rebuilt by replaying the log; input records after the last commit are
then delivered again and recognised as duplicates by their event ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from faust.types import TopicT

from teampulse.kafka.reading import read_to_end

__all__ = ["MAX_LOG_RECORD_BYTES", "NO_LOG_POSITION", "PartitionedState", "State", "frame_ops"]

log = logging.getLogger(__name__)

State = TypeVar("State")

# Kafka's default message.max.bytes is 1 MiB; stay well below it per log record.
MAX_LOG_RECORD_BYTES = 512 * 1024
RESTORE_RETRY_S = 2.0
# The log position of a partition whose state log is empty (Kafka offsets start at 0).
NO_LOG_POSITION = -1


def frame_ops(ops: Iterable[bytes]) -> list[bytes]:
    """Pack operations (each a JSON value) into JSON arrays no larger than the record limit."""
    records: list[bytes] = []
    chunk: list[bytes] = []
    size = 0
    for op in ops:
        if chunk and size + len(op) > MAX_LOG_RECORD_BYTES:
            records.append(b"[" + b",".join(chunk) + b"]")
            chunk, size = [], 0
        chunk.append(op)
        size += len(op) + 1
    if chunk:
        records.append(b"[" + b",".join(chunk) + b"]")
    return records


class PartitionedState(Generic[State]):
    """The in-memory state of one stage for the partitions this worker owns."""

    def __init__(
        self,
        name: str,
        log_topic: TopicT,
        kafka: Mapping[str, Any],
        new_state: Callable[[int], State],
        replay: Callable[[State, bytes], None],
        replay_after: asyncio.Event | None = None,
    ) -> None:
        self.name = name
        self.states: dict[int, State] = {}
        self._log_topic = log_topic
        self._kafka = kafka  # kafka_client_options: where and how to connect
        self._new_state = new_state
        self._replay = replay
        self._replay_after = replay_after  # what a replay needs first (the erasures loaded)
        self._ready: dict[int, asyncio.Event] = {}
        self._restores: dict[int, asyncio.Task[None]] = {}
        # Per partition, the offset of the last log record the state includes that Kafka
        # has acknowledged (replayed, or appended and acknowledged): a lower bound of the
        # state's progress that only grows, whichever worker owns the partition.
        self.positions: dict[int, int] = {}
        # Called with a partition once its state is restored (the worker publishes at once
        # instead of at its next export tick).
        self.after_restore: Callable[[int], object] = lambda _partition: None
        # One logger per stage: its lines are not collapsed with another stage's (the
        # worker collapses repeated lines per logger and format string).
        self._log = log.getChild(name)
        # The partitions of the latest assignment still restoring, since when, and the log
        # records replayed so far: one summary line when they are all ready.
        self._restoring: set[int] = set()
        self._restoring_since = 0.0
        self._restoring_records = 0

    def assign(self, partitions: set[int]) -> None:
        for partition in set(self.states) - partitions:
            self.revoke(partition)
        taken = partitions - set(self.states)
        if taken and not self._restoring:
            self._restoring_since, self._restoring_records = time.monotonic(), 0
        self._restoring |= taken
        for partition in taken:
            self.states[partition] = self._new_state(partition)
            self.positions[partition] = NO_LOG_POSITION
            self._ready[partition] = asyncio.Event()
            self._restores[partition] = asyncio.create_task(self._restore(partition))

    def reload(self) -> None:
        """Rebuilds every partition this worker owns from its log. After a failed send the
        memory can hold records whose log record never reached Kafka; read again, they
        would count as already applied and never be logged, so a later restore would lack
        them."""
        owned = set(self.states)
        for partition in owned:
            self.revoke(partition)
        self.assign(owned)

    def revoke(self, partition: int) -> None:
        task = self._restores.pop(partition, None)
        if task is not None:
            task.cancel()
        self.states.pop(partition, None)
        self.positions.pop(partition, None)
        self._ready.pop(partition, None)
        self._restoring.discard(partition)

    def logged(self, partition: int, offset: int) -> None:
        """Kafka acknowledged a log record of `partition` at `offset`."""
        if partition in self.positions and offset > self.positions[partition]:
            self.positions[partition] = offset

    async def ready(self, partition: int) -> State | None:
        """The state of a partition once restored; None if it is not (or no longer) ours."""
        event = self._ready.get(partition)
        if event is None:
            return None
        await event.wait()
        return self.states.get(partition)

    def is_ready(self, partition: int) -> bool:
        event = self._ready.get(partition)
        return event is not None and event.is_set()

    @property
    def log_topic(self) -> TopicT:
        return self._log_topic

    async def _replay_log(self, partition: int) -> int:
        tp = TopicPartition(self._log_topic.get_topic_name(), partition)
        consumer = AIOKafkaConsumer(
            **self._kafka,
            enable_auto_commit=False,
            group_id=None,
            max_partition_fetch_bytes=4 * MAX_LOG_RECORD_BYTES,
        )
        replayed = 0
        try:
            await consumer.start()
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            state = self.states[partition]
            async for _tp, records in read_to_end(consumer, [tp], max_records=500):
                for record in records:
                    self._replay(state, record.value)
                    self.logged(partition, record.offset)
                    replayed += 1
        finally:
            with contextlib.suppress(KafkaError):
                await consumer.stop()
        return replayed

    @staticmethod
    def frame(ops: list[bytes]) -> list[bytes]:
        return frame_ops(ops)

    async def _restore(self, partition: int) -> None:
        """Replays the partition's log into a fresh state. While Kafka cannot be reached (an
        outage during start-up or a rebalance) it starts over every RESTORE_RETRY_S: a failed
        restore would otherwise leave the partition never ready and its agent waiting."""
        if self._replay_after is not None:
            await self._replay_after.wait()
        started = time.monotonic()
        while True:
            try:
                replayed = await self._replay_log(partition)
                break
            except KafkaError as exc:
                self._log.warning(
                    "%s partition %d not restored yet (%r); trying again in %.0f s",
                    self.name,
                    partition,
                    exc,
                    RESTORE_RETRY_S,
                )
                await asyncio.sleep(RESTORE_RETRY_S)
                if partition in self.states:  # a partial replay must not count twice
                    self.states[partition] = self._new_state(partition)
                    self.positions[partition] = NO_LOG_POSITION
        self._log.info(
            "%s partition %d restored from %d log records in %.2f s",
            self.name,
            partition,
            replayed,
            time.monotonic() - started,
        )
        ready = self._ready.get(partition)
        if ready is not None:
            ready.set()
            self.after_restore(partition)
            self._restoring.discard(partition)
            self._restoring_records += replayed
            if not self._restoring:
                self._log.info(
                    "%s: the assigned partitions are restored from %d log records in %.2f s",
                    self.name,
                    self._restoring_records,
                    time.monotonic() - self._restoring_since,
                )
