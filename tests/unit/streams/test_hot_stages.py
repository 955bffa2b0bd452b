"""What one batch of hot records produces: forwards to the right partitions, one state-log
record per partition, dead letters with their reasons, and no record lost to another's
exception."""

from __future__ import annotations

import asyncio
from collections import Counter

import orjson
from aiokafka.structs import ConsumerRecord

from teampulse.contract.event import Event, decode_wire, encode_wire
from teampulse.contract.event_structs import FastEventValidator
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Rejection
from teampulse.contract.xapi import XapiMapper
from teampulse.gauges.config import GaugeConfig
from teampulse.gauges.counts import TeamCounts
from teampulse.settings import Settings
from teampulse.sinks.exporter import team_partition
from teampulse.streams.hot_stages import HotStages, HotTopics
from teampulse.streams.partitions import RollupInputs, TeamPartition, ThreadPartition
from teampulse.streams.roster_reader import RosterReader

NOW = 1_772_496_000.0  # 2026-03-03T00:00:00Z
T0 = NOW - 86_400
PARTITIONS = 4
SETTINGS = Settings(pseudonym_secret="hot-stages-secret")
PSEUDONYMISER = Pseudonymiser("hot-stages-secret")
TOPICS = HotTopics(
    events="t.events",
    xapi="t.xapi",
    by_team="t.by-team",
    by_thread="t.by-thread",
    thread_facts="t.thread-facts",
    deadletter="t.deadletter",
    team_state="t.team-state",
    thread_state="t.thread-state",
    team_counts="t.team-counts",
)


class ReadyStates:
    """Every partition's state, restored at once (no state log to replay)."""

    def __init__(self, new) -> None:  # type: ignore[no-untyped-def]
        self.states: dict = {}
        self._new = new

    def ready_state(self, partition: int):  # type: ignore[no-untyped-def]
        if partition not in self.states:
            self.states[partition] = self._new()
        return self.states[partition]

    def is_ready(self, partition: int) -> bool:
        return partition in self.states


class Restoring(ReadyStates):
    """Owns every partition; the ones named are still restoring."""

    def __init__(self, new, restoring: set[int]) -> None:  # type: ignore[no-untyped-def]
        super().__init__(new)
        self.states = {p: new() for p in range(PARTITIONS)}
        self._restoring = restoring

    def ready_state(self, partition: int):  # type: ignore[no-untyped-def]
        return None if partition in self._restoring else self.states[partition]

    def is_ready(self, partition: int) -> bool:
        return partition not in self._restoring


class RecordingOutbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, int, bytes | None, bytes]] = []

    def add(self, topic: str, partition: int, key: bytes | None, value: bytes) -> None:
        self.sent.append((topic, partition, key, value))

    def to(self, topic: str) -> list[tuple[int, bytes | None, bytes]]:
        return [(p, k, v) for t, p, k, v in self.sent if t == topic]


class Exploding(FastEventValidator):
    """Raises on one record, as a defect would."""

    def parse(self, raw: bytes | None, now: float) -> Event | Rejection:
        if raw is not None and b'"boom"' in raw:
            raise RuntimeError("a defect")
        return super().parse(raw, now)


def stages(
    validator: FastEventValidator | None = None, erased: set[str] | None = None
) -> HotStages:
    config = GaugeConfig()
    return HotStages(
        TOPICS,
        PARTITIONS,
        RosterReader({"bootstrap_servers": "unused:9092"}, "t.roster", PSEUDONYMISER),
        validator or FastEventValidator(SETTINGS, PSEUDONYMISER),
        XapiMapper(SETTINGS, PSEUDONYMISER),
        ReadyStates(lambda: TeamPartition(config)),  # type: ignore[arg-type]
        ReadyStates(lambda: ThreadPartition(config)),  # type: ignore[arg-type]
        lambda: NOW,
        erased if erased is not None else set(),
    )


def record(topic: str, partition: int, offset: int, value: bytes) -> ConsumerRecord:
    return ConsumerRecord(topic, partition, offset, 0, 0, None, value, None, 0, len(value), ())


def canonical(event_id: str, **fields: object) -> bytes:
    event = {
        "id": event_id,
        "type": "learning.completed",
        "occurred_at": "2026-03-02T09:00:00Z",
        "actor": "ann@example.com",
        "source": "lms",
        "team": "atlas",
        "duration_s": 60,
        **fields,
    }
    return orjson.dumps(event)


def internal(event_id: str, at: float, **fields: object) -> bytes:
    event = Event(
        id=event_id,
        type="learning.progressed",
        occurred_at=T0 + at,
        actor="p-ann",
        source="lms",
        team="atlas",
        origin="t.events:0",
    )
    return encode_wire(Event(**{**event.to_wire(), **fields}))


def run(hot: HotStages, records: dict) -> tuple[RecordingOutbox, Counter]:
    outbox = RecordingOutbox()
    report = asyncio.run(hot.process(records, outbox))  # type: ignore[arg-type]
    return outbox, report.reasons


def test_an_accepted_event_goes_to_its_teams_partition_with_team_and_origin():
    outbox, reasons = run(stages(), {("t.events", 2): [record("t.events", 2, 7, canonical("e1"))]})
    [(partition, key, value)] = outbox.to("t.by-team")
    assert (partition, key) == (team_partition("atlas", PARTITIONS), b"atlas")
    event = decode_wire(value)
    assert (event.id, event.team, event.origin) == ("e1", "atlas", "t.events:2")
    assert event.actor == PSEUDONYMISER.person("ann@example.com")
    assert reasons == Counter()


def test_a_refused_record_is_dead_lettered_with_its_reason_and_position():
    outbox, reasons = run(stages(), {("t.events", 1): [record("t.events", 1, 3, b"{nope")]})
    [(_, _, letter)] = outbox.to("t.deadletter")
    assert orjson.loads(letter)["reason"] == "not_json"
    assert (orjson.loads(letter)["topic"], orjson.loads(letter)["offset"]) == ("t.events", 3)
    assert outbox.to("t.by-team") == []
    assert reasons == Counter({"not_json": 1})


def test_a_record_that_raises_is_dead_lettered_as_internal_and_the_batch_carries_on():
    hot = stages(Exploding(SETTINGS, PSEUDONYMISER))
    batch = [
        record("t.events", 0, 0, canonical("e1")),
        record("t.events", 0, 1, canonical("boom")),
        record("t.events", 0, 2, canonical("e3")),
    ]
    outbox, reasons = run(hot, {("t.events", 0): batch})
    assert [decode_wire(v).id for _, _, v in outbox.to("t.by-team")] == ["e1", "e3"]
    [(_, _, letter)] = outbox.to("t.deadletter")
    assert (orjson.loads(letter)["reason"], orjson.loads(letter)["offset"]) == ("internal", 1)
    assert reasons == Counter({"internal": 1})


def test_the_teams_stage_logs_each_partition_once_and_forwards_discussion_raw():
    posted = internal("e2", 60, type="discussion.posted", thread="th1", post="p1")
    batch = [record("t.by-team", 3, 0, internal("e1", 0)), record("t.by-team", 3, 1, posted)]
    outbox, _ = run(stages(), {("t.by-team", 3): batch})
    [(partition, _, log_record)] = outbox.to("t.team-state")
    assert partition == 3
    assert [op["e"]["id"] for op in orjson.loads(log_record)] == ["e1", "e2"]
    [(_, key, forwarded)] = outbox.to("t.by-thread")
    assert (key, forwarded) == (b"th1", posted)


def test_a_late_event_is_dead_lettered_not_logged_and_not_forwarded():
    on_time = internal("e1", 86_400)  # a day after T0
    late = internal("e2", -3 * 86_400, type="discussion.posted", thread="th", post="p")
    batch = [record("t.by-team", 0, 0, on_time), record("t.by-team", 0, 1, late)]
    outbox, reasons = run(stages(), {("t.by-team", 0): batch})
    [(_, _, letter)] = outbox.to("t.deadletter")
    assert orjson.loads(letter)["reason"] == "late"
    [(_, _, log_record)] = outbox.to("t.team-state")
    assert [op["e"]["id"] for op in orjson.loads(log_record)] == ["e1"]
    assert outbox.to("t.by-thread") == []
    assert reasons == Counter({"late": 1})


def test_a_reply_to_a_known_post_sends_its_facts_to_the_teams_of_both_posts():
    post = internal("e1", 0, type="discussion.posted", thread="th", post="p1", team="atlas")
    reply = internal(
        "e2", 60, type="discussion.replied", thread="th", post="p2", parent="p1",
        team="comet", actor="p-bob",
    )  # fmt: skip
    batch = [record("t.by-thread", 1, 0, post), record("t.by-thread", 1, 1, reply)]
    outbox, _ = run(stages(), {("t.by-thread", 1): batch})
    facts = [(p, k, orjson.loads(v)["kind"]) for p, k, v in outbox.to("t.thread-facts")]
    links = {(p, k) for p, k, kind in facts if kind == "link"}
    assert links == {
        (team_partition("atlas", PARTITIONS), b"atlas"),
        (team_partition("comet", PARTITIONS), b"comet"),
    }
    [(partition, _, log_record)] = outbox.to("t.thread-state")
    assert partition == 1 and [e["id"] for e in orjson.loads(log_record)] == ["e1", "e2"]


# ---------------------------------------------------------------- hand-over in memory
INTERNAL = (TOPICS.by_team, TOPICS.by_thread, TOPICS.thread_facts)


def conversation() -> list[bytes]:
    """Learning and a thread whose replies cross teams, as canonical input records."""
    at = "2026-03-02T{:02d}:00:00Z".format
    return [
        canonical("c1", team="atlas", occurred_at=at(8)),
        canonical(
            "c2", type="discussion.posted", team="atlas", thread="th", post="p1",
            occurred_at=at(9), duration_s=None,
        ),
        canonical(
            "c3", type="discussion.replied", team="comet", actor="bob@example.com",
            thread="th", post="p2", parent="p1", occurred_at=at(10), duration_s=None,
        ),
        canonical(
            "c4", type="discussion.replied", team="borealis", actor="cy@example.com",
            thread="th", post="p3", parent="p2", occurred_at=at(11), duration_s=None,
        ),
        canonical("c1", team="atlas", occurred_at=at(8)),  # a repeat counts once
    ]  # fmt: skip


def through_kafka(hot: HotStages, first: dict) -> RecordingOutbox:
    """Runs batches until nothing more is produced for the internal topics, feeding each
    batch's internal records back as the next batch, as the broker would."""
    everything = RecordingOutbox()
    records = first
    while records:
        outbox, _ = run(hot, records)
        everything.sent += outbox.sent
        records = {}
        for topic, partition, _, value in outbox.sent:
            if topic in INTERNAL:
                batch = records.setdefault((topic, partition), [])
                batch.append(record(topic, partition, len(batch), value))
    return everything


def gauges(hot: HotStages) -> dict:
    return {
        name: team.counts(NOW, members=3)
        for partition in hot.teams.states.values()  # type: ignore[attr-defined]
        for name, team in partition.teams.items()
    }


def test_handed_over_in_memory_the_gauges_are_those_of_the_trip_through_kafka():
    inputs = {("t.events", 0): [record("t.events", 0, n, r) for n, r in enumerate(conversation())]}
    forwarded = stages()
    through_kafka(forwarded, inputs)
    direct = stages()
    for routes in (direct.direct.teams, direct.direct.threads, direct.direct.facts):
        routes.update(range(PARTITIONS))
    outbox = through_kafka(direct, inputs)
    assert gauges(direct) == gauges(forwarded)
    # the join reached the teams: atlas's thread was replied to by comet, across teams
    atlas = gauges(direct)["atlas"].windows["7d"]
    assert (atlas.threads_replied, atlas.cross_team_interactions) == (1, 1)
    assert [t for t, *_ in outbox.sent if t in INTERNAL] == []
    logged = [
        op["e"]["id"]
        for _, _, framed in outbox.to("t.team-state")
        for op in orjson.loads(framed)
        if "e" in op
    ]
    assert sorted(logged) == ["c1", "c2", "c3", "c4"]


def test_records_for_a_partition_handed_over_but_no_longer_owned_go_to_kafka():
    hot = stages()
    hot.direct.teams.update(range(PARTITIONS))
    hot.teams = NotOwned()  # type: ignore[assignment]
    outbox, _ = run(hot, {("t.events", 0): [record("t.events", 0, 0, canonical("e1"))]})
    [(partition, key, value)] = outbox.to("t.by-team")
    assert (partition, key, decode_wire(value).id) == (
        team_partition("atlas", PARTITIONS),
        b"atlas",
        "e1",
    )


def test_a_late_event_handed_over_is_dead_lettered_at_its_input_position():
    hot = stages()
    hot.direct.teams.update(range(PARTITIONS))
    batch = [
        record("t.events", 0, 0, canonical("e1", occurred_at="2026-03-02T09:00:00Z")),
        record("t.events", 0, 1, canonical("e2", occurred_at="2026-02-27T09:00:00Z")),
    ]
    outbox, reasons = run(hot, {("t.events", 0): batch})
    [(_, _, letter)] = outbox.to("t.deadletter")
    assert (orjson.loads(letter)["reason"], orjson.loads(letter)["topic"]) == ("late", "t.events")
    assert orjson.loads(letter)["offset"] == 1
    assert reasons == Counter({"late": 1})


class NotOwned:
    states: dict = {}

    def ready_state(self, partition: int) -> None:
        return None


# --- erasures ------------------------------------------------------------------------------
def test_an_erased_persons_event_is_counted_as_erased_and_goes_nowhere():
    hot = stages(erased={PSEUDONYMISER.person("ann@example.com")})
    outbox = RecordingOutbox()
    report = asyncio.run(
        hot.process({("t.events", 0): [record("t.events", 0, 0, canonical("e1"))]}, outbox)  # type: ignore[arg-type]
    )
    assert outbox.sent == []  # neither forwarded nor dead-lettered
    assert report.outcomes["lms"] == Counter({"erased": 1})


def test_an_erased_persons_event_already_forwarded_is_not_applied_by_the_teams_stage():
    hot = stages(erased={"p-ann"})
    outbox = RecordingOutbox()
    batch = [record("t.by-team", 0, 0, internal("e1", 0))]
    report = asyncio.run(hot.process({("t.by-team", 0): batch}, outbox))  # type: ignore[arg-type]
    assert outbox.to("t.team-state") == []
    assert report.outcomes["lms"] == Counter({"erased": 1})


def test_a_new_erasure_is_applied_before_the_next_records_and_corrects_the_threads():
    erased: set[str] = set()
    hot = stages(erased=erased)
    post = internal("e1", 0, type="discussion.posted", thread="th", post="p1", team="atlas")
    reply = internal(
        "e2", 60, type="discussion.replied", thread="th", post="p2", parent="p1",
        team="atlas", actor="p-bob",
    )  # fmt: skip
    for topic, partition in (("t.by-team", 1), ("t.by-thread", 2)):
        batch = [record(topic, partition, 0, post), record(topic, partition, 1, reply)]
        run(hot, {(topic, partition): batch})

    erased.add("p-bob")
    hot.erase({"p-bob"})
    assert hot.erasures_pending()
    outbox, _ = run(hot, {})

    assert not hot.erasures_pending()
    facts = [orjson.loads(v) for _, _, v in outbox.to("t.thread-facts")]
    assert [(f["kind"], f.get("removed"), f.get("replies")) for f in facts] == [
        ("link", True, None),
        ("summary", None, 0),
    ]
    day = hot.teams.states[1].teams["atlas"].counts(T0 + 3600, 5).windows["1d"]  # type: ignore[attr-defined]
    assert (day.active_members, day.replies, day.posts) == (1, 0, 1)


def test_an_event_behind_the_retention_is_dead_lettered_as_late_and_logged_for_adoption():
    ahead = internal("e1", 60 * 86_400, origin="t.events:0")
    behind = internal("e2", 60 * 86_400 - GaugeConfig().retention_s - 3600, origin="t.events:1")
    batch = [record("t.by-team", 0, 0, ahead), record("t.by-team", 0, 1, behind)]
    outbox, reasons = run(stages(), {("t.by-team", 0): batch})
    [(_, _, letter)] = outbox.to("t.deadletter")
    assert orjson.loads(letter)["reason"] == "late"
    [(_, _, log_record)] = outbox.to("t.team-state")
    assert [op["e"]["id"] for op in orjson.loads(log_record)] == ["e1", "e2"]
    assert reasons == Counter({"late": 1})


# --- a partition still restoring -----------------------------------------------------------
def test_a_restoring_partition_defers_what_it_read_while_a_ready_one_is_applied():
    hot = stages()
    config = GaugeConfig()
    hot.teams = Restoring(lambda: TeamPartition(config), restoring={1})  # type: ignore[assignment]
    batch = {
        ("t.by-team", 0): [record("t.by-team", 0, 7, internal("ready", 0, team="atlas"))],
        ("t.by-team", 1): [
            record("t.by-team", 1, 40, internal("waits-1", 0, team="comet")),
            record("t.by-team", 1, 41, internal("waits-2", 0, team="comet")),
        ],
    }
    outbox = RecordingOutbox()

    report = asyncio.run(hot.process(batch, outbox))  # type: ignore[arg-type]

    assert set(hot.teams.states[0].teams) == {"atlas"}
    assert hot.teams.states[1].teams == {}
    assert report.deferred == {("t.by-team", 1): 40}
    assert [p for p, _, _ in outbox.to("t.team-state")] == [0]
    assert outbox.to("t.by-team") == []  # read from Kafka: read again, not sent again


def test_records_handed_over_to_a_restoring_partition_go_to_kafka_and_stop_the_handover():
    hot = stages()
    config = GaugeConfig()
    atlas = team_partition("atlas", PARTITIONS)
    hot.teams = Restoring(lambda: TeamPartition(config), restoring={atlas})  # type: ignore[assignment]
    hot.direct.teams.update(range(PARTITIONS))

    outbox, _ = run(hot, {("t.events", 0): [record("t.events", 0, 0, canonical("e1"))]})

    [(partition, key, value)] = outbox.to("t.by-team")
    assert (partition, key, decode_wire(value).id) == (atlas, b"atlas", "e1")
    assert atlas not in hot.direct.teams  # later records of the stream must not overtake it


def counts_record(offset: int, team: str, seq: int) -> ConsumerRecord:
    counts = TeamCounts.empty(GaugeConfig(), 6).to_wire()
    value = orjson.dumps({"team": team, "seq": seq, "as_of": NOW, "counts": counts})
    return record("t.team-counts", 0, offset, value)


def test_roll_up_inputs_are_applied_by_their_owner_in_the_same_batches():
    hot = stages()
    hot.rollups = ReadyStates(RollupInputs)  # type: ignore[assignment]

    run(hot, {("t.team-counts", 0): [counts_record(0, "atlas", 3), counts_record(1, "atlas", 2)]})

    inputs = hot.rollups.states[0]
    assert inputs.version["atlas"][0] == 3  # the further state wins, whatever the order


def test_roll_up_inputs_wait_on_kafka_while_their_state_restores():
    hot = stages()
    hot.rollups = Restoring(RollupInputs, restoring={0})  # type: ignore[assignment]
    outbox = RecordingOutbox()

    report = asyncio.run(
        hot.process({("t.team-counts", 0): [counts_record(5, "atlas", 1)]}, outbox)
    )  # type: ignore[arg-type]

    assert report.deferred == {("t.team-counts", 0): 5}
    assert hot.rollups.states[0].counts == {}


def test_a_record_that_breaks_the_teams_stage_is_counted_as_rejected_not_lost():
    """The teams stage counts each event's outcome; a record it cannot handle must still be
    counted somewhere, or the totals never add up to what was read."""
    hot = stages()
    batch = [record("t.by-team", 0, 0, internal("e1", 0)), record("t.by-team", 0, 1, b"\xff")]
    outbox = RecordingOutbox()
    report = asyncio.run(hot.process({("t.by-team", 0): batch}, outbox))  # type: ignore[arg-type]
    [(_, _, letter)] = outbox.to("t.deadletter")
    assert (orjson.loads(letter)["reason"], orjson.loads(letter)["offset"]) == ("internal", 1)
    assert report.outcomes["lms"]["accepted"] == 1
    assert report.outcomes["events"]["rejected"] == 1
