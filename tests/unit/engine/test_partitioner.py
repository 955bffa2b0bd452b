"""Precomputed partitions are the ones Kafka's default partitioner gives the same keys."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from teampulse.engine.partitioner import KeyPartitioner, murmur2


def test_a_key_gets_the_partition_of_kafkas_default_partitioner():
    partition_of = KeyPartitioner(7)
    kafka = DefaultPartitioner()
    keys = [f"team-{n}".encode() for n in range(200)] + [b"", "équipe".encode()]
    all_partitions = list(range(7))
    assert [partition_of(k) for k in keys] == [
        kafka(k, all_partitions, all_partitions) for k in keys
    ]
    assert [partition_of(k) for k in keys] == [partition_of(k) for k in keys]  # remembered


def test_murmur2_equals_aiokafkas_on_keys_of_every_length():
    draw = random.Random(12)
    keys = [draw.randbytes(draw.randint(0, 64)) for _ in range(5000)]
    assert [murmur2(k) for k in keys] == [aiokafka_murmur2(k) for k in keys]
