"""The pipeline's stages and their state: ingest -> teams <-> threads, and the roll-up owner.

Every topic the pipeline reads (events, xapi, by-team, by-thread, thread-facts, and the
roll-up inputs on team-counts) is read in batches by one consumer group, the engine's
`teampulse.engine.batch_loop.BatchLoop`, a service of the Faust app, and handled by
`teampulse.streams.hot_stages.HotStages` (through `StagesHandler`); Faust
runs no agent. docs/architecture.md explains the split and its figures.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from teampulse.contract.event_structs import FastEventValidator
from teampulse.contract.rejections import Reason, Rejection, dead_letter_record
from teampulse.contract.xapi import XapiMapper
from teampulse.engine.batch_loop import BatchLoop
from teampulse.engine.state_store import NO_LOG_POSITION, PartitionedState, SnapshotCodec
from teampulse.engine.undecodable import SkippedRecord
from teampulse.enrichment.roster import Roster
from teampulse.gauges.config import GaugeConfig
from teampulse.gauges.counts import TeamCounts
from teampulse.gauges.team_state import TeamState
from teampulse.kafka.security import kafka_client_options
from teampulse.settings import Settings
from teampulse.streams.erasure_reader import ErasureReader
from teampulse.streams.hot_stages import HealthSink, HotStages, HotTopics
from teampulse.streams.partitions import (
    KnownTenant,
    RollupInputs,
    TeamPartition,
    ThreadPartition,
    every_tenant,
)
from teampulse.streams.roster_reader import RosterReader
from teampulse.streams.stage_handler import StagesHandler
from teampulse.streams.state_snapshots import dump_teams, dump_threads, load_teams, load_threads
from teampulse.streams.team_counts_reader import TeamCountsReader
from teampulse.tenancy.source import TenantsSource

__all__ = ["STATE_ENTRY_KINDS", "Pipeline", "PipelineHealthSink", "Topics"]

log = logging.getLogger(__name__)

Clock = Callable[[], float]
# (stage, kind) of the in-memory state entries the worker reports (Pipeline.state_entries).
STATE_ENTRY_KINDS = (
    ("teams", "buckets"),
    ("teams", "event_ids"),
    ("teams", "adoption_records"),
    ("teams", "content_records"),
    ("threads", "threads"),
    ("threads", "posts"),
)
# What the stages report; teampulse.streams.health.PipelineHealth implements it.
PipelineHealthSink = HealthSink


@dataclass(frozen=True)
class Topics:
    """The names of the topics the pipeline reads and writes (docs/architecture.md);
    `teampulse.kafka.topics` creates them with their config."""

    events: str
    xapi: str
    roster: str
    erasures: str
    deadletter: str
    by_team: str
    by_thread: str
    thread_facts: str
    team_counts: str
    team_state_log: str
    thread_state_log: str

    @classmethod
    def of(cls, settings: Settings) -> Topics:
        name = settings.topic
        return cls(
            events=name("events"),
            xapi=name("xapi"),
            roster=name("roster"),
            erasures=name("erasures"),
            deadletter=name("deadletter"),
            by_team=name("by-team"),
            by_thread=name("by-thread"),
            thread_facts=name("thread-facts"),
            team_counts=name("team-counts"),
            team_state_log=name("team-state"),
            thread_state_log=name("thread-state"),
        )


class _DropsTenants(Protocol):
    def drop_tenants(self, known: KnownTenant) -> object: ...


S = TypeVar("S", bound=_DropsTenants)


def _without_deleted(
    load: Callable[[int, bytes], S], known: KnownTenant
) -> Callable[[int, bytes], S]:
    """A snapshot taken before a tenant was deleted holds its teams or threads: restored
    without them, as a log replay leaves them out."""

    def restored(partition: int, data: bytes) -> S:
        state = load(partition, data)
        state.drop_tenants(known)
        return state

    return restored


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        topics: Topics,
        config: GaugeConfig,
        roster: RosterReader,
        erasures: ErasureReader,
        team_counts: TeamCountsReader,
        validator: FastEventValidator,
        xapi: XapiMapper,
        health: PipelineHealthSink,
        clock: Clock,
        tenants: TenantsSource | None = None,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.config = config
        self.roster_reader = roster
        self.erasures = erasures
        self.team_counts = team_counts
        erased = erasures.erased
        # A deleted tenant's records stay in the state log until its retention; a replay
        # leaves them out (docs/tenancy.md, "Deleting a tenant").
        known = tenants.knows if tenants is not None else every_tenant
        self.health = health
        self.clock = clock
        kafka = kafka_client_options(settings)
        self.teams: PartitionedState[TeamPartition] = PartitionedState(
            "teams",
            topics.team_state_log,
            kafka,
            lambda _p: TeamPartition(config),
            lambda state, record: state.replay(record, erased, known),
            replay_after=erasures.ready,
            snapshots=SnapshotCodec(
                settings.topic("team-snapshots"),
                dump_teams(config),
                _without_deleted(load_teams(config), known),
                settings.snapshot_interval_s,
            ),
        )
        self.threads: PartitionedState[ThreadPartition] = PartitionedState(
            "threads",
            topics.thread_state_log,
            kafka,
            lambda _p: ThreadPartition(config),
            lambda state, record: state.replay(record, known),
            snapshots=SnapshotCodec(
                settings.topic("thread-snapshots"),
                dump_threads(config),
                _without_deleted(load_threads(config), known),
                settings.snapshot_interval_s,
            ),
        )
        # The roll-up inputs are absolute values on a compacted topic: the topic is its own log.
        self.rollup_states: PartitionedState[RollupInputs] = PartitionedState(
            "rollups",
            topics.team_counts,
            kafka,
            lambda _p: RollupInputs(),
            RollupInputs.apply,
        )
        hot_topics = HotTopics(
            events=topics.events,
            xapi=topics.xapi,
            by_team=topics.by_team,
            by_thread=topics.by_thread,
            thread_facts=topics.thread_facts,
            deadletter=topics.deadletter,
            team_state=topics.team_state_log,
            thread_state=topics.thread_state_log,
            team_counts=topics.team_counts,
        )
        stages = HotStages(
            hot_topics,
            settings.topic_partitions,
            roster,
            validator,
            xapi,
            self.teams,
            self.threads,
            clock,
            erased,
            tenants,
            rollups=self.rollup_states,
        )
        erasures.on_erased(roster.forget)
        erasures.on_erased(stages.erase)
        self.tenant_events = stages.tenant_events  # each tenant's events, for its usage
        self._team_counts_topic = hot_topics.team_counts
        self.hot = BatchLoop(
            settings,
            StagesHandler(stages, health),
            (roster.ready, erasures.ready),
            web_url=f"http://{settings.web_host}:{settings.web_port}",
            routed_topic=hot_topics.by_team,
        )

    def report_undecodable(self, skipped: Sequence[SkippedRecord]) -> None:
        """Dead-letters the offsets the Kafka client could not decode (no bytes to keep):
        sent with the next batch, acknowledged before that batch commits."""
        now = self.clock()
        deadletter = self.topics.deadletter
        for record in skipped:
            rejection = Rejection(Reason.UNDECODABLE, f"offset {record.offset}: {record.cause}")
            letter = dead_letter_record(
                None, record.topic, record.partition, record.offset, rejection, now
            )
            partition = record.partition % self.settings.topic_partitions
            self.hot.send_with_next_batch(deadletter, partition, None, letter)
        self.health.record_dead_letters(Counter({Reason.UNDECODABLE.value: len(skipped)}))

    # ------------------------------------------------------- the exporter's view
    # Pipeline implements teampulse.sinks.sink.TeamStateView (structurally: the export
    # stage comes later in the flow, so this module does not import it).
    @property
    def roster(self) -> Roster:
        return self.roster_reader.roster

    def owned_partitions(self) -> list[int]:
        if self.hot.lease.fenced():  # fenced: another worker may own them by now
            return []
        return [p for p in self.teams.states if self.teams.is_ready(p)]

    def team_states(self, partition: int) -> Mapping[str, TeamState]:
        return self.teams.states[partition].teams

    def log_position(self, partition: int) -> int:
        return self.teams.positions.get(partition, NO_LOG_POSITION)

    def take_changed_teams(self, partition: int) -> set[str]:
        state = self.teams.states[partition]
        changed, state.changed = state.changed, set()
        return changed

    def state_entries(self) -> dict[tuple[str, str], int]:
        """Entries of the in-memory state of the partitions this worker holds, by (stage,
        kind): what must stay flat once event time has passed the retention."""
        totals = dict.fromkeys(STATE_ENTRY_KINDS, 0)
        for partition in self.teams.states.values():
            for team in partition.teams.values():
                for kind, count in team.state_entries().items():
                    totals[("teams", kind)] += count
        for threads in self.threads.states.values():
            totals[("threads", "threads")] += len(threads.book)
            totals[("threads", "posts")] += threads.book.posts
        return totals

    def drop_tenants(self, known: KnownTenant) -> int:
        """Everything this worker holds of tenants `known` no longer knows: their teams'
        state, roster people and latest counts; returns how many teams' state left."""
        dropped = sum(state.drop_tenants(known) for state in self.teams.states.values())
        for threads in self.threads.states.values():
            threads.drop_tenants(known)
        self.roster.drop_tenants(known)
        self.team_counts.latest.drop_tenants(known)
        for inputs in self.rollup_states.states.values():
            inputs.drop_tenants(known)
        return dropped

    def _rollup_owner(self) -> RollupInputs | None:
        if self.hot.lease.fenced():  # frozen past the session: another worker may own them
            return None
        # team-counts has one partition: at most one worker owns the roll-ups
        owned = [p for p in self.rollup_states.states if self.rollup_states.is_ready(p)]
        return self.rollup_states.states[owned[0]] if owned else None

    def org_counts(self) -> Mapping[str, TeamCounts]:
        return self.team_counts.latest.counts

    def take_org_change(self) -> bool:
        return self.team_counts.take_change()

    def rollup_inputs(self) -> Mapping[str, TeamCounts] | None:
        owner = self._rollup_owner()
        return owner.counts if owner is not None else None

    def take_rollup_change(self) -> bool:
        owner = self._rollup_owner()
        if owner is None:
            return False
        changed, owner.changed = owner.changed, False
        return changed

    def send_team_counts(self, key: bytes, value: bytes) -> None:
        """Queues a team's latest counts for the roll-up owner (`team-counts` has one
        partition): sent with the next batch, acknowledged before that batch commits."""
        self.hot.send_with_next_batch(self._team_counts_topic, 0, key, value)
