"""The daily history of the demo's past weeks, so its charts have weeks to show.

A worker records a day in Redis's history only while it lives through that day (its exports
are as of its clock), so a history sent in one go leaves one day of history. The demo
therefore computes each past day's figures with the reference model, from the same events
it sent (regenerated from the same seed), with the same privacy rules, and adds them to the
history of every published team and roll-up. Today's member stays the worker's own.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator

import orjson
from redis.asyncio import Redis

from teampulse.contract.event import Event
from teampulse.contract.events import EventValidator
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Rejection
from teampulse.contract.roster import RosterEntry, parse_roster_record
from teampulse.enrichment.roster import Roster
from teampulse.gauges.config import load_gauge_config
from teampulse.gauges.model import OrgSnapshot
from teampulse.reference import reference_snapshot
from teampulse.settings import Settings
from teampulse.simulation import Organisation
from teampulse.simulation.feed import generate_events
from teampulse.sinks.redis_writer import DAY_S, RedisKeys, add_past_days, history_entry

__all__ = ["daily_history_entries", "latest_snapshot", "write_daily_history"]


def _roster(org: Organisation, pseudonymiser: Pseudonymiser) -> Roster:
    roster = Roster()
    for record in org.roster_records():
        entry = parse_roster_record(None, orjson.dumps(record), pseudonymiser)
        if isinstance(entry, RosterEntry):
            roster.apply(entry)
    return roster


def _events(
    settings: Settings, org: Organisation, start: float, end: float, seed: int
) -> list[Event]:
    """The events the feed sends for these instants, as the worker admits them."""
    validator = EventValidator(settings, Pseudonymiser(settings.pseudonym_secret))
    events: list[Event] = []
    for record in generate_events(org, start, end, seed):
        parsed = validator.validate(record, math.inf)
        if not isinstance(parsed, Rejection):
            events.append(parsed)
    return events


def latest_snapshot(
    settings: Settings, org: Organisation, start: float, end: float, seed: int
) -> OrgSnapshot:
    """What a worker that read the whole history publishes as of `end`."""
    roster = _roster(org, Pseudonymiser(settings.pseudonym_secret))
    events = _events(settings, org, start, end, seed)
    return reference_snapshot(events, roster, load_gauge_config(settings), end)


def daily_history_entries(
    settings: Settings,
    org: Organisation,
    start: float,
    end: float,
    seed: int,
    tenant: str | None = None,
) -> Iterator[dict[str, str]]:
    """History members as of the last second of every whole UTC day between start and end
    (`tenant`: under that tenant's keys)."""
    events = _events(settings, org, start, end, seed)
    roster = _roster(org, Pseudonymiser(settings.pseudonym_secret))
    config = load_gauge_config(settings)
    keys = RedisKeys(settings.redis_prefix).of_tenant(tenant)
    windows = settings.window_seconds
    window = min(windows, key=windows.__getitem__)
    day_end = math.floor(start / DAY_S) * DAY_S + DAY_S - 1
    while day_end < math.floor(end / DAY_S) * DAY_S:
        seen = [e for e in events if e.occurred_at <= day_end]
        snapshot = reference_snapshot(seen, roster, config, day_end)
        for scope in [*snapshot.teams.values(), *snapshot.rollups]:
            yield history_entry(keys, scope, window, settings.redis_history_days)
        day_end += DAY_S


async def write_daily_history(
    client: Redis,
    settings: Settings,
    org: Organisation,
    start: float,
    end: float,
    seed: int,
    tenant: str | None = None,
) -> int:
    """Compute (in a thread: about half a second a day) and add the past days; returns the
    members added."""
    entries = await asyncio.to_thread(
        lambda: list(daily_history_entries(settings, org, start, end, seed, tenant))
    )
    return await add_past_days(client, entries)
