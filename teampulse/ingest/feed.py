"""Feeds a simulated organisation into Kafka: roster, event history, then a live stream."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable

import orjson
from tqdm import tqdm

from teampulse.kafka.sender import KafkaSender
from teampulse.kafka.topics import ensure_topics
from teampulse.settings import Settings
from teampulse.simulation import (
    Organisation,
    build_organisation,
    generate_events,
    inject_faults,
    live_events,
)
from teampulse.simulation.scenarios import (
    Scenario,
    event_time,
    scenario_events,
    scenario_organisation,
)

__all__ = ["DAY_S", "backfill", "live", "run_scenario", "run_simulation", "send_roster"]

log = logging.getLogger(__name__)

DAY_S = 86400
PACE_S = 0.05  # how often a scenario's live part looks whether its next event is due


def _record(item: bytes | dict) -> tuple[bytes | None, bytes]:
    if isinstance(item, bytes):
        return None, item
    key = item.get("id")
    return (key.encode() if isinstance(key, str) else None), orjson.dumps(item)


async def send_roster(sender: KafkaSender, settings: Settings, org: Organisation) -> int:
    records = [(r["person"].encode(), orjson.dumps(r)) for r in org.roster_records()]
    return await sender.send_all(settings.topic("roster"), records)


async def backfill(
    sender: KafkaSender,
    settings: Settings,
    org: Organisation,
    start: float,
    end: float,
    seed: int,
    faults: bool,
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
    sender: KafkaSender,
    settings: Settings,
    org: Organisation,
    seconds: float,
    rate: float,
    seed: int,
    faults: bool,
    history_start: float,
) -> int:
    """Send `rate` events per second for `seconds` (<0: forever), each when its occurred_at
    comes up. One endless generator keeps threads and journeys going, so live replies answer
    earlier posts and people carry on through the initiatives from where the history left."""
    topic = settings.topic("events")
    started = time.time()
    events = live_events(org, started, math.inf, rate, seed, history_start=history_start)
    stream = inject_faults(events, seed) if faults else events
    sent = 0
    for item in stream:
        key, value = _record(item)
        await sender.send(topic, key, value)
        sent += 1
        if sent % max(1, int(rate)) == 0:  # about once a second: flush, then keep pace
            await sender.flush()
            ahead = started + sent / rate - time.time()
            if ahead > 0:
                await asyncio.sleep(ahead)
            if 0 <= seconds < time.time() - started:
                break
    await sender.flush()
    return sent


async def run_simulation(
    settings: Settings,
    *,
    days: float,
    live_seconds: float,
    rate: float,
    people: int,
    teams: int,
    seed: int,
    faults: bool,
    on_history_sent: Callable[[], Awaitable[None]] | None = None,
    org: Organisation | None = None,
    now: float | None = None,
) -> None:
    """Roster, `days` of history, then `live_seconds` of live feed (<0: forever).
    `on_history_sent` runs once Kafka acknowledged the whole history. `org` replaces the
    seeded organisation of `people` and `teams` (the demo's); `now` (epoch seconds) is where
    the history ends, the wall clock by default."""
    if org is None:  # first: an organisation that cannot be built is said before Kafka is waited on
        org = build_organisation(seed, people=people, teams=teams)
    await ensure_topics(settings)
    if now is None:
        now = time.time()
    async with KafkaSender(settings) as sender:
        roster_sent = await send_roster(sender, settings, org)
        log.info("roster: %d people sent to %s", roster_sent, settings.topic("roster"))
        if days > 0:
            sent = await backfill(sender, settings, org, now - days * DAY_S, now, seed, faults)
            log.info("history: %d records of %.0f days sent", sent, days)
        if on_history_sent is not None:
            await on_history_sent()
        if live_seconds:
            sent = await live(
                sender,
                settings,
                org,
                live_seconds,
                rate,
                seed,
                faults,
                history_start=now - days * DAY_S,
            )
            log.info("live: %d records sent", sent)


async def run_scenario(
    settings: Settings, scenario: Scenario, *, people: int, teams: int, seed: int
) -> int:
    """Send a scenario: its history at once, then each later event when TEAMPULSE_CLOCK
    reaches its occurred_at. With a compressed clock (INSTANT*SPEED, the worker given the
    same setting) the live days pass SPEED times faster. Returns the events sent."""
    await ensure_topics(settings)
    org = scenario_organisation(scenario, seed, people=people, teams=teams)
    clock = settings.now_source()
    start = clock() - scenario.history_days * DAY_S
    log.info("scenario %s: %s", scenario.name, scenario.summary)
    for expected in scenario.fires:
        log.info("must fire: %s", expected)
    log.info("must stay silent otherwise: %s", ", ".join(scenario.silent))
    topic = settings.topic("events")
    sent = 0
    day_logged = 0
    async with KafkaSender(settings) as sender:
        await send_roster(sender, settings, org)
        for event in scenario_events(scenario, org, start, seed):
            at = event_time(event)
            if at > clock():
                await sender.flush()
                while at > clock():
                    await asyncio.sleep(PACE_S)
            day = int((at - start) // DAY_S)
            if day > day_logged:
                day_logged = day
                log.info("day %d of %g: %d events sent", day, scenario.days, sent)
            key, value = _record(event)
            await sender.send(topic, key, value)
            sent += 1
        await sender.flush()
    log.info("scenario %s: %d events sent", scenario.name, sent)
    return sent
