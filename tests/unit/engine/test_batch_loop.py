"""The batch loop's protocol, with a fake consumer and producer: a batch is committed only
after its own acknowledgements and every earlier batch's; a revoke drains before it returns;
a failed send rewinds to the last commit and rebuilds the state."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from aiokafka.structs import ConsumerRecord, TopicPartition

from teampulse.engine import batch_loop
from teampulse.engine.batch_loop import BatchLoop, HandledBatch, _Rebalance
from teampulse.engine.batch_outbox import BatchOutbox
from teampulse.engine.membership import MembershipLease
from teampulse.settings import load_settings

EVENTS_0 = TopicPartition("t.events", 0)
BY_TEAM_0 = TopicPartition("t.by-team", 0)


class FakeBatch:
    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes]] = []

    def append(self, key: bytes | None, value: bytes, timestamp: None) -> object:
        self.records.append((key, value))
        return object()


class FakeProducer:
    """Every send_batch returns a future the test resolves (or fails) when it wants."""

    def __init__(self) -> None:
        self.acks: list[asyncio.Future[Any]] = []
        self.sent: list[tuple[str, int, list[tuple[bytes | None, bytes]]]] = []

    def create_batch(self) -> FakeBatch:
        return FakeBatch()

    async def send_batch(self, batch: FakeBatch, topic: str, partition: int) -> asyncio.Future:
        ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        self.sent.append((topic, partition, batch.records))
        return ack


class FakeConsumer:
    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.seeks: list[tuple[TopicPartition, int]] = []

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))


class FakeStates:
    def __init__(self, log_topic: str) -> None:
        self.log_topic = log_topic
        self.positions: dict[int, int] = {}

    def logged(self, partition: int, offset: int) -> None:
        self.positions[partition] = offset

    def snapshot_due(self, now: float) -> list[int]:
        return []


class ForwardingHandler:
    """Forwards every record it reads to one internal topic, as the ingest stage would."""

    def __init__(self) -> None:
        self.teams = FakeStates("t.team-state")
        self.rebuilds = 0
        self.revokes = 0
        self.sent_batches = 0

    def inputs(self) -> list[str]:
        return ["t.events"]

    def in_memory_routes(self) -> dict[str, set[int]]:
        return {}

    def stores(self) -> list[FakeStates]:
        return [self.teams]

    def assigned(self, assigned: set[TopicPartition]) -> None:
        pass

    def revoked(self) -> None:
        self.revokes += 1

    def rebuild(self) -> None:
        self.rebuilds += 1

    def restoring(self) -> set[TopicPartition]:
        return set()

    def has_work(self) -> bool:
        return False

    def tenant_readers(self) -> None:
        return None

    async def handle(self, records: dict, outbox: BatchOutbox) -> HandledBatch:
        for (_topic, _partition), batch in records.items():
            for record in batch:
                outbox.add("t.by-team", 0, None, record.value)

        def sent() -> None:
            self.sent_batches += 1

        return HandledBatch({}, sent)


def record(offset: int) -> ConsumerRecord:
    value = b'{"n": %d}' % offset
    return ConsumerRecord("t.events", 0, offset, 0, 0, None, value, None, 0, len(value), ())


def batch(first: int, last: int) -> dict[TopicPartition, list[ConsumerRecord]]:
    return {EVENTS_0: [record(o) for o in range(first, last + 1)]}


def hot_loop() -> tuple[BatchLoop, FakeConsumer, FakeProducer, ForwardingHandler]:
    handler = ForwardingHandler()
    hot = BatchLoop(
        load_settings(),
        handler,  # type: ignore[arg-type]
        (),
        web_url="http://worker:6066",
        routed_topic="t.by-team",
    )
    consumer, producer = FakeConsumer(), FakeProducer()
    hot._consumer, hot._producer = consumer, producer  # type: ignore[assignment]
    hot.lease.assigned("member-1")
    return hot, consumer, producer, handler


async def test_a_batch_is_committed_only_after_its_own_and_every_earlier_acknowledgement():
    hot, consumer, producer, _ = hot_loop()
    await hot._handle(consumer, batch(0, 1))  # type: ignore[arg-type]
    await hot._handle(consumer, batch(2, 3))  # type: ignore[arg-type]
    first, second = producer.acks

    second.set_result(None)  # the later batch is acknowledged first
    await asyncio.sleep(0)
    drained = asyncio.ensure_future(hot.drain())
    await asyncio.sleep(0.01)
    assert consumer.commits == []  # the earlier batch is still unacknowledged

    first.set_result(None)
    await asyncio.wait_for(drained, 1)
    assert consumer.commits == [{EVENTS_0: 2}, {EVENTS_0: 4}]


async def test_a_revoke_returns_only_once_every_applied_batch_is_committed():
    hot, consumer, producer, handler = hot_loop()
    await hot._handle(consumer, batch(0, 4))  # type: ignore[arg-type]

    revoking = asyncio.ensure_future(_Rebalance(hot).on_partitions_revoked({EVENTS_0}))
    await asyncio.sleep(0.01)
    assert not revoking.done()
    assert consumer.commits == []

    producer.acks[0].set_result(None)
    await asyncio.wait_for(revoking, 1)
    assert consumer.commits == [{EVENTS_0: 5}]
    assert handler.revokes == 1  # told only once the batch was committed


async def test_a_failed_send_rewinds_to_the_last_commit_and_rebuilds_the_state(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(batch_loop, "RETRY_AFTER_SEND_FAILURE_S", 0)
    hot, consumer, producer, handler = hot_loop()
    await hot._handle(consumer, batch(0, 1))  # type: ignore[arg-type]
    producer.acks[0].set_result(None)
    await hot.drain()
    await hot._handle(consumer, batch(2, 3))  # type: ignore[arg-type]

    producer.acks[1].set_exception(KafkaTimeoutError())
    await hot.drain()

    assert consumer.commits == [{EVENTS_0: 2}]  # the failed batch is not committed
    assert consumer.seeks == [(EVENTS_0, 2)]  # read again from the last commit
    assert handler.rebuilds == 1  # what the lost batch applied is forgotten


async def test_a_worker_whose_lease_ended_sends_nothing_and_rebuilds(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(batch_loop, "RETRY_AFTER_SEND_FAILURE_S", 0)
    hot, consumer, producer, handler = hot_loop()
    now = [0.0]
    hot.lease = MembershipLease(session_timeout_s=1.0, clock=lambda: now[0])
    hot.lease.assigned("member-1")
    now[0] = 30.0  # frozen past the session timeout

    await hot._handle(consumer, batch(0, 1))  # type: ignore[arg-type]

    assert producer.acks == []
    assert consumer.seeks == [(EVENTS_0, 0)]
    assert handler.rebuilds == 1


async def test_records_queued_by_others_leave_with_the_next_batch_through_the_acknowledged_outbox():
    hot, consumer, producer, _ = hot_loop()
    hot.send_with_next_batch("t.team-counts", 0, b"atlas", b'{"team": "atlas"}')

    await hot._handle(consumer, batch(0, 0))  # type: ignore[arg-type]

    assert ("t.team-counts", 0, [(b"atlas", b'{"team": "atlas"}')]) in producer.sent
    for ack in producer.acks:
        ack.set_result(None)
    await hot.drain()
    assert consumer.commits == [{EVENTS_0: 1}]  # committed once the counts were acknowledged


class AssignedConsumer(FakeConsumer):
    def __init__(self, committed: dict[TopicPartition, int]) -> None:
        super().__init__()
        self._committed = committed

    def assignment(self) -> set[TopicPartition]:
        return {EVENTS_0, BY_TEAM_0}

    async def committed(self, tp: TopicPartition) -> int | None:
        return self._committed.get(tp)


def restored(handler: ForwardingHandler, inputs: dict[str, int]) -> None:
    teams = handler.teams
    teams.states = {0: object()}  # type: ignore[attr-defined]
    teams.is_ready = lambda partition: True  # type: ignore[attr-defined]
    teams.restored_inputs = {0: inputs}  # type: ignore[attr-defined]


async def test_a_partition_without_a_committed_offset_reads_on_from_its_snapshots_inputs():
    hot, _, _, handler = hot_loop()
    restored(handler, {"t.events": 120, "t.by-team": 40})
    consumer = AssignedConsumer(committed={EVENTS_0: 130})  # by-team's offset expired
    hot._undecided = {EVENTS_0, BY_TEAM_0}

    await hot._decide_starts(consumer)  # type: ignore[arg-type]

    assert consumer.seeks == [(BY_TEAM_0, 40)]  # the committed one starts where it was
    assert hot._undecided == set()
    assert hot._input_offsets(consumer, 0) == {"t.events": 130, "t.by-team": 40}  # type: ignore[arg-type]


async def test_a_partition_waits_for_its_states_restore_before_its_start_is_decided():
    hot, _, _, handler = hot_loop()
    restored(handler, {"t.by-team": 40})
    handler.teams.is_ready = lambda partition: False  # type: ignore[attr-defined]
    consumer = AssignedConsumer(committed={})
    hot._undecided = {BY_TEAM_0}

    await hot._decide_starts(consumer)  # type: ignore[arg-type]

    assert consumer.seeks == []
    assert hot._undecided == {BY_TEAM_0}
    assert hot._input_offsets(consumer, 0) is None  # no snapshot before the start is known
