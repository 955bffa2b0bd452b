"""Runs real `teampulse worker` processes against the real stack for integration tests.

Each test gets its own topic prefix, consumer group, Redis prefix and web port, so tests never
see each other's records.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from teampulse.kafka.reading import topic_partitions

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]


def isolated_environment(name: str, **settings: str) -> dict[str, str]:
    """TEAMPULSE_* variables of a worker whose topics, consumer group and Redis keys are its
    own (`name` plus a random part), plus the given settings (e.g. CLOCK="...")."""
    prefix = f"t-{name}-{uuid.uuid4().hex[:8]}."
    env = {
        "TEAMPULSE_TOPIC_PREFIX": prefix,
        "TEAMPULSE_APP_ID": prefix.rstrip("."),
        "TEAMPULSE_REDIS_PREFIX": prefix.replace(".", ":"),
    }
    env.update({f"TEAMPULSE_{key.upper()}": value for key, value in settings.items()})
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.5) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_metrics(text: str, prefix: str = "teampulse_") -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith(prefix):
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


@dataclass
class WorkerProcess:
    env: dict[str, str]
    log_path: Path
    web_port: int
    process: subprocess.Popen | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start(self) -> WorkerProcess:
        self.log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "teampulse.cli", "worker"],
            env={**os.environ, **self.env, "TEAMPULSE_WEB_PORT": str(self.web_port)},
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,
        )
        return self

    def metrics_text(self) -> str | None:
        try:
            with urllib.request.urlopen(f"{self.url}/metrics", timeout=3) as response:
                return response.read().decode()
        except OSError:
            return None

    def metrics(self) -> Samples:
        text = self.metrics_text()
        return parse_metrics(text) if text else {}

    def get_json(self, path: str) -> tuple[int, object]:
        request = urllib.request.Request(f"{self.url}{path}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, orjson.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, orjson.loads(error.read() or b"null")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def log_lines(self, containing: str) -> list[str]:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return [line for line in text.splitlines() if containing in line]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.log_file.close()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


async def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes | None]],
    partition: int | None = None,
) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    count = 0
    try:
        futures = [
            await producer.send(topic, value=value, key=key, partition=partition)
            for key, value in records
        ]
        for future in futures:
            await future
            count += 1
    finally:
        await producer.stop()
    return count


def event_records(events: Iterable[dict]) -> list[tuple[bytes, bytes]]:
    return [(e["id"].encode(), orjson.dumps(e)) for e in events]


async def read_topic(bootstrap: str, topic: str, timeout_s: float = 5.0) -> list[bytes]:
    """Every record currently on `topic` (all partitions), values only."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic)
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        values: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            positions = [await consumer.position(tp) for tp in tps]
            if all(position >= ends[tp] for position, tp in zip(positions, tps, strict=True)):
                break
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                values.extend(r.value for r in records)
        return values
    finally:
        await consumer.stop()
