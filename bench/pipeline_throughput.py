"""Full-pipeline read rate against a bare aiokafka consumer, and event-to-gauge latency.

Run against the local stack (`make up`):

    .venv/bin/python bench/pipeline_throughput.py --events 100000 --rate 5000 --seconds 30

1. Backlog: N simulated events are written first; then a bare aiokafka consumer reads them
   all (the baseline), and a fresh worker processes them all. The worker's rate is taken
   from its first to its last counted event, so group-join time is not charged to it.
2. Latency: with the worker running, events are sent at --rate per second for --seconds;
   every 0.5 s a probe event for a dedicated team is sent, and the time until its effect is
   visible in Redis is recorded (polled every 20 ms). p50/p99 are printed.

Figures are ratios against the baseline measured in the same run, on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import orjson
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from streams.kafka_sender import KafkaSender  # noqa: E402
from streams.roster_reader import topic_partitions  # noqa: E402
from streams.topic_admin import ensure_topics  # noqa: E402

from teampulse.settings import Settings, settings_from_environment  # noqa: E402
from teampulse.simulation import build_organisation, generate_events  # noqa: E402

PROBE_TEAM = "bench-probe"
PROBE_PEOPLE = [f"probe{n}@example.com" for n in range(5)]


def rfc3339(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def metrics(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()
    except OSError:
        return ""


def counted(text: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("teampulse_events_total{") and 'outcome="unassigned"' not in line
    )


def probe_seconds(client: redis.Redis, prefix: str) -> float:
    """The probe team's learning seconds as other applications read them: from Redis."""
    value = client.hget(f"{prefix}team:{PROBE_TEAM}", "learning_seconds:1d")
    return float(value) if value is not None else 0.0


async def send(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]]) -> None:
    async with KafkaSender(bootstrap) as sender:
        await sender.send_all(topic, records)


async def bare_read(bootstrap: str, topic: str, expected: int) -> float:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen = 0
        started = time.perf_counter()
        while seen < expected:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10000)
            seen += sum(len(records) for records in batch.values())
        return expected / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "teampulse.cli", "worker", "--loglevel", "warning"],
        env={**os.environ, **env},
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=5000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--web-port", type=int, default=6099)
    args = parser.parse_args()

    prefix = f"bench-{uuid.uuid4().hex[:6]}."
    env = {
        "TEAMPULSE_TOPIC_PREFIX": prefix,
        "TEAMPULSE_APP_ID": prefix.rstrip("."),
        "TEAMPULSE_REDIS_PREFIX": prefix.replace(".", ":"),
        "TEAMPULSE_WEB_PORT": str(args.web_port),
        "TEAMPULSE_DATA_DIR": tempfile.mkdtemp(prefix="teampulse-bench-"),
    }
    settings = settings_from_environment(env)
    bootstrap = settings.kafka_bootstrap
    asyncio.run(ensure_topics(settings))

    now = time.time()
    org = build_organisation(seed=3, people=1000, teams=100, departments=10, divisions=3)
    roster = [(r["person"].encode(), orjson.dumps(r)) for r in org.roster_records()]
    roster += [
        (
            p.encode(),
            orjson.dumps(
                {
                    "person": p,
                    "team": PROBE_TEAM,
                    "department": "bench",
                    "division": "bench",
                    "active": True,
                }
            ),
        )
        for p in PROBE_PEOPLE
    ]
    print(f"generating {args.events:,} events ...", flush=True)
    days = 28
    events = []
    for event in generate_events(org, now - days * 86400, now, seed=3, rate_scale=4.0):
        events.append((event["id"].encode(), orjson.dumps(event)))
        if len(events) >= args.events:
            break
    asyncio.run(send(bootstrap, settings.topic("roster"), roster))
    asyncio.run(send(bootstrap, settings.topic("events"), events))
    total = len(events)
    print(f"backlog: {total:,} events on {settings.topic('events')}", flush=True)

    bare_rate = asyncio.run(bare_read(bootstrap, settings.topic("events"), total))
    print(f"bare aiokafka consumer: {bare_rate:,.0f} records/s", flush=True)

    url = f"http://127.0.0.1:{args.web_port}/metrics"
    log = Path(env["TEAMPULSE_DATA_DIR"]) / "worker.log"
    worker = start_worker(env, log)
    try:
        first_at = None
        while True:
            seen = counted(metrics(url))
            if seen and first_at is None:
                first_at, first_seen = time.perf_counter(), seen
            if seen >= total:
                done_at = time.perf_counter()
                break
            if worker.poll() is not None:
                raise SystemExit(f"worker exited; see {log}")
            time.sleep(0.25)
        pipeline_rate = (total - first_seen) / (done_at - first_at)
        print(
            f"full pipeline:          {pipeline_rate:,.0f} events/s "
            f"({pipeline_rate / bare_rate:.2f} x bare consumer)",
            flush=True,
        )

        latencies = asyncio.run(live_latency(settings, org, args.rate, args.seconds))
        latencies.sort()
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(
            f"event-to-gauge at {args.rate:,.0f} events/s over {args.seconds:.0f} s: "
            f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms ({len(latencies)} probes)"
        )
        rss_kb = int(Path(f"/proc/{worker.pid}/status").read_text().split("VmRSS:")[1].split()[0])
        print(f"worker resident memory: {rss_kb / 1024:.0f} MiB")
    finally:
        worker.terminate()
        worker.wait(timeout=30)


async def live_latency(settings: Settings, org, rate: float, seconds: float) -> list[float]:
    client = redis.Redis.from_url(settings.redis_url)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=5, acks=1)
    await producer.start()
    topic = settings.topic("events")
    template = [
        orjson.loads(v)
        for _, v in [
            (None, orjson.dumps(e))
            for e in generate_events(org, time.time() - 3600, time.time(), seed=4, rate_scale=4.0)
        ]
    ][:5000]
    latencies: list[float] = []
    probe_total = 0.0
    pending: list[tuple[float, float]] = []  # (sent at, learning seconds once visible)
    started = time.perf_counter()
    tick = 0
    try:
        while time.perf_counter() - started < seconds:
            tick_start = time.perf_counter()
            stamp = rfc3339(time.time())
            chunk = int(rate / 10)
            for i in range(chunk):
                event = dict(template[(tick * chunk + i) % len(template)])
                event["id"] = f"{uuid.uuid4()}"
                event["occurred_at"] = stamp
                await producer.send(topic, value=orjson.dumps(event), key=event["id"].encode())
            if tick % 5 == 0:
                probe_total += 1
                probe = {
                    "id": str(uuid.uuid4()),
                    "type": "learning.completed",
                    "occurred_at": stamp,
                    "actor": PROBE_PEOPLE[tick % 5],
                    "source": "bench",
                    "team": PROBE_TEAM,
                    "content": "probe",
                    "duration_s": 1,
                }
                await producer.send(topic, value=orjson.dumps(probe))
                pending.append((time.perf_counter(), probe_total))
            while pending:
                seen = probe_seconds(client, settings.redis_prefix)
                now = time.perf_counter()
                while pending and seen >= pending[0][1]:
                    latencies.append(now - pending.pop(0)[0])
                if time.perf_counter() - tick_start > 0.08:
                    break
                await asyncio.sleep(0.02)
            tick += 1
            await asyncio.sleep(max(0.0, 0.1 - (time.perf_counter() - tick_start)))
        deadline = time.perf_counter() + 10
        while pending and time.perf_counter() < deadline:
            seen = probe_seconds(client, settings.redis_prefix)
            now = time.perf_counter()
            while pending and seen >= pending[0][1]:
                latencies.append(now - pending.pop(0)[0])
            await asyncio.sleep(0.02)
    finally:
        await producer.stop()
    return latencies


if __name__ == "__main__":
    main()
