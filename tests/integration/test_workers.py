"""Several workers, rebalances and crashes on the real broker: the gauges stay exact.

Input: a simulated organisation's fortnight (with duplicates), on one input partition so the
arrival order (and so every lateness decision) is the same for every run. The frozen clock
makes the expected values those of the reference model.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from teampulse.kafka.topics import ensure_topics
from teampulse.settings import settings_from_environment
from teampulse.simulation import build_organisation, generate_events, inject_faults
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
DAYS = 14
SETTLE_S = 120


def simulated_input() -> tuple[list[dict], list[dict], list[bytes]]:
    org = build_organisation(seed=11, people=80, teams=10, departments=3, divisions=2)
    events = list(generate_events(org, AS_OF_EPOCH - DAYS * 86400, AS_OF_EPOCH, seed=11))
    records = [
        item if isinstance(item, bytes) else orjson.dumps(item)
        for item in inject_faults(events, seed=11, duplicate_rate=0.02, malformed_rate=0.0)
    ]
    return events, org.roster_records(), records


class Deployment:
    """Workers of one consumer group on their own topics, Redis prefix and data folders."""

    def __init__(self, kafka: str, redis_url: str, root: Path) -> None:
        self.root = root
        self.env = isolated_environment(
            "workers",
            kafka_bootstrap=kafka,
            redis_url=redis_url,
            clock=AS_OF,
            pseudonym_secret="workers-secret",
        )
        self.settings = settings_from_environment(self.env)
        self.workers: list[WorkerProcess] = []
        asyncio.run(ensure_topics(self.settings))

    def start_worker(self) -> WorkerProcess:
        n = len(self.workers)
        data = self.root / f"worker-{n}"
        data.mkdir()
        worker = WorkerProcess(
            {**self.env, "TEAMPULSE_DATA_DIR": str(data)},
            self.root / f"worker-{n}.log",
            free_port(),
        ).start()
        self.workers.append(worker)
        return worker

    def send(self, roster: list[dict], records: list[bytes]) -> None:
        asyncio.run(
            produce(
                self.env["TEAMPULSE_KAFKA_BOOTSTRAP"],
                self.settings.topic("roster"),
                [(r["person"].encode(), orjson.dumps(r)) for r in roster],
            )
        )
        asyncio.run(
            produce(
                self.env["TEAMPULSE_KAFKA_BOOTSTRAP"],
                self.settings.topic("events"),
                [(None, record) for record in records],
                partition=0,
            )
        )

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


@pytest.fixture
def deployment(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[Deployment]:
    deployed = Deployment(kafka_bootstrap, redis_url, tmp_path)
    yield deployed
    deployed.stop()


def union_of(workers: list[WorkerProcess]) -> tuple[Samples, dict[str, int]]:
    """All workers' gauge series together, and how many workers export each team."""
    union: Samples = {}
    exporters: dict[str, int] = {}
    for worker in workers:
        samples = worker.metrics()
        for team in published_teams(samples):
            exporters[team] = exporters.get(team, 0) + 1
        union.update(samples)
    return union, exporters


def assert_exported_exactly_once(
    workers: list[WorkerProcess], expected: Samples, teams: set[str]
) -> None:
    def settled() -> tuple[Samples, dict[str, int]] | None:
        union, exporters = union_of(workers)
        ok = not mismatches(expected, union) and exporters == dict.fromkeys(teams, 1)
        return (union, exporters) if ok else None

    try:
        wait_for(settled, timeout=SETTLE_S, what="every team exported once, as the reference")
    except AssertionError:
        union, exporters = union_of(workers)
        logs = "\n".join(w.log_tail(15) for w in workers)
        raise AssertionError(
            f"exporters={exporters}\nmismatches={mismatches(expected, union)[:10]}\n{logs}"
        ) from None


def test_two_workers_give_the_gauges_of_one_and_export_each_team_once(deployment: Deployment):
    events, roster, records = simulated_input()
    expected_snapshot = reference_for(events, roster, deployment.settings, AS_OF_EPOCH)
    expected = reference_series(expected_snapshot)
    teams = set(expected_snapshot.teams)
    assert len(teams) >= 5
    first, second = deployment.start_worker(), deployment.start_worker()
    deployment.send(roster, records)
    assert_exported_exactly_once([first, second], expected, teams)
    both, _ = union_of([first, second])
    assert published_teams(first.metrics()) and published_teams(second.metrics()), (
        "both workers should own some teams"
    )

    second.stop()  # leaves the group; its partitions move to the first worker
    assert_exported_exactly_once([first], expected, teams)
    alone, _ = union_of([first])
    assert mismatches(reference_series(expected_snapshot), alone) == []
    assert {k: v for k, v in alone.items() if k in expected} == {
        k: v for k, v in both.items() if k in expected
    }


def test_a_worker_killed_mid_stream_restarts_to_the_exact_gauges(deployment: Deployment):
    events, roster, records = simulated_input()
    expected_snapshot = reference_for(events, roster, deployment.settings, AS_OF_EPOCH)
    expected = reference_series(expected_snapshot)
    worker = deployment.start_worker()
    deployment.send(roster, records)

    def accepted(w: WorkerProcess) -> float:
        return sum(
            v
            for (name, labels), v in w.metrics().items()
            if name == "teampulse_events_total" and ("outcome", "accepted") in labels
        )

    wait_for(
        lambda: accepted(worker) > len(records) // 4,
        timeout=120,
        what="a quarter of the input processed",
        interval=0.1,
    )
    worker.kill()  # SIGKILL: no commit, no flush, no goodbye
    restarted = deployment.start_worker()
    assert_exported_exactly_once([restarted], expected, set(expected_snapshot.teams))
