"""The demo organisation, published in a real Redis by the real writer, for the tests of what
reads published figures back (the web app, notifications, the digest).

Five weeks of the demo's events go through the reference model: the last instant's snapshot
through `RedisWriter` (hashes, index sets, today's history), every earlier day through
`add_past_days`, as `teampulse demo` does. No worker is needed: what these tests check starts
at Redis.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from teampulse.ops.demo_history import daily_history_entries, latest_snapshot
from teampulse.settings import Settings
from teampulse.simulation.demo import demo_organisation
from teampulse.sinks.redis_writer import DAY_S, RedisWriter, add_past_days
from tests.integration.worker_harness import free_port, wait_for

HISTORY_DAYS = 35
SEED = 7


@dataclass(frozen=True)
class PublishedOrg:
    settings: Settings
    dropping: str  # the team that dropped
    small_teams: tuple[str, ...]  # below the minimum group size: never published
    as_of: float


def publish_demo_org(settings: Settings, now: float | None = None) -> PublishedOrg:
    """Write the demo organisation's published figures under settings.redis_prefix."""
    now = time.time() if now is None else now
    org, dropping = demo_organisation(SEED, HISTORY_DAYS)
    start = now - HISTORY_DAYS * DAY_S
    entries = list(daily_history_entries(settings, org, start, now, SEED))
    snapshot = latest_snapshot(settings, org, start, now, SEED)

    async def write() -> None:
        writer = RedisWriter(settings)
        await writer.start()
        writer.submit(snapshot)
        await writer.stop()
        client = Redis.from_url(settings.redis_url)
        try:
            await add_past_days(client, entries)
        finally:
            await client.aclose()

    asyncio.run(write())
    small = tuple(t.name for t in org.teams if org.active_size(t.name) < settings.min_group_size)
    return PublishedOrg(settings, dropping, small, now)


@contextmanager
def teampulse_server(command: str, env: Mapping[str, str], port: int, log: Path) -> Iterator[str]:
    """`teampulse COMMAND` as its own process on a loopback port; yields its URL."""
    url = f"http://127.0.0.1:{port}"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "teampulse.cli", command],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: _answers(f"{url}/healthz"), 30, f"teampulse {command} to answer")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


__all__ = ["PublishedOrg", "free_port", "publish_demo_org", "teampulse_server"]
