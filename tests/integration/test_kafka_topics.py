"""`teampulse topics` on the real broker: retention of the topics that hold records."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from teampulse.kafka.topics import topic_settings
from teampulse.settings import settings_from_environment
from tests.integration.worker_harness import REPO, isolated_environment, wait_for

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000


def run_topics(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "teampulse.cli", "topics"],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def own_settings(bootstrap: str, names: list[str]) -> dict[str, dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return await topic_settings(admin, names)
    finally:
        await admin.close()


async def create_topic(bootstrap: str, name: str, configs: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1, topic_configs=configs)])
    finally:
        await admin.close()


def test_topics_creates_every_record_topic_with_its_configured_retention(kafka_bootstrap):
    env = isolated_environment(
        "retention",
        kafka_bootstrap=kafka_bootstrap,
        input_retention="3d",
        deadletter_retention="9d",
    )
    settings = settings_from_environment(env)

    run_topics(env)

    logical = ["events", "xapi", "by-team", "by-thread", "thread-facts", "deadletter"]
    logical += ["team-state", "thread-state", "roster", "team-counts"]
    logical += ["team-snapshots", "thread-snapshots"]
    names = [settings.topic(n) for n in logical]
    found = wait_for(
        lambda: _all(asyncio.run(own_settings(kafka_bootstrap, names)), names),
        timeout=10,
        what="every topic on the broker",
    )
    retention = {n: found[settings.topic(n)].get("retention.ms") for n in logical}
    assert retention == {
        "events": str(3 * DAY_MS),
        "xapi": str(3 * DAY_MS),
        "by-team": str(3 * DAY_MS),
        "by-thread": str(3 * DAY_MS),
        "thread-facts": str(3 * DAY_MS),
        "deadletter": str(9 * DAY_MS),
        # the drop signal reaches 5 weeks back, + 48h lateness + 7d margin
        "team-state": str(44 * DAY_MS),
        "thread-state": str(44 * DAY_MS),
        "roster": None,  # compacted: the latest record per person stays until its tombstone
        "team-counts": None,
        # compacted: the latest two snapshots of each partition, whatever their age
        "team-snapshots": None,
        "thread-snapshots": None,
    }
    assert found[settings.topic("roster")]["cleanup.policy"] == "compact"
    for snapshots in ("team-snapshots", "thread-snapshots"):
        assert found[settings.topic(snapshots)]["cleanup.policy"] == "compact"


def test_topics_updates_the_retention_of_an_existing_topic_and_keeps_its_other_settings(
    kafka_bootstrap,
):
    env = isolated_environment("retention", kafka_bootstrap=kafka_bootstrap)
    settings = settings_from_environment(env)
    events = settings.topic("events")
    asyncio.run(
        create_topic(
            kafka_bootstrap,
            events,
            {"retention.ms": str(30 * DAY_MS), "max.message.bytes": "2000000"},
        )
    )

    output = run_topics(env)

    assert f"retention updated: {events}" in output
    # The broker applies a change from the controller's metadata log a moment later.
    found = wait_for(
        lambda: _changed(asyncio.run(own_settings(kafka_bootstrap, [events]))[events]),
        timeout=10,
        what="the new retention on the broker",
    )
    assert found["retention.ms"] == str(7 * DAY_MS)  # the default TEAMPULSE_INPUT_RETENTION
    assert found["max.message.bytes"] == "2000000"


def _changed(found: dict[str, str]) -> dict[str, str] | None:
    return found if found.get("retention.ms") != str(30 * DAY_MS) else None


def _all(found: dict[str, dict[str, str]], names: list[str]) -> dict[str, dict[str, str]] | None:
    return found if set(found) == set(names) else None
