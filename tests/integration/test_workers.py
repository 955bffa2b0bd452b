"""Several workers, rebalances and crashes on the real broker: the gauges stay exact.

Input: a simulated organisation's fortnight (a month of 200,000 events for the crash test),
with duplicates, on one input partition so the arrival order (and so every lateness decision)
is the same for every run. The frozen clock makes the expected values those of the reference
model.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import yaml
from aiokafka import AIOKafkaProducer

from teampulse.kafka.topics import ensure_topics
from teampulse.settings import parse_duration, settings_from_environment
from teampulse.simulation import build_organisation, generate_events, inject_faults
from tests.integration.expectations import (
    mismatches,
    published_teams,
    reference_for,
    reference_series,
)
from tests.integration.worker_harness import (
    REPO,
    Samples,
    WorkerProcess,
    free_port,
    isolated_environment,
    parse_metrics,
    produce,
    wait_for,
)

pytestmark = pytest.mark.integration

AS_OF = "2026-03-16T12:00:00Z"
AS_OF_EPOCH = dt.datetime(2026, 3, 16, 12, tzinfo=dt.UTC).timestamp()
DAYS = 14
SETTLE_S = 120
# The crash test: 200,000 events of a month, five kills, each after a seeded number of events
# counted by the incarnation; the stream is sent at about the speed one worker handles it.
CRASH_EVENTS = 200_000
KILLS = 5
KILL_AFTER_ACCEPTED = (2_000, 25_000)
STREAM_RATE = 5_000
# A killed worker holds its partitions until the groups give up on it: the broker's shortest
# session (group.min.session.timeout.ms); one worker needs no settling after its assignment.
# The rebalance test: a fortnight of a larger organisation, streamed slowly enough that the
# second worker joins and leaves while records still arrive.
REBALANCE_STREAM_RATE = 500
REBALANCE_HOLD_S = 2
RESTORE_LINE = re.compile(
    r"teams: the assigned partitions are restored from (\d+) log records in ([\d.]+) s"
)
FAST_RECOVERY = {"TEAMPULSE_GROUP_SESSION_TIMEOUT_S": "6", "TEAMPULSE_GROUP_SETTLE_S": "0.2"}


def simulated_input() -> tuple[list[dict], list[dict], list[bytes]]:
    org = build_organisation(seed=11, people=80, teams=10, departments=3, divisions=2)
    events = list(generate_events(org, AS_OF_EPOCH - DAYS * 86400, AS_OF_EPOCH, seed=11))
    records = [
        item if isinstance(item, bytes) else orjson.dumps(item)
        for item in inject_faults(events, seed=11, duplicate_rate=0.02, malformed_rate=0.0)
    ]
    return events, org.roster_records(), records


def crash_input() -> tuple[list[dict], list[dict], list[bytes]]:
    org = build_organisation(seed=13, people=3000, teams=120, departments=12, divisions=4)
    month = generate_events(org, AS_OF_EPOCH - 31 * 86400, AS_OF_EPOCH, seed=13)
    events = list(itertools.islice(month, CRASH_EVENTS))
    assert len(events) == CRASH_EVENTS
    records = [
        item if isinstance(item, bytes) else orjson.dumps(item)
        for item in inject_faults(events, seed=13, duplicate_rate=0.01, malformed_rate=0.0)
    ]
    return events, org.roster_records(), records


def rebalance_input() -> tuple[list[dict], list[dict], list[bytes]]:
    org = build_organisation(seed=19, people=500, teams=40, departments=6, divisions=2)
    events = list(generate_events(org, AS_OF_EPOCH - DAYS * 86400, AS_OF_EPOCH, seed=19))
    records = [
        item if isinstance(item, bytes) else orjson.dumps(item)
        for item in inject_faults(events, seed=19, duplicate_rate=0.02, malformed_rate=0.0)
    ]
    return events, org.roster_records(), records


class Stream(threading.Thread):
    """Sends records to one partition at a steady rate, in the background."""

    def __init__(self, bootstrap: str, topic: str, records: list[bytes], per_second: int):
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.records = bootstrap, topic, records
        self.per_second = per_second
        self.sent = 0

    def run(self) -> None:
        asyncio.run(self._send())

    async def _send(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
        await producer.start()
        try:
            chunk = max(1, self.per_second // 10)
            started = time.monotonic()
            for first in range(0, len(self.records), chunk):
                batch = self.records[first : first + chunk]
                sent = [await producer.send(self.topic, value=r, partition=0) for r in batch]
                await asyncio.gather(*sent)
                self.sent += len(batch)
                ahead = started + self.sent / self.per_second - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
        finally:
            await producer.stop()


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

    def send_roster(self, roster: list[dict]) -> None:
        asyncio.run(
            produce(
                self.env["TEAMPULSE_KAFKA_BOOTSTRAP"],
                self.settings.topic("roster"),
                [(r["person"].encode(), orjson.dumps(r)) for r in roster],
            )
        )

    def stream(self, records: list[bytes], per_second: int) -> Stream:
        stream = Stream(
            self.env["TEAMPULSE_KAFKA_BOOTSTRAP"],
            self.settings.topic("events"),
            records,
            per_second,
        )
        stream.start()
        return stream

    def send(self, roster: list[dict], records: list[bytes]) -> None:
        self.send_roster(roster)
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
    # The roll-ups are compared too: their inputs come from both workers, in any order.
    # (This organisation's org roll-up is withheld by complementary suppression.)
    assert {"department", "division"} <= {name.split("_")[1] for name, _ in expected}
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


def accepted(worker: WorkerProcess) -> float:
    return counted(worker.metrics(), "accepted")


def counted(samples: Samples, *outcomes: str) -> float:
    """Events the worker counted with these outcomes."""
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == "teampulse_events_total" and dict(labels).get("outcome") in outcomes
    )


def test_a_worker_killed_five_times_while_200000_events_stream_in_publishes_the_exact_gauges(
    deployment: Deployment,
):
    """SIGKILL at five seeded moments (a number of events the incarnation has counted), each
    time a new worker in its place; the stream goes on meanwhile. Nothing lost, nothing
    doubled: every published gauge equals the reference model's."""
    rng = random.Random(13)
    events, roster, records = crash_input()
    deployment.env.update(FAST_RECOVERY)
    deployment.send_roster(roster)
    stream = deployment.stream(records, per_second=STREAM_RATE)
    worker = deployment.start_worker()
    back_after = []  # per kill: seconds until every team is published again
    for _ in range(KILLS):
        moment = rng.randint(*KILL_AFTER_ACCEPTED)
        current = worker
        wait_for(
            lambda: accepted(current) >= moment,  # noqa: B023 - called before the next turn
            timeout=120,
            what=f"{moment} events counted before the next kill",
            interval=0.05,
        )
        last = worker.metrics()
        worker.kill()  # SIGKILL: no commit, no flush, no goodbye
        started = time.monotonic()
        worker = current = deployment.start_worker()
        before = published_teams(last)
        wait_for(
            lambda: published_teams(current.metrics()) >= before,  # noqa: B023
            timeout=120,
            what="the restarted worker publishing every team it had published",
            interval=0.1,
        )
        back_after.append(time.monotonic() - started)
    stream.join(timeout=120)
    assert stream.sent == len(records)

    expected_snapshot = reference_for(events, roster, deployment.settings, AS_OF_EPOCH)
    expected = reference_series(expected_snapshot)
    assert_exported_exactly_once([worker], expected, set(expected_snapshot.teams))
    restores = [
        (int(records), float(seconds))
        for w in deployment.workers[1:]
        for records, seconds in RESTORE_LINE.findall(w.log_path.read_text(errors="replace"))
    ]
    print(
        f"\n{len(records)} records, {KILLS} kills: every team published again after "
        f"{', '.join(f'{s:.1f}' for s in back_after)} s; the teams partitions restored "
        f"(log records, seconds): {restores}"
    )


def prometheus_scrape_interval_s() -> float:
    """The scrape interval of the worker job in the shipped Prometheus configuration."""
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "teampulse-worker")
    interval = job.get("scrape_interval", config["global"]["scrape_interval"])
    return parse_duration(interval)


@dataclass
class Sample:
    at: float  # monotonic
    teams: list[set[str]]  # per worker: the teams its /metrics published (none if no answer)
    order: list[int]  # the workers in the order they were scraped

    def published(self) -> set[str]:
        return set().union(*self.teams)


class Sampler(threading.Thread):
    """Scrapes every worker's /metrics once per export interval, one after the other, in
    alternating order. A worker that does not answer publishes nothing, as Prometheus would
    see it."""

    def __init__(self, workers: list[WorkerProcess], interval: float) -> None:
        super().__init__(daemon=True)
        self.workers, self.interval = workers, interval
        self.samples: list[Sample] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            started = time.monotonic()
            workers = list(self.workers)
            order = list(range(len(workers)))
            if len(self.samples) % 2:
                order.reverse()
            teams: list[set[str]] = [set() for _ in workers]
            for index in order:
                text = workers[index].metrics_text() if workers[index].alive() else None
                teams[index] = published_teams(parse_metrics(text)) if text else set()
            self.samples.append(Sample(started, teams, order))
            self.done.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def doubled(self) -> list[tuple[float, str]]:
        """(time, team) of every sample that proves a team published by two workers at once.

        Scrapes are sequential, so a team moving from A to B between the two scrapes shows
        on both when A is scraped first, though no instant had it on both. Such a sample
        proves nothing; one that scraped B (the new owner) first does, and so does a team
        on both in two samples running (their scrape orders differ)."""
        found = []
        for previous, sample in itertools.pairwise(self.samples):
            for first, second in itertools.combinations(range(len(sample.teams)), 2):
                for team in sample.teams[first] & sample.teams[second]:
                    before = [
                        w
                        for w in (first, second)
                        if w < len(previous.teams) and team in previous.teams[w]
                    ]
                    if len(before) == 1:  # it moved: proof only if the new owner came first
                        (giver,) = before
                        receiver = second if giver == first else first
                        if sample.order.index(receiver) > sample.order.index(giver):
                            continue
                    found.append((sample.at, team))
        return found

    def longest_gaps(self, teams: set[str]) -> dict[str, tuple[float, float]]:
        """Per team, the longest time from a sample without it to the next one with it, and
        when that began."""
        gaps = dict.fromkeys(teams, (0.0, 0.0))
        missing_since: dict[str, float] = {}
        for sample in [*self.samples, Sample(float("inf"), [teams], [0])]:
            published = sample.published()
            for team in teams:
                if team in published:
                    if team in missing_since:
                        began = missing_since.pop(team)
                        gap = min(sample.at, self.samples[-1].at) - began
                        gaps[team] = max(gaps[team], (gap, began))
                else:
                    missing_since.setdefault(team, sample.at)
        return gaps

    def handover(self, old: int, new: int, after: float) -> dict[str, float]:
        """Per team that moved from worker `old` to worker `new` after `after`: the time from
        its last sample on the old owner to its first sample on the new one."""
        last_seen: dict[str, float] = {}
        moved: dict[str, float] = {}
        for sample in self.samples:
            on_old = sample.teams[old] if old < len(sample.teams) else set()
            on_new = sample.teams[new] if new < len(sample.teams) else set()
            for team in on_old:
                last_seen[team] = sample.at
            if sample.at >= after:
                for team in on_new - set(moved):
                    if team in last_seen:
                        moved[team] = sample.at - last_seen[team]
        return moved


def test_a_worker_that_joins_and_leaves_mid_stream_moves_every_team_without_doubling_or_gaps(
    deployment: Deployment,
):
    """One worker, a second joins mid-stream and later leaves. Scraped every export interval:
    no team is published by both at once, none is missing longer than Prometheus's scrape
    interval, and the gauges end exact."""
    events, roster, records = rebalance_input()
    expected_snapshot = reference_for(events, roster, deployment.settings, AS_OF_EPOCH)
    expected = reference_series(expected_snapshot)
    teams = set(expected_snapshot.teams)
    deployment.send_roster(roster)
    first = deployment.start_worker()
    wait_for(lambda: published_teams(first.metrics()) == teams, timeout=120, what="all teams")
    sampler = Sampler(deployment.workers, deployment.settings.export_interval_s)
    sampler.start()
    stream = deployment.stream(records, per_second=REBALANCE_STREAM_RATE)
    wait_for(lambda: stream.sent >= len(records) * 0.2, timeout=120, what="a fifth sent")

    joined = time.monotonic()
    second = deployment.start_worker()  # the sampler sees it from its next round
    wait_for(lambda: published_teams(second.metrics()), timeout=120, what="the second's teams")
    moved_in = published_teams(second.metrics())
    time.sleep(REBALANCE_HOLD_S)  # the join's take-over is over before the leave begins
    wait_for(lambda: stream.sent >= len(records) * 0.6, timeout=120, what="three fifths sent")
    assert stream.sent < len(records), "the second worker should leave mid-stream"
    left = time.monotonic()
    second.stop()  # SIGTERM: it leaves the group, its partitions move back
    stream.join(timeout=120)
    assert_exported_exactly_once([first], expected, teams)
    sampler.done.set()
    sampler.join()

    joining = sampler.handover(0, 1, after=joined)
    leaving = sampler.handover(1, 0, after=left)
    gaps = sampler.longest_gaps(teams)
    longest, began = max(gaps.values())
    print(
        f"\n{len(records)} records, {len(teams)} teams; take-over (a team's last sample on "
        f"its old owner to its first on the new, sampled every "
        f"{deployment.settings.export_interval_s} s): on the join {len(joining)} teams, "
        f"longest {max(joining.values()):.2f} s; on the leave {len(leaving)} teams, longest "
        f"{max(leaving.values()):.2f} s; longest gap of a team {longest:.2f} s, from "
        f"{began - joined:.1f} s after the join (the leave: {left - joined:.1f} s); "
        f"{len(sampler.samples)} samples"
    )
    assert set(joining) == moved_in and set(leaving) == moved_in
    assert [(round(at - joined, 2), team) for at, team in sampler.doubled()] == []
    assert longest <= prometheus_scrape_interval_s(), sorted(gaps.items())
