"""The state log's framing: operations packed into records Kafka accepts, nothing lost or
reordered; the log position of a partition."""

from __future__ import annotations

import orjson

from teampulse.engine.state_store import (
    MAX_LOG_RECORD_BYTES,
    NO_LOG_POSITION,
    PartitionedState,
    frame_ops,
)


def ops(count: int, size: int) -> list[bytes]:
    return [orjson.dumps({"n": n, "pad": "x" * size}) for n in range(count)]


def test_a_small_batch_is_one_record() -> None:
    batch = ops(3, 10)

    assert frame_ops(batch) == [b"[" + b",".join(batch) + b"]"]


def test_a_large_batch_is_split_into_records_under_the_limit_in_order() -> None:
    batch = ops(200, 10_000)  # about 2 MB of operations

    records = frame_ops(batch)

    assert len(records) == 4
    assert all(len(record) <= MAX_LOG_RECORD_BYTES for record in records)
    assert [op for record in records for op in orjson.loads(record)] == [
        orjson.loads(op) for op in batch
    ]


def test_an_empty_batch_writes_nothing() -> None:
    assert frame_ops([]) == []


def test_a_partitions_log_position_only_grows_and_only_while_it_is_owned() -> None:
    state: PartitionedState[list[bytes]] = PartitionedState(
        "teams",
        "team-state",
        {"bootstrap_servers": "unused:9092"},
        lambda _p: [],
        lambda s, r: s.append(r),
    )
    state.positions[0] = NO_LOG_POSITION  # as assign() leaves a partition it takes

    state.logged(0, 7)
    state.logged(0, 3)  # an acknowledgement that arrives late says nothing new
    state.logged(1, 5)  # not ours

    assert state.positions == {0: 7}
