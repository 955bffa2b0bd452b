"""Does one tenant's backfill starve another tenant's live feed in the pipeline?

    .venv/bin/python -m benchmarks.tenant_fairness --backfill 500000 [--seconds 10]

Runs a real `teampulse worker` against the local stack (Kafka and Redis of TEAMPULSE_KAFKA_PORT
and TEAMPULSE_REDIS_PORT) with two tenants, twice in the same run: with the tenant scheduler
(`TEAMPULSE_TENANT_READ_AHEAD` at its default) and without it (a read-ahead of one record:
the loop applies records in partition order, as before scheduling). Each time:

1. tenant B (`live`) alone: a probe event every 0.2 s for its probe team, whose
   `learning_seconds:1d` in Redis (`{prefix}tenant:live:team:bench-probe`) counts the probes
   applied; a probe's latency runs from its send to the instant Redis shows it
   (benchmarks/latency.py, export tick and Redis flush included);
2. the same probes while tenant A (`backfill`) writes --backfill events of a year past,
   as fast as the producer can, to the shared input topic (what `teampulse produce --tenant`
   or `tenant-relay` would write), until the worker has applied all of A's events.

It prints B's probe latencies (p50, p99, max) per phase and as a ratio of B alone, the time
A's backfill took to be applied, and the worker's peak memory.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson
import redis
import yaml
from aiokafka import AIOKafkaProducer

from benchmarks.latency import PROBE_EVERY_S, PROBE_FIELD, PROBE_PEOPLE, PROBE_TEAM
from benchmarks.worker_process import WorkerProcess, free_port
from teampulse.kafka.topics import ensure_topics
from teampulse.settings import settings_from_environment

HEADER = "teampulse-tenant"
TENANTS = {
    "tenants": {
        "backfill": {"pseudonym_secret": "backfill-pseudonym-key", "credentials": ["a:secret"]},
        "live": {"pseudonym_secret": "live-pseudonym-key-0001", "credentials": ["b:secret"]},
    }
}
BACKFILL_TEAMS = 50
YEAR_S = 365 * 86400


def rfc3339(epoch: float) -> str:
    instant = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Phase:
    latencies: list[float]
    seconds: float

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Probes:
    """B's probe events and their latencies to Redis."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, client: redis.Redis, key: str):
        self.producer, self.topic, self.client, self.key = producer, topic, client, key
        self.sent_at: list[float] = []
        self.seen = 0
        self.latencies: list[float] = []

    async def send(self) -> None:
        sequence = len(self.sent_at)
        now = time.time()
        self.sent_at.append(now)
        event = {
            "id": f"probe-{sequence}",
            "type": "learning.completed",
            "occurred_at": rfc3339(now),
            "actor": PROBE_PEOPLE[sequence % len(PROBE_PEOPLE)],
            "source": "bench",
            "team": PROBE_TEAM,
            "content": "bench-probe",
            "duration_s": 1,
        }
        await self.producer.send(
            self.topic, orjson.dumps(event), key=b"probe", headers=[(HEADER, b"live")]
        )

    def observe(self) -> None:
        value = self.client.hget(self.key, PROBE_FIELD)
        applied = int(float(value)) if value is not None else 0
        now = time.time()
        while self.seen < min(applied, len(self.sent_at)):
            self.latencies.append(now - self.sent_at[self.seen])
            self.seen += 1

    async def run_while(self, going: asyncio.Event | float) -> Phase:
        """Probes until `going` is set (or for that many seconds), then waits for the last."""
        first = len(self.latencies)
        started = time.time()
        next_probe = started

        def more() -> bool:
            if isinstance(going, float):
                return time.time() - started < going
            return not going.is_set()

        while more():
            if time.time() >= next_probe:
                await self.send()
                next_probe += PROBE_EVERY_S
            self.observe()
            await asyncio.sleep(0.01)
        deadline = time.time() + 120
        while self.seen < len(self.sent_at) and time.time() < deadline:
            self.observe()
            await asyncio.sleep(0.01)
        return Phase(self.latencies[first:], time.time() - started)


async def backfill(producer: AIOKafkaProducer, topic: str, events: int) -> None:
    """A's year of events, oldest first per team, as fast as the producer takes them."""
    start = time.time() - YEAR_S
    step = YEAR_S / events
    pending = []
    for n in range(events):
        team = f"team-{n % BACKFILL_TEAMS}"
        event = {
            "id": f"backfill-{n}",
            "type": "learning.completed",
            "occurred_at": rfc3339(start + n * step),
            "actor": f"pseudonym:person-{n % 997}",
            "source": "lms",
            "team": team,
            "duration_s": 60,
        }
        pending.append(
            await producer.send(
                topic, orjson.dumps(event), key=team.encode(), headers=[(HEADER, b"backfill")]
            )
        )
        if len(pending) >= 10_000:
            await asyncio.gather(*pending)
            pending.clear()
            await asyncio.sleep(0)
    await asyncio.gather(*pending)


def applied_events(worker: WorkerProcess, tenant: str) -> float:
    worker.check_alive()
    url = f"http://127.0.0.1:{worker.web_port}/metrics?name[]=teampulse_tenant_events_total"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return 0.0  # busy past the timeout: asked again
    for line in text.splitlines():
        if line.startswith(f'teampulse_tenant_events_total{{tenant="{tenant}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def one_run(
    name: str, read_ahead: int | None, args: argparse.Namespace, folder: Path
) -> dict[str, object]:
    bootstrap = os.environ.get("TEAMPULSE_KAFKA_BOOTSTRAP") or (
        f"127.0.0.1:{os.environ.get('TEAMPULSE_KAFKA_PORT', '9092')}"
    )
    redis_url = f"redis://127.0.0.1:{os.environ.get('TEAMPULSE_REDIS_PORT', '6379')}/0"
    prefix = f"backfill-{uuid.uuid4().hex[:8]}"
    tenants_file = folder / "tenants.yaml"
    tenants_file.write_text(yaml.safe_dump(TENANTS))
    env = {
        "TEAMPULSE_KAFKA_BOOTSTRAP": bootstrap,
        "TEAMPULSE_REDIS_URL": redis_url,
        "TEAMPULSE_TOPIC_PREFIX": prefix + ".",
        "TEAMPULSE_APP_ID": prefix,
        "TEAMPULSE_REDIS_PREFIX": prefix + ":",
        "TEAMPULSE_TENANTS_FILE": str(tenants_file),
        "TEAMPULSE_WEB_PORT": str(free_port()),
        "TEAMPULSE_DATA_DIR": str(folder / name),
        "TEAMPULSE_GROUP_SETTLE_S": "0",
    }
    if read_ahead is not None:
        env["TEAMPULSE_TENANT_READ_AHEAD"] = str(read_ahead)
    settings = settings_from_environment(env)
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=10)
    await producer.start()
    client = redis.Redis.from_url(redis_url)
    worker = WorkerProcess(env, folder / f"{name}.log")
    try:
        for person in PROBE_PEOPLE:
            roster = {"person": person, "team": PROBE_TEAM, "department": "bench"}
            await producer.send_and_wait(
                settings.topic("roster"),
                orjson.dumps({**roster, "division": "bench", "active": True}),
                key=person.encode(),
                headers=[(HEADER, b"live")],
            )
        worker.start()
        probes = Probes(
            producer, settings.topic("events"), client, f"{prefix}:tenant:live:team:{PROBE_TEAM}"
        )
        print(f"[{name}] waiting for the worker's first probe in Redis", file=sys.stderr)
        deadline = time.time() + 180
        await probes.send()
        while not probes.seen:
            worker.check_alive()
            if time.time() > deadline:
                raise SystemExit(f"no probe reached Redis ({probes.key}); log: {worker.log_path}")
            probes.observe()
            await asyncio.sleep(0.1)
        print(f"[{name}] phase 1/2: B alone, {args.seconds:g} s", file=sys.stderr)
        alone = await probes.run_while(float(args.seconds))
        print(f"[{name}] phase 2/2: B while A backfills {args.backfill:,}", file=sys.stderr)
        done = asyncio.Event()
        started = time.time()

        async def backfill_applied() -> None:
            await backfill(producer, settings.topic("events"), args.backfill)
            while applied_events(worker, "backfill") < args.backfill:
                worker.check_alive()
                await asyncio.sleep(0.2)
            done.set()

        filling = asyncio.create_task(backfill_applied())
        during = await probes.run_while(done)
        await filling
        return {
            "alone": alone,
            "during": during,
            "backfill_s": time.time() - started,
            "peak_rss": worker.peak_rss(),
        }
    finally:
        worker.stop()
        await producer.stop()
        client.close()


async def run(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="teampulse-backfill-"))
    runs = {
        "without scheduling": await one_run("unscheduled", 1, args, folder),
        "with the tenant scheduler": await one_run("scheduled", None, args, folder),
    }
    print(
        f"\nA backfills {args.backfill:,} events of a year past into the shared input topic; "
        f"B sends a probe every {PROBE_EVERY_S:g} s (produce to Redis)\n"
    )
    print(
        "| worker | phase | B probes | B p50 s | B p99 s | B max s | B p99 / alone "
        "| A applied in s | worker peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, figures in runs.items():
        alone, during = figures["alone"], figures["during"]
        assert isinstance(alone, Phase) and isinstance(during, Phase)
        base = alone.quantile(0.99)
        for phase_name, phase in (("B alone", alone), ("A backfills", during)):
            backfill_s = f"{figures['backfill_s']:.1f}" if phase is during else "-"
            rss = f"{int(figures['peak_rss']) / 2**20:,.0f}" if phase is during else "-"  # type: ignore[call-overload]
            print(
                f"| {name} | {phase_name} | {len(phase.latencies)} | {phase.quantile(0.5):.2f} "
                f"| {phase.quantile(0.99):.2f} | {max(phase.latencies, default=float('nan')):.2f} "
                f"| {phase.quantile(0.99) / base:.2f} x | {backfill_s} | {rss} |"
            )
