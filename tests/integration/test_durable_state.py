"""State that survives the broker's retention: the state logs' old segments really deleted,
and the group's committed offsets gone too (offsets.retention.minutes, a deployment stopped
over a holiday), then a restart from the snapshots alone gives every gauge and every
adoption count of the reference model, reading on from the snapshots' input offsets: what
they cover is not applied again, what came after is not skipped."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError
from aiokafka.protocol.admin import DeleteGroupsRequest

from teampulse.engine.snapshots import SnapshotAssembler
from teampulse.gauges.model import OrgSnapshot
from teampulse.kafka.reading import read_to_end, topic_partitions
from teampulse.kafka.topics import ensure_topics
from teampulse.settings import settings_from_environment
from teampulse.simulation import build_organisation, generate_events
from tests.integration.expectations import (
    mismatches,
    published_teams,
    reference_for,
    reference_series,
)
from tests.integration.worker_harness import (
    Samples,
    WorkerProcess,
    free_port,
    isolated_environment,
    produce,
    wait_for,
)

pytestmark = pytest.mark.integration

AS_OF = "2026-03-16T12:00:00Z"
AS_OF_EPOCH = dt.datetime(2026, 3, 16, 12, tzinfo=dt.UTC).timestamp()
DAYS = 21
SETTLE_S = 120
STATE_LOGS = ("team-state", "thread-state")
SNAPSHOTS = {"team-state": "team-snapshots", "thread-state": "thread-snapshots"}
# Short enough that the test sees every partition snapshotted within seconds of settling.
SNAPSHOT_INTERVAL_S = "1"
# Segments whose newest record is older than this are deleted at the broker's next check
# (once a second in the test stack).
TINY_RETENTION_MS = "1000"
# Events sent while no worker runs, after the group's offsets were deleted.
HELD_BACK = 150
COUNTED_OUTCOMES = ("accepted", "duplicate", "late", "rejected")


def adoption_series(expected: OrgSnapshot) -> Samples:
    series: Samples = {}
    for team, snapshot in expected.teams.items():
        for initiative, adoption in snapshot.initiatives.items():
            for stage, members in adoption.stage_members.items():
                labels = (("initiative", initiative), ("stage", stage), ("team", team))
                series[("teampulse_adoption_members", labels)] = members
    return series


async def log_ranges(bootstrap: str, topics: list[str]) -> dict[TopicPartition, tuple[int, int]]:
    """(first offset kept, end offset) of every partition of the topics."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [tp for topic in topics for tp in await topic_partitions(consumer, topic)]
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        return {tp: (starts[tp], ends[tp]) for tp in tps}
    finally:
        await consumer.stop()


async def snapshot_positions(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    """The log position of the latest complete snapshot of each partition that has one."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        assemblers = {tp.partition: SnapshotAssembler() for tp in tps}
        async for tp, records in read_to_end(consumer, tps):
            for record in records:
                assemblers[tp.partition].add(record.key, record.value)
        positions = {}
        for partition, assembler in assemblers.items():
            latest = assembler.latest()
            if latest is not None:
                positions[partition] = latest.position
        return positions
    finally:
        await consumer.stop()


async def shrink_retention(bootstrap: str, topics: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC,
                    topic,
                    configs={"retention.ms": TINY_RETENTION_MS, "segment.ms": TINY_RETENTION_MS},
                )
                for topic in topics
            ]
        )
    finally:
        await admin.close()


async def delete_group(bootstrap: str, group: str) -> bool:
    """Deletes the group with its committed offsets, as their expiry would; False while the
    group still has a member (a killed worker's session has not timed out yet). aiokafka's
    admin client has the request but no method for it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        coordinator = await admin.find_coordinator(group)
        response = await admin._send_request_to_node(coordinator, DeleteGroupsRequest([group]))
        return all(error_code == 0 for _group, error_code in response.results)
    except KafkaError:
        return False
    finally:
        await admin.close()


def counted(samples: Samples) -> float:
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == "teampulse_events_total" and dict(labels)["outcome"] in COUNTED_OUTCOMES
    )


def test_a_restart_after_the_state_logs_were_deleted_by_retention_keeps_every_gauge(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
):
    org = build_organisation(seed=23, people=120, teams=12, departments=3, divisions=2)
    events = list(generate_events(org, AS_OF_EPOCH - DAYS * 86400, AS_OF_EPOCH, seed=23))
    roster = org.roster_records()
    env = isolated_environment(
        "durable",
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        clock=AS_OF,
        pseudonym_secret="durable-secret",
        snapshot_interval_s=SNAPSHOT_INTERVAL_S,
        group_session_timeout_s="6",
        group_settle_s="0.2",
    )
    settings = settings_from_environment(env)
    asyncio.run(ensure_topics(settings))
    expected_snapshot = reference_for(events, roster, settings, AS_OF_EPOCH)
    expected = {**reference_series(expected_snapshot), **adoption_series(expected_snapshot)}
    adopted = {k: v for k, v in adoption_series(expected_snapshot).items() if v}
    assert any(dict(labels)["stage"] != "none" for _, labels in adopted), "no adoption to keep"
    teams = set(expected_snapshot.teams)

    def start(n: int) -> WorkerProcess:
        data = tmp_path / f"worker-{n}"
        data.mkdir()
        return WorkerProcess(
            {**env, "TEAMPULSE_DATA_DIR": str(data)}, tmp_path / f"worker-{n}.log", free_port()
        ).start()

    def exact(worker: WorkerProcess) -> bool:
        samples = worker.metrics()
        return not mismatches(expected, samples) and published_teams(samples) == teams

    first = start(0)
    try:
        asyncio.run(
            produce(
                kafka_bootstrap,
                settings.topic("roster"),
                [(r["person"].encode(), orjson.dumps(r)) for r in roster],
            )
        )
        asyncio.run(
            produce(
                kafka_bootstrap,
                settings.topic("events"),
                [(None, orjson.dumps(e)) for e in events[:-HELD_BACK]],
                partition=0,
            )
        )
        wait_for(
            lambda: counted(first.metrics()) == len(events) - HELD_BACK,
            SETTLE_S,
            "the first worker counted every event sent to it",
        )

        logs = [settings.topic(name) for name in STATE_LOGS]

        def covered() -> bool:
            ranges = asyncio.run(log_ranges(kafka_bootstrap, logs))
            for name, topic in zip(STATE_LOGS, logs, strict=True):
                positions = asyncio.run(
                    snapshot_positions(
                        kafka_bootstrap, settings.topic(SNAPSHOTS[name]), settings.topic_partitions
                    )
                )
                for tp, (_start, end) in ranges.items():
                    if tp.topic == topic and end > 0 and positions.get(tp.partition) != end - 1:
                        return False
            return True

        wait_for(covered, 60, "a snapshot covering every state-log partition to its end")
        first.kill()  # nothing more is written: the snapshots hold all the state there is

        asyncio.run(shrink_retention(kafka_bootstrap, logs))

        def deleted() -> bool:
            ranges = asyncio.run(log_ranges(kafka_bootstrap, logs))
            return bool(ranges) and all(start == end for start, end in ranges.values())

        wait_for(deleted, 90, "every state-log record deleted by the broker's retention")
        assert any(end > 0 for _, end in asyncio.run(log_ranges(kafka_bootstrap, logs)).values())
        wait_for(
            lambda: asyncio.run(delete_group(kafka_bootstrap, f"{settings.app_id}.hot")),
            30,
            "the group and its committed offsets deleted",
        )
        asyncio.run(
            produce(
                kafka_bootstrap,
                settings.topic("events"),
                [(None, orjson.dumps(e)) for e in events[-HELD_BACK:]],
                partition=0,
            )
        )

        second = start(1)
        try:
            wait_for(lambda: exact(second), SETTLE_S, "the gauges after the restart")
            restored = second.log_lines("restored from the snapshot at log position")
            assert restored, second.log_tail()
            # Read on from the snapshots' input offsets: the held-back events once each, and
            # none of the events the snapshots cover again.
            assert counted(second.metrics()) == HELD_BACK
        finally:
            second.stop()
    finally:
        if first.alive():
            first.stop()
