"""A restore finishes: one that outlives its assignment writes nothing, and one that meets a
defect (a log record or snapshot this release cannot read, an unexpected error) still leaves the
partition restored, or retries, and says so, never a partition paused for good.

A restore that outlives its assignment writes nothing.

Revoking a partition cancels its restore, but aiokafka's `consumer.stop()` swallows a
cancellation that lands while it closes its connections (it awaits its own tasks inside
`suppress(CancelledError)`), so the restore ran on. It then put the revoked partition's state
back into `states`, and the next assignment of that partition started no restore: never ready,
its input partitions stayed paused for good (a worker that stops counting a few hundred events
short). After a reload it could also replay into the new restore's state and set that
restore's ready event while it was still running.

The consumer here is a stand-in whose `stop()` behaves as aiokafka's does on cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka.structs import TopicPartition

from teampulse.engine import state_store
from teampulse.engine.snapshots import chunk_snapshot, encode_chunk
from teampulse.engine.state_store import PartitionedState, SnapshotCodec

LOG = "t.team-state"
SNAPSHOTS = "t.team-snapshots"


@dataclass
class Record:
    offset: int
    key: bytes | None
    value: bytes | None


class Broker:
    """What the stand-in consumers read, and a gate that holds every `stop()`."""

    def __init__(self) -> None:
        self.topics: dict[str, list[tuple[bytes | None, bytes | None]]] = {}
        self.gate = asyncio.Event()
        self.stopping = 0  # consumers waiting in stop()


class SwallowingConsumer:
    broker: Broker

    def __init__(self, **_options: Any) -> None:
        self.tp = TopicPartition("", 0)
        self.position = 0

    async def start(self) -> None:
        pass

    def assign(self, tps: list[TopicPartition]) -> None:
        self.tp = tps[0]

    async def seek_to_beginning(self, _tp: TopicPartition) -> None:
        self.position = 0

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, 0)

    def seek(self, _tp: TopicPartition, offset: int) -> None:
        self.position = offset

    async def stop(self) -> None:
        self.broker.stopping += 1
        try:
            with contextlib.suppress(asyncio.CancelledError):  # as aiokafka's stop() does
                await self.broker.gate.wait()
        finally:
            self.broker.stopping -= 1


async def read_all(
    consumer: SwallowingConsumer, _tps: object, *, max_records: int = 0
) -> AsyncIterator[tuple[TopicPartition, list[Record]]]:
    held = consumer.broker.topics.get(consumer.tp.topic, [])
    records = [Record(o, k, v) for o, (k, v) in enumerate(held) if o >= consumer.position]
    if records:
        yield consumer.tp, records


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Broker]:
    broker = Broker()
    SwallowingConsumer.broker = broker
    monkeypatch.setattr(state_store, "AIOKafkaConsumer", SwallowingConsumer)
    monkeypatch.setattr(state_store, "read_to_end", read_all)
    # partition 0: a snapshot holding "s" at log position 0, then two log records
    chunk = chunk_snapshot(zlib.compress(b"s"), "a", 0, {})[0]
    broker.topics[SNAPSHOTS] = [(chunk.key, encode_chunk(chunk))]
    broker.topics[LOG] = [(None, b"s"), (None, b"x"), (None, b"y")]
    yield broker
    broker.gate.set()  # no consumer is left waiting in stop()


def states() -> PartitionedState[list[bytes]]:
    return PartitionedState(
        "teams",
        LOG,
        {},
        lambda _p: [],
        lambda state, record: state.append(record),
        snapshots=SnapshotCodec(SNAPSHOTS, bytes, lambda _p, data: [data], interval_s=300),
    )


async def until(condition: Any, timeout: float = 2.0) -> None:  # noqa: ANN401
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.001)


async def test_a_partition_revoked_while_its_restore_stops_is_restored_when_it_comes_back(
    broker: Broker,
) -> None:
    teams = states()
    teams.assign({0})
    await until(lambda: broker.stopping)  # the restore is closing its snapshot reader

    teams.assign(set())  # revoked: the cancellation is swallowed by stop()
    broker.gate.set()
    await asyncio.sleep(0.05)  # what the cancelled restore still does, it has done

    assert 0 not in teams.states
    teams.assign({0})  # the partition comes back
    await until(lambda: teams.is_ready(0))
    assert teams.states[0] == [b"s", b"x", b"y"]


# ---------------------------------------------------------------- restores that meet a defect
def breaking_on(poison: bytes) -> PartitionedState[list[bytes]]:
    def replay(state: list[bytes], record: bytes) -> None:
        if record == poison:
            raise KeyError("a shape this release cannot read")
        state.append(record)

    def load(_partition: int, data: bytes) -> list[bytes]:
        if data == poison:
            raise ValueError("damaged")
        return [data]

    return PartitionedState(
        "teams",
        LOG,
        {},
        lambda _p: [],
        replay,
        snapshots=SnapshotCodec(SNAPSHOTS, bytes, load, interval_s=300),
    )


async def test_a_log_record_that_cannot_be_replayed_is_left_out_and_the_partition_restores(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    broker.gate.set()
    teams = breaking_on(b"x")
    teams.assign({0})
    await until(lambda: teams.is_ready(0))
    assert teams.states[0] == [b"s", b"y"]
    assert teams.positions[0] == 2  # the records after it are applied and counted as logged
    assert "state-log record at offset 1 could not be replayed (unexpected KeyError)" in caplog.text


async def test_a_snapshot_that_cannot_be_loaded_is_replaced_by_the_whole_log(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    broker.gate.set()
    teams = breaking_on(b"s")  # the snapshot holds "s"; so does the log's first record
    teams.assign({0})
    await until(lambda: teams.is_ready(0))
    assert teams.states[0] == [b"x", b"y"]
    assert "is not restored (unexpected ValueError)" in caplog.text


async def test_a_restore_that_raises_unexpectedly_is_retried_not_left_paused(
    broker: Broker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    broker.gate.set()
    monkeypatch.setattr(state_store, "RESTORE_RETRY_S", 0.01)
    teams = states()
    failures = iter([RuntimeError("a defect")])
    rebuild = teams._rebuild

    async def first_call_fails(partition: int, ready: asyncio.Event) -> tuple[int, int]:
        for failure in failures:
            raise failure
        return await rebuild(partition, ready)

    monkeypatch.setattr(teams, "_rebuild", first_call_fails)
    teams.assign({0})
    await until(lambda: teams.is_ready(0))
    assert teams.states[0] == [b"s", b"x", b"y"]
    assert "not restored yet (RuntimeError('a defect'))" in caplog.text
