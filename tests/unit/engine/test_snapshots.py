"""Snapshots on a compacted topic: chunks, two slots, the latest complete one wins."""

from __future__ import annotations

import asyncio
import zlib

import pytest

from teampulse.engine.snapshots import (
    CHUNK_BYTES,
    ForkedDump,
    SnapshotAssembler,
    chunk_snapshot,
    decode_chunk,
    encode_chunk,
    tombstone_keys,
)


def write(assembler: SnapshotAssembler, payload: bytes, position: int) -> None:
    """What a worker writes for one snapshot, as compaction would leave it readable."""
    slot = assembler.next_slot()
    chunks = chunk_snapshot(payload, slot, position, {"events": position + 1})
    held = assembler.chunk_counts().get(slot, 0)
    for chunk in chunks:
        assembler.add(chunk.key, encode_chunk(chunk))
    for key in tombstone_keys(slot, len(chunks), held):
        assembler.add(key, None)


def test_a_chunk_round_trips_with_its_header() -> None:
    [chunk] = chunk_snapshot(b"state", "a", 41, {"events": 7})

    decoded = decode_chunk(encode_chunk(chunk))

    assert decoded == chunk
    assert decoded.key == b"a/0"


def test_a_large_state_is_cut_into_chunks_below_the_record_limit() -> None:
    payload = bytes(range(256)) * (3 * CHUNK_BYTES // 256 + 1)

    chunks = chunk_snapshot(payload, "b", 9, {})

    assert len(chunks) == 4
    assert all(len(encode_chunk(c)) < 1024 * 1024 for c in chunks)
    assert b"".join(c.data for c in chunks) == payload
    assert [c.key for c in chunks] == [b"b/0", b"b/1", b"b/2", b"b/3"]


def test_snapshots_alternate_between_two_slots_and_the_furthest_complete_one_wins() -> None:
    assembler = SnapshotAssembler()
    write(assembler, b"first", 10)
    write(assembler, b"second", 20)
    write(assembler, b"third", 30)

    latest = assembler.latest()

    assert latest is not None
    assert (latest.payload, latest.position, latest.inputs) == (b"third", 30, {"events": 31})
    assert latest.slot == "a"
    assert assembler.next_slot() == "b"


def test_a_snapshot_cut_short_by_a_crash_leaves_the_previous_one_in_use() -> None:
    assembler = SnapshotAssembler()
    write(assembler, b"x" * (2 * CHUNK_BYTES), 10)
    torn = chunk_snapshot(b"y" * (2 * CHUNK_BYTES), assembler.next_slot(), 20, {})
    assembler.add(torn[0].key, encode_chunk(torn[0]))  # the worker died after one chunk

    latest = assembler.latest()

    assert latest is not None and latest.position == 10


def test_chunks_left_over_from_a_larger_older_snapshot_are_not_mixed_into_a_newer_one() -> None:
    assembler = SnapshotAssembler()
    write(assembler, b"o" * (3 * CHUNK_BYTES), 10)  # slot a: 3 chunks
    write(assembler, b"p", 20)  # slot b
    write(assembler, b"q", 30)  # slot a again: 1 chunk and 2 tombstones

    latest = assembler.latest()

    assert latest is not None and (latest.payload, latest.position) == (b"q", 30)
    assert list(tombstone_keys("a", 1, 3)) == [b"a/1", b"a/2"]


def test_a_malformed_record_is_counted_and_skipped() -> None:
    assembler = SnapshotAssembler()
    write(assembler, b"good", 5)

    assembler.add(b"a/0", b"not a snapshot chunk")
    assembler.add(b"a/0", b'{"slot": "a"}\nmissing fields')

    assert assembler.malformed == 2
    latest = assembler.latest()
    assert latest is not None and latest.payload == b"good"


def test_no_snapshot_at_all_gives_none_and_the_first_slot() -> None:
    assembler = SnapshotAssembler()

    assert assembler.latest() is None
    assert assembler.next_slot() == "a"


async def test_a_forked_dump_sees_the_state_as_it_was_at_the_fork() -> None:
    state = {"count": 1}
    dump = ForkedDump(lambda: repr(sorted(state.items())).encode())
    state["count"] = 2  # the parent goes on at once

    payload = await asyncio.wait_for(dump.result(), 30)

    assert zlib.decompress(payload) == b"[('count', 1)]"


async def test_a_dump_that_fails_in_the_child_raises_in_the_parent() -> None:
    def broken() -> bytes:
        raise RuntimeError("cannot serialise")

    dump = ForkedDump(broken)

    with pytest.raises(RuntimeError, match="status"):
        await asyncio.wait_for(dump.result(), 30)
