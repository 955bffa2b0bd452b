"""The shapes of what the engine reads, for the stages it drives (which import no Kafka client)."""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord, TopicPartition

__all__ = ["ConsumerRecord", "Records", "TopicPartition"]

# One batch as the loop hands it to its handler: (topic, partition) -> records in offset order.
Records = dict[tuple[str, int], list[ConsumerRecord]]
