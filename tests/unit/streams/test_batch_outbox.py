"""Precomputed partitions are the ones Kafka's default partitioner gives the same keys."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from teampulse.streams.batch_outbox import KeyPartitioner


def test_a_key_gets_the_partition_of_kafkas_default_partitioner():
    partition_of = KeyPartitioner(7)
    kafka = DefaultPartitioner()
    keys = [f"team-{n}".encode() for n in range(200)] + [b"", "équipe".encode()]
    all_partitions = list(range(7))
    assert [partition_of(k) for k in keys] == [
        kafka(k, all_partitions, all_partitions) for k in keys
    ]
    assert [partition_of(k) for k in keys] == [partition_of(k) for k in keys]  # remembered
