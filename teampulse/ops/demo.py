"""`teampulse demo`: the worker plus a realistic simulated feed, until interrupted.

The worker runs as a child process (its pid is recorded where `make down` finds it); the
feed runs here: the roster, four weeks of history, then a live stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from rich.console import Console
from rich.live import Live

from teampulse.ingest.feed import run_simulation
from teampulse.kafka.reading import read_to_end, topic_partitions
from teampulse.kafka.security import kafka_client_options
from teampulse.kafka.sender import KafkaSender
from teampulse.ops.summary import Summary, render, summarise
from teampulse.settings import Settings

__all__ = ["HISTORY_DAYS", "history_complete", "mark_history_complete", "run_demo"]

STACK_DIR = Path(os.environ.get("TEAMPULSE_STACK_DIR", ".stack"))
HISTORY_DAYS = 28
LIVE_RATE = 20.0
WORKER_START_TIMEOUT_S = 120
STATUS_INTERVAL_S = 5.0
DEMO_STATE_TOPIC = "demo-state"
HISTORY_MARK = b"history"
HISTORY_COMPLETE = b"complete"


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bytes(response.read())
    except OSError:
        return None


def _summary(settings: Settings) -> Summary | None:
    """What the worker publishes and what Prometheus alerts on; None while the worker is
    silent. Prometheus being away only empties the alert table."""
    page = _get(f"{_worker_url(settings)}/metrics")
    if page is None:
        return None
    alerts_page = _get(f"{_prometheus_url()}/api/v1/alerts")
    alerts = orjson.loads(alerts_page).get("data", {}).get("alerts", []) if alerts_page else []
    return summarise(page.decode(), alerts)


def _worker_url(settings: Settings) -> str:
    return f"http://{settings.web_host}:{settings.web_port}"


def _prometheus_url() -> str:
    return f"http://127.0.0.1:{os.environ.get('TEAMPULSE_PROMETHEUS_PORT', '9090')}"


def _urls(settings: Settings) -> dict[str, str]:
    worker = _worker_url(settings)
    return {
        "teams page": f"{worker}/",
        "metrics": f"{worker}/metrics",
        "read API": f"{worker}/teams",
        "Prometheus": f"{_prometheus_url()}/alerts",
        "Redis": f"redis-cli HGETALL {settings.redis_prefix}org",
    }


async def history_complete(settings: Settings) -> bool:
    """True when an earlier demo sent the whole history (a second run then only goes live);
    an interrupted one left no mark, so the history is sent again (its event ids make the
    repeats count once)."""
    consumer = AIOKafkaConsumer(**kafka_client_options(settings), group_id=None)
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, settings.topic(DEMO_STATE_TOPIC))
        if not partitions:
            return False
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        marks = [
            record.value
            async for _tp, records in read_to_end(consumer, partitions)
            for record in records
            if record.key == HISTORY_MARK
        ]
        return bool(marks) and marks[-1] == HISTORY_COMPLETE
    finally:
        await consumer.stop()


async def mark_history_complete(settings: Settings) -> None:
    topic = settings.topic(DEMO_STATE_TOPIC)
    admin = AIOKafkaAdminClient(**kafka_client_options(settings))
    await admin.start()
    try:
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(
                [NewTopic(topic, 1, 1, topic_configs={"cleanup.policy": "compact"})]
            )
    finally:
        await admin.close()
    async with KafkaSender(settings) as sender:
        await sender.send_all(topic, [(HISTORY_MARK, HISTORY_COMPLETE)])


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run_demo(settings: Settings, seconds: float | None) -> int:
    # The terminal is for people: the Kafka client's own retries (a leader moving, a broker
    # restarting) are not news; a send that fails for good still raises.
    logging.basicConfig(level=logging.WARNING, format="[demo] %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    # The worker runs in a session of its own (so Ctrl-C reaches it only through us): a closed
    # terminal or a `kill` must stop it too, through the `finally` below.
    for ending in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(ending, _interrupt)
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
    try:
        live_seconds = -1.0 if deadline is None else max(1.0, deadline - time.time())
        feed = asyncio.run(_feed_and_watch(settings, live_seconds, worker))
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


async def _feed_and_watch(settings: Settings, live_seconds: float, worker: subprocess.Popen) -> int:
    history_sent = asyncio.Event()
    days = HISTORY_DAYS
    if await history_complete(settings):
        print(
            "[demo] an earlier demo sent the whole history: going straight to the live feed "
            "(`make wipe` starts afresh)",
            flush=True,
        )
        days = 0
        history_sent.set()

    async def mark_history() -> None:
        await mark_history_complete(settings)
        history_sent.set()

    watcher = asyncio.create_task(_watch(settings, worker, history_sent))
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
            on_history_sent=mark_history if days else None,
        )
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    return 0 if worker.poll() is None else 1


async def _watch(settings: Settings, worker: subprocess.Popen, history_sent: asyncio.Event) -> None:
    """Once the history is on Kafka (its progress bar done), redraw the summary in place on a
    terminal, or print one line per interval when the output is a log."""
    await history_sent.wait()
    console = Console()
    urls = _urls(settings)
    started = time.monotonic()
    live = Live(console=console, auto_refresh=False) if console.is_terminal else None
    if live is None:
        print("[demo] " + "\n[demo] ".join(f"{k}: {v}" for k, v in urls.items()), flush=True)
    with live or contextlib.nullcontext():
        while True:
            if worker.poll() is not None:
                console.print(
                    f"[demo] the worker exited with {worker.returncode}; see "
                    f"{STACK_DIR / 'logs' / 'worker.log'}"
                )
                return
            summary = await asyncio.to_thread(_summary, settings)
            if summary is None:
                if time.monotonic() - started > WORKER_START_TIMEOUT_S:
                    console.print("[demo] the worker does not answer yet; see its log")
            elif live is not None:
                live.update(render(summary, urls), refresh=True)
            else:
                firing = sum(a.state == "firing" for a in summary.alerts)
                print(
                    f"[demo] {len(summary.teams)} teams published, {summary.accepted:,} events "
                    f"accepted, org engagement (7d) {_share(summary.org_engagement)}, "
                    f"{firing} alerts firing",
                    flush=True,
                )
            await asyncio.sleep(STATUS_INTERVAL_S)


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"
