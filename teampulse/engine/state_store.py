"""Per-partition state of a stage, kept in memory and made durable by a log and snapshots.

A stage appends, per batch and input partition, the operations it applied to a log topic
partition with the same number; input offsets are committed only once Kafka has acknowledged
those log records, so the log is always at least as far as the committed offsets. The log is
kept under time retention; now and then the whole state of a partition is written to a
compacted snapshot topic with the log position it covers (`teampulse.engine.snapshots`).

When a partition is assigned (start-up, rebalance, restart after a crash) its state is the
latest complete snapshot plus the log records after its position; input records after the
last commit are then delivered again and recognised as duplicates by their event ids. Without
a snapshot (a new deployment, or one in an older format) the whole log is replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from teampulse.engine.snapshots import (
    CHUNK_BYTES,
    ForkedDump,
    Snapshot,
    SnapshotAssembler,
    chunk_snapshot,
    encode_chunk,
    tombstone_keys,
)
from teampulse.kafka.reading import read_to_end

__all__ = [
    "MAX_LOG_RECORD_BYTES",
    "NO_LOG_POSITION",
    "IncompatibleSnapshot",
    "PartitionedState",
    "PendingSnapshot",
    "SnapshotCodec",
    "State",
    "frame_ops",
]

log = logging.getLogger(__name__)

State = TypeVar("State")

# Kafka's default message.max.bytes is 1 MiB; stay well below it per log record.
MAX_LOG_RECORD_BYTES = 512 * 1024
RESTORE_RETRY_S = 2.0
# The log position of a partition whose state log is empty (Kafka offsets start at 0).
NO_LOG_POSITION = -1


class IncompatibleSnapshot(ValueError):
    """A snapshot written by a release whose state has another shape: replay the log instead."""


class _Superseded(Exception):
    """The restore's partition was revoked, or assigned again with a restore of its own."""


@dataclass(frozen=True)
class SnapshotCodec(Generic[State]):
    """How a stage's partition state becomes bytes and back; the engine only moves them."""

    topic: str
    dump: Callable[[State], bytes]
    load: Callable[[int, bytes], State]  # raises IncompatibleSnapshot
    interval_s: float


@dataclass
class PendingSnapshot:
    """A snapshot being serialised in a child process, and where it goes."""

    partition: int
    position: int
    inputs: dict[str, int]
    dump: ForkedDump
    started: float


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
        log_topic: str,
        kafka: Mapping[str, Any],
        new_state: Callable[[int], State],
        replay: Callable[[State, bytes], None],
        replay_after: asyncio.Event | None = None,
        snapshots: SnapshotCodec[State] | None = None,
    ) -> None:
        self.name = name
        self.states: dict[int, State] = {}
        self.log_topic = log_topic
        self.snapshots = snapshots
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
        # Per partition: the log position of the latest snapshot and when it was taken (or
        # the partition restored), and the chunks each snapshot slot holds.
        self._snapshot_position: dict[int, int] = {}
        self._snapshot_at: dict[int, float] = {}
        # Per partition restored from a snapshot: the input offsets it covers (input topic ->
        # next offset to read), where to read on when the group has no committed offset.
        self.restored_inputs: dict[int, dict[str, int]] = {}
        self._slots: dict[int, SnapshotAssembler] = {}
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
            ready = self._ready[partition] = asyncio.Event()
            self._restores[partition] = asyncio.create_task(self._restore(partition, ready))

    def reload(self) -> None:
        """Rebuilds every partition this worker owns from its snapshot and log. After a
        failed send the memory can hold records whose log record never reached Kafka; read
        again, they would count as already applied and never be logged, so a later restore
        would lack them."""
        owned = set(self.states)
        for partition in owned:
            self.revoke(partition)
        self.assign(owned)

    def revoke(self, partition: int) -> None:
        # A cancelled restore may still run on: aiokafka's consumer.stop() swallows the
        # cancellation when it lands there. It stops at its next step instead (`_current`).
        task = self._restores.pop(partition, None)
        if task is not None:
            task.cancel()
        self.states.pop(partition, None)
        self.positions.pop(partition, None)
        self._ready.pop(partition, None)
        self._snapshot_position.pop(partition, None)
        self._snapshot_at.pop(partition, None)
        self._slots.pop(partition, None)
        self.restored_inputs.pop(partition, None)
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

    def ready_state(self, partition: int) -> State | None:
        """The state of a partition if it is ours and restored; None otherwise (no wait)."""
        return self.states.get(partition) if self.is_ready(partition) else None

    def restoring(self) -> set[int]:
        """The partitions owned whose state is not restored yet."""
        return {p for p in self.states if not self.is_ready(p)}

    def is_ready(self, partition: int) -> bool:
        event = self._ready.get(partition)
        return event is not None and event.is_set()

    @staticmethod
    def frame(ops: list[bytes]) -> list[bytes]:
        return frame_ops(ops)

    # ------------------------------------------------------------------ snapshots
    def snapshot_due(self, now: float) -> list[int]:
        """Ready partitions whose latest snapshot is older than the interval and whose state
        has moved since, the longest waiting first."""
        codec = self.snapshots
        if codec is None:
            return []
        due = [
            p
            for p, at in self._snapshot_at.items()
            if now - at >= codec.interval_s
            and self.is_ready(p)
            and self.positions.get(p, NO_LOG_POSITION)
            > self._snapshot_position.get(p, NO_LOG_POSITION)
        ]
        return sorted(due, key=lambda p: self._snapshot_at[p])

    def start_snapshot(
        self, partition: int, position: int, inputs: dict[str, int]
    ) -> PendingSnapshot:
        """Forks a child that serialises the partition's state as it is now: the caller
        holds the batch lock, every batch applied is acknowledged, and `position` is the
        exact log offset of the last record the state includes."""
        codec = self.snapshots
        assert codec is not None, "start_snapshot needs a snapshot codec"
        state = self.states[partition]
        self._snapshot_at[partition] = time.monotonic()  # not again before the interval
        return PendingSnapshot(
            partition, position, inputs, ForkedDump(lambda: codec.dump(state)), time.monotonic()
        )

    async def snapshot_records(
        self, pending: PendingSnapshot
    ) -> list[tuple[bytes, bytes | None]] | None:
        """The (key, value) records of a snapshot once its child is done, the tombstones of
        the chunks it replaces included; None if the partition is no longer ours."""
        payload = await pending.dump.result()
        partition = pending.partition
        slots = self._slots.get(partition)
        if slots is None or partition not in self.states:
            return None
        slot = slots.next_slot()
        chunks = chunk_snapshot(payload, slot, pending.position, pending.inputs)
        records: list[tuple[bytes, bytes | None]] = [(c.key, encode_chunk(c)) for c in chunks]
        held = slots.chunk_counts().get(slot, 0)
        records.extend((key, None) for key in tombstone_keys(slot, len(chunks), held))
        for chunk in chunks:
            slots.add(chunk.key, encode_chunk(chunk))
        self._log.info(
            "%s partition %d snapshot of %d bytes in %d chunks at log position %d "
            "(serialised in %.2f s)",
            self.name,
            partition,
            len(payload),
            len(chunks),
            pending.position,
            time.monotonic() - pending.started,
        )
        return records

    def snapshot_written(self, pending: PendingSnapshot) -> None:
        if pending.partition in self.states:
            self._snapshot_position[pending.partition] = pending.position

    # ------------------------------------------------------------------ restore
    async def _read_snapshots(self, partition: int) -> SnapshotAssembler:
        assembler = SnapshotAssembler()
        codec = self.snapshots
        if codec is None:
            return assembler
        tp = TopicPartition(codec.topic, partition)
        consumer = AIOKafkaConsumer(
            **self._kafka,
            enable_auto_commit=False,
            group_id=None,
            max_partition_fetch_bytes=4 * CHUNK_BYTES,
        )
        try:
            await consumer.start()
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            async for _tp, records in read_to_end(consumer, [tp], max_records=50):
                for record in records:
                    assembler.add(record.key, record.value)
        finally:
            with contextlib.suppress(KafkaError):
                await consumer.stop()
        return assembler

    def _load(self, partition: int, snapshot: Snapshot) -> State | None:
        codec = self.snapshots
        assert codec is not None
        try:
            return codec.load(partition, snapshot.state_bytes())
        except Exception as exc:  # noqa: BLE001 - a damaged snapshot must not stall the partition
            # Another release's shape is expected after an upgrade; anything else is damage.
            expected = isinstance(exc, IncompatibleSnapshot)
            self._log.log(
                logging.WARNING if expected else logging.ERROR,
                "%s partition %d: the snapshot at log position %d is not restored (%s); "
                "the state log is replayed from its start instead",
                self.name,
                partition,
                snapshot.position,
                exc if expected else f"unexpected {type(exc).__name__}",
            )
            return None

    async def _replay_log(self, partition: int, after: int, ready: asyncio.Event) -> int:
        tp = TopicPartition(self.log_topic, partition)
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
            start = (await consumer.beginning_offsets([tp]))[tp]
            if after + 1 < start:
                self._log.error(
                    "%s partition %d: state-log records %d to %d were deleted by retention "
                    "before a snapshot covered them; the restored state lacks them (take "
                    "snapshots more often than the state log's retention)",
                    self.name,
                    partition,
                    after + 1,
                    start - 1,
                )
            consumer.seek(tp, max(after + 1, start))
            self._current(partition, ready)
            state = self.states[partition]
            async for _tp, records in read_to_end(consumer, [tp], max_records=500):
                self._current(partition, ready)
                for record in records:
                    try:
                        self._replay(state, record.value or b"")
                    except Exception as exc:  # noqa: BLE001 - one record must not stall the rest
                        self._unreplayable(partition, record.offset, exc)
                    self.logged(partition, record.offset)
                    replayed += 1
        finally:
            with contextlib.suppress(KafkaError):
                await consumer.stop()
        return replayed

    def _unreplayable(self, partition: int, offset: int, exc: Exception) -> None:
        """A log record this release cannot apply (written by something else, or damaged)
        is left out: stopping there would keep the partition, and every team on it, paused
        for good. The cause's type only: its message may quote the record."""
        self._log.error(
            "%s partition %d: state-log record at offset %d could not be replayed "
            "(unexpected %s) and is left out of the restored state; the records after it are "
            "replayed (docs/failure-modes.md)",
            self.name,
            partition,
            offset,
            type(exc).__name__,
        )

    def _current(self, partition: int, ready: asyncio.Event) -> None:
        """Raises `_Superseded` when the restore that owns `ready` is no longer the
        partition's: whatever it would write belongs to a revoked or newer assignment."""
        if self._ready.get(partition) is not ready:
            raise _Superseded

    async def _rebuild(self, partition: int, ready: asyncio.Event) -> tuple[int, int]:
        """The partition's state from its latest snapshot and the log after it: (the
        snapshot's position, log records replayed)."""
        slots = await self._read_snapshots(partition)
        self._current(partition, ready)
        snapshot = slots.latest()
        state = self._load(partition, snapshot) if snapshot is not None else None
        position = NO_LOG_POSITION
        if snapshot is not None and state is not None:
            position = snapshot.position
            self.states[partition] = state
            self.positions[partition] = position
            self.restored_inputs[partition] = dict(snapshot.inputs)
        self._slots[partition] = slots
        self._snapshot_position[partition] = position
        return position, await self._replay_log(partition, position, ready)

    async def _restore(self, partition: int, ready: asyncio.Event) -> None:
        """Rebuilds the partition into a fresh state. While Kafka cannot be reached (an
        outage during start-up or a rebalance) it starts over every RESTORE_RETRY_S: a failed
        restore would otherwise leave the partition never ready and its agent waiting.

        `ready` is the event of the assignment this restore serves. A restore that outlives
        it (revoked, or the partition assigned again) stops without writing anything: left
        to run, it put a revoked partition's state back into `states`, so a later
        assignment of that partition started no restore and it stayed paused for good, or
        it set the newer restore's event while that one was still replaying."""
        try:
            await self._restore_current(partition, ready)
        except _Superseded:
            self._log.info("%s partition %d: a superseded restore stopped", self.name, partition)

    async def _restore_current(self, partition: int, ready: asyncio.Event) -> None:
        if self._replay_after is not None:
            await self._replay_after.wait()
        started = time.monotonic()
        while True:
            self._current(partition, ready)
            try:
                from_position, replayed = await self._rebuild(partition, ready)
                break
            except _Superseded:
                raise
            except Exception as exc:  # noqa: BLE001 - an unretried failure would pause it for good
                # Kafka unreachable is expected during an outage; anything else is a defect,
                # logged with its traceback and retried, never a partition silently paused.
                kafka = isinstance(exc, KafkaError)
                self._log.log(
                    logging.WARNING if kafka else logging.ERROR,
                    "%s partition %d not restored yet (%r); trying again in %.0f s",
                    self.name,
                    partition,
                    exc,
                    RESTORE_RETRY_S,
                    exc_info=not kafka,
                )
                await asyncio.sleep(RESTORE_RETRY_S)
                self._current(partition, ready)
                # a partial replay must not count twice
                self.states[partition] = self._new_state(partition)
                self.positions[partition] = NO_LOG_POSITION
        self._current(partition, ready)
        self._log.info(
            "%s partition %d restored from %s and %d log records in %.2f s",
            self.name,
            partition,
            "no snapshot"
            if from_position == NO_LOG_POSITION
            else f"the snapshot at log position {from_position}",
            replayed,
            time.monotonic() - started,
        )
        self._snapshot_at[partition] = time.monotonic()
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
