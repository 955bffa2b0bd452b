"""The Redis writer against a real Redis: the documented keys and fields, idempotent
replays, ordering by as_of, withdrawals, history, notifications, and a Redis outage.

Redis comes from the shared `redis_url` fixture (the local stack), or from
TEAMPULSE_REDIS_URL when that is set (any Redis 7 will do). Every test writes under its own
key prefix. The outage test runs a dedicated redis-server of its own on a free port.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from teampulse.gauges.model import InitiativeSnapshot, OrgSnapshot, ScopeSnapshot
from teampulse.settings import Settings
from teampulse.sinks.redis_writer import RedisWriter
from teampulse.streams.health import PipelineHealth

pytestmark = pytest.mark.integration

AS_OF = 1772452800.0  # 2026-03-02T12:00:00Z
DAY = 1772409600  # 2026-03-02T00:00:00Z
WRITTEN_AT = 1772452805.5
DW = "digital-workplace"


def adoption(ratio: float | None = 0.25) -> InitiativeSnapshot:
    return InitiativeSnapshot(
        {"none": 1, "awareness": 2, "desire": 1, "knowledge": 1, "ability": 1, "reinforcement": 1},
        members=7,
        ratio=ratio,
        index=0.5,
    )


def team(
    name: str = "alpha", as_of: float = AS_OF, posts: float = 3.0, **overrides: object
) -> ScopeSnapshot:
    fields: dict = {
        "windowed": {
            "1d": {"engagement_score": 0.42, "posts": posts, "reply_ratio": 0.5},
            "7d": {"engagement_score": 0.5, "posts": 12.0},
        },
        "plain": {"members": 7.0},
        "initiatives": {DW: adoption()},
        "info": {"department": "eng", "division": "tech"},
    }
    fields.update(overrides)
    return ScopeSnapshot("team", name, as_of, **fields)


def teams(*snapshots: ScopeSnapshot) -> OrgSnapshot:
    return OrgSnapshot(snapshots[0].as_of, teams={s.key: s for s in snapshots})


@pytest.fixture
def redis_server_url(request: pytest.FixtureRequest) -> str:
    return os.environ.get("TEAMPULSE_REDIS_URL") or request.getfixturevalue("redis_url")


@pytest.fixture
async def redis(redis_server_url: str, unique_topic_prefix: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server_url, decode_responses=True)
    yield client
    async for key in client.scan_iter(match=f"{unique_topic_prefix}*", count=500):
        await client.delete(key)
    await client.aclose()


WriterFactory = Callable[..., Awaitable[RedisWriter]]


@pytest.fixture
async def make_writer(
    redis_server_url: str, unique_topic_prefix: str
) -> AsyncIterator[WriterFactory]:
    writers: list[RedisWriter] = []

    async def make(**settings: object) -> RedisWriter:
        config = Settings(redis_url=redis_server_url, redis_prefix=unique_topic_prefix, **settings)  # type: ignore[arg-type]
        writer = RedisWriter(config, clock=lambda: WRITTEN_AT)
        await writer.start()
        writers.append(writer)
        return writer

    yield make
    for writer in writers:
        await writer.stop()


async def test_a_team_is_written_as_documented(redis, make_writer, unique_topic_prefix):
    p = unique_topic_prefix
    writer = await make_writer()
    hints = redis.pubsub()
    await hints.subscribe(f"{p}updates")
    await hints.get_message(timeout=1.0)  # the subscribe confirmation

    writer.submit(teams(team()))
    assert await writer.flush()

    assert await redis.hgetall(f"{p}team:alpha") == {
        "engagement_score:1d": "0.42",
        "posts:1d": "3",
        "reply_ratio:1d": "0.5",
        "engagement_score:7d": "0.5",
        "posts:7d": "12",
        "members": "7",
        "department": "eng",
        "division": "tech",
        "as_of": "1772452800",
        "updated_at": "1772452805.5",
    }
    assert await redis.hgetall(f"{p}team:alpha:initiative:{DW}") == {
        "members:none": "1",
        "members:awareness": "2",
        "members:desire": "1",
        "members:knowledge": "1",
        "members:ability": "1",
        "members:reinforcement": "1",
        "members": "7",
        "ratio": "0.25",
        "index": "0.5",
        "as_of": "1772452800",
        "updated_at": "1772452805.5",
    }
    assert await redis.smembers(f"{p}team:alpha:initiatives") == {DW}
    assert await redis.smembers(f"{p}teams") == {"alpha"}
    history = await redis.zrange(f"{p}team:alpha:history", 0, -1, withscores=True)
    assert [(json.loads(member), score) for member, score in history] == [
        (
            {
                "day": "2026-03-02",
                "as_of": 1772452800,
                "gauges": {
                    "engagement_score:1d": 0.42,
                    "posts:1d": 3,
                    "reply_ratio:1d": 0.5,
                    "members": 7,
                },
                "adoption": {DW: 0.25},
            },
            DAY,
        )
    ]
    assert 0 < await redis.ttl(f"{p}team:alpha:history") <= 90 * 86400
    entries = await redis.xrange(f"{p}updates")
    assert [fields for _id, fields in entries] == [
        {"scope": "team", "key": "alpha", "as_of": "1772452800", "change": "updated"}
    ]
    hint = await hints.get_message(timeout=2.0)
    assert hint is not None and hint["data"] == "team:alpha"
    await hints.aclose()


async def test_rollups_are_written_under_their_scope_with_index_sets(
    redis, make_writer, unique_topic_prefix
):
    p = unique_topic_prefix
    writer = await make_writer()

    writer.submit(
        OrgSnapshot(
            AS_OF,
            rollups=[
                ScopeSnapshot(
                    "department",
                    "eng",
                    AS_OF,
                    windowed={"7d": {"posts": 30.0}},
                    info={"division": "tech"},
                ),
                ScopeSnapshot("division", "tech", AS_OF, plain={"members": 40.0}),
                ScopeSnapshot(
                    "org",
                    "org",
                    AS_OF,
                    plain={"members": 90.0},
                    initiatives={DW: adoption(ratio=None)},
                ),
            ],
        )
    )
    assert await writer.flush()

    assert await redis.hgetall(f"{p}department:eng") == {
        "posts:7d": "30",
        "division": "tech",
        "as_of": "1772452800",
        "updated_at": "1772452805.5",
    }
    assert await redis.hgetall(f"{p}division:tech") == {
        "members": "40",
        "as_of": "1772452800",
        "updated_at": "1772452805.5",
    }
    assert await redis.hgetall(f"{p}org") == {
        "members": "90",
        "as_of": "1772452800",
        "updated_at": "1772452805.5",
    }
    assert "ratio" not in await redis.hgetall(f"{p}org:initiative:{DW}")
    assert await redis.hget(f"{p}org:initiative:{DW}", "index") == "0.5"
    assert await redis.smembers(f"{p}departments") == {"eng"}
    assert await redis.smembers(f"{p}divisions") == {"tech"}
    assert [(f["scope"], f["key"]) for _id, f in await redis.xrange(f"{p}updates")] == [
        ("department", "eng"),
        ("division", "tech"),
        ("org", "org"),
    ]


async def test_replaying_the_same_state_rewrites_the_same_values_and_notifies_nobody(
    redis, make_writer, unique_topic_prefix
):
    p = unique_topic_prefix
    writer = await make_writer()
    writer.submit(teams(team()))
    await writer.flush()
    before = await redis.hgetall(f"{p}team:alpha")

    writer.submit(teams(team()))  # the same state again, then as a restarted worker would
    await writer.flush()
    restarted = await make_writer()
    restarted.submit(teams(team()))
    await restarted.flush()

    assert await redis.hgetall(f"{p}team:alpha") == before
    assert await redis.xlen(f"{p}updates") == 1
    assert await redis.zcard(f"{p}team:alpha:history") == 1


async def test_a_changed_gauge_is_notified_and_a_gauge_that_became_undefined_disappears(
    redis, make_writer, unique_topic_prefix
):
    p = unique_topic_prefix
    writer = await make_writer()
    writer.submit(teams(team()))
    await writer.flush()

    later = team(
        as_of=AS_OF + 60,
        windowed={
            "1d": {"engagement_score": 0.42, "posts": 4.0},
            "7d": {"engagement_score": 0.5, "posts": 13.0},
        },
    )
    writer.submit(teams(later))
    await writer.flush()

    stored = await redis.hgetall(f"{p}team:alpha")
    assert "reply_ratio:1d" not in stored
    assert (stored["posts:1d"], stored["posts:7d"], stored["as_of"]) == ("4", "13", "1772452860")
    assert [f["as_of"] for _id, f in await redis.xrange(f"{p}updates")] == [
        "1772452800",
        "1772452860",
    ]


async def test_a_new_as_of_with_the_same_gauges_updates_as_of_without_a_notification(
    redis, make_writer, unique_topic_prefix
):
    p = unique_topic_prefix
    writer = await make_writer()
    writer.submit(teams(team()))
    await writer.flush()

    writer.submit(teams(team(as_of=AS_OF + 60)))
    await writer.flush()

    assert await redis.hget(f"{p}team:alpha", "as_of") == "1772452860"
    assert await redis.xlen(f"{p}updates") == 1


async def test_an_older_state_never_overwrites_a_newer_one(redis, make_writer, unique_topic_prefix):
    p = unique_topic_prefix
    new_owner = await make_writer()
    new_owner.submit(teams(team(as_of=AS_OF + 60, posts=9.0)))
    await new_owner.flush()

    # The previous owner of the team's partition flushes its last, older state late.
    old_owner = await make_writer()
    old_owner.submit(teams(team(as_of=AS_OF, posts=3.0)))
    await old_owner.flush()

    assert await redis.hget(f"{p}team:alpha", "posts:1d") == "9"
    assert await redis.hget(f"{p}team:alpha", "as_of") == "1772452860"
    assert await redis.xlen(f"{p}updates") == 1


async def test_an_initiative_no_longer_in_the_snapshot_is_deleted(
    redis, make_writer, unique_topic_prefix
):
    p = unique_topic_prefix
    writer = await make_writer()
    writer.submit(teams(team(initiatives={DW: adoption(), "agile": adoption()})))
    await writer.flush()

    writer.submit(teams(team(as_of=AS_OF + 60, initiatives={"agile": adoption()})))
    await writer.flush()

    assert await redis.exists(f"{p}team:alpha:initiative:{DW}") == 0
    assert await redis.exists(f"{p}team:alpha:initiative:agile") == 1
    assert await redis.smembers(f"{p}team:alpha:initiatives") == {"agile"}
    assert await redis.xlen(f"{p}updates") == 2


async def test_history_keeps_one_member_per_day_for_the_configured_days(
    redis, make_writer, unique_topic_prefix
):
    p = unique_topic_prefix
    writer = await make_writer(redis_history_days=2)

    for as_of, posts in [
        (DAY + 10 * 3600, 1.0),
        (DAY + 18 * 3600, 2.0),  # day 1, twice
        (DAY + 86400 + 3600, 5.0),
        (DAY + 2 * 86400 + 3600, 7.0),
    ]:
        writer.submit(teams(team(as_of=as_of, posts=posts)))
        await writer.flush()

    history = await redis.zrange(f"{p}team:alpha:history", 0, -1, withscores=True)
    assert [
        (json.loads(m)["day"], json.loads(m)["gauges"]["posts:1d"], score) for m, score in history
    ] == [("2026-03-03", 5, DAY + 86400), ("2026-03-04", 7, DAY + 2 * 86400)]


async def test_a_withdrawn_team_is_removed_and_an_older_state_cannot_bring_it_back(
    redis, make_writer, unique_topic_prefix
):
    p = unique_topic_prefix
    writer = await make_writer()
    writer.submit(teams(team()))
    await writer.flush()

    writer.withdraw("team", "alpha", AS_OF + 60)  # fell below the minimum group size
    await writer.flush()

    assert (
        await redis.exists(
            f"{p}team:alpha", f"{p}team:alpha:initiative:{DW}", f"{p}team:alpha:initiatives"
        )
        == 0
    )
    assert await redis.smembers(f"{p}teams") == set()
    assert [f["change"] for _id, f in await redis.xrange(f"{p}updates")] == ["updated", "withdrawn"]

    late = await make_writer()  # a worker that lost the team flushes an older state
    late.submit(teams(team(as_of=AS_OF + 30)))
    await late.flush()
    assert await redis.exists(f"{p}team:alpha") == 0

    writer.submit(teams(team(as_of=AS_OF + 120)))  # big enough again
    await writer.flush()
    assert await redis.hget(f"{p}team:alpha", "as_of") == "1772452920"
    assert await redis.smembers(f"{p}teams") == {"alpha"}
    assert await redis.exists(f"{p}team:alpha:withdrawn") == 0


async def test_the_update_stream_is_bounded(redis, make_writer, unique_topic_prefix):
    p = unique_topic_prefix
    writer = await make_writer(redis_stream_maxlen=10)

    writer.submit(teams(*(team(f"team-{i:03d}") for i in range(300))))
    await writer.flush()

    # MAXLEN ~ trims whole stream nodes (100 entries each by default): near 10, never 300.
    assert await redis.xlen(f"{p}updates") <= 10 + 100
    assert await redis.scard(f"{p}teams") == 300


async def test_the_writer_flushes_on_its_own_interval(redis, make_writer, unique_topic_prefix):
    writer = await make_writer(redis_flush_interval_s=0.1)

    writer.submit(teams(team()))

    deadline = time.monotonic() + 3.0
    while await redis.hget(f"{unique_topic_prefix}team:alpha", "as_of") is None:
        assert time.monotonic() < deadline, "the background flush never wrote the team"
        await asyncio.sleep(0.05)
    assert writer.pending_keys == 0


async def test_stop_writes_what_is_still_pending(redis, redis_server_url, unique_topic_prefix):
    settings = Settings(
        redis_url=redis_server_url, redis_prefix=unique_topic_prefix, redis_flush_interval_s=60
    )
    writer = RedisWriter(settings)
    await writer.start()

    writer.submit(teams(team()))
    await writer.stop()  # long before the next scheduled flush

    assert await redis.hget(f"{unique_topic_prefix}team:alpha", "as_of") == "1772452800"


# --- Redis outage --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"redis-server did not start on port {port}")
        time.sleep(0.05)


@pytest.fixture
def own_redis() -> Iterator[object]:
    if shutil.which("redis-server") is None:
        pytest.skip("the outage test needs the redis-server binary on PATH")
    port = free_port()
    servers = [start_redis(port)]

    class OwnRedis:
        url = f"redis://127.0.0.1:{port}/0"

        def pause(self) -> None:  # hung: connections open, no answers
            servers[-1].send_signal(signal.SIGSTOP)

        def crash(self) -> None:  # gone, and its (in-memory) data with it
            servers[-1].kill()
            servers[-1].wait()

        def restart(self) -> None:
            servers.append(start_redis(port))

    yield OwnRedis()
    for server in servers:
        if server.poll() is None:
            server.send_signal(signal.SIGCONT)
            server.kill()
            server.wait()


def failures_metric(registry: CollectorRegistry) -> float:
    return registry.get_sample_value("teampulse_redis_write_failures_total") or 0.0


async def test_redis_outage_keeps_the_writer_responsive_and_bounded_then_catches_up(
    own_redis, caplog
):
    prefix = "outage:"
    registry = CollectorRegistry()
    health = PipelineHealth(registry)
    settings = Settings(redis_url=own_redis.url, redis_prefix=prefix, redis_flush_interval_s=0.1)
    writer = RedisWriter(settings, health, socket_timeout_s=0.5, max_backoff_s=1.0)
    client = Redis.from_url(own_redis.url, decode_responses=True, socket_timeout=1.0)
    await writer.start()
    steady = [team("bravo", posts=5.0), team("charlie", posts=6.0)]  # not changed again
    org = ScopeSnapshot("org", "org", AS_OF, plain={"members": 21.0})
    writer.submit(OrgSnapshot(AS_OF, teams={s.key: s for s in steady}, rollups=[org]))
    writer.submit(teams(team("alpha", posts=0.0)))
    deadline = time.monotonic() + 3.0
    while await client.hget(f"{prefix}team:alpha", "posts:1d") != "0":
        assert time.monotonic() < deadline, "the first write never arrived"
        await asyncio.sleep(0.05)
    await client.aclose()

    tick = 0
    slowest_submit = slowest_loop_wakeup = 0.0
    most_pending = 0

    async def keep_exporting(seconds: float) -> None:
        """The exporter's pace: a new state of the hot team every 50 ms."""
        nonlocal tick, slowest_submit, slowest_loop_wakeup, most_pending
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            tick += 1
            started = time.perf_counter()
            writer.submit(teams(team("alpha", as_of=AS_OF + tick, posts=float(tick))))
            slowest_submit = max(slowest_submit, time.perf_counter() - started)
            most_pending = max(most_pending, writer.pending_keys)
            before = time.monotonic()
            await asyncio.sleep(0.05)
            slowest_loop_wakeup = max(slowest_loop_wakeup, time.monotonic() - before - 0.05)

    with caplog.at_level(logging.INFO, logger="teampulse.sinks.redis_writer"):
        own_redis.pause()  # Redis hangs: writes time out
        await keep_exporting(3.0)
        own_redis.crash()  # then it dies and comes back empty
        await keep_exporting(2.0)
        own_redis.restart()
        back = time.monotonic()
        last_posts = str(tick)

        client = Redis.from_url(own_redis.url, decode_responses=True)
        while True:
            alpha = await client.hget(f"{prefix}team:alpha", "posts:1d")
            others = [await client.hget(f"{prefix}team:{s.key}", "posts:1d") for s in steady]
            if alpha == last_posts and others == ["5", "6"] and await client.exists(f"{prefix}org"):
                break
            assert time.monotonic() - back < 6.0, (alpha, others)
            await asyncio.sleep(0.05)
        caught_up_s = time.monotonic() - back
        await writer.stop()
        await client.aclose()

    assert tick >= 60  # the exporter kept its pace through the outage
    assert slowest_submit < 0.005
    assert slowest_loop_wakeup < 0.3  # the event loop was never held by the writer
    assert most_pending == 1  # 100 states of alpha submitted, only its latest kept
    assert failures_metric(registry) >= 3
    assert registry.get_sample_value("teampulse_redis_pending_keys") == 0
    outage_logs = [r for r in caplog.records if "cannot write gauges to Redis" in r.getMessage()]
    assert len(outage_logs) == 1  # once per outage, not once per retry
    assert "TEAMPULSE_REDIS_URL" in outage_logs[0].getMessage()
    assert any("work again" in r.getMessage() for r in caplog.records)
    assert caught_up_s < 5.0
