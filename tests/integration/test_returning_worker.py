"""A worker frozen (SIGSTOP) past the session timeout while events flow, then resumed: it is
fenced. Whether the group gives it back the partitions it held or others, it never publishes
a team another worker publishes, and once settled every gauge, adoption count and roll-up on
/metrics and in Redis equals the reference model's."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import time

import pytest
from redis.asyncio import Redis

from teampulse.gauges.model import OrgSnapshot
from tests.integration.expectations import published_teams, reference_for, reference_series
from tests.integration.test_durable_state import adoption_series
from tests.integration.test_workers import (
    AS_OF_EPOCH,
    FAST_RECOVERY,
    Deployment,
    Sampler,
    assert_exported_exactly_once,
    deployment,
    rebalance_input,
)
from tests.integration.worker_harness import WorkerProcess, free_port, parse_metrics, wait_for

pytestmark = pytest.mark.integration
__all__ = ["deployment"]  # the fixture, shared with the other worker tests

STREAM_RATE = 400
SESSION_S = float(FAST_RECOVERY["TEAMPULSE_GROUP_SESSION_TIMEOUT_S"])
FROZEN_S = 2 * SESSION_S + 2


def ordered_ports(count: int) -> list[int]:
    """Free ports of one digit count in increasing order: the workers' client ids (and so
    their places in the range assignment) sort as their ports do."""
    ports: set[int] = set()
    while len(ports) < count:
        port = free_port()
        if 10_000 <= port <= 65_535:
            ports.add(port)
    return sorted(ports)


def start(deployment: Deployment, port: int) -> WorkerProcess:
    n = len(deployment.workers)
    data = deployment.root / f"worker-{n}"
    data.mkdir()
    worker = WorkerProcess(
        {**deployment.env, "TEAMPULSE_DATA_DIR": str(data)},
        deployment.root / f"worker-{n}.log",
        port,
    ).start()
    deployment.workers.append(worker)
    return worker


async def redis_mismatches(redis_url: str, prefix: str, expected: OrgSnapshot) -> list:
    """Every published team and roll-up field in Redis that is missing or differs."""
    found = []
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        for snapshot in [*expected.teams.values(), *expected.rollups]:
            key = prefix + (
                snapshot.scope if snapshot.scope == "org" else f"{snapshot.scope}:{snapshot.key}"
            )
            wanted = {
                f"{name}:{window}": value
                for window, gauges in snapshot.windowed.items()
                for name, value in gauges.items()
            }
            wanted.update(snapshot.plain)
            stored = await redis.hgetall(key)
            for initiative, adoption in snapshot.initiatives.items():
                hashed = await redis.hgetall(f"{key}:initiative:{initiative}")
                for stage, members in adoption.stage_members.items():
                    if float(hashed.get(f"members:{stage}", "nan")) != members:
                        found.append((key, initiative, stage, members, hashed))
            for field, value in wanted.items():
                have = float(stored.get(field, "nan"))
                if not math.isclose(have, value, rel_tol=1e-9, abs_tol=1e-6):  # 6 decimals kept
                    found.append((key, field, value, stored.get(field)))
    finally:
        await redis.aclose()
    return found


@pytest.mark.parametrize("returns_to", ["its own partitions", "other partitions"])
def test_a_worker_resumed_after_its_session_expired_writes_nothing_stale(
    deployment: Deployment, redis_url: str, returns_to: str
):
    events, roster, records = rebalance_input()
    expected_snapshot = reference_for(events, roster, deployment.settings, AS_OF_EPOCH)
    expected = {**reference_series(expected_snapshot), **adoption_series(expected_snapshot)}
    teams = set(expected_snapshot.teams)
    deployment.env.update(FAST_RECOVERY)
    low, middle, high = ordered_ports(3)
    deployment.send_roster(roster)
    frozen = start(deployment, middle)
    other = start(deployment, high)
    wait_for(
        lambda: published_teams(frozen.metrics()) and published_teams(other.metrics()),
        timeout=120,
        what="both workers publishing their teams",
    )
    held = published_teams(frozen.metrics())
    sampler = Sampler(deployment.workers, deployment.settings.export_interval_s)
    sampler.start()
    stream = deployment.stream(records, per_second=STREAM_RATE)
    wait_for(lambda: stream.sent >= len(records) * 0.2, timeout=120, what="a fifth sent")

    os.killpg(frozen.process.pid, signal.SIGSTOP)  # type: ignore[union-attr]
    if returns_to == "other partitions":
        # It joins before the other member is gone and sorts first: once the frozen one
        # rejoins, it sits between the two and gets a partition it never held.
        start(deployment, low)
    time.sleep(FROZEN_S)
    assert stream.sent < len(records), "events should still flow when the worker resumes"
    resumed = time.monotonic()
    os.killpg(frozen.process.pid, signal.SIGCONT)  # type: ignore[union-attr]
    first_answer = frozen.metrics_text()
    stream.join(timeout=180)
    assert stream.sent == len(records)

    assert_exported_exactly_once(deployment.workers, expected, teams)
    settled: list[list] = []

    def redis_settled() -> bool:
        differ = asyncio.run(
            redis_mismatches(redis_url, deployment.settings.redis_prefix, expected_snapshot)
        )
        settled.append(differ)
        return not differ

    try:
        wait_for(redis_settled, 60, "every team and roll-up in Redis equal to the reference")
    except AssertionError:
        raise AssertionError(f"{len(settled[-1])} differ in Redis: {settled[-1][:8]}") from None
    sampler.done.set()
    sampler.join()

    assert first_answer is not None and not published_teams_of(first_answer), (
        "the first /metrics answer after the freeze must not publish pre-freeze teams"
    )
    assert frozen.log_lines("the group membership lapsed"), frozen.log_tail()
    after = published_teams(frozen.metrics())
    if returns_to == "its own partitions":
        assert after == held
    else:
        assert after and after != held
    doubled = [(round(at - resumed, 2), team) for at, team in sampler.doubled()]
    assert doubled == []


def published_teams_of(text: str) -> set[str]:

    return published_teams(parse_metrics(text))
