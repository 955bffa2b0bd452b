"""The Faust agents of the pipeline: ingest -> teams <-> threads, and the roll-up owner.

Every agent takes records in batches (`take_events`), parses each record once and never
does I/O per record: sends go to Faust's buffered producer, metrics are counted per batch.

One record can never stop the others: an unexpected exception while handling a record
dead-letters that record with reason `internal` (its error type and where it was raised are
logged at warning, never its contents) and the batch carries on, so the agent is not
restarted and no neighbouring record is lost or re-read.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
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
from teampulse.kafka.undecodable import SkippedRecord
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


@dataclass
class _IngestTally:
    """What one ingest batch counts, reported to the health sink once per batch."""

    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    reasons: Counter[str] = field(default_factory=Counter)
    lags: list[float] = field(default_factory=list)
    latest: dict[str, float] = field(default_factory=dict)


def _internal_rejection(exc: BaseException) -> Rejection:
    """The `internal` rejection of a record whose handling raised `exc`: the error type and
    the innermost frame, never the message (it may quote the record's contents)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return Rejection(Reason.INTERNAL, f"unexpected {type(exc).__name__}{where}")


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

    async def report_undecodable(self, skipped: Sequence[SkippedRecord]) -> None:
        """Dead-letters the offsets the Kafka client could not decode (no bytes to keep)."""
        outbox = Outbox(self.app)
        now = self.clock()
        for record in skipped:
            rejection = Rejection(Reason.UNDECODABLE, f"offset {record.offset}: {record.cause}")
            letter = dead_letter_record(
                None, record.topic, record.partition, record.offset, rejection, now
            )
            outbox.send(self.topics.deadletter, None, letter)
        await outbox.settle()
        self.health.record_dead_letters(Counter({Reason.UNDECODABLE.value: len(skipped)}))

    # ------------------------------------------------------------------ ingest
    def _internal_error(
        self, outbox: Outbox, raw: bytes, record: EventT, exc: Exception, now: float
    ) -> Rejection:
        rejection = _internal_rejection(exc)
        message = record.message
        log.warning(
            "record dead-lettered as internal topic=%s partition=%d offset=%d cause=%s",
            message.topic,
            message.partition,
            message.offset,
            rejection.detail,
        )
        self._dead_letter(outbox, raw, record, rejection, now)
        return rejection

    async def _ingest_agent(self, stream: faust.StreamT) -> None:
        outbox = Outbox(self.app)
        await self.roster_reader.ready.wait()
        xapi_topic = self._names["xapi"]
        async for batch in self._batches(stream):
            now = self.clock()
            tally = _IngestTally()
            for record in batch:
                raw = record.message.value or b""
                fallback_source = "xapi" if record.message.topic == xapi_topic else "events"
                try:
                    self._ingest_record(outbox, record, raw, fallback_source, now, tally)
                except Exception as exc:  # noqa: BLE001 - one record must not stop the batch
                    rejection = self._internal_error(outbox, raw, record, exc, now)
                    tally.outcomes[fallback_source]["rejected"] += 1
                    tally.reasons[rejection.reason.value] += 1
            await outbox.settle()
            for source, counted in tally.outcomes.items():
                self.health.record_outcomes(source, counted)
            if tally.reasons:
                self.health.record_dead_letters(tally.reasons)
            if tally.lags:
                self.health.record_event_time_lag(tally.lags)
            for source, occurred_at in tally.latest.items():
                self.health.record_last_event(source, occurred_at)

    def _ingest_record(
        self,
        outbox: Outbox,
        record: EventT,
        raw: bytes,
        fallback_source: str,
        now: float,
        tally: _IngestTally,
    ) -> None:
        if fallback_source == "xapi":
            result = self.xapi.parse(raw, now)
        else:
            result = self.validator.parse(raw, now)
        if isinstance(result, Rejection):
            self._dead_letter(outbox, raw, record, result, now)
            tally.outcomes[fallback_source]["rejected"] += 1
            tally.reasons[result.reason.value] += 1
            return
        team = resolve_team(result.team, result.actor, self.roster)
        unassigned = result.team is None and team == UNASSIGNED_TEAM
        message = record.message
        event = replace(result, team=team, origin=f"{message.topic}:{message.partition}")
        wire = orjson.dumps(event.to_wire())
        # Nothing below can raise: a record is either forwarded or dead-lettered, never both.
        outbox.send(self.topics.by_team, team.encode(), wire)
        if unassigned:
            tally.outcomes[result.source]["unassigned"] += 1
        tally.lags.append(now - event.occurred_at)
        if event.occurred_at > tally.latest.get(event.source, float("-inf")):
            tally.latest[event.source] = event.occurred_at

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
                    try:
                        late = self._team_record(outbox, state, record, raw, by_team, ops, outcomes)
                    except Exception as exc:  # noqa: BLE001 - one record must not stop the batch
                        self._internal_error(outbox, raw, record, exc, now)
                        reasons[Reason.INTERNAL.value] += 1
                        continue
                    if late:
                        reasons[Reason.LATE.value] += 1
                        self._dead_letter(outbox, raw, record, LATE, now)
                if ops:
                    outbox.append(self.teams, partition, ops)
            await outbox.settle()
            for source, counted in outcomes.items():
                self.health.record_outcomes(source, counted)
            if reasons:
                self.health.record_dead_letters(reasons)

    def _team_record(
        self,
        outbox: Outbox,
        state: TeamPartition,
        record: EventT,
        raw: bytes,
        by_team: str,
        ops: list[bytes],
        outcomes: dict[str, Counter[str]],
    ) -> bool:
        """Applies one record of the teams agent; True when it is a late event, which the
        caller dead-letters."""
        if record.message.topic != by_team:
            state.apply_fact(fact_from_wire(orjson.loads(raw)))
            ops.append(fact_op(raw))
            return False
        event = Event.from_wire(orjson.loads(raw))
        outcome = state.apply_event(event)
        outcomes[event.source][outcome] += 1
        if outcome == "accepted":
            ops.append(event_op(raw))
        # A duplicate is forwarded too: its first delivery may have been applied here just
        # before a crash that lost the forward (the thread stage is idempotent per post).
        if outcome != "late" and event.type in DISCUSSION_TYPES and event.thread:
            outbox.send(self.topics.by_thread, event.thread.encode(), raw)
        return outcome == "late"

    # ------------------------------------------------------------------ threads
    async def _threads_agent(self, stream: faust.StreamT) -> None:
        outbox = Outbox(self.app)
        async for batch in self._batches(stream):
            now = self.clock()
            internal = 0
            for partition, records in _by_partition(batch).items():
                state = await self.threads.ready(partition)
                if state is None:
                    continue
                ops: list[bytes] = []
                for record in records:
                    raw = record.message.value or b""
                    try:
                        event = Event.from_wire(orjson.loads(raw))
                        state.expire_threads(event.occurred_at)
                        facts = [
                            (fact.team.encode(), orjson.dumps(fact.to_wire()))
                            for fact in state.book.apply(event)
                        ]
                    except Exception as exc:  # noqa: BLE001 - one record must not stop the batch
                        self._internal_error(outbox, raw, record, exc, now)
                        internal += 1
                        continue
                    for key, value in facts:
                        outbox.send(self.topics.thread_facts, key, value)
                    ops.append(raw)
                outbox.append(self.threads, partition, ops)
            await outbox.settle()
            if internal:
                self.health.record_dead_letters(Counter({Reason.INTERNAL.value: internal}))

    # ------------------------------------------------------------------ roll-ups
    async def _rollups_agent(self, stream: faust.StreamT) -> None:
        outbox = Outbox(self.app)
        async for batch in self._batches(stream):
            now = self.clock()
            internal = 0
            for partition, records in _by_partition(batch).items():
                state = await self.rollup_states.ready(partition)
                if state is None:
                    continue
                for record in records:
                    raw = record.message.value or b""
                    try:
                        state.apply(raw)
                    except Exception as exc:  # noqa: BLE001 - one record must not stop the batch
                        self._internal_error(outbox, raw, record, exc, now)
                        internal += 1
            await outbox.settle()
            if internal:
                self.health.record_dead_letters(Counter({Reason.INTERNAL.value: internal}))


def _by_partition(batch: Sequence[EventT]) -> dict[int, list[EventT]]:
    grouped: dict[int, list[EventT]] = defaultdict(list)
    for record in batch:
        grouped[record.message.partition].append(record)
    return grouped
