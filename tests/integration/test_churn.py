"""Churn on four partitions: a second worker joins while the first is still catching up on a
backlog, then the first is killed (SIGKILL) and a new worker takes its place. Every gauge,
adoption count and roll-up on /metrics and in Redis ends equal to the reference model's."""

from __future__ import annotations

import asyncio
import itertools

import orjson
import pytest

from teampulse.simulation import build_organisation, generate_events, inject_faults
from tests.integration.expectations import published_teams, reference_for, reference_series
from tests.integration.test_durable_state import adoption_series
from tests.integration.test_returning_worker import redis_mismatches
from tests.integration.test_workers import (
    AS_OF_EPOCH,
    FAST_RECOVERY,
    Deployment,
    accepted,
    assert_exported_exactly_once,
    deployment,
)
from tests.integration.worker_harness import wait_for

pytestmark = pytest.mark.integration
__all__ = ["deployment"]  # the fixture, shared with the other worker tests

EVENTS = 100_000
JOIN_AFTER_ACCEPTED = 20_000


def backlog() -> tuple[list[dict], list[dict], list[bytes]]:
    org = build_organisation(seed=29, people=2000, teams=80, departments=8, divisions=3)
    month = generate_events(org, AS_OF_EPOCH - 31 * 86400, AS_OF_EPOCH, seed=29)
    events = list(itertools.islice(month, EVENTS))
    records = [
        item if isinstance(item, bytes) else orjson.dumps(item)
        for item in inject_faults(events, seed=29, duplicate_rate=0.01, malformed_rate=0.0)
    ]
    return events, org.roster_records(), records


def test_a_join_during_catch_up_then_a_kill_and_a_restart_end_with_the_exact_gauges(
    deployment: Deployment, redis_url: str
):
    events, roster, records = backlog()
    expected_snapshot = reference_for(events, roster, deployment.settings, AS_OF_EPOCH)
    expected = {**reference_series(expected_snapshot), **adoption_series(expected_snapshot)}
    teams = set(expected_snapshot.teams)
    deployment.env.update(FAST_RECOVERY)
    deployment.send(roster, records)  # the backlog is there before any worker

    first = deployment.start_worker()
    wait_for(
        lambda: accepted(first) >= JOIN_AFTER_ACCEPTED,
        timeout=120,
        what=f"{JOIN_AFTER_ACCEPTED} events counted by the first worker",
        interval=0.1,
    )
    second = deployment.start_worker()
    wait_for(
        lambda: published_teams(second.metrics()),
        timeout=120,
        what="the second worker publishing its teams",
    )
    assert accepted(first) < len(records), "the first should still be catching up"

    first.kill()  # SIGKILL: no commit, no flush, no goodbye
    third = deployment.start_worker()

    assert_exported_exactly_once([second, third], expected, teams)
    found: list[list] = []

    def redis_settled() -> bool:
        found.append(
            asyncio.run(
                redis_mismatches(redis_url, deployment.settings.redis_prefix, expected_snapshot)
            )
        )
        return not found[-1]

    try:
        wait_for(redis_settled, 60, "every team and roll-up in Redis equal to the reference")
    except AssertionError:
        raise AssertionError(f"{len(found[-1])} differ in Redis: {found[-1][:8]}") from None
