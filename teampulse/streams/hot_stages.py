"""What one batch of hot records does: ingest -> teams <-> threads, as plain loops.

The hot consumer hands over everything one `getmany` returned (thousands of records from
the input topics and the internal ones). Each record is decoded once; an event crosses the
ingest stage's validation once and is encoded once (`encode_wire`); what a later stage
forwards (a by-team record to the thread stage, an applied record to a state log) is the
bytes it read. Destination partitions are computed here, so the outbox sends whole Kafka
batches, and each stage appends one state-log record per partition per batch. Outcomes are
counted per batch and reported once the batch is handed to Kafka.

An exception while handling one record is caught for that record alone: the record goes to
the dead-letter topic with reason `internal` and the rest of the batch carries on.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import msgspec
from aiokafka.structs import ConsumerRecord

from teampulse.contract.event import (
    DISCUSSION_TYPES,
    UNASSIGNED_TEAM,
    decode_wire,
    encode_wire,
)
from teampulse.contract.event_structs import FastEventValidator
from teampulse.contract.rejections import Reason, Rejection, dead_letter_record, internal_rejection
from teampulse.contract.xapi import XapiMapper
from teampulse.enrichment.roster import resolve_team
from teampulse.streams.batch_outbox import BatchOutbox, KeyPartitioner
from teampulse.streams.partitions import TeamPartition, ThreadPartition, event_op, fact_op
from teampulse.streams.roster_reader import RosterReader
from teampulse.streams.state_log import PartitionedState
from teampulse.streams.wire import decode_fact, encode_fact

log = logging.getLogger(__name__)

LATE = Rejection(Reason.LATE, "older than its input stream's latest event minus the lateness")
_replace = msgspec.structs.replace


class HealthSink(Protocol):
    """What a batch reports; sinks.health.PipelineHealth implements it."""

    def record_outcomes(self, source: str, outcomes: Counter[str]) -> None: ...
    def record_dead_letters(self, reasons: Counter[str]) -> None: ...
    def record_event_time_lag(self, lags: Sequence[float]) -> None: ...
    def record_last_event(self, source: str, occurred_at: float) -> None: ...


@dataclass(frozen=True)
class HotTopics:
    """Names of the topics the hot path reads and writes."""

    events: str
    xapi: str
    by_team: str
    by_thread: str
    thread_facts: str
    deadletter: str
    team_state: str
    thread_state: str

    def inputs(self) -> list[str]:
        return [self.events, self.xapi, self.by_team, self.by_thread, self.thread_facts]


@dataclass
class BatchReport:
    """A batch's counts, handed to the health sink once the batch is handed to Kafka."""

    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    reasons: Counter[str] = field(default_factory=Counter)
    lags: list[float] = field(default_factory=list)
    latest: dict[str, float] = field(default_factory=dict)

    def publish(self, health: HealthSink) -> None:
        for source, counted in self.outcomes.items():
            health.record_outcomes(source, counted)
        if self.reasons:
            health.record_dead_letters(self.reasons)
        if self.lags:
            health.record_event_time_lag(self.lags)
        for source, occurred_at in self.latest.items():
            health.record_last_event(source, occurred_at)


Records = dict[tuple[str, int], list[ConsumerRecord]]


class HotStages:
    def __init__(
        self,
        topics: HotTopics,
        partitions: int,
        roster: RosterReader,
        validator: FastEventValidator,
        xapi: XapiMapper,
        teams: PartitionedState[TeamPartition],
        threads: PartitionedState[ThreadPartition],
        clock: Callable[[], float],
    ) -> None:
        self.topics = topics
        self.roster = roster
        self.validator = validator
        self.xapi = xapi
        self.teams = teams
        self.threads = threads
        self.clock = clock
        self.partition_of = KeyPartitioner(partitions)
        self._partitions = partitions

    async def process(self, records: Records, outbox: BatchOutbox) -> BatchReport:
        """Everything `records` (topic, partition -> records in offset order) implies, queued
        on `outbox`; records of partitions this worker no longer owns are skipped (their
        new owner reads them again from the last commit)."""
        now = self.clock()
        report = BatchReport()
        topics = self.topics
        for (topic, partition), batch in records.items():
            if topic == topics.events or topic == topics.xapi:
                self._ingest(topic, partition, batch, outbox, report, now)
        for (topic, partition), batch in records.items():
            if topic == topics.by_team or topic == topics.thread_facts:
                state = await self.teams.ready(partition)
                if state is None:
                    continue
                ops: list[bytes] = []
                if topic == topics.by_team:
                    self._teams(partition, batch, state, ops, outbox, report, now)
                else:
                    self._facts(batch, state, ops, outbox, report, now)
                self._append(topics.team_state, partition, ops, outbox)
        for (topic, partition), batch in records.items():
            if topic == topics.by_thread:
                thread_state = await self.threads.ready(partition)
                if thread_state is not None:
                    self._threads(partition, batch, thread_state, outbox, report, now)
        return report

    # ------------------------------------------------------------------ stages
    def _ingest(
        self,
        topic: str,
        partition: int,
        batch: Iterable[ConsumerRecord],
        outbox: BatchOutbox,
        report: BatchReport,
        now: float,
    ) -> None:
        is_xapi = topic == self.topics.xapi
        parse = self.xapi.parse if is_xapi else self.validator.parse
        fallback_source = "xapi" if is_xapi else "events"
        origin = f"{topic}:{partition}"
        by_team = self.topics.by_team
        roster = self.roster.roster
        partition_of = self.partition_of
        outcomes = report.outcomes
        lags = report.lags
        latest = report.latest
        for record in batch:
            raw = record.value or b""
            try:
                result = parse(raw, now)
                if isinstance(result, Rejection):
                    self._dead_letter(outbox, raw, record, result, now)
                    outcomes[fallback_source]["rejected"] += 1
                    report.reasons[result.reason.value] += 1
                    continue
                team = resolve_team(result.team, result.actor, roster)
                if result.team is None and team == UNASSIGNED_TEAM:
                    outcomes[result.source]["unassigned"] += 1
                event = _replace(result, team=team, origin=origin)
                key = team.encode()
                outbox.add(by_team, partition_of(key), key, encode_wire(event))
            except Exception as exc:  # noqa: BLE001 - one record must not stop the others
                self._internal(outbox, raw, record, report, now, "ingest", exc)
                outcomes[fallback_source]["rejected"] += 1
                continue
            occurred_at = event.occurred_at
            lags.append(now - occurred_at)
            if occurred_at > latest.get(event.source, float("-inf")):
                latest[event.source] = occurred_at

    def _teams(
        self,
        partition: int,
        batch: Iterable[ConsumerRecord],
        state: TeamPartition,
        ops: list[bytes],
        outbox: BatchOutbox,
        report: BatchReport,
        now: float,
    ) -> None:
        by_thread = self.topics.by_thread
        partition_of = self.partition_of
        outcomes = report.outcomes
        for record in batch:
            raw = record.value or b""
            try:
                event = decode_wire(raw)
                outcome = state.apply_event(event)
                outcomes[event.source][outcome] += 1
                if outcome == "accepted":
                    ops.append(event_op(raw))
                elif outcome == "late":
                    report.reasons[Reason.LATE.value] += 1
                    self._dead_letter(outbox, raw, record, LATE, now)
                    continue
                # A duplicate is forwarded too: its first delivery may have been applied
                # here just before a crash that lost the forward (the thread stage is
                # idempotent per post).
                if event.thread and event.type in DISCUSSION_TYPES:
                    key = event.thread.encode()
                    outbox.add(by_thread, partition_of(key), key, raw)
            except Exception as exc:  # noqa: BLE001
                self._internal(outbox, raw, record, report, now, "teams", exc)

    def _facts(
        self,
        batch: Iterable[ConsumerRecord],
        state: TeamPartition,
        ops: list[bytes],
        outbox: BatchOutbox,
        report: BatchReport,
        now: float,
    ) -> None:
        for record in batch:
            raw = record.value or b""
            try:
                state.apply_fact(decode_fact(raw))
                ops.append(fact_op(raw))
            except Exception as exc:  # noqa: BLE001
                self._internal(outbox, raw, record, report, now, "teams", exc)

    def _threads(
        self,
        partition: int,
        batch: Iterable[ConsumerRecord],
        state: ThreadPartition,
        outbox: BatchOutbox,
        report: BatchReport,
        now: float,
    ) -> None:
        facts_topic = self.topics.thread_facts
        partition_of = self.partition_of
        ops: list[bytes] = []
        for record in batch:
            raw = record.value or b""
            try:
                event = decode_wire(raw)
                state.expire_threads(event.occurred_at)
                for fact in state.book.apply(event):
                    key = fact.team.encode()
                    outbox.add(facts_topic, partition_of(key), key, encode_fact(fact))
                ops.append(raw)
            except Exception as exc:  # noqa: BLE001
                self._internal(outbox, raw, record, report, now, "threads", exc)
        self._append(self.topics.thread_state, partition, ops, outbox)

    # ------------------------------------------------------------------ shared by the stages
    @staticmethod
    def _append(topic: str, partition: int, ops: list[bytes], outbox: BatchOutbox) -> None:
        if ops:
            for framed in PartitionedState.frame(ops):
                outbox.add(topic, partition, None, framed)

    def _dead_letter(
        self,
        outbox: BatchOutbox,
        raw: bytes,
        record: ConsumerRecord,
        rejection: Rejection,
        now: float,
    ) -> None:
        letter = dead_letter_record(
            raw, record.topic, record.partition, record.offset, rejection, now
        )
        outbox.add(self.topics.deadletter, record.partition % self._partitions, None, letter)

    def _internal(
        self,
        outbox: BatchOutbox,
        raw: bytes,
        record: ConsumerRecord,
        report: BatchReport,
        now: float,
        stage: str,
        exc: BaseException,
    ) -> None:
        rejection = internal_rejection(exc)
        # The cause without the error's message: a message may quote the record's contents.
        log.warning(
            "record dead-lettered as internal stage=%s topic=%s partition=%d offset=%d cause=%s",
            stage,
            record.topic,
            record.partition,
            record.offset,
            rejection.detail,
        )
        self._dead_letter(outbox, raw, record, rejection, now)
        report.reasons[Reason.INTERNAL.value] += 1
