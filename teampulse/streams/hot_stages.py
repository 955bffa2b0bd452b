"""What one batch of hot records does: ingest -> teams <-> threads, as plain loops.

The engine's batch loop hands over (through `StagesHandler`) everything one `getmany`
returned (thousands of records from the input topics and the internal ones). Each record is
decoded once; an event crosses the ingest stage's validation once and is encoded once
(`encode_wire`); what a later stage forwards (a by-team record to the thread stage, an
applied record to a state log) is the bytes it read. Destination partitions are computed
here, so the outbox sends whole Kafka batches, and each stage appends one state-log record
per partition per batch. Outcomes are counted per batch and reported once the batch is
handed to Kafka.

An exception while handling one record is caught for that record alone: the record goes to
the dead-letter topic with reason `internal` and the rest of the batch carries on.

Erasures (docs/privacy.md): an event of an erased person is dropped by whichever stage holds
it when the erasure is known (counted as outcome `erased`, never dead-lettered), and a new
erasure is applied to every partition this worker owns before that partition's next records:
the team states forget the people, the thread books forget their posts and send the facts
that correct the teams (through Kafka; their versions, and removed links staying removed,
make their order against other facts irrelevant). A thread partition assigned later replays
its log and then applies every erasure known (its facts are sent again, which changes nothing
where they had arrived); a team partition leaves erased people's events out of its replay.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from teampulse.contract.event import (
    DISCUSSION_TYPES,
    UNASSIGNED_TEAM,
    Event,
    decode_wire,
    encode_wire,
)
from teampulse.contract.event_structs import FastEventValidator
from teampulse.contract.rejections import Reason, Rejection, dead_letter_record, internal_rejection
from teampulse.contract.tenant_scope import scoped, unscoped
from teampulse.contract.xapi import XapiMapper
from teampulse.engine.batch_outbox import BatchOutbox
from teampulse.engine.partitioner import KeyPartitioner
from teampulse.engine.records import ConsumerRecord, Records
from teampulse.engine.state_store import PartitionedState
from teampulse.enrichment.roster import resolve_team
from teampulse.streams.partitions import (
    RollupInputs,
    TeamPartition,
    ThreadPartition,
    event_op,
    fact_op,
)
from teampulse.streams.roster_reader import RosterReader
from teampulse.streams.wire import decode_fact, encode_fact
from teampulse.tenancy.source import TenantsSource

log = logging.getLogger(__name__)

LATE = Rejection(Reason.LATE, "older than its input stream's latest event minus the lateness")
_replace = msgspec.structs.replace


def _in_tenant(event: Event, tenant: str, team: str, origin: str) -> Event:
    """The event with every id that keys state scoped to its tenant: its id (dedupe), its
    team (routing, team state) and its thread, post and parent (the thread join), so two
    tenants using the same ids never meet in any state."""
    return _replace(
        event,
        id=scoped(tenant, event.id),
        team=team,
        thread=None if event.thread is None else scoped(tenant, event.thread),
        post=None if event.post is None else scoped(tenant, event.post),
        parent=None if event.parent is None else scoped(tenant, event.parent),
        origin=origin,
        tenant=tenant,
    )


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
    team_counts: str = ""  # the roll-up inputs; read by the hot group too when named

    def inputs(self) -> list[str]:
        hot = [self.events, self.xapi, self.by_team, self.by_thread, self.thread_facts]
        return [*hot, self.team_counts] if self.team_counts else hot


@dataclass
class BatchReport:
    """A batch's counts, handed to the health sink once the batch is handed to Kafka."""

    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    reasons: Counter[str] = field(default_factory=Counter)
    lags: list[float] = field(default_factory=list)
    latest: dict[str, float] = field(default_factory=dict)
    # (topic, partition) -> first offset of records left unapplied because the partition's
    # state is still restoring: read again (and not committed) once it is ready.
    deferred: dict[tuple[str, int], int] = field(default_factory=dict)

    def publish(self, health: HealthSink) -> None:
        for source, counted in self.outcomes.items():
            health.record_outcomes(source, counted)
        if self.reasons:
            health.record_dead_letters(self.reasons)
        if self.lags:
            health.record_event_time_lag(self.lags)
        for source, occurred_at in self.latest.items():
            health.record_last_event(source, occurred_at)


# What a stage hands to the next one in process: the record's bytes (as they would have
# crossed Kafka) and the input record it came from (named by dead letters and warnings).
Handover = list[tuple[bytes, ConsumerRecord]]
# To the team stage, with the event when ingest decoded it in this batch already.
TeamHandover = list[tuple[bytes, ConsumerRecord, Event | None]]


@dataclass
class DirectRoutes:
    """The partitions of each internal topic whose next stage runs in this process.

    A record bound for one of them is handed over in memory instead of crossing Kafka: the
    receiving state's log records it, and the input offsets are committed only after that
    log is acknowledged, exactly as for a record read back from the topic. The batch loop
    adds a partition once it owns it and has read the topic's partition up to where it
    ended at the assignment, so a stream's records still reach a state in their order."""

    teams: set[int] = field(default_factory=set)  # by-team partitions
    threads: set[int] = field(default_factory=set)  # by-thread partitions
    facts: set[int] = field(default_factory=set)  # thread-facts partitions

    def clear(self) -> None:
        self.teams.clear()
        self.threads.clear()
        self.facts.clear()


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
        erased: AbstractSet[str] = frozenset(),
        tenants: TenantsSource | None = None,
        rollups: PartitionedState[RollupInputs] | None = None,
    ) -> None:
        self.topics = topics
        # Who each input record belongs to (docs/tenancy.md); None: one implicit tenant.
        self.tenants = tenants
        self.rollups = rollups
        self.roster = roster
        self.validator = validator
        self.xapi = xapi
        self.teams = teams
        self.threads = threads
        self.clock = clock
        self.partition_of = KeyPartitioner(partitions)
        self.direct = DirectRoutes()
        self._partitions = partitions
        self._erased = erased
        # Events each tenant brought into the pipeline through this worker (its usage, for
        # billing: teampulse_tenant_events_total); empty without tenants.
        self.tenant_events: Counter[str] = Counter()
        # partition -> people erased since its state was built, not yet removed from it
        self._pending_teams: dict[int, set[str]] = {}
        self._pending_threads: dict[int, set[str]] = {}

    # ------------------------------------------------------------------ erasures
    def erase(self, people: set[str]) -> None:
        """New erasures: to be applied to every partition held, before its next records."""
        for partition in self.teams.states:
            self._pending_teams.setdefault(partition, set()).update(people)
        for partition in self.threads.states:
            self._pending_threads.setdefault(partition, set()).update(people)

    def teams_assigned(self, partitions: set[int]) -> None:
        """Team partitions restored from a snapshot hold the people erased after it was
        taken until every erasure known is applied to them (a log replay leaves them out)."""
        if self._erased:
            for partition in partitions:
                self._pending_teams[partition] = set(self._erased)

    def threads_assigned(self, partitions: set[int]) -> None:
        """Thread partitions (re)built from their logs hold erased people's posts until every
        erasure known is applied to them."""
        if self._erased:
            for partition in partitions:
                self._pending_threads[partition] = set(self._erased)

    def erasures_pending(self) -> bool:
        return bool(self._pending_teams or self._pending_threads)

    def _apply_erasures(self, outbox: BatchOutbox) -> None:
        """Applies the pending erasures of every partition whose state is ready (a partition
        still restoring keeps them until it is)."""
        for partition, people in list(self._pending_teams.items()):
            if partition not in self.teams.states:
                del self._pending_teams[partition]
            elif self.teams.is_ready(partition):
                self.teams.states[partition].forget(people)
                del self._pending_teams[partition]
        facts_topic = self.topics.thread_facts
        for partition, people in list(self._pending_threads.items()):
            if partition not in self.threads.states:
                del self._pending_threads[partition]
            elif self.threads.is_ready(partition):
                for fact in self.threads.states[partition].forget(people):
                    key = fact.team.encode()
                    outbox.add(facts_topic, self.partition_of(key), key, encode_fact(fact))
                del self._pending_threads[partition]

    async def process(self, records: Records, outbox: BatchOutbox) -> BatchReport:
        """Everything `records` (topic, partition -> records in offset order) implies, queued
        on `outbox`; records of partitions this worker no longer owns are skipped (their
        new owner reads them again from the last commit).

        The stages run in flow order, each on what it read from Kafka and then on what the
        previous stage handed over in memory (records read from Kafka were written earlier)."""
        now = self.clock()
        report = BatchReport()
        topics = self.topics
        to_teams: dict[int, TeamHandover] = defaultdict(list)
        to_threads: dict[int, Handover] = defaultdict(list)
        to_facts: dict[int, Handover] = defaultdict(list)
        if self._pending_teams or self._pending_threads:
            self._apply_erasures(outbox)
        for (topic, partition), batch in records.items():
            if topic == topics.events or topic == topics.xapi:
                self._ingest(topic, partition, batch, outbox, report, now, to_teams)
            elif topic == topics.by_team:
                to_teams[partition][:0] = [(r.value or b"", r, None) for r in batch]
            elif topic == topics.by_thread:
                to_threads[partition][:0] = [(r.value or b"", r) for r in batch]
            elif topic == topics.thread_facts:
                to_facts[partition][:0] = [(r.value or b"", r) for r in batch]
            elif topic == topics.team_counts:
                self._rollup_inputs(partition, batch, outbox, report, now)
        team_ops: dict[int, list[bytes]] = defaultdict(list)
        # A partition still restoring holds up nothing: what it read waits on Kafka, what
        # was handed over for it goes to Kafka (`_hold`), and the batch goes on.
        for partition, handed in to_teams.items():
            state = self.teams.ready_state(partition)
            if state is not None and partition in self._pending_teams:
                self._apply_erasures(outbox)  # restored while this batch waited
            if state is not None:
                self._teams(handed, state, team_ops[partition], outbox, report, now, to_threads)
            else:
                self._hold(
                    topics.by_team, partition, handed, outbox, report, self.teams.states,
                    lambda r: decode_wire(r).team,
                )  # fmt: skip
        for partition, posts in to_threads.items():
            thread_state = self.threads.ready_state(partition)
            if thread_state is not None and partition in self._pending_threads:
                self._apply_erasures(outbox)
            if thread_state is not None:
                self._threads(partition, posts, thread_state, outbox, report, now, to_facts)
            else:
                self._hold(
                    topics.by_thread, partition, posts, outbox, report, self.threads.states,
                    lambda r: decode_wire(r).thread,
                )  # fmt: skip
        for partition, facts in to_facts.items():
            state = self.teams.ready_state(partition)
            if state is not None and partition in self._pending_teams:
                self._apply_erasures(outbox)
            if state is not None:
                self._facts(facts, state, team_ops[partition], outbox, report, now)
            else:
                self._hold(
                    topics.thread_facts, partition, facts, outbox, report, self.teams.states,
                    lambda r: decode_fact(r).team,
                )  # fmt: skip
        for partition, ops in team_ops.items():
            self._append(topics.team_state, partition, ops, outbox)
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
        to_teams: dict[int, TeamHandover],
    ) -> None:
        is_xapi = topic == self.topics.xapi
        parse = self.xapi.parse if is_xapi else self.validator.parse
        fallback_source = "xapi" if is_xapi else "events"
        origin = f"{topic}:{partition}"
        by_team = self.topics.by_team
        direct = self.direct.teams
        erased = self._erased
        roster = self.roster.roster
        partition_of = self.partition_of
        outcomes = report.outcomes
        lags = report.lags
        latest = report.latest
        directory = self.tenants.directory if self.tenants is not None else None
        if directory is not None and directory.implicit:
            directory = None  # one implicit tenant: no header to read, nothing per record
        tenant: str | None = None
        for record in batch:
            raw = record.value or b""
            try:
                if directory is not None:
                    found = directory.tenant_of_record(record.headers)
                    if isinstance(found, Rejection):
                        self._dead_letter(outbox, raw, record, found, now)
                        outcomes[fallback_source]["rejected"] += 1
                        report.reasons[found.reason.value] += 1
                        continue
                    tenant = found
                result = parse(raw, now)
                if isinstance(result, Rejection):
                    self._dead_letter(outbox, raw, record, result, now)
                    outcomes[fallback_source]["rejected"] += 1
                    report.reasons[result.reason.value] += 1
                    continue
                if result.actor in erased:
                    outcomes[result.source]["erased"] += 1
                    continue
                team = resolve_team(result.team, result.actor, roster, tenant)
                if result.team is None and unscoped(team) == UNASSIGNED_TEAM:
                    outcomes[result.source]["unassigned"] += 1
                if tenant is None:
                    event = _replace(result, team=team, origin=origin)
                else:
                    event = _in_tenant(result, tenant, team, origin)
                    self.tenant_events[tenant] += 1
                key = team.encode()
                destination = partition_of(key)
                if destination in direct:
                    to_teams[destination].append((encode_wire(event), record, event))
                else:
                    outbox.add(by_team, destination, key, encode_wire(event))
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
        handed: TeamHandover,
        state: TeamPartition,
        ops: list[bytes],
        outbox: BatchOutbox,
        report: BatchReport,
        now: float,
        to_threads: dict[int, Handover],
    ) -> None:
        by_thread = self.topics.by_thread
        direct = self.direct.threads
        erased = self._erased
        partition_of = self.partition_of
        outcomes = report.outcomes
        for raw, record, decoded in handed:
            try:
                event = decode_wire(raw) if decoded is None else decoded
                if event.actor in erased:  # forwarded before the erasure was known here
                    outcomes[event.source]["erased"] += 1
                    continue
                outcome = state.apply_event(event)
                if outcome == "accepted":
                    ops.append(event_op(raw))
                elif outcome == "late" or outcome == "stale":
                    if outcome == "stale":  # its adoption evidence must survive a restart
                        ops.append(event_op(raw))
                    outcomes[event.source]["late"] += 1
                    report.reasons[Reason.LATE.value] += 1
                    self._dead_letter(outbox, raw, record, LATE, now)
                    continue
                outcomes[event.source][outcome] += 1
                # A duplicate is forwarded too: its first delivery may have been applied
                # here just before a crash that lost the forward (the thread stage is
                # idempotent per post).
                if event.thread and event.type in DISCUSSION_TYPES:
                    key = event.thread.encode()
                    destination = partition_of(key)
                    if destination in direct:
                        to_threads[destination].append((raw, record))
                    else:
                        outbox.add(by_thread, destination, key, raw)
            except Exception as exc:  # noqa: BLE001
                self._internal(outbox, raw, record, report, now, "teams", exc)
                # This stage is where an event's outcome is counted: uncounted, it would be
                # missing from every total, and a reader waiting for all to be counted waits on.
                source = decoded.source if decoded is not None else "events"
                outcomes[source]["rejected"] += 1

    def _facts(
        self,
        handed: Handover,
        state: TeamPartition,
        ops: list[bytes],
        outbox: BatchOutbox,
        report: BatchReport,
        now: float,
    ) -> None:
        for raw, record in handed:
            try:
                state.apply_fact(decode_fact(raw))
                ops.append(fact_op(raw))
            except Exception as exc:  # noqa: BLE001
                self._internal(outbox, raw, record, report, now, "facts", exc)

    def _threads(
        self,
        partition: int,
        handed: Handover,
        state: ThreadPartition,
        outbox: BatchOutbox,
        report: BatchReport,
        now: float,
        to_facts: dict[int, Handover],
    ) -> None:
        facts_topic = self.topics.thread_facts
        direct = self.direct.facts
        erased = self._erased
        partition_of = self.partition_of
        ops: list[bytes] = []
        for raw, record in handed:
            try:
                event = decode_wire(raw)
                if event.actor in erased:  # counted where it was accepted, then erased
                    continue
                state.expire_threads(event.occurred_at)
                for fact in state.book.apply(event):
                    key = fact.team.encode()
                    destination = partition_of(key)
                    if destination in direct:
                        to_facts[destination].append((encode_fact(fact), record))
                    else:
                        outbox.add(facts_topic, destination, key, encode_fact(fact))
                ops.append(raw)
            except Exception as exc:  # noqa: BLE001
                self._internal(outbox, raw, record, report, now, "threads", exc)
        self._append(self.topics.thread_state, partition, ops, outbox)

    def _rollup_inputs(
        self,
        partition: int,
        batch: Sequence[ConsumerRecord],
        outbox: BatchOutbox,
        report: BatchReport,
        now: float,
    ) -> None:
        """The latest counts of every team, for the roll-ups (absolute values: applying one
        again changes nothing)."""
        rollups = self.rollups
        if rollups is None:
            return
        state = rollups.ready_state(partition)
        if state is None:
            if partition in rollups.states and batch:
                report.deferred[(self.topics.team_counts, partition)] = batch[0].offset
            return
        for record in batch:
            try:
                state.apply(record.value or b"")
            except Exception as exc:  # noqa: BLE001
                self._internal(outbox, record.value or b"", record, report, now, "rollups", exc)

    # ------------------------------------------------------------------ shared by the stages
    def _hold(
        self,
        topic: str,
        partition: int,
        handed: Sequence[tuple],
        outbox: BatchOutbox,
        report: BatchReport,
        owned: Mapping[int, object],
        key_of: Callable[[bytes], str | None],
    ) -> None:
        """What a partition that is not ready got in this batch: handed-over records go to
        its topic, and so does every later one until the next assignment (records of one
        input stream must not overtake each other); records read from its topic are read
        again once it is restored, if it is still ours (then they are deferred)."""
        if partition in owned:
            first = next((r.offset for _raw, r, *_ in handed if r.topic == topic), None)
            if first is not None:
                report.deferred[(topic, partition)] = first
            direct = {
                self.topics.by_team: self.direct.teams,
                self.topics.by_thread: self.direct.threads,
                self.topics.thread_facts: self.direct.facts,
            }[topic]
            direct.discard(partition)
        self._spill(topic, partition, handed, outbox, key_of)

    @staticmethod
    def _spill(
        topic: str,
        partition: int,
        handed: Sequence[tuple],
        outbox: BatchOutbox,
        key_of: Callable[[bytes], str | None],
    ) -> None:
        """Sends to Kafka what was handed over for a partition that is not (or no longer)
        ours: its owner applies it. What was read from that topic is dropped, as any record
        of a partition this worker does not own (its owner reads it from the last commit)."""
        for raw, record, *_ in handed:
            if record.topic != topic:
                key = key_of(raw)
                outbox.add(topic, partition, key.encode() if key else None, raw)

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
