"""The Faust agents of the pipeline: ingest -> teams <-> threads, and the roll-up owner.

Every agent takes records in batches (`take_events`), parses each record once and never
does I/O per record: sends go to Faust's buffered producer, metrics are counted per batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Protocol

import faust
import orjson
from faust.types import EventT, TopicT

from teampulse.contract.event import DISCUSSION_TYPES, UNASSIGNED_TEAM, Event
from teampulse.contract.events import EventValidator
from teampulse.contract.rejections import Reason, Rejection, dead_letter_record
from teampulse.contract.xapi import XapiMapper
from teampulse.enrichment.roster import Roster, resolve_team
from teampulse.gauges.config import GaugeConfig
from teampulse.gauges.counts import TeamCounts
from teampulse.gauges.team_state import TeamState
from teampulse.gauges.threads import fact_from_wire
from teampulse.settings import Settings
from teampulse.streams.app import Topics
from teampulse.streams.partitions import (
    RollupInputs,
    TeamPartition,
    ThreadPartition,
    event_op,
    fact_op,
)
from teampulse.streams.roster_reader import RosterReader
from teampulse.streams.state_log import PartitionedState

__all__ = ["LATE", "Outbox", "Pipeline", "PipelineHealthSink"]

log = logging.getLogger(__name__)

Clock = Callable[[], float]
LATE = Rejection(Reason.LATE, "older than its input stream's latest event minus the lateness")


class PipelineHealthSink(Protocol):
    """What the agents report; teampulse.streams.health.PipelineHealth implements it."""

    def record_outcomes(self, source: str, outcomes: Counter[str]) -> None: ...
    def record_dead_letters(self, reasons: Counter[str]) -> None: ...
    def record_event_time_lag(self, lags: Sequence[float]) -> None: ...
    def record_last_event(self, source: str, occurred_at: float) -> None: ...


class Outbox:
    """The records one agent's batch produces, and the wait for Kafka to acknowledge them.

    A batch ends (and its input records are acknowledged) only once every record it produced
    is acknowledged, so a failed send stops the agent and Faust restarts it from the last
    commit instead of losing the record behind a commit. Faust's own send_soon buffer sends
    one record at a time and halves the throughput; here the producer batches them.
    """

    def __init__(self, app: faust.App) -> None:
        self._producer = app.producer
        self._pending: list[asyncio.Future] = []

    def send(
        self, topic: TopicT, key: bytes | None, value: bytes, partition: int | None = None
    ) -> None:
        self._pending.append(
            asyncio.ensure_future(
                self._producer.send(topic.get_topic_name(), key, value, partition, None, None)
            )
        )

    def append(self, state: PartitionedState, partition: int, ops: list[bytes]) -> None:
        for record in state.frame(ops):
            self.send(state.log_topic, None, record, partition)

    async def settle(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            queued = await asyncio.gather(*pending)  # handed to the producer ...
            await asyncio.gather(*queued)  # ... and acknowledged by the broker


class Pipeline:
    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        topics: Topics,
        config: GaugeConfig,
        roster: RosterReader,
        validator: EventValidator,
        xapi: XapiMapper,
        health: PipelineHealthSink,
        clock: Clock,
    ) -> None:
        self.app = app
        self.settings = settings
        self.topics = topics
        self.config = config
        self.roster_reader = roster
        self.validator = validator
        self.xapi = xapi
        self.health = health
        self.clock = clock
        bootstrap = settings.kafka_bootstrap
        self.teams: PartitionedState[TeamPartition] = PartitionedState(
            "teams",
            topics.team_state_log,
            bootstrap,
            lambda _p: TeamPartition(config),
            TeamPartition.replay,
        )
        self.threads: PartitionedState[ThreadPartition] = PartitionedState(
            "threads",
            topics.thread_state_log,
            bootstrap,
            lambda _p: ThreadPartition(config),
            ThreadPartition.replay,
        )
        # The roll-up inputs are absolute values on a compacted topic: the topic is its own log.
        self.rollup_states: PartitionedState[RollupInputs] = PartitionedState(
            "rollups",
            topics.team_counts,
            bootstrap,
            lambda _p: RollupInputs(),
            RollupInputs.apply,
        )

    # ------------------------------------------------------- the exporter's view
    # Pipeline implements teampulse.sinks.sink.TeamStateView (structurally: the export
    # stage comes later in the flow, so this module does not import it).
    @property
    def roster(self) -> Roster:
        return self.roster_reader.roster

    def owned_partitions(self) -> list[int]:
        return [p for p in self.teams.states if self.teams.is_ready(p)]

    def team_states(self, partition: int) -> Mapping[str, TeamState]:
        return self.teams.states[partition].teams

    def take_changed_teams(self, partition: int) -> set[str]:
        state = self.teams.states[partition]
        changed, state.changed = state.changed, set()
        return changed

    def _rollup_owner(self) -> RollupInputs | None:
        # team-counts has one partition: at most one worker owns the roll-ups
        owned = [p for p in self.rollup_states.states if self.rollup_states.is_ready(p)]
        return self.rollup_states.states[owned[0]] if owned else None

    def rollup_inputs(self) -> Mapping[str, TeamCounts] | None:
        owner = self._rollup_owner()
        return owner.counts if owner is not None else None

    def take_rollup_change(self) -> bool:
        owner = self._rollup_owner()
        if owner is None:
            return False
        changed, owner.changed = owner.changed, False
        return changed

    # ------------------------------------------------------------------ wiring
    def register(self) -> None:
        app, topics = self.app, self.topics
        names = self._names = {
            "events": topics.events.get_topic_name(),
            "xapi": topics.xapi.get_topic_name(),
            "by_team": topics.by_team.get_topic_name(),
            "thread_facts": topics.thread_facts.get_topic_name(),
        }
        ingest_topic = app.topic(names["events"], names["xapi"], internal=True)
        team_topic = app.topic(names["by_team"], names["thread_facts"], internal=True)
        app.agent(ingest_topic, name="teampulse.ingest")(self._ingest_agent)
        app.agent(team_topic, name="teampulse.teams")(self._teams_agent)
        app.agent(topics.by_thread, name="teampulse.threads")(self._threads_agent)
        app.agent(topics.team_counts, name="teampulse.rollups")(self._rollups_agent)
        app.on_partitions_assigned.connect(self._on_assigned)  # type: ignore[arg-type]

    async def _on_assigned(self, _sender: object, assigned: set, **_kwargs: object) -> None:
        def owned(topic: TopicT) -> set[int]:
            name = topic.get_topic_name()
            return {tp.partition for tp in assigned if tp.topic == name}

        self.teams.assign(owned(self.topics.by_team))
        self.threads.assign(owned(self.topics.by_thread))
        self.rollup_states.assign(owned(self.topics.team_counts))

    def _batches(self, stream: faust.StreamT):  # type: ignore[no-untyped-def]
        # take_events is faust-streaming's, missing from its StreamT stub
        return stream.take_events(  # type: ignore[attr-defined]
            self.settings.batch_max, self.settings.batch_within_s
        )

    def _dead_letter(
        self, outbox: Outbox, raw: bytes, event: EventT, rejection: Rejection, now: float
    ) -> None:
        source = event.message
        letter = dead_letter_record(
            raw, source.topic, source.partition, source.offset, rejection, now
        )
        outbox.send(self.topics.deadletter, None, letter)

    # ------------------------------------------------------------------ ingest
    async def _ingest_agent(self, stream: faust.StreamT) -> None:
        outbox = Outbox(self.app)
        await self.roster_reader.ready.wait()
        xapi_topic = self._names["xapi"]
        async for batch in self._batches(stream):
            now = self.clock()
            outcomes: dict[str, Counter[str]] = defaultdict(Counter)
            reasons: Counter[str] = Counter()
            lags: list[float] = []
            latest: dict[str, float] = {}
            for record in batch:
                raw = record.message.value or b""
                if record.message.topic == xapi_topic:
                    result = self.xapi.parse(raw, now)
                    fallback_source = "xapi"
                else:
                    result = self.validator.parse(raw, now)
                    fallback_source = "events"
                if isinstance(result, Rejection):
                    self._dead_letter(outbox, raw, record, result, now)
                    outcomes[fallback_source]["rejected"] += 1
                    reasons[result.reason.value] += 1
                    continue
                team = resolve_team(result.team, result.actor, self.roster)
                if result.team is None and team == UNASSIGNED_TEAM:
                    outcomes[result.source]["unassigned"] += 1
                message = record.message
                event = replace(result, team=team, origin=f"{message.topic}:{message.partition}")
                outbox.send(self.topics.by_team, team.encode(), orjson.dumps(event.to_wire()))
                lags.append(now - event.occurred_at)
                if event.occurred_at > latest.get(event.source, float("-inf")):
                    latest[event.source] = event.occurred_at
            await outbox.settle()
            for source, counted in outcomes.items():
                self.health.record_outcomes(source, counted)
            if reasons:
                self.health.record_dead_letters(reasons)
            if lags:
                self.health.record_event_time_lag(lags)
            for source, occurred_at in latest.items():
                self.health.record_last_event(source, occurred_at)

    # ------------------------------------------------------------------ teams
    async def _teams_agent(self, stream: faust.StreamT) -> None:
        outbox = Outbox(self.app)
        by_team = self._names["by_team"]
        async for batch in self._batches(stream):
            now = self.clock()
            outcomes: dict[str, Counter[str]] = defaultdict(Counter)
            reasons: Counter[str] = Counter()
            for partition, records in _by_partition(batch).items():
                state = await self.teams.ready(partition)
                if state is None:
                    continue  # revoked meanwhile: the new owner gets these records again
                ops: list[bytes] = []
                for record in records:
                    raw = record.message.value or b""
                    if record.message.topic != by_team:
                        state.apply_fact(fact_from_wire(orjson.loads(raw)))
                        ops.append(fact_op(raw))
                        continue
                    event = Event.from_wire(orjson.loads(raw))
                    outcome = state.apply_event(event)
                    outcomes[event.source][outcome] += 1
                    if outcome == "accepted":
                        ops.append(event_op(raw))
                    elif outcome == "late":
                        reasons[Reason.LATE.value] += 1
                        self._dead_letter(outbox, raw, record, LATE, now)
                    # A duplicate is forwarded too: its first delivery may have been applied
                    # here just before a crash that lost the forward (the thread stage is
                    # idempotent per post).
                    if outcome != "late" and event.type in DISCUSSION_TYPES and event.thread:
                        outbox.send(self.topics.by_thread, event.thread.encode(), raw)
                if ops:
                    outbox.append(self.teams, partition, ops)
            await outbox.settle()
            for source, counted in outcomes.items():
                self.health.record_outcomes(source, counted)
            if reasons:
                self.health.record_dead_letters(reasons)

    # ------------------------------------------------------------------ threads
    async def _threads_agent(self, stream: faust.StreamT) -> None:
        outbox = Outbox(self.app)
        async for batch in self._batches(stream):
            for partition, records in _by_partition(batch).items():
                state = await self.threads.ready(partition)
                if state is None:
                    continue
                ops: list[bytes] = []
                for record in records:
                    raw = record.message.value or b""
                    event = Event.from_wire(orjson.loads(raw))
                    state.expire_threads(event.occurred_at)
                    for fact in state.book.apply(event):
                        outbox.send(
                            self.topics.thread_facts,
                            fact.team.encode(),
                            orjson.dumps(fact.to_wire()),
                        )
                    ops.append(raw)
                outbox.append(self.threads, partition, ops)
            await outbox.settle()

    # ------------------------------------------------------------------ roll-ups
    async def _rollups_agent(self, stream: faust.StreamT) -> None:
        async for batch in self._batches(stream):
            for partition, records in _by_partition(batch).items():
                state = await self.rollup_states.ready(partition)
                if state is None:
                    continue
                for record in records:
                    state.apply(record.message.value or b"")


def _by_partition(batch: Sequence[EventT]) -> dict[int, list[EventT]]:
    grouped: dict[int, list[EventT]] = defaultdict(list)
    for record in batch:
        grouped[record.message.partition].append(record)
    return grouped
