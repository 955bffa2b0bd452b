"""Reading Kafka partitions up to where they end now: the state-log restore, the roster's
initial load and the ingest endpoint's recall of recent ids all need exactly this."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

__all__ = ["read_to_end", "topic_partitions"]

FETCH_TIMEOUT_MS = 1000


async def read_to_end(
    consumer: AIOKafkaConsumer, partitions: Iterable[TopicPartition], *, max_records: int = 5000
) -> AsyncIterator[tuple[TopicPartition, list[ConsumerRecord]]]:
    """Batches from each partition's current position until it reaches the end offset the
    partition had when this was called.

    Every fetched record is yielded, also one appended after the call that came in the same
    fetch: a caller that goes on reading from the consumer's positions misses nothing."""
    wanted = list(partitions)
    ends = await consumer.end_offsets(wanted)
    pending = {tp for tp in wanted if await consumer.position(tp) < ends[tp]}
    while pending:
        batches = await consumer.getmany(
            *pending, timeout_ms=FETCH_TIMEOUT_MS, max_records=max_records
        )
        for tp, records in batches.items():
            yield tp, records
        for tp in list(pending):
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of a topic from fresh broker metadata ([] while it does not exist).

    `partitions_for_topic` only knows topics the client already tracks, which a group-less
    consumer does not until it is assigned them.
    """
    metadata = await consumer._client.fetch_all_metadata()
    return [TopicPartition(topic, p) for p in sorted(metadata.partitions_for_topic(topic) or ())]
