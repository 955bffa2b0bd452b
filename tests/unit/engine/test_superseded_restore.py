"""A restore that outlives its assignment writes nothing.

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
