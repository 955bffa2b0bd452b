"""`teampulse demo`: the worker, the L&D web app and a simulated feed, until interrupted.

The worker and the web app run as child processes (their pids are recorded where
`make down` finds them); the feed runs here: the roster, five weeks of history (so every
baseline exists), the daily history of those weeks, then a live stream. The organisation is
the demo's (teampulse/simulation/demo.py): its roll-ups publish, and its largest team has
dropped eight days ago, so its alert fires in the first minutes. The web app's URL
is the first line printed. `teampulse notify` runs too, posting to a local stand-in for a
Teams channel (teampulse/ops/demo_inbox.py): the card L&D would get shows in the summary.

With `tenants` (`DEMO_TENANTS=1 make demo`), the same demo runs as tenant `acme` of a tenants
file the demo writes (docs/tenancy.md), beside a second, small organisation, tenant `globex`,
fed the same way: the web app shows each tenant's figures to its read token, and Grafana's
`tenant` variable switches between two real organisations. The first minutes are the same
(acme's largest team dropped, its alert fires).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from redis.exceptions import RedisError
from rich.console import Console
from rich.live import Live

from teampulse.ingest.feed import run_simulation
from teampulse.ingest.produce import TenantKeying
from teampulse.kafka.reading import read_to_end, topic_partitions
from teampulse.kafka.security import kafka_client_options
from teampulse.kafka.sender import KafkaSender
from teampulse.ops.demo_history import write_daily_history
from teampulse.ops.demo_inbox import INBOX_PATH, start_inbox
from teampulse.ops.summary import Summary, firing_summary, pending_summary, render, summarise
from teampulse.ops.tenants import write_raw
from teampulse.settings import Settings
from teampulse.simulation import Organisation, build_organisation
from teampulse.simulation.demo import DROP_DAYS_AGO, demo_organisation
from teampulse.sinks.redis_connection import redis_client
from teampulse.sinks.redis_writer import DAY_S, RedisKeys
from teampulse.web.model import attention
from teampulse.web.reading import fires_in_s, read_published

__all__ = ["HISTORY_DAYS", "history_complete", "mark_history_complete", "run_demo"]

STACK_DIR = Path(os.environ.get("TEAMPULSE_STACK_DIR", ".stack"))
HISTORY_DAYS = 35
DEMO_SEED = 7
# Events per second of the live feed: enough to see the counts move, few enough that the live
# minutes do not swamp the 20 hours each team is compared with its usual on (at 20/s, the
# dropping team's two remaining members alone took it from −87 % to −66 % in five minutes).
LIVE_RATE = 0.5
WORKER_START_TIMEOUT_S = 120
STATUS_INTERVAL_S = 5.0
DEMO_STATE_TOPIC = "demo-state"
HISTORY_MARK = b"history"
TENANTS_HISTORY_MARK = b"history-tenants"  # a demo with tenants sends its own history
HISTORY_COMPLETE = b"complete"
# With tenants: the demo's organisation is acme's; globex is a second, small one, its live
# feed slower, so the first minutes are acme's as without tenants.
MAIN_TENANT, SECOND_TENANT = "acme", "globex"
SECOND_PEOPLE, SECOND_TEAMS, SECOND_SEED = 48, 5, 11
SECOND_LIVE_RATE = 0.2
TENANTS_FILE_NAME = "demo-tenants.yaml"


def demo_tenants() -> dict[str, Any]:
    """The demo's tenants file: a local demo's secrets, printed for the reader to log in."""
    return {
        "tenants": {
            tenant: {
                "pseudonym_secret": f"{tenant}-demo-pseudonym-key",
                "credentials": [f"{tenant}-lms:{tenant}-demo-secret"],
                "read_tokens": [read_token(tenant)],
                **extra,
            }
            for tenant, extra in (
                (MAIN_TENANT, {"organisation": "Acme Corp"}),
                # globex shows a tenant's own settings at work: its alerts carry its route
                (
                    SECOND_TENANT,
                    {
                        "organisation": "Globex",
                        "alert_route": "l-and-d-globex",
                        "min_group_size": 3,
                    },
                ),
            )
        }
    }


def read_token(tenant: str) -> str:
    return f"{tenant}-demo-read-token"


def second_organisation() -> Organisation:
    """globex: one division of two departments, five teams of about ten."""
    return build_organisation(
        SECOND_SEED, people=SECOND_PEOPLE, teams=SECOND_TEAMS, departments=2, divisions=1
    )


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bytes(response.read())
    except OSError:
        return None


def _summary(settings: Settings, main_tenant: str | None = None) -> Summary | None:
    """What the worker publishes and what Prometheus alerts on; None while the worker is
    silent. Prometheus being away only empties the alert table."""
    page = _get(f"{_worker_url(settings)}/metrics")
    if page is None:
        return None
    alerts_page = _get(f"{_prometheus_url()}/api/v1/alerts")
    alerts = orjson.loads(alerts_page).get("data", {}).get("alerts", []) if alerts_page else []
    rules_page = _get(f"{_prometheus_url()}/api/v1/rules?type=alert") if alerts else None
    durations = {
        rule["name"]: float(rule.get("duration", 0))
        for group in (
            orjson.loads(rules_page).get("data", {}).get("groups", []) if rules_page else []
        )
        for rule in group.get("rules", [])
    }
    now = time.time()
    for alert in alerts:  # when a pending alert fires, if it holds
        name = alert.get("labels", {}).get("alertname")
        alert["fires_in"] = fires_in_s(alert.get("activeAt", ""), durations.get(name), now)
    return summarise(page.decode(), alerts, main_tenant)


def _worker_url(settings: Settings) -> str:
    return f"http://{settings.web_host}:{settings.web_port}"


def _prometheus_url() -> str:
    return f"http://127.0.0.1:{os.environ.get('TEAMPULSE_PROMETHEUS_PORT', '9090')}"


def _web_settings(settings: Settings) -> Settings:
    """The web app reads the stack's Prometheus and Alertmanager, wherever they were moved."""
    return settings.model_copy(
        update={
            "prometheus_url": _prometheus_url(),
            "alertmanager_url": "http://127.0.0.1:"
            + os.environ.get("TEAMPULSE_ALERTMANAGER_PORT", "9093"),
        }
    )


def _urls(settings: Settings, tenant: str | None = None) -> dict[str, str]:
    worker = _worker_url(settings)
    org = RedisKeys(settings.redis_prefix).of_tenant(tenant).scope_hash("org", "")
    return {
        "web app": f"{settings.webapp_url}/",
        "teams page": f"{worker}/",
        "metrics": f"{worker}/metrics",
        "read API": f"{worker}/teams",
        "Prometheus": f"{_prometheus_url()}/alerts",
        "Redis": f"redis-cli HGETALL {org}",
    }


async def history_complete(settings: Settings, mark: bytes = HISTORY_MARK) -> bool:
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
            if record.key == mark
        ]
        return bool(marks) and marks[-1] == HISTORY_COMPLETE
    finally:
        await consumer.stop()


async def mark_history_complete(settings: Settings, mark: bytes = HISTORY_MARK) -> None:
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
        await sender.send_all(topic, [(mark, HISTORY_COMPLETE)])


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run_demo(settings: Settings, seconds: float | None, tenants: bool = False) -> int:
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
    print(f"[demo] open {settings.webapp_url}/ — the L&D web app", flush=True)
    if tenants:
        settings = _with_demo_tenants(settings)
    web_settings = _web_settings(settings)
    web_env = {
        **os.environ,
        "TEAMPULSE_PROMETHEUS_URL": web_settings.prometheus_url,
        "TEAMPULSE_ALERTMANAGER_URL": web_settings.alertmanager_url,
    }
    # The inbox's socket is bound here, so `notify` is told its port before the loop serves it.
    inbox = socket.create_server(("127.0.0.1", 0))
    notify_env = {
        **os.environ,
        "TEAMPULSE_NOTIFY_TEAMS_WEBHOOK_URL": (
            f"http://127.0.0.1:{inbox.getsockname()[1]}{INBOX_PATH}"
        ),
    }
    worker = _child("worker", os.environ)
    web = _child("web", web_env)
    notify = _child("notify", notify_env)
    started = time.time()
    deadline = None if seconds is None else started + seconds
    try:
        live_seconds = -1.0 if deadline is None else max(1.0, deadline - time.time())
        feed = asyncio.run(_feed_and_watch(settings, live_seconds, worker, inbox, tenants))
        return feed
    except KeyboardInterrupt:
        print("\n[demo] interrupted", flush=True)
        return 0
    finally:
        inbox.close()
        for name, child in (("notify", notify), ("web", web), ("worker", worker)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
            (STACK_DIR / "pids" / f"{name}.pid").unlink(missing_ok=True)
            print(f"[demo] {name} stopped", flush=True)


def _with_demo_tenants(settings: Settings) -> Settings:
    """Writes the demo's tenants file where the stack keeps its data, for this process and
    its children (the worker, the web app), and says how to log in as each tenant."""
    path = (STACK_DIR / TENANTS_FILE_NAME).resolve()
    write_raw(path, demo_tenants())
    os.environ["TEAMPULSE_TENANTS_FILE"] = str(path)
    print(f"[demo] two tenants ({path}): log in to the web app as", flush=True)
    for tenant in (MAIN_TENANT, SECOND_TENANT):
        print(f"[demo]   user {tenant}, password {read_token(tenant)}", flush=True)
    return settings.model_copy(update={"tenants_file": path})


def _child(command: str, env: Mapping[str, str]) -> subprocess.Popen:
    """`teampulse COMMAND` in a session of its own, its pid where `make down` finds it."""
    log_path = STACK_DIR / "logs" / f"{command}.log"
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "teampulse.cli", command],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(env),
        )
    (STACK_DIR / "pids" / f"{command}.pid").write_text(str(child.pid))
    print(f"[demo] {command} started (pid {child.pid}, log {log_path})", flush=True)
    return child


async def _feed_and_watch(
    settings: Settings,
    live_seconds: float,
    worker: subprocess.Popen,
    inbox: socket.socket,
    tenants: bool = False,
) -> int:
    history_sent = asyncio.Event()
    received: list[list[str]] = []
    kept_in = STACK_DIR / "logs" / "notifications.jsonl"
    terminal = Console().is_terminal

    def notified(lines: list[str]) -> None:
        received.append(lines)
        if not terminal:  # on a terminal the summary shows the latest message
            print("[demo] Teams message from teampulse notify:\n    " + "\n    ".join(lines))

    inbox_runner = await start_inbox(inbox, kept_in, notified)
    print(
        f"[demo] notifications: Alertmanager's L&D alerts become Teams cards, shown here and "
        f"kept in {kept_in}",
        flush=True,
    )
    days = HISTORY_DAYS
    mark = TENANTS_HISTORY_MARK if tenants else HISTORY_MARK
    if await history_complete(settings, mark):
        print(
            "[demo] an earlier demo sent the whole history: going straight to the live feed "
            "(`make wipe` starts afresh)",
            flush=True,
        )
        days = 0
        history_sent.set()

    org, dropping = demo_organisation(DEMO_SEED, HISTORY_DAYS)
    second = second_organisation() if tenants else None
    main_tenant = MAIN_TENANT if tenants else None
    now = time.time()

    async def daily_history() -> None:
        client = redis_client(settings)
        start = now - HISTORY_DAYS * DAY_S
        try:
            added = await write_daily_history(
                client, settings, org, start, now, DEMO_SEED, main_tenant
            )
            if second is not None:
                added += await write_daily_history(
                    client, settings, second, start, now, SECOND_SEED, SECOND_TENANT
                )
        finally:
            await client.aclose()
        if not Console().is_terminal:
            print(f"[demo] daily history of the past {HISTORY_DAYS} days: {added} entries")

    background: list[asyncio.Task[None]] = []

    async def mark_history() -> None:
        await mark_history_complete(settings, mark)
        history_sent.set()
        # beside the live feed: the charts fill in while the first figures come
        background.append(asyncio.create_task(daily_history()))

    print(
        f"[demo] {dropping} (the largest team) dropped {DROP_DAYS_AGO:.0f} days ago: watch it on "
        f"{settings.webapp_url}/teams/{dropping}",
        flush=True,
    )
    watcher = asyncio.create_task(_watch(settings, worker, history_sent, received, main_tenant))
    main_feed = run_simulation(
        settings,
        days=days,
        live_seconds=live_seconds,
        rate=LIVE_RATE,
        people=240,
        teams=24,
        seed=DEMO_SEED,
        faults=True,
        on_history_sent=mark_history if days else None,
        org=org,
        now=now,
        tenant=TenantKeying.of(settings, MAIN_TENANT) if tenants else None,
    )
    try:
        if second is None:
            await main_feed
        else:
            second_feed = run_simulation(
                settings,
                days=days,
                live_seconds=live_seconds,
                rate=SECOND_LIVE_RATE,
                people=SECOND_PEOPLE,
                teams=SECOND_TEAMS,
                seed=SECOND_SEED,
                faults=False,
                org=second,
                now=now,
                tenant=TenantKeying.of(settings, SECOND_TENANT),
            )
            await asyncio.gather(main_feed, second_feed)
    finally:
        for task in [watcher, *background]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await inbox_runner.cleanup()
    return 0 if worker.poll() is None else 1


async def _watch(
    settings: Settings,
    worker: subprocess.Popen,
    history_sent: asyncio.Event,
    received: list[list[str]],
    main_tenant: str | None = None,
) -> None:
    """Once the history is on Kafka (its progress bar done), redraw the summary in place on a
    terminal, or print one line per interval when the output is a log."""
    await history_sent.wait()
    console = Console()
    urls = _urls(settings, main_tenant)
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
            summary = await asyncio.to_thread(_summary, settings, main_tenant)
            if summary is not None:
                summary.attention = await _attention(settings, main_tenant)
                summary.notification = received[-1] if received else []
            if summary is None:
                if time.monotonic() - started > WORKER_START_TIMEOUT_S:
                    console.print("[demo] the worker does not answer yet; see its log")
            elif live is not None:
                live.update(render(summary, urls), refresh=True)
            else:
                firing = [a for a in summary.alerts if a.state == "firing"]
                pending = [a for a in summary.alerts if a.state == "pending"]
                now = f" ({firing_summary(firing)})" if firing else ""
                soon = f", {len(pending)} pending ({pending_summary(pending)})" if pending else ""
                first = (
                    f"; {summary.reading_words()}"
                    if summary.catching_up
                    else f"; needs attention: {summary.attention[0][0]} ({summary.attention[0][1]})"
                    if summary.attention
                    else ""
                )
                print(
                    f"[demo] {len(summary.teams)} teams published, {summary.accepted:,} events "
                    f"accepted, org engagement (7d) {_share(summary.org_engagement)}, "
                    f"{len(firing)} firing{now}{soon}{first}",
                    flush=True,
                )
            await asyncio.sleep(STATUS_INTERVAL_S)


async def _attention(settings: Settings, tenant: str | None) -> list[tuple[str, str]]:
    """The teams that need attention, most urgent first, with the reasons the web app gives;
    empty while Redis does not answer (the rest of the summary still shows)."""
    client = redis_client(settings, socket_timeout=2.0)
    keys = RedisKeys(settings.redis_prefix).of_tenant(tenant)
    try:
        published = await read_published(client, keys, days=1)
    except RedisError:
        return []
    finally:
        await client.aclose()
    ranked = sorted(
        ((attention(team), team) for team in published.teams),
        key=lambda pair: (-pair[0].level, pair[1].change or 0.0, pair[1].key),
    )
    return [(team.key, "; ".join(need.reasons)) for need, team in ranked if need.needed]


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"
