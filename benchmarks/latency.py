"""Produce-to-gauge latency at a steady offered rate.

The marker: a dedicated probe team (`bench-probe`, five people on the roster, so it is big
enough to be published) that no simulated event touches. Every `PROBE_EVERY_S` the harness
sends one `learning.completed` event for the probe team with `duration_s` 1, so the probe
team's `learning_seconds:1d` in Redis (`{prefix}team:bench-probe`) is exactly the number of
probes applied. Probes share one Kafka key, so they stay in order on one partition: when
the Redis value reaches k, probes 1..k are all reflected, and probe k's latency is the first
instant the harness saw the value reach k (Redis polled every `POLL_S`) minus the instant it
handed probe k to the producer. Redis is what other applications read, so this is the
latency they see, export tick and Redis flush included.

Around the probes, simulated events (the load's own records with a fresh id and
`occurred_at` set to the sending instant) keep the offered rate steady; the worker runs on
the wall clock for this phase, so those events fall in the current windows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import redis
from aiokafka import AIOKafkaProducer

__all__ = ["PROBE_PEOPLE", "PROBE_TEAM", "LatencyRun", "probe_roster", "steady_latency"]

PROBE_TEAM = "bench-probe"
PROBE_PEOPLE = [f"bench.probe.{n}@example.com" for n in range(5)]
PROBE_EVERY_S = 0.2
POLL_S = 0.01
TICK_S = 0.01  # background events leave in slices this far apart
DRAIN_S = 60.0  # how long to wait for the last probes after the offered load stops
PROBE_FIELD = "learning_seconds:1d"


def probe_roster() -> list[tuple[bytes, bytes]]:
    return [
        (
            person.encode(),
            orjson.dumps(
                {
                    "person": person,
                    "team": PROBE_TEAM,
                    "department": "bench",
                    "division": "bench",
                    "active": True,
                }
            ),
        )
        for person in PROBE_PEOPLE
    ]


def _rfc3339(epoch: float) -> str:
    instant = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def probe_event(sequence: int, run: str, at: float) -> bytes:
    return orjson.dumps(
        {
            "id": f"{run}-probe-{sequence}",
            "type": "learning.completed",
            "occurred_at": _rfc3339(at),
            "actor": PROBE_PEOPLE[sequence % len(PROBE_PEOPLE)],
            "source": "bench",
            "team": PROBE_TEAM,
            "content": "bench-probe",
            "duration_s": 1,
        }
    )


@dataclass
class LatencyRun:
    latencies_s: list[float]
    offered_rate: float  # events/s really sent, probes included
    probes_sent: int
    unreflected: int  # probes not in Redis when the drain ended: the figures are lower bounds


def probe_value(client: redis.Redis, redis_prefix: str) -> float:
    value = client.hget(f"{redis_prefix}team:{PROBE_TEAM}", PROBE_FIELD)
    return float(value) if value is not None else 0.0


async def wait_probe(
    client: redis.Redis, redis_prefix: str, at_least: float, timeout: float
) -> None:
    deadline = time.time() + timeout
    while probe_value(client, redis_prefix) < at_least:
        if time.time() > deadline:
            raise SystemExit(
                f"the probe team's {PROBE_FIELD} never reached {at_least:g} in Redis "
                f"({redis_prefix}team:{PROBE_TEAM}); is the worker exporting?"
            )
        await asyncio.sleep(0.1)


async def steady_latency(
    bootstrap: str,
    topic: str,
    client: redis.Redis,
    redis_prefix: str,
    templates: Sequence[bytes],
    rate: float,
    seconds: float,
    run: str,
    warm_up_probes: int = 0,
    drain_s: float = DRAIN_S,
) -> LatencyRun:
    """Offer `rate` events/s for `seconds` and time every probe to Redis."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=2)
    await producer.start()
    probe_key = f"{run}-probe".encode()
    sent_at: list[float] = []  # probe k (1-based) was sent at sent_at[k - 1]
    latencies: list[float] = []
    sent = 0
    try:
        started = time.time()
        next_probe = started
        while (now := time.time()) - started < seconds:
            due = int((now - started) * rate) - sent  # keeps the rate exact over the phase
            stamp = _rfc3339(now)
            for _ in range(max(0, due)):
                event = orjson.loads(templates[sent % len(templates)])
                event["id"] = f"{run}-load-{sent}"
                event["occurred_at"] = stamp
                await producer.send(topic, value=orjson.dumps(event), key=event["id"].encode())
                sent += 1
            if now >= next_probe:
                sequence = len(sent_at) + warm_up_probes + 1
                sent_at.append(time.time())  # before the send: the producer's time counts too
                await producer.send(topic, value=probe_event(sequence, run, now), key=probe_key)
                sent += 1
                next_probe += PROBE_EVERY_S
            _observe(client, redis_prefix, warm_up_probes, sent_at, latencies)
            await asyncio.sleep(TICK_S)
        elapsed = time.time() - started
        await producer.flush()
        deadline = time.time() + drain_s
        while len(latencies) < len(sent_at) and time.time() < deadline:
            _observe(client, redis_prefix, warm_up_probes, sent_at, latencies)
            await asyncio.sleep(POLL_S)
    finally:
        await producer.stop()
    # A probe still missing when the drain ends is recorded with the time it has waited so far:
    # its latency is at least that, so the percentiles become lower bounds (and say so).
    unreflected = len(sent_at) - len(latencies)
    end = time.time()
    latencies.extend(end - at for at in sent_at[len(latencies) :])
    return LatencyRun(latencies, sent / elapsed, len(sent_at), unreflected)


def _observe(
    client: redis.Redis,
    redis_prefix: str,
    offset: int,
    sent_at: list[float],
    latencies: list[float],
) -> None:
    """Record the latency of every probe the Redis value now covers."""
    value = probe_value(client, redis_prefix)
    now = time.time()
    while len(latencies) < len(sent_at) and value >= offset + len(latencies) + 1:
        latencies.append(now - sent_at[len(latencies)])
