"""Snapshots of a partition's state on a compacted topic: what a restore starts from.

A state log keeps operations under time retention, so on its own it loses whatever is older
than the retention (cumulative state such as adoption). A snapshot holds the whole state of one
partition as of one state-log position; a restore loads the latest complete snapshot and
replays only the log records after that position, so its time depends on the snapshot
interval and the state's size, never on how long the partition has existed.

Layout on the snapshot topic (partition p holds partition p's snapshots):

* A snapshot is written in chunks of at most `CHUNK_BYTES`, keyed `<slot>/<chunk>`. Two slots
  are used in turn, so a worker that dies halfway through a snapshot leaves the previous one
  complete in the other slot; compaction keeps the latest record of every key, so the topic
  holds two snapshots per partition, whatever the wall clock.
* Every chunk carries a small JSON header: the snapshot's id, its chunk index and count, the
  state-log position it covers (the offset of the last log record it includes) and the input
  offsets the state had consumed (where reading resumes if the group's own offsets are gone).
* A smaller snapshot than the one it replaces deletes the replaced one's extra chunks
  (tombstones), so nothing of an older state lingers after compaction (erasures).

The state is serialised by the stage that owns it (`SnapshotCodec`); the engine only moves
bytes. Serialising hundreds of megabytes of Python objects costs seconds of CPU, so
`ForkedDump` runs it in a forked copy of the process: the batch loop pauses for the fork only.
"""

from __future__ import annotations

import asyncio
import os
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson

__all__ = [
    "CHUNK_BYTES",
    "SLOTS",
    "Snapshot",
    "SnapshotAssembler",
    "SnapshotChunk",
    "ForkedDump",
    "chunk_snapshot",
    "decode_chunk",
    "encode_chunk",
    "tombstone_keys",
]

# Kafka's default message.max.bytes is 1 MiB: a chunk and its header stay well below it.
CHUNK_BYTES = 512 * 1024
SLOTS = ("a", "b")
HEADER_END = b"\n"
# zlib's fastest level: snapshots of counters and ids shrink 5-7x at about 300 MB/s.
COMPRESSION_LEVEL = 1
CHILD_READ_BYTES = 1 << 20


@dataclass(frozen=True)
class SnapshotChunk:
    slot: str
    snapshot: str  # the snapshot's id: chunks of one snapshot share it
    index: int
    count: int
    position: int  # the state-log offset of the last record the state includes
    inputs: dict[str, int]  # input topic -> next offset to read, as of the snapshot
    data: bytes

    @property
    def key(self) -> bytes:
        return f"{self.slot}/{self.index}".encode()


def encode_chunk(chunk: SnapshotChunk) -> bytes:
    header = {
        "slot": chunk.slot,
        "snapshot": chunk.snapshot,
        "index": chunk.index,
        "count": chunk.count,
        "position": chunk.position,
        "inputs": chunk.inputs,
    }
    return orjson.dumps(header) + HEADER_END + chunk.data


def decode_chunk(value: bytes) -> SnapshotChunk:
    """A chunk from its record value; ValueError names what is wrong with it."""
    head, separator, data = value.partition(HEADER_END)
    if not separator:
        raise ValueError("a snapshot chunk without its header")
    try:
        header = orjson.loads(head)
        return SnapshotChunk(
            slot=str(header["slot"]),
            snapshot=str(header["snapshot"]),
            index=int(header["index"]),
            count=int(header["count"]),
            position=int(header["position"]),
            inputs={str(k): int(v) for k, v in header["inputs"].items()},
            data=data,
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"a snapshot chunk with a malformed header: {exc!r}") from None


def chunk_snapshot(
    payload: bytes, slot: str, position: int, inputs: dict[str, int]
) -> list[SnapshotChunk]:
    """A compressed state cut into chunks of one new snapshot."""
    snapshot = uuid.uuid4().hex
    pieces = [payload[i : i + CHUNK_BYTES] for i in range(0, len(payload), CHUNK_BYTES)] or [b""]
    return [
        SnapshotChunk(slot, snapshot, index, len(pieces), position, inputs, piece)
        for index, piece in enumerate(pieces)
    ]


@dataclass(frozen=True)
class Snapshot:
    slot: str
    position: int
    inputs: dict[str, int]
    payload: bytes  # compressed, as the handler's `dump` made it (see `dump_in_child`)

    def state_bytes(self) -> bytes:
        return zlib.decompress(self.payload)


@dataclass
class SnapshotAssembler:
    """Collects a partition's snapshot records in offset order; `latest()` is the complete
    snapshot covering the furthest log position."""

    _slots: dict[str, dict[int, SnapshotChunk]] = field(default_factory=dict)
    _ids: dict[str, str] = field(default_factory=dict)
    records: int = 0
    malformed: int = 0

    def add(self, key: bytes | None, value: bytes | None) -> None:
        self.records += 1
        if value is None:  # a tombstone of a chunk no snapshot needs any more
            return
        try:
            chunk = decode_chunk(value)
        except ValueError:
            self.malformed += 1
            return
        if self._ids.get(chunk.slot) != chunk.snapshot:
            # A newer snapshot in this slot: whatever the older one left is replaced.
            self._ids[chunk.slot] = chunk.snapshot
            self._slots[chunk.slot] = {}
        self._slots[chunk.slot][chunk.index] = chunk

    def chunk_counts(self) -> dict[str, int]:
        """Chunk keys each slot holds, whatever snapshot they belong to (for tombstones)."""
        return {slot: len(chunks) for slot, chunks in self._slots.items()}

    def latest(self) -> Snapshot | None:
        complete = []
        for slot, chunks in self._slots.items():
            first = chunks.get(0)
            if first is None or any(i not in chunks for i in range(first.count)):
                continue
            payload = b"".join(chunks[i].data for i in range(first.count))
            complete.append(Snapshot(slot, first.position, first.inputs, payload))
        return max(complete, key=lambda s: s.position, default=None)

    def next_slot(self) -> str:
        """The slot the next snapshot goes to: not the one holding the latest."""
        latest = self.latest()
        if latest is None:
            return SLOTS[0]
        return SLOTS[(SLOTS.index(latest.slot) + 1) % len(SLOTS)]


def tombstone_keys(slot: str, keep: int, held: int) -> Iterable[bytes]:
    """Keys of the chunks `held` in a slot beyond the `keep` a new snapshot writes."""
    return (f"{slot}/{index}".encode() for index in range(keep, held))


class ForkedDump:
    """`dump()` compressed, computed in a forked child from the state as it is at the call.

    The caller goes on at once (the child holds a copy-on-write image of the memory, frozen at
    the fork); `result()` gives the bytes through a pipe, or raises with the child's exit
    status if `dump` failed there."""

    def __init__(self, dump: Callable[[], bytes]) -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: no event loop, no Kafka, no atexit handlers
            status = 0
            try:
                os.close(read_end)
                with os.fdopen(write_end, "wb") as pipe:
                    pipe.write(zlib.compress(dump(), COMPRESSION_LEVEL))
            except BaseException:  # noqa: BLE001 - reported to the parent by the exit status
                status = 1
            finally:
                os._exit(status)
        os.close(write_end)
        self._pid = pid
        self._read_end = read_end

    async def result(self) -> bytes:
        loop = asyncio.get_running_loop()
        try:
            payload = await loop.run_in_executor(None, _read_all, self._read_end)
        finally:
            _, status = await loop.run_in_executor(None, os.waitpid, self._pid, 0)
        if status != 0:
            raise RuntimeError(f"the snapshot child exited with status {status}")
        return payload


def _read_all(fd: int) -> bytes:
    parts: list[bytes] = []
    try:
        while True:
            piece = os.read(fd, CHILD_READ_BYTES)
            if not piece:
                return b"".join(parts)
            parts.append(piece)
    finally:
        os.close(fd)
