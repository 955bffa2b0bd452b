"""A stage's per-partition state against the real broker: restored from its log, and rebuilt
from it again after a failed send, whatever the memory held meanwhile."""

from __future__ import annotations

import asyncio

import pytest

from teampulse.engine.state_store import PartitionedState
from tests.integration.worker_harness import produce

pytestmark = pytest.mark.integration


async def test_a_reload_rebuilds_each_partition_from_its_log_alone(
    kafka_bootstrap: str, unique_topic_prefix: str
):
    topic = f"{unique_topic_prefix}team-state"
    await produce(kafka_bootstrap, topic, [(None, b"logged-1"), (None, b"logged-2")], partition=0)
    state: PartitionedState[list[bytes]] = PartitionedState(
        "teams",
        topic,
        {"bootstrap_servers": kafka_bootstrap},
        lambda _p: [],
        lambda applied, record: applied.append(record),
    )
    state.assign({0})
    assert await asyncio.wait_for(state.ready(0), 30) == [b"logged-1", b"logged-2"]
    restored_position = state.positions[0]
    state.states[0].append(b"applied-but-its-log-record-was-lost")

    state.reload()

    assert await asyncio.wait_for(state.ready(0), 30) == [b"logged-1", b"logged-2"]
    assert state.positions[0] == restored_position == 1
