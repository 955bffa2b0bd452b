"""The batch loop: one consumer group reads its topics in batches of thousands and drives a handler.

Faust's per-message consumer path costs 105-150 µs of CPU per record and hop (a
`wait_first` with four Tasks per message, per-event acks and sensors), so no batching inside
an agent can lift a worker above about 10,000 records/s per hop. This service reads every
topic its handler names (`BatchHandler.inputs`) with `getmany` and hands each result whole to
the handler (`BatchHandler.handle`), which queues what the batch produces on an outbox. It
knows topics, partitions, offsets and states with logs; what a record means is the handler's.

* Group: `<app id>.hot`, the app's one consumer group. The assignor gives every member the
  same partition numbers of every topic (Kafka's range assignment over equal partition
  counts), so a member owns partition p of each stage's topic together, and it publishes
  which worker's web server owns each partition of the routed topic, for the read API.
* A batch is applied under a lock and handed to the producer; its input offsets are committed
  once Kafka has acknowledged everything it produced and everything earlier batches produced
  (up to MAX_BATCHES_IN_FLIGHT batches wait for acknowledgements while the next one is
  applied). A rebalance takes the lock and waits until every applied batch is committed
  before partitions are revoked, so a revoked partition's state never lags its commit;
  assigned partitions restore their states before their records are applied
  (`PartitionedState.ready`), and a partition still restoring is paused while the ready ones
  go on. Work the handler has without a record (`BatchHandler.has_work`: erasures) and
  records queued by others (`send_with_next_batch`) go out as a batch of their own.
* A worker joins the group only once it can publish (the `ready` events), and every change
  of its partitions is followed at once by `after_assignment`, so a partition that moved away
  leaves this worker's outputs before its new owner has restored it; a stopping worker
  withdraws its partitions before it leaves.
* A worker whose membership lapsed (`MembershipLease`) applies and sends nothing, and drops
  every partition state when the group answers again, even for partitions it gets back.
* An input partition the group has no committed offset for (offsets.retention.minutes
  expired them while every worker was stopped, 7 days by default) is read on from the input
  offsets of the snapshots its states were restored from: what they cover is not applied
  again, what came after is not skipped. Without a snapshot it is read from its start.
* A failed send rewinds every partition to its last commit and has the handler rebuild every
  state from its log (which is at least as far as the commit), then reads on: what is read
  again must count once (the handler's updates are idempotent).
* With tenants (`BatchHandler.tenant_readers`), the loop reads ahead of what it applies and a
  `TenantScheduler` picks each batch by tenant, holding back what one tenant has in excess;
  a partition's commit stops at its first record held back (`teampulse.engine.tenant_scheduler`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from mode import Service

from teampulse.engine.assignor import OwnerAssignor
from teampulse.engine.batch_outbox import BatchOutbox
from teampulse.engine.membership import MembershipLease
from teampulse.engine.records import ConsumerRecord, Records, TopicPartition
from teampulse.engine.state_store import MAX_LOG_RECORD_BYTES, PartitionedState, PendingSnapshot
from teampulse.engine.tenant_scheduler import TenantOf, TenantScheduler
from teampulse.kafka.security import kafka_client_options
from teampulse.settings import Settings

__all__ = ["BatchHandler", "BatchLoop", "HandledBatch"]

log = logging.getLogger(__name__)

RETRY_AFTER_SEND_FAILURE_S = 1.0
# A batch's records go out as whole Kafka batches: one state-log record (up to
# MAX_LOG_RECORD_BYTES) must fit in one.
PRODUCER_BATCH_BYTES = 2 * MAX_LOG_RECORD_BYTES
PRODUCER_REQUEST_BYTES = PRODUCER_BATCH_BYTES + 64 * 1024
PRODUCER_LINGER_MS = 5
SETTLE_POLL_S = 0.1
# Batches applied while earlier ones await their acknowledgements: the worker computes
# instead of waiting for the broker, and a failure re-reads at most this many.
MAX_BATCHES_IN_FLIGHT = 2
# Longest wait for a committed offset (the client retries for ever).
OFFSET_WAIT_S = 10.0
# Rebalances reach a member with its next heartbeat: keep that short.
HEARTBEAT_INTERVAL_MS = 500
# Most records one read takes while reading ahead for the tenant scheduler, in batches.
READ_AHEAD_BATCHES_PER_FETCH = 8


@dataclass
class HandledBatch:
    """What the loop needs back from a handled batch."""

    # (topic, partition) -> first offset of the records left unapplied because the
    # partition's state is still restoring: read again once it is ready, not committed.
    deferred: Mapping[tuple[str, int], int]
    # Called once the batch is handed to the producer (counts never lag what they count).
    on_sent: Callable[[], object] = lambda: None


class BatchHandler(Protocol):
    """What the loop drives. Called under the batch lock, one call at a time."""

    def inputs(self) -> list[str]:
        """The topics the group reads."""
        ...

    def in_memory_routes(self) -> Mapping[str, set[int]]:
        """Per internal topic, the live set of partitions whose next stage runs in this
        process: the loop adds a partition once it has caught up with it, the handler hands
        records bound for it over in memory and removes one it must not (restoring)."""
        ...

    def stores(self) -> Sequence[PartitionedState[Any]]:
        """The states with a log: their positions advance on acknowledgements, and they are
        snapshotted when due."""
        ...

    def assigned(self, assigned: set[TopicPartition]) -> None:
        """The partitions this worker owns from now on (empty: drop every state)."""
        ...

    def revoked(self) -> None:
        """Partitions are about to move; every applied batch is committed."""
        ...

    def rebuild(self) -> None:
        """A send failed or the membership lapsed: rebuild every state from its log."""
        ...

    def restoring(self) -> set[TopicPartition]:
        """Input partitions whose state is not ready yet (not fetched meanwhile)."""
        ...

    def has_work(self) -> bool:
        """Whether a batch without records would change something (pending erasures)."""
        ...

    def tenant_readers(self) -> Mapping[str, TenantOf[ConsumerRecord]] | None:
        """Per topic, how to tell a record's tenant, for scheduling batches by tenant (a
        topic left out is never held back); None with one tenant: no scheduling."""
        ...

    async def handle(self, records: Records, outbox: BatchOutbox) -> HandledBatch:
        """Applies one batch; queues on `outbox` everything it produces."""
        ...


@dataclass
class _InFlight:
    """A batch applied and handed to the producer, not yet committed."""

    acks: list[asyncio.Future[Any]]
    offsets: dict[TopicPartition, int]


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, loop: BatchLoop) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._loop.batch_lock:  # no batch is half applied ...
            await self._loop.drain()  # ... and every applied one is committed
            self._loop.handler.revoked()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._loop.assigned_by_group(assigned)


class BatchLoop(Service):
    def __init__(
        self,
        settings: Settings,
        handler: BatchHandler,
        ready: Iterable[asyncio.Event],
        web_url: str,
        routed_topic: str,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.settings = settings
        self.handler = handler
        # (topic, partition, key, value) queued by others (the export tick's roll-up
        # inputs), sent with the next batch through its acknowledged outbox.
        self._queued: list[tuple[str, int, bytes | None, bytes]] = []
        self.batch_lock = asyncio.Lock()
        # Set once a batch is handed to the producer: the export ticks on the batches'
        # cadence, not on a timer of its own (a timer added up to its interval to the
        # produce-to-gauge latency).
        self.batch_applied = asyncio.Event()
        # Whether the latest read filled a whole batch: the worker is behind its inputs, and
        # what it does besides applying batches (the export) should leave it the time.
        self.behind = False
        # Whether this worker may still write what its partitions imply (fencing).
        self.lease = MembershipLease(settings.group_session_timeout_s)
        self.assignor = OwnerAssignor(web_url, routed_topic)
        self._ready = tuple(ready)  # set when the roster and the erasures are loaded
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._assigned_at: float | None = None  # monotonic time of the latest assignment
        # Called after every change of the partitions this worker owns (the worker makes it
        # an export tick, so a partition that moved away leaves the sinks at once).
        self.after_assignment: Callable[[], object] = lambda: None
        self._in_flight: deque[_InFlight] = deque()
        # Per partition, where to read again if a send fails: the last commit, or the first
        # offset read since the assignment.
        self._resume_at: dict[TopicPartition, int] = {}
        # The snapshot being serialised and written (one at a time, off the batch lock).
        self._snapshot: asyncio.Task[None] | None = None
        # Internal partitions owned but not yet handed over in memory, with the offset the
        # partition ended at when it was assigned (None until asked).
        self._catching_up: dict[TopicPartition, int | None] = {}
        # Partitions assigned whose starting offset is not decided yet: paused until the
        # states of their partition number are restored and their commit is known.
        self._undecided: set[TopicPartition] = set()
        # Where each decided partition started: its commit, or the offset its snapshots cover.
        self._started_at: dict[TopicPartition, int] = {}
        # Records read ahead and held back by tenant (created with the first tenants seen).
        self._scheduler: TenantScheduler[TopicPartition, ConsumerRecord] | None = None

    # ------------------------------------------------------------------ life cycle
    async def on_start(self) -> None:
        kafka = kafka_client_options(self.settings)
        self._producer = AIOKafkaProducer(
            **kafka,
            acks="all",
            linger_ms=PRODUCER_LINGER_MS,
            max_batch_size=PRODUCER_BATCH_BYTES,
            max_request_size=PRODUCER_REQUEST_BYTES,
        )
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            **kafka,
            group_id=f"{self.settings.app_id}.hot",
            # Names the worker in the broker's logs; members are ordered by it in the range
            # assignment, so a worker that rejoins keeps its place among the others.
            client_id=f"{self.settings.app_id}.hot-{self.settings.web_port:05d}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            partition_assignment_strategy=(self.assignor,),
            max_partition_fetch_bytes=4 * 1024 * 1024,
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
            session_timeout_ms=int(self.settings.group_session_timeout_s * 1000),
        )
        await self._consumer.start()
        self.lease.watch(self._consumer._coordinator)

    async def on_stop(self) -> None:
        if self._snapshot is not None:
            self._snapshot.cancel()
        async with self.batch_lock:  # let the batch in hand finish and commit
            await self.drain()
            if self._consumer is not None:
                # Withdrawn before the group hears of it, so the new owner's series never
                # appear beside this worker's.
                self.assign(set())
                await self._consumer.stop()  # leaves the group: partitions move at once
                self._consumer = None
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    def assigned_by_group(self, assigned: set[TopicPartition]) -> None:
        consumer = self._consumer
        coordinator = consumer._coordinator if consumer is not None else None
        member = coordinator.member_id if coordinator is not None else ""
        generation = coordinator.generation if coordinator is not None else -1
        if self.lease.assigned(member, generation):
            # Another worker may have owned these partitions meanwhile: what this one holds
            # lacks its changes, even for partitions it gets back. Rebuilt from the log.
            log.warning(
                "the group membership lapsed (frozen or cut off past the session timeout): "
                "every partition state is dropped and restored again"
            )
            self._in_flight.clear()  # their commits fail: the group moved on
            self._queued.clear()  # computed from the state being dropped
            if self._snapshot is not None:
                self._snapshot.cancel()
            self.assign(set())
        self.assign(assigned)

    def assign(self, assigned: set[TopicPartition]) -> None:
        self.handler.assigned(assigned)
        self._resume_at.clear()
        if self._scheduler is not None:
            self._scheduler.drop()  # not committed: read again from the commits
        self._undecided = set(assigned)
        self._started_at.clear()
        if assigned and self._consumer is not None:
            # Paused at once: the fetcher may read from the reset position before the loop
            # has decided where each partition starts.
            self._consumer.pause(*assigned)
        routes = self.handler.in_memory_routes()
        self._catching_up = dict.fromkeys((tp for tp in assigned if tp.topic in routes), None)
        self._assigned_at = time.monotonic()
        self.after_assignment()

    async def _hand_over_caught_up(self, consumer: AIOKafkaConsumer) -> None:
        """Hands records over in memory for the internal partitions read up to where they
        ended at the assignment and not forwarded to since. Before that, what an earlier
        owner of an input partition (or this worker) forwarded may still be unread, and
        records of one input stream would reach a state out of their order (which decides
        what is late)."""
        unknown = [tp for tp, end in self._catching_up.items() if end is None]
        if unknown:
            try:
                self._catching_up.update(await consumer.end_offsets(unknown))
            except KafkaError:
                return  # asked again before the next batch
        direct = self.handler.in_memory_routes()
        scheduler = self._scheduler
        for tp, end in list(self._catching_up.items()):
            if tp in self._undecided:  # its position may still move to its start
                continue
            if scheduler is not None and scheduler.held_in(tp):  # read, not applied yet
                continue
            try:
                position = await consumer.position(tp)
            except IllegalStateError:  # revoked meanwhile
                self._catching_up.pop(tp, None)
                continue
            if end is not None and position >= end:
                direct[tp.topic].add(tp.partition)
                del self._catching_up[tp]

    async def _decide_starts(self, consumer: AIOKafkaConsumer) -> None:
        """Where each newly assigned partition starts, once the states of its partition
        number are restored: its committed offset, or, when the group has none, the input
        offset the restored snapshots cover (the lowest, if they differ: what is read again
        counts once, what is skipped is lost)."""
        assignment = consumer.assignment()
        self._undecided &= assignment
        stores = self.handler.stores()
        ready = [
            tp
            for tp in self._undecided
            if all(s.is_ready(tp.partition) for s in stores if tp.partition in s.states)
        ]
        for tp in ready:
            try:
                committed = await asyncio.wait_for(consumer.committed(tp), OFFSET_WAIT_S)
            except (KafkaError, TimeoutError):
                return  # asked again before the next batch
            if tp not in self._undecided:  # revoked meanwhile
                continue
            if committed is not None:
                self._started_at[tp] = committed
            else:
                covered = [
                    s.restored_inputs[tp.partition][tp.topic]
                    for s in stores
                    if tp.topic in s.restored_inputs.get(tp.partition, {})
                ]
                if covered:
                    log.warning(
                        "%s partition %d has no committed offset (expired, or the group was "
                        "deleted): read on from offset %d, covered by the restored snapshots",
                        tp.topic,
                        tp.partition,
                        min(covered),
                    )
                    with contextlib.suppress(IllegalStateError):  # revoked meanwhile
                        consumer.seek(tp, min(covered))
                    self._started_at[tp] = min(covered)
            self._undecided.discard(tp)

    def _pause_restoring(self, consumer: AIOKafkaConsumer) -> None:
        """No fetch for the partitions whose state is still restoring (their records would
        only be read again), so the batches go on for the ready ones meanwhile."""
        restoring = self.handler.restoring() | self._undecided
        scheduler = self._scheduler
        if scheduler is not None and scheduler.held >= scheduler.read_ahead:
            # Read ahead as far as allowed: the partitions holding records wait for them.
            restoring |= scheduler.partitions()
        restoring &= consumer.assignment()
        paused = consumer.paused()
        if paused - restoring:
            consumer.resume(*(paused - restoring))
        if restoring - paused:
            consumer.pause(*(restoring - paused))

    async def _settled(self) -> None:
        """Workers started together join the group one after the other; processing from the
        first assignment would build state that moves seconds later. Kafka's broker has
        `group.initial.rebalance.delay.ms` for this; it applies to new groups only."""
        settle = self.settings.group_settle_s
        while self._assigned_at is None or time.monotonic() - self._assigned_at < settle:
            await asyncio.sleep(SETTLE_POLL_S)

    # ------------------------------------------------------------------ reading
    @Service.task
    async def _consume(self) -> None:
        # Join the group only once this worker can publish what it takes: the roster (and
        # the erasures) are loaded, and so the app is started (its tasks, timers and web
        # server start after Faust's own group join). Joining earlier takes partitions from
        # a worker that publishes them to one that cannot yet: seconds without their series.
        for ready in self._ready:
            await ready.wait()
        consumer = self._consumer
        if consumer is None:
            return
        consumer.subscribe(self.handler.inputs(), listener=_Rebalance(self))
        await self._settled()
        timeout_ms = int(self.settings.batch_within_s * 1000)
        while not self.should_stop:
            consumer = self._consumer
            if consumer is None:
                return
            if self._undecided:
                await self._decide_starts(consumer)
            if self._catching_up:
                await self._hand_over_caught_up(consumer)
            readers = self.handler.tenant_readers()
            scheduler = self._scheduling(readers)
            self._pause_restoring(consumer)
            wait_ms, most = timeout_ms, self.settings.batch_max
            if scheduler is not None:
                # Read ahead of what is applied, so another tenant's records behind one
                # tenant's backlog are found; no wait while records are held.
                room = scheduler.read_ahead - scheduler.held
                most = max(most, min(room, most * READ_AHEAD_BATCHES_PER_FETCH))
                if scheduler.held:
                    wait_ms = 0
            records = await consumer.getmany(timeout_ms=wait_ms, max_records=most)
            self.behind = sum(map(len, records.values())) >= most
            async with self.batch_lock:
                if not self.lease.valid():
                    # Fenced: nothing is applied or written until the group answers again;
                    # what was read is read again then (or by the partitions' new owner).
                    self._read_again(consumer, records)
                    await asyncio.sleep(SETTLE_POLL_S)
                    continue
                if scheduler is not None and readers is not None:
                    records = self._schedule(scheduler, readers, records)
                # An erasure is applied even when no record arrives to carry it.
                if records or self._queued or self.handler.has_work():
                    await self._handle(consumer, records)
                else:
                    await self.drain()
                await self._snapshot_if_due(consumer)

    def _scheduling(
        self, readers: Mapping[str, TenantOf[ConsumerRecord]] | None
    ) -> TenantScheduler[TopicPartition, ConsumerRecord] | None:
        if readers is None:
            return None  # one tenant: records are applied as they are read
        if self._scheduler is None:
            self._scheduler = TenantScheduler(self.settings.tenant_read_ahead)
        return self._scheduler

    def _schedule(
        self,
        scheduler: TenantScheduler[TopicPartition, ConsumerRecord],
        readers: Mapping[str, TenantOf[ConsumerRecord]],
        fetched: dict[TopicPartition, list[ConsumerRecord]],
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        """The next batch: what was read, held back by tenant, and a fair share of it taken."""
        for tp, batch in fetched.items():
            self._resume_at.setdefault(tp, batch[0].offset)  # held records count as read
        chosen = scheduler.add(fetched, readers)
        chosen.update(scheduler.take(self.settings.batch_max))
        return chosen

    async def _handle(self, consumer: AIOKafkaConsumer, records: dict) -> None:
        assert self._producer is not None
        outbox = BatchOutbox(self._producer)
        by_partition = {(tp.topic, tp.partition): batch for tp, batch in records.items()}
        handled = await self.handler.handle(by_partition, outbox)
        queued, self._queued = self._queued, []
        for topic, partition, key, value in queued:
            outbox.add(topic, partition, key, value)
        # A partition this worker forwarded to since its assignment holds records of this
        # worker's input streams that it has not read yet: handed over in memory from now on,
        # later records of those streams would overtake them. It stays on Kafka until the
        # next assignment.
        for topic, partition in outbox.destinations():
            self._catching_up.pop(TopicPartition(topic, partition), None)
        for tp, batch in records.items():
            self._resume_at.setdefault(tp, batch[0].offset)
        if not self.lease.valid():  # the lease ended while the batch was applied
            await self._rewind(consumer, fenced=True)
            return
        try:
            acks = await outbox.flush()
        except KafkaError:
            await self._rewind(consumer)
            return
        # Counted once handed to the producer, so a count never lags the records it counts
        # (a batch read again after a failed send is counted again, as after a crash).
        handled.on_sent()
        self.batch_applied.set()
        # What a restoring partition read is read again once it is ready: not committed.
        scheduler = self._scheduler
        for (topic, partition), first in handled.deferred.items():
            tp = TopicPartition(topic, partition)
            if scheduler is not None:  # what it holds of the partition is read again too
                first = min(first, scheduler.drop([tp]).get(tp, first))
            with contextlib.suppress(IllegalStateError):  # revoked meanwhile
                consumer.seek(tp, first)
        offsets = {
            tp: self._commit_after(tp, batch[-1].offset)
            for tp, batch in records.items()
            if (tp.topic, tp.partition) not in handled.deferred
        }
        self._in_flight.append(_InFlight(acks, offsets))
        # The next batch is read and applied while this one's records travel; a batch is
        # committed once its records and those of every batch before it are acknowledged.
        while self._in_flight and (
            len(self._in_flight) > MAX_BATCHES_IN_FLIGHT
            or all(ack.done() for ack in self._in_flight[0].acks)
        ):
            if not await self._complete_oldest(consumer):
                return

    def _commit_after(self, tp: TopicPartition, last_applied: int) -> int:
        """A partition's commit: past its last record applied, but never past a record held
        back (records of other tenants applied after it are read and applied again, which
        changes nothing)."""
        held = self._scheduler.first_held(tp) if self._scheduler is not None else None
        return last_applied + 1 if held is None else held

    async def _complete_oldest(self, consumer: AIOKafkaConsumer) -> bool:
        done = self._in_flight.popleft()
        try:
            acknowledged = await asyncio.gather(*done.acks)
        except KafkaError:
            await self._rewind(consumer)
            return False
        stores = {store.log_topic: store for store in self.handler.stores()}
        for metadata in acknowledged:
            store = stores.get(metadata.topic) if metadata is not None else None
            if store is not None:
                # The base offset of the batch: a lower bound, which is all `positions` is.
                store.logged(metadata.partition, metadata.offset)
        try:
            if done.offsets:  # a batch that only applied erasures read nothing
                await consumer.commit(done.offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # A rebalance took some of these partitions; their new owner reads the records
            # after its last commit again, and they count once (event ids, absolute facts).
            log.warning("commit after a rebalance failed: %s", exc)
        self._resume_at.update(done.offsets)
        return True

    def send_with_next_batch(
        self, topic: str, partition: int, key: bytes | None, value: bytes
    ) -> None:
        """Queues a record to be sent with the next batch, acknowledged before that batch
        commits (a batch of its own when no record arrives)."""
        self._queued.append((topic, partition, key, value))

    # ------------------------------------------------------------------ snapshots
    async def _snapshot_if_due(self, consumer: AIOKafkaConsumer) -> None:
        """Starts the snapshot of one partition whose interval has passed (the caller holds
        the batch lock). Its state is copied at once by a fork, after every applied batch is
        acknowledged, so the log position it covers is exact; serialising and sending go on
        while the next batches are applied."""
        if self._snapshot is not None and not self._snapshot.done():
            return
        now = time.monotonic()
        for store in self.handler.stores():
            due = store.snapshot_due(now)
            if not due:
                continue
            await self.drain()
            if self._in_flight:  # a failed send rewound: everything is being rebuilt
                return
            partition = due[0]
            log_tp = TopicPartition(store.log_topic, partition)
            try:
                end = (await consumer.end_offsets([log_tp]))[log_tp]
            except KafkaError as exc:
                log.warning("no snapshot of %s partition %d now: %r", store.name, partition, exc)
                return
            if not store.is_ready(partition):  # revoked while the offsets were asked
                return
            inputs = self._input_offsets(consumer, partition)
            if inputs is None or not store.is_ready(partition):
                return
            pending = store.start_snapshot(partition, end - 1, inputs)
            self._snapshot = asyncio.create_task(self._write_snapshot(store, pending))
            return

    def _input_offsets(self, consumer: AIOKafkaConsumer, partition: int) -> dict[str, int] | None:
        """The next offset to read of every assigned input partition numbered `partition`
        (every batch applied is committed): what a snapshot taken now covers. None while a
        partition's start is undecided. A partition neither read since the assignment nor
        started at a known offset (no commit, no snapshot) is left out: read from its start."""
        inputs: dict[str, int] = {}
        for tp in consumer.assignment():
            if tp.partition != partition:
                continue
            if tp in self._undecided:
                return None
            offset = self._resume_at.get(tp, self._started_at.get(tp))
            if offset is not None:
                inputs[tp.topic] = offset
        return inputs

    async def _write_snapshot(self, store: PartitionedState[Any], pending: PendingSnapshot) -> None:
        try:
            records = await store.snapshot_records(pending)
            producer = self._producer
            codec = store.snapshots
            if records is None or producer is None or codec is None or not self.lease.valid():
                return
            acks = [
                await producer.send(codec.topic, key=key, value=value, partition=pending.partition)
                for key, value in records
            ]
            await asyncio.gather(*acks)
            store.snapshot_written(pending)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the next interval tries again
            log.exception(
                "the snapshot of %s partition %d failed; the next one is due in %.0f s",
                store.name,
                pending.partition,
                self.settings.snapshot_interval_s,
            )

    async def drain(self) -> None:
        """Wait for every batch in flight to be acknowledged and committed."""
        consumer = self._consumer
        while self._in_flight and consumer is not None:
            if not await self._complete_oldest(consumer):
                return

    def _read_again(self, consumer: AIOKafkaConsumer, records: dict) -> None:
        firsts = self._scheduler.drop() if self._scheduler is not None else {}
        for tp, batch in records.items():
            firsts[tp] = min(firsts.get(tp, batch[0].offset), batch[0].offset)
        for tp, first in firsts.items():
            with contextlib.suppress(IllegalStateError):  # revoked meanwhile
                consumer.seek(tp, first)

    async def _rewind(self, consumer: AIOKafkaConsumer, fenced: bool = False) -> None:
        if fenced:
            log.warning("the membership lease ended while a batch was applied; it is not sent")
        else:
            log.exception(
                "sending a batch failed; the records after the last commit are read again"
            )
        self._in_flight.clear()
        if self._scheduler is not None:
            self._scheduler.drop()  # after the commits: read again from there
        self.handler.rebuild()
        for tp, offset in self._resume_at.items():
            with contextlib.suppress(IllegalStateError):  # revoked meanwhile
                consumer.seek(tp, offset)
        await asyncio.sleep(RETRY_AFTER_SEND_FAILURE_S)

    async def lags(self) -> dict[tuple[str, int], int]:
        """Records not yet applied per assigned partition: high watermark minus position,
        plus the records read ahead and held back."""
        consumer = self._consumer
        lags: dict[tuple[str, int], int] = {}
        if consumer is None:
            return lags
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:  # not fetched yet
                continue
            try:
                position = await consumer.position(tp)
            except IllegalStateError:  # revoked meanwhile
                continue
            held = self._scheduler.held_in(tp) if self._scheduler is not None else 0
            lags[(tp.topic, tp.partition)] = max(0, highwater - position) + held
        return lags
