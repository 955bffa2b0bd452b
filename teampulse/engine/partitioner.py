"""The partition Kafka's default partitioner gives a key, computed once per key.

The batch outbox sends whole Kafka batches to partitions known in advance, so the stages
compute every destination themselves, exactly as the Java client and aiokafka would.
"""

from __future__ import annotations

import struct

__all__ = ["KeyPartitioner", "murmur2"]

# Kafka keeps a hashed key's partition for ever, but the set of keys grows (threads): forget
# them all now and then rather than keep every thread id of the company.
PARTITION_CACHE_KEYS = 200_000


_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (the Java client's `Utils.murmur2`), as aiokafka computes it, in half
    its time: whole words are unpacked by `struct` instead of byte by byte."""
    length = len(data)
    h = 0x9747B28C ^ length
    whole = length & ~3
    for (k,) in struct.iter_unpack("<I", data[:whole]):
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    extra = length & 3
    if extra:
        if extra >= 3:
            h ^= data[whole + 2] << 16
        if extra >= 2:
            h ^= data[whole + 1] << 8
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


class KeyPartitioner:
    """The partition Kafka's default partitioner gives a key, remembered per key."""

    def __init__(self, partitions: int) -> None:
        self._partitions = partitions
        self._known: dict[bytes, int] = {}

    def __call__(self, key: bytes) -> int:
        partition = self._known.get(key)
        if partition is None:
            if len(self._known) >= PARTITION_CACHE_KEYS:
                self._known.clear()
            partition = self._known[key] = (murmur2(key) & 0x7FFFFFFF) % self._partitions
        return partition
