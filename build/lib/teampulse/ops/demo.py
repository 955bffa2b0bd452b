"""`teampulse demo`: the worker plus a realistic simulated feed, until interrupted.

The worker runs as a child process (its pid is recorded where `make down` finds it); the
feed runs here: the roster, four weeks of history, then a live stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from teampulse.ingest.feed import run_simulation
from teampulse.kafka.reading import topic_partitions
from teampulse.settings import Settings

__all__ = ["HISTORY_DAYS", "run_demo"]

STACK_DIR = Path(os.environ.get("TEAMPULSE_STACK_DIR", ".stack"))
HISTORY_DAYS = 28
LIVE_RATE = 20.0
WORKER_START_TIMEOUT_S = 120
STATUS_INTERVAL_S = 10.0


def _status(metrics_url: str) -> str | None:
    """One line on what the worker publishes, or None while it does not answer."""
    try:
        with urllib.request.urlopen(metrics_url, timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    teams = accepted = 0
    engagement = None
    for line in text.splitlines():
        if line.startswith("teampulse_team_info{"):
            teams += 1
        elif line.startswith("teampulse_events_total{") and 'outcome="accepted"' in line:
            accepted += int(float(line.rsplit(" ", 1)[1]))
        elif line.startswith('teampulse_org_engagement_score{window="7d"}'):
            engagement = float(line.rsplit(" ", 1)[1])
    score = f"{engagement:.0%}" if engagement is not None else "n/a"
    return f"{teams} teams published, {accepted:,} events accepted, org engagement (7d) {score}"


async def _history_present(settings: Settings) -> bool:
    """True when an earlier demo already sent the history (a second run only goes live)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, settings.topic("events"))
        if not partitions:
            return False
        return any(end > 0 for end in (await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


def _banner(settings: Settings) -> str:
    metrics = f"http://{settings.web_host}:{settings.web_port}/metrics"
    prom_port = os.environ.get("TEAMPULSE_PROMETHEUS_PORT", "9090")
    return "\n".join(
        [
            "",
            "TeamPulse demo is running. Where to look:",
            f"  gauges (Prometheus format)  {metrics}",
            f"  read API                    http://{settings.web_host}:{settings.web_port}/teams",
            f"  Prometheus UI               http://127.0.0.1:{prom_port}/graph"
            "?g0.expr=teampulse_team_engagement_score",
            f"  Redis                       redis-cli --scan --pattern '{settings.redis_prefix}*'",
            f"                              redis-cli HGETALL {settings.redis_prefix}org",
            f"  change notifications        redis-cli XREAD COUNT 5 STREAMS "
            f"{settings.redis_prefix}updates 0",
            "Stop with Ctrl-C.",
            "",
        ]
    )


def run_demo(settings: Settings, seconds: float | None) -> int:
    (STACK_DIR / "pids").mkdir(parents=True, exist_ok=True)
    (STACK_DIR / "logs").mkdir(parents=True, exist_ok=True)
    log_path = STACK_DIR / "logs" / "worker.log"
    with open(log_path, "ab") as worker_log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "teampulse.cli", "worker"],
            stdout=worker_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (STACK_DIR / "pids" / "worker.pid").write_text(str(worker.pid))
    print(f"[demo] worker started (pid {worker.pid}, log {log_path})", flush=True)
    started = time.time()
    deadline = None if seconds is None else started + seconds
    metrics_url = f"http://{settings.web_host}:{settings.web_port}/metrics"
    try:
        live_seconds = -1.0 if deadline is None else max(1.0, deadline - time.time())
        feed = asyncio.run(_feed_and_watch(settings, live_seconds, metrics_url, worker))
        return feed
    except KeyboardInterrupt:
        print("\n[demo] interrupted", flush=True)
        return 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        (STACK_DIR / "pids" / "worker.pid").unlink(missing_ok=True)
        print("[demo] worker stopped", flush=True)


async def _feed_and_watch(
    settings: Settings, live_seconds: float, metrics_url: str, worker: subprocess.Popen
) -> int:
    watcher = asyncio.create_task(_watch(settings, metrics_url, worker))
    days = HISTORY_DAYS
    if await _history_present(settings):
        print(
            "[demo] the history of an earlier demo is on Kafka: going straight to the live "
            "feed (`make wipe` starts afresh)",
            flush=True,
        )
        days = 0
    try:
        await run_simulation(
            settings,
            days=days,
            live_seconds=live_seconds,
            rate=LIVE_RATE,
            people=240,
            teams=24,
            seed=7,
            faults=True,
        )
    finally:
        watcher.cancel()
    return 0 if worker.poll() is None else 1


async def _watch(settings: Settings, metrics_url: str, worker: subprocess.Popen) -> None:
    shown_banner = False
    waited = 0.0
    while True:
        await asyncio.sleep(STATUS_INTERVAL_S)
        waited += STATUS_INTERVAL_S
        if worker.poll() is not None:
            print(
                f"[demo] the worker exited with {worker.returncode}; see .stack/logs/worker.log",
                flush=True,
            )
            return
        status = await asyncio.to_thread(_status, metrics_url)
        if status is not None and not status.startswith("0 teams") and not shown_banner:
            print(_banner(settings), flush=True)
            shown_banner = True
        if status is not None:
            print(f"[demo] {status}", flush=True)
        elif waited > WORKER_START_TIMEOUT_S:
            print("[demo] the worker does not answer yet; see .stack/logs/worker.log", flush=True)
