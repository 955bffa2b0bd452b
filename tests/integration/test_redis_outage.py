"""Redis goes away for 30 s under a steady event stream: the worker carries on, and Redis
holds the right gauges again within seconds of its return."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import subprocess
import threading
import time
from pathlib import Path

import orjson
import pytest
import redis

from teampulse.kafka.topics import ensure_topics
from teampulse.settings import settings_from_environment
from teampulse.simulation import build_organisation, live_events
from teampulse.sinks.redis_writer import format_value
from tests.integration.worker_harness import (
    WorkerProcess,
    free_port,
    isolated_environment,
    produce,
    wait_for,
)

pytestmark = pytest.mark.integration

AS_OF = "2026-03-16T12:00:00Z"
AS_OF_EPOCH = dt.datetime(2026, 3, 16, 12, tzinfo=dt.UTC).timestamp()
OUTAGE_S = 30
CATCH_UP_S = 10
COMPARED = (
    "posts:28d",
    "replies:28d",
    "active_members:7d",
    "learning_seconds:28d",
    "participation_ratio:7d",
)


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is installed by deploy/stack/ensure-packages.sh"
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        wait_for(lambda: _pings(client), timeout=10, what="the test's redis-server")

    def stop_saving(self) -> None:
        """Shut down as an operator would for maintenance: the data is saved and comes back."""
        redis.Redis(port=self.port).shutdown(save=True)
        assert self.process is not None
        self.process.wait(timeout=10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_worker_rides_out_a_redis_outage_and_catches_up(kafka_bootstrap: str, tmp_path: Path):
    server = RedisServer(tmp_path)
    server.start()
    env = isolated_environment(
        "outage",
        kafka_bootstrap=kafka_bootstrap,
        redis_url=server.url,
        redis_prefix="tp:",
        clock=AS_OF,
        data_dir=str(tmp_path / "data"),
    )
    settings = settings_from_environment(env)
    asyncio.run(ensure_topics(settings))
    worker = WorkerProcess(env, tmp_path / "worker.log", free_port()).start()
    org = build_organisation(seed=5, people=50, teams=6, departments=2, divisions=1)
    roster = [(r["person"].encode(), orjson.dumps(r)) for r in org.roster_records()]
    asyncio.run(produce(kafka_bootstrap, settings.topic("roster"), roster))

    stop_feed = threading.Event()

    def steady_feed() -> None:
        chunk = 0
        while not stop_feed.is_set():
            start = AS_OF_EPOCH - 7200 + chunk * 60
            events = live_events(org, start, 60, 0.5, seed=chunk)
            records = [(e["id"].encode(), orjson.dumps(e)) for e in events]
            asyncio.run(produce(kafka_bootstrap, settings.topic("events"), records))
            chunk += 1
            time.sleep(1)

    feeder = threading.Thread(target=steady_feed, daemon=True)
    feeder.start()
    client = redis.Redis.from_url(server.url, decode_responses=True)
    try:
        wait_for(lambda: client.smembers("tp:teams"), timeout=90, what="gauges in Redis")

        def accepted() -> float:
            return sum(
                v
                for (name, labels), v in worker.metrics().items()
                if name == "teampulse_events_total" and ("outcome", "accepted") in labels
            )

        server.stop_saving()
        outage_began = time.monotonic()
        before = accepted()
        time.sleep(OUTAGE_S / 2)
        assert worker.alive()
        assert accepted() > before, "the stream must go on while Redis is down"
        time.sleep(OUTAGE_S - (time.monotonic() - outage_began))
        assert worker.alive()
        failures = worker.metrics()[("teampulse_redis_write_failures_total", ())]
        assert failures >= 1
        stop_feed.set()
        feeder.join(timeout=30)
        settled = accepted()
        wait_for(lambda: accepted() == settled and settled > 0, timeout=10, what="drain")
        server.start()
        returned = time.monotonic()

        def redis_matches_metrics() -> bool:
            samples = worker.metrics()
            for team in client.smembers("tp:teams"):
                stored = client.hgetall(f"tp:team:{team}")
                for field in COMPARED:
                    name, window = field.split(":")
                    exported = samples.get(
                        (f"teampulse_team_{name}", (("team", team), ("window", window)))
                    )
                    if exported is None or stored.get(field) != format_value(exported):
                        return False
            return bool(client.smembers("tp:teams"))

        wait_for(
            redis_matches_metrics,
            timeout=CATCH_UP_S,
            what="Redis to hold the exported gauges after its return",
        )
        assert time.monotonic() - returned < CATCH_UP_S
        assert worker.alive()
    finally:
        stop_feed.set()
        worker.stop()
        if server.process and server.process.poll() is None:
            server.process.terminate()
