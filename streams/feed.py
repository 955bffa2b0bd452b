"""Feeds a simulated organisation into Kafka: roster, event history, then a live stream."""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
from tqdm import tqdm

from streams.kafka_sender import KafkaSender
from streams.topic_admin import ensure_topics
from teampulse.settings import Settings
from teampulse.simulation import (
    Organisation,
    build_organisation,
    generate_events,
    inject_faults,
    live_events,
)

log = logging.getLogger(__name__)

DAY_S = 86400


def _record(item: bytes | dict) -> tuple[bytes | None, bytes]:
    if isinstance(item, bytes):
        return None, item
    key = item.get("id")
    return (key.encode() if isinstance(key, str) else None), orjson.dumps(item)


async def send_roster(sender: KafkaSender, settings: Settings, org: Organisation) -> int:
    records = [
        (r["person"].encode(), orjson.dumps(r)) for r in org.roster_records()
    ]
    return await sender.send_all(settings.topic("roster"), records)


async def backfill(
    sender: KafkaSender, settings: Settings, org: Organisation, start: float, end: float,
    seed: int, faults: bool,
) -> int:
    events = generate_events(org, start, end, seed)
    stream = inject_faults(events, seed) if faults else events
    topic = settings.topic("events")
    sent = 0
    with tqdm(desc="history", unit=" events", file=None, mininterval=1.0) as bar:
        for item in stream:
            key, value = _record(item)
            await sender.send(topic, key, value)
            sent += 1
            if sent % 1000 == 0:
                bar.update(1000)
        bar.update(sent % 1000)
    await sender.flush()
    return sent


async def live(
    sender: KafkaSender, settings: Settings, org: Organisation, seconds: float, rate: float,
    seed: int, faults: bool,
) -> int:
    """Send `rate` events per second, stamped with the wall clock, for `seconds` (<0: forever)."""
    topic = settings.topic("events")
    sent = 0
    started = time.time()
    tick = 0
    while seconds < 0 or time.time() - started < seconds:
        second_start = time.time()
        events = live_events(org, second_start, 1.0, rate, seed + tick)
        stream = inject_faults(events, seed + tick) if faults else events
        for item in stream:
            key, value = _record(item)
            await sender.send(topic, key, value)
            sent += 1
        await sender.flush()
        tick += 1
        await asyncio.sleep(max(0.0, 1.0 - (time.time() - second_start)))
    return sent


async def run_simulation(
    settings: Settings, *, days: float, live_seconds: float, rate: float, people: int,
    teams: int, seed: int, faults: bool,
) -> None:
    await ensure_topics(settings)
    org = build_organisation(seed, people=people, teams=teams)
    now = time.time()
    async with KafkaSender(settings.kafka_bootstrap) as sender:
        roster_sent = await send_roster(sender, settings, org)
        log.info("roster: %d people sent to %s", roster_sent, settings.topic("roster"))
        if days > 0:
            sent = await backfill(sender, settings, org, now - days * DAY_S, now, seed, faults)
            log.info("history: %d records of %.0f days sent", sent, days)
        if live_seconds:
            sent = await live(sender, settings, org, live_seconds, rate, seed, faults)
            log.info("live: %d records sent", sent)
