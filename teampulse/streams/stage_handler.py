"""The pipeline's stages as the engine's batch handler (`teampulse.engine.batch_loop`).

The engine reads, commits, rewinds and fences; this says what its topics and partitions mean
here: which partition of which topic feeds which state, which internal topics a stage may
hand over in memory, and what is rebuilt or forgotten when partitions move.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from teampulse.contract.tenant_scope import SEPARATOR
from teampulse.engine.batch_loop import HandledBatch
from teampulse.engine.batch_outbox import BatchOutbox
from teampulse.engine.records import ConsumerRecord, Records, TopicPartition
from teampulse.engine.state_store import PartitionedState
from teampulse.engine.tenant_scheduler import TenantOf
from teampulse.streams.hot_stages import HealthSink, HotStages
from teampulse.tenancy.directory import TENANT_HEADER

__all__ = ["StagesHandler"]

_SEPARATOR = SEPARATOR.encode()


def tenant_of_header(record: ConsumerRecord) -> str:
    """An input record's tenant as its header names it ("" without one: dead-lettered)."""
    for key, value in record.headers or ():
        if key == TENANT_HEADER:
            return bytes(value).decode("utf-8", "replace")
    return ""


def tenant_of_key(record: ConsumerRecord) -> str:
    """An internal record's tenant: its key is a name scoped to it (team, thread)."""
    key = record.key or b""
    tenant, separator, _name = key.partition(_SEPARATOR)
    return tenant.decode("utf-8", "replace") if separator else ""


class StagesHandler:
    """Implements `teampulse.engine.batch_loop.BatchHandler` for `HotStages`."""

    def __init__(self, stages: HotStages, health: HealthSink) -> None:
        self.stages = stages
        self.health = health
        topics = stages.topics
        direct = stages.direct
        self._routes = {
            topics.by_team: direct.teams,
            topics.by_thread: direct.threads,
            topics.thread_facts: direct.facts,
        }

    def inputs(self) -> list[str]:
        return self.stages.topics.inputs()

    def in_memory_routes(self) -> Mapping[str, set[int]]:
        return self._routes

    def stores(self) -> Sequence[PartitionedState[Any]]:
        return (self.stages.teams, self.stages.threads)

    def assigned(self, assigned: set[TopicPartition]) -> None:
        def owned(topic: str) -> set[int]:
            return {tp.partition for tp in assigned if tp.topic == topic}

        stages, topics = self.stages, self.stages.topics
        stages.direct.clear()
        teams = owned(topics.by_team)
        stages.teams_assigned(teams - set(stages.teams.states))
        stages.teams.assign(teams)
        threads = owned(topics.by_thread)
        stages.threads_assigned(threads - set(stages.threads.states))
        stages.threads.assign(threads)
        if stages.rollups is not None:
            stages.rollups.assign(owned(topics.team_counts))

    def revoked(self) -> None:
        self.stages.direct.clear()

    def rebuild(self) -> None:
        stages = self.stages
        # Rebuilt from snapshots and logs, the states may hold erased people again.
        stages.teams_assigned(set(stages.teams.states))
        stages.threads_assigned(set(stages.threads.states))
        stages.teams.reload()
        stages.threads.reload()

    def restoring(self) -> set[TopicPartition]:
        stages, topics = self.stages, self.stages.topics
        teams, threads = stages.teams.restoring(), stages.threads.restoring()
        # A team partition's state takes both its events and its thread facts.
        restoring = {TopicPartition(topics.by_team, p) for p in teams}
        restoring |= {TopicPartition(topics.thread_facts, p) for p in teams}
        restoring |= {TopicPartition(topics.by_thread, p) for p in threads}
        if stages.rollups is not None:
            restoring |= {TopicPartition(topics.team_counts, p) for p in stages.rollups.restoring()}
        return restoring

    def has_work(self) -> bool:
        return self.stages.erasures_pending()

    def tenant_readers(self) -> Mapping[str, TenantOf[ConsumerRecord]] | None:
        tenants = self.stages.tenants
        if tenants is None or tenants.directory.implicit:
            return None
        topics = self.stages.topics
        # The roll-up inputs are absolute counts, cheap and never held back.
        return {
            topics.events: tenant_of_header,
            topics.xapi: tenant_of_header,
            topics.by_team: tenant_of_key,
            topics.by_thread: tenant_of_key,
            topics.thread_facts: tenant_of_key,
        }

    async def handle(self, records: Records, outbox: BatchOutbox) -> HandledBatch:
        report = await self.stages.process(records, outbox)
        return HandledBatch(report.deferred, lambda: report.publish(self.health))
