"""What the web app, `notify` and `digest` read: published figures from Redis, alerts from
Prometheus and Alertmanager. One pipelined Redis round trip per scope kind; every reader
answers with what is published (an unpublished team is absent, never zeros).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from redis.asyncio import Redis

from teampulse.gauges.model import ORG_KEY
from teampulse.sinks.redis_writer import RedisKeys
from teampulse.web.model import ScopeView, scope_view

__all__ = [
    "AlertView",
    "Published",
    "fires_in_s",
    "pending_words",
    "read_alerts",
    "read_published",
    "read_rule_durations",
    "read_scopes",
]

HISTORY_DAYS = 90
HTTP_TIMEOUT_S = 3.0
RECENT = "7d"  # how far back "fired recently" reaches


@dataclass(frozen=True)
class Published:
    teams: list[ScopeView]
    departments: list[ScopeView]
    divisions: list[ScopeView]
    org: ScopeView | None


@dataclass(frozen=True)
class AlertView:
    name: str
    state: str  # firing | pending | resolved (fired within RECENT, no longer active)
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    since: str = ""  # RFC 3339, when it became active (firing and pending alerts)
    silenced: bool = False  # Alertmanager holds it silenced or inhibited
    fires_in: float | None = None  # pending: seconds until it fires if it holds (its `for:`)

    @property
    def team(self) -> str | None:
        return self.labels.get("team")


_FRACTION = re.compile(r"(\.\d{6})\d+")


def fires_in_s(active_at: str, for_s: float | None, now: float) -> float | None:
    """Seconds until a pending alert, active since `active_at` (Prometheus' RFC 3339 with
    nanoseconds), fires under its rule's `for:`; None when either is unknown."""
    if for_s is None or not active_at:
        return None
    try:
        since = dt.datetime.fromisoformat(_FRACTION.sub(r"\1", active_at.replace("Z", "+00:00")))
    except ValueError:
        return None
    return max(0.0, since.timestamp() + for_s - now)


def pending_words(fires_in: float | None) -> str:
    """ "pending, fires in about 3 min": what a pending alert waits for, in words."""
    if fires_in is None:
        return "pending"
    if fires_in < 60:
        return "pending, fires within a minute"
    if fires_in < 2 * 3600:
        return f"pending, fires in about {math.ceil(fires_in / 60)} min"
    return f"pending, fires in about {round(fires_in / 3600)} h"


async def read_rule_durations(
    session: aiohttp.ClientSession, prometheus_url: str
) -> dict[str, float]:
    """Each alerting rule's `for:` in seconds, by alert name (Prometheus' rules API)."""
    body = await _get_json(session, f"{prometheus_url}/api/v1/rules", type="alert")
    return {
        rule["name"]: float(rule.get("duration", 0))
        for group in body.get("data", {}).get("groups", [])
        for rule in group.get("rules", [])
        if rule.get("type") == "alerting"
    }


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def read_scopes(
    redis: Redis, keys: RedisKeys, scope: str, names: Sequence[str], days: int = HISTORY_DAYS
) -> list[ScopeView]:
    """The views of the named scope keys that are published (others are left out)."""
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.hgetall(keys.scope_hash(scope, name))
        pipe.smembers(keys.initiatives(scope, name))
        pipe.zrange(keys.history(scope, name), -days, -1)
    answers = await pipe.execute() if names else []
    wanted: list[tuple[int, str]] = []
    pipe = redis.pipeline(transaction=False)
    for number, name in enumerate(names):
        for initiative in sorted(_text(i) for i in answers[3 * number + 1]):
            pipe.hgetall(keys.initiative_hash(scope, name, initiative))
            wanted.append((number, initiative))
    adoption_hashes = await pipe.execute() if wanted else []
    adoption: dict[int, dict[str, dict[str, str]]] = {}
    for (number, initiative), raw in zip(wanted, adoption_hashes, strict=True):
        if raw:
            adoption.setdefault(number, {})[initiative] = {
                _text(k): _text(v) for k, v in raw.items()
            }
    views = []
    for number, name in enumerate(names):
        raw_hash = answers[3 * number]
        if not raw_hash:
            continue
        views.append(
            scope_view(
                scope,
                name,
                {_text(k): _text(v) for k, v in raw_hash.items()},
                adoption.get(number, {}),
                [orjson.loads(member) for member in answers[3 * number + 2]],
            )
        )
    return views


async def read_published(redis: Redis, keys: RedisKeys, days: int = HISTORY_DAYS) -> Published:
    """Every published team, department, division and the organisation."""
    pipe = redis.pipeline(transaction=False)
    for scope in ("team", "department", "division"):
        pipe.smembers(keys.index(scope))
    names = [sorted(_text(n) for n in members) for members in await pipe.execute()]
    teams, departments, divisions, org = await asyncio.gather(
        read_scopes(redis, keys, "team", names[0], days),
        read_scopes(redis, keys, "department", names[1], days),
        read_scopes(redis, keys, "division", names[2], days),
        read_scopes(redis, keys, "org", [ORG_KEY], days),
    )
    return Published(teams, departments, divisions, org[0] if org else None)


async def _get_json(session: aiohttp.ClientSession, url: str, **params: str) -> Any:
    async with session.get(url, params=params) as response:
        response.raise_for_status()
        return orjson.loads(await response.read())


async def read_alerts(prometheus_url: str, alertmanager_url: str) -> tuple[list[AlertView], str]:
    """What is firing (Alertmanager's active alerts, silenced or inhibited ones marked so),
    what is about to fire (Prometheus' pending alerts) and what fired within RECENT but no
    longer does (Prometheus' ALERTS history). The second value names what could not be
    reached ("" when both answered): a page says so rather than "no alerts". Without
    Alertmanager, Prometheus' own firing alerts stand in."""
    problems = []
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
    views: dict[tuple[tuple[str, str], ...], AlertView] = {}
    prometheus_active: list[dict[str, Any]] = []
    recent: list[dict[str, str]] = []
    durations: dict[str, float] = {}
    async with aiohttp.ClientSession(timeout=timeout) as session:
        try:
            for alert in await _get_json(session, f"{alertmanager_url}/api/v2/alerts"):
                labels = alert.get("labels", {})
                views[_identity(labels)] = AlertView(
                    name=labels.get("alertname", "?"),
                    state="firing",
                    labels=labels,
                    annotations=alert.get("annotations", {}),
                    since=alert.get("startsAt", ""),
                    silenced=alert.get("status", {}).get("state") == "suppressed",
                )
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            problems.append(f"Alertmanager at {alertmanager_url} did not answer ({exc})")
        try:
            body = await _get_json(session, f"{prometheus_url}/api/v1/alerts")
            prometheus_active = body.get("data", {}).get("alerts", [])
            body = await _get_json(
                session,
                f"{prometheus_url}/api/v1/query",
                query=f'max_over_time(ALERTS{{alertstate="firing"}}[{RECENT}])',
            )
            recent = [r["metric"] for r in body.get("data", {}).get("result", [])]
            durations = await read_rule_durations(session, prometheus_url)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            problems.append(f"Prometheus at {prometheus_url} did not answer ({exc})")
    now = time.time()
    for alert in prometheus_active:
        labels = alert.get("labels", {})
        identity = _identity(labels)
        if identity in views or (alert.get("state") == "firing" and not problems):
            continue  # Alertmanager's word on a firing alert wins
        name = labels.get("alertname", "?")
        state = alert.get("state", "?")
        since = alert.get("activeAt", "")
        views[identity] = AlertView(
            name=name,
            state=state,
            labels=labels,
            annotations=alert.get("annotations", {}),
            since=since,
            fires_in=fires_in_s(since, durations.get(name), now) if state == "pending" else None,
        )
    for labels in recent:
        labels = {k: v for k, v in labels.items() if k not in ("__name__", "alertstate")}
        identity = _identity(labels)
        if identity not in views:
            views[identity] = AlertView(labels.get("alertname", "?"), "resolved", labels)
    order = {"firing": 0, "pending": 1, "resolved": 2}
    return sorted(
        views.values(), key=lambda v: (order.get(v.state, 3), v.name, sorted(v.labels.items()))
    ), "; ".join(problems)


def _identity(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in labels.items() if k != "alertstate"))
