"""Erasure on the real stack: after `teampulse forget`, every published gauge is the reference
model's without that person, also after the worker is killed and restarted, and a team that
the erasure leaves below the minimum group size is withdrawn from /metrics and Redis.

The input and the frozen clock are those of the multi-worker tests (test_workers.py), so the
expected values are the reference model's.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis

from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.gauges.model import OrgSnapshot
from tests.integration.expectations import reference_for, reference_series
from tests.integration.test_workers import (
    AS_OF_EPOCH,
    Deployment,
    assert_exported_exactly_once,
    simulated_input,
)
from tests.integration.worker_harness import REPO, WorkerProcess, produce, wait_for

pytestmark = pytest.mark.integration

MIN_GROUP_SIZE = 5


@pytest.fixture
def erasure_deployment(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> Iterator[Deployment]:
    deployed = Deployment(kafka_bootstrap, redis_url, tmp_path)
    yield deployed
    deployed.stop()


def forget(deployment: Deployment, *people: str) -> str:
    """Run `teampulse forget` as an operator would, with the workers' environment."""
    result = subprocess.run(
        [sys.executable, "-m", "teampulse.cli", "forget", *people],
        env={**os.environ, **deployment.env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def members_by_team(roster: list[dict]) -> dict[str, list[str]]:
    teams: dict[str, list[str]] = {}
    for record in roster:
        if record["active"]:
            teams.setdefault(record["team"], []).append(record["person"])
    return teams


def most_active(events: list[dict], people: list[str]) -> list[str]:
    counts = Counter(e["actor"] for e in events if e["actor"] in people)
    return [person for person, _ in counts.most_common()]


def expect(deployment: Deployment, events, roster, erased: set[str]) -> OrgSnapshot:
    return reference_for(events, roster, deployment.settings, AS_OF_EPOCH, erased)


def test_a_forgotten_person_is_gone_from_every_gauge_also_after_a_restart(
    erasure_deployment: Deployment,
) -> None:
    deployment = erasure_deployment
    events, roster, records = simulated_input()
    teams = members_by_team(roster)
    # someone with discussion and learning in a team that stays published without them
    team = max((t for t, people in teams.items() if len(people) > MIN_GROUP_SIZE), key=len)
    person = most_active(events, teams[team])[0]
    pseudonym = Pseudonymiser(deployment.settings.pseudonym_secret).person(person)
    before = expect(deployment, events, roster, set())
    after = expect(deployment, events, roster, {pseudonym})
    assert reference_series(after) != reference_series(before)  # the person did count
    assert team in after.teams

    worker = deployment.start_worker()
    deployment.send(roster, records)
    assert_exported_exactly_once([worker], reference_series(before), set(before.teams))

    output = forget(deployment, person)

    assert f"erasure recorded for {person!r} (pseudonym {pseudonym})" in output
    assert_exported_exactly_once([worker], reference_series(after), set(after.teams))

    # The person's records arrive again (a producer's retry, an input re-read): dropped.
    theirs = [r for r in records if orjson.loads(r)["actor"] == person]
    resend(deployment, theirs)
    wait_for(lambda: erased_count(worker) == len(theirs), 60, "the re-sent records dropped")
    assert_exported_exactly_once([worker], reference_series(after), set(after.teams))

    worker.kill()  # SIGKILL: the state logs still hold the person's events
    restarted = deployment.start_worker()
    assert_exported_exactly_once([restarted], reference_series(after), set(after.teams))


def resend(deployment: Deployment, records: list[bytes]) -> None:
    topic = deployment.settings.topic("events")
    bootstrap = deployment.env["TEAMPULSE_KAFKA_BOOTSTRAP"]
    asyncio.run(produce(bootstrap, topic, [(None, r) for r in records], partition=0))


def erased_count(worker: WorkerProcess) -> float:
    return sum(
        value
        for (name, labels), value in worker.metrics().items()
        if name == "teampulse_events_total" and ("outcome", "erased") in labels
    )


def test_a_team_the_erasure_leaves_below_the_minimum_size_is_withdrawn(
    erasure_deployment: Deployment, redis_url: str
) -> None:
    deployment = erasure_deployment
    events, roster, records = simulated_input()
    teams = members_by_team(roster)
    team = min((t for t, people in teams.items() if len(people) >= MIN_GROUP_SIZE), key=len)
    # enough of its members that MIN_GROUP_SIZE - 1 remain
    leaving = most_active(events, teams[team])[: len(teams[team]) - (MIN_GROUP_SIZE - 1)]
    pseudonymiser = Pseudonymiser(deployment.settings.pseudonym_secret)
    after = expect(deployment, events, roster, {pseudonymiser.person(p) for p in leaving})
    before = expect(deployment, events, roster, set())
    assert team in before.teams and team not in after.teams

    worker = deployment.start_worker()
    deployment.send(roster, records)
    assert_exported_exactly_once([worker], reference_series(before), set(before.teams))
    client = redis.Redis.from_url(redis_url)
    prefix = deployment.settings.redis_prefix
    wait_for(lambda: client.exists(f"{prefix}team:{team}"), 30, f"{team}'s hash in Redis")

    forget(deployment, *leaving)

    assert_exported_exactly_once([worker], reference_series(after), set(after.teams))
    wait_for(
        lambda: (
            not client.exists(f"{prefix}team:{team}")
            and not client.sismember(f"{prefix}teams", team)
        ),
        30,
        f"{team} withdrawn from Redis",
    )
    assert not any(dict(labels).get("team") == team for _name, labels in worker.metrics()), (
        "the withdrawn team is still on /metrics"
    )


def test_forget_names_the_missing_erasures_topic(tmp_path: Path, kafka_bootstrap: str) -> None:
    env = {
        "TEAMPULSE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TEAMPULSE_TOPIC_PREFIX": f"t-none-{tmp_path.name}.",
        "TEAMPULSE_PSEUDONYM_SECRET": "some-secret",
    }
    result = subprocess.run(
        [sys.executable, "-m", "teampulse.cli", "forget", "jane@example.com"],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "does not exist: nothing was erased" in result.stderr
    assert "`teampulse topics`" in result.stderr
