"""Kafka reads and writes of the harness, with plain aiokafka (no TeamPulse code).

The load is produced in whole batches per partition (`create_batch`/`send_batch`), with
the Java client's partitioner (murmur2 of the key), so loading a million records costs
seconds and lands where any Kafka producer would have put it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping, Sequence

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner
from tqdm import tqdm

__all__ = [
    "baseline_read",
    "ceiling_read",
    "copy_topic",
    "delete_topics",
    "end_offsets",
    "produce",
]

Record = tuple[bytes, bytes]
FETCH_RECORDS = 10_000
# Kafka's default max.message.bytes is about 1 MiB; stay well under it per batch.
BATCH_BYTES = 512 * 1024


async def _partitions(bootstrap: str, topic: str) -> list[int]:
    """The topic's partition numbers, from the broker (a group-less consumer's own metadata
    only covers topics it already tracks)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [
        p["partition"]
        for d in described
        if d.get("error_code", 0) == 0
        for p in d.get("partitions", ())
    ]
    if not partitions:
        raise SystemExit(f"topic {topic} does not exist (or has no partitions)")
    return sorted(partitions)


async def produce(
    bootstrap: str, topic: str, records: Sequence[Record], desc: str | None = None
) -> None:
    """Send `records` (key, value) to `topic` and wait until Kafka has acknowledged all."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks=1, linger_ms=5, max_request_size=4 * BATCH_BYTES
    )
    await producer.start()
    try:
        partitions = await _partitions(bootstrap, topic)
        partitioner = DefaultPartitioner()
        batches = {p: producer.create_batch() for p in partitions}
        pending: list[asyncio.Future] = []
        bar = tqdm(
            total=len(records),
            desc=desc or f"loading {topic}",
            unit=" rec",
            mininterval=0.5,
            disable=desc == "",
        )
        for key, value in records:
            partition = partitioner(key, partitions, partitions)
            batch = batches[partition]
            if batch.append(key=key, value=value, timestamp=None) is None:
                pending.append(await producer.send_batch(batch, topic, partition=partition))
                bar.update(batch.record_count())
                batch = batches[partition] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
            if len(pending) > 64:  # bound what is in flight, so memory stays flat
                await asyncio.gather(*pending)
                pending.clear()
        for partition, batch in batches.items():
            if batch.record_count():
                pending.append(await producer.send_batch(batch, topic, partition=partition))
                bar.update(batch.record_count())
        await asyncio.gather(*pending)
        bar.close()
    finally:
        await producer.stop()


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in await _partitions(bootstrap, topic)]
        return {tp.partition: offset for tp, offset in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()


async def _read_all(
    bootstrap: str, topic: str, expected: int, parse: bool, team_of: Mapping[str, str]
) -> tuple[float, Counter[str]]:
    """Read `expected` records from the start of every partition; (records/s, counts per team).

    The clock runs from the first getmany call, so connecting is not charged but the first
    fetch is, as it would be for any consumer."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 2**20,
    )
    await consumer.start()
    counts: Counter[str] = Counter()
    try:
        tps = [TopicPartition(topic, p) for p in await _partitions(bootstrap, topic)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        started = time.perf_counter()
        while seen < expected:
            batch = await consumer.getmany(timeout_ms=1000, max_records=FETCH_RECORDS)
            for records in batch.values():
                seen += len(records)
                if parse:
                    for record in records:
                        event = orjson.loads(record.value)
                        team = event.get("team") or team_of.get(event.get("actor"), "unassigned")
                        counts[team] += 1
        elapsed = time.perf_counter() - started
        return seen / elapsed, counts
    finally:
        await consumer.stop()


async def ceiling_read(bootstrap: str, topic: str, expected: int) -> float:
    """The bare consumer: records/s with nothing done per record."""
    rate, _ = await _read_all(bootstrap, topic, expected, parse=False, team_of={})
    return rate


async def baseline_read(
    bootstrap: str, topic: str, expected: int, team_of: Mapping[str, str]
) -> tuple[float, Counter[str]]:
    """The same consumer parsing every record with orjson and counting events per team."""
    return await _read_all(bootstrap, topic, expected, parse=True, team_of=team_of)


async def copy_topic(bootstrap: str, source: str, target: str, until: Mapping[int, int]) -> int:
    """Copy `source` byte for byte into `target`, partition for partition, up to the offsets
    `until`; the copy keeps keys, values and order, so a second pipeline reads the same load."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 2**20,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks=1, linger_ms=5, max_request_size=4 * BATCH_BYTES
    )
    await consumer.start()
    await producer.start()
    copied = 0
    try:
        tps = [TopicPartition(source, p) for p, end in until.items() if end > 0]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        remaining = {tp.partition: until[tp.partition] for tp in tps}
        total = sum(remaining.values())
        bar = tqdm(total=total, desc=f"copying the load to {target}", unit=" rec", mininterval=0.5)
        pending: list[asyncio.Future] = []
        while remaining:
            fetched = await consumer.getmany(timeout_ms=1000, max_records=FETCH_RECORDS)
            for tp, records in fetched.items():
                if tp.partition not in remaining:
                    continue
                end = remaining[tp.partition]
                before = copied
                batch = producer.create_batch()
                for record in records:
                    if record.offset >= end:
                        break
                    if batch.append(key=record.key, value=record.value, timestamp=None) is None:
                        pending.append(
                            await producer.send_batch(batch, target, partition=tp.partition)
                        )
                        batch = producer.create_batch()
                        batch.append(key=record.key, value=record.value, timestamp=None)
                    copied += 1
                bar.update(copied - before)
                if batch.record_count():
                    pending.append(await producer.send_batch(batch, target, partition=tp.partition))
                if records and records[-1].offset >= end - 1:
                    del remaining[tp.partition]
                    consumer.pause(tp)
            if len(pending) > 64:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        bar.close()
        return copied
    finally:
        await producer.stop()
        await consumer.stop()


# Quix Streams names its internal topics `<kind>__<consumer group>--<source>`.
QUIX_INTERNAL_KINDS = ("changelog__", "repartition__")


async def delete_topics(bootstrap: str, prefix: str) -> list[str]:
    """Delete every topic whose name starts with `prefix` (the run's own topics only), and
    the internal topics the Quix peer made for a consumer group starting with it."""
    owned = (prefix, *(kind + prefix for kind in QUIX_INTERNAL_KINDS))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(owned)]
        if names:
            await admin.delete_topics(names)
        return names
    finally:
        await admin.close()
