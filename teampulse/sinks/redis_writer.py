"""Write the latest gauges to Redis for other applications: hashes, history, notifications.

The key layout, fields and stream format are documented in docs/redis-keys.md.

How a write works. Each scope key (a team, department, division or the organisation) is
written by one Lua script call that, atomically inside Redis:
  1. ignores the state if Redis already holds a newer one (stored `as_of` greater than the
     new `as_of`, or a withdrawal tombstone newer than it): an older state never overwrites
     a newer one, whichever worker sends it and however late;
  2. compares the gauges with the stored ones (the scope hash and its initiative hashes);
  3. rewrites the hashes with absolute values (DEL + HSET: a gauge that became undefined
     disappears), the index sets and the day's history member (one member per day);
  4. only if some gauge changed, appends an entry to the bounded stream and publishes a
     hint, so replaying the same state writes the same values and notifies nobody.
A team that becomes unpublished (suppressed below the minimum group size, or gone from the
roster) is withdrawn: its hashes and index entries are deleted and a small tombstone key
remembers when, so a late older state cannot bring it back.

How the writer behaves. `submit()` only records the latest state per key (coalescing: a
hot team is written once per flush, not once per export tick) and never waits for Redis.
A background task flushes in one pipeline right after an export tick (`flush_soon`), at the
latest every `redis_flush_interval_s`. When Redis is
down or slow, the flush fails after a socket timeout, the states stay pending (still only
the latest per key, so memory is bounded by the number of keys), the retry interval doubles
up to MAX_BACKOFF_S, failures are counted in `teampulse_redis_write_failures_total`, and the
cause is logged once per outage. After an outage every key's latest state is written again,
so Redis is complete even if it restarted empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

from teampulse.contract.tenant_scope import split, tenant_of, unscoped
from teampulse.gauges.model import (
    ContentSnapshot,
    InitiativeSnapshot,
    OrgSnapshot,
    Scope,
    ScopeSnapshot,
)
from teampulse.settings import Settings
from teampulse.sinks.redis_connection import redacted, redis_client
from teampulse.sinks.sink import Publication
from teampulse.streams.health import PipelineHealth

__all__ = [
    "DAY_S",
    "add_past_days",
    "history_entry",
    "Key",
    "RedisKeys",
    "tenant_prefix",
    "RedisWriter",
    "State",
    "Withdrawal",
    "PUBLISHED_DECIMALS",
    "content_json",
    "format_value",
    "initiative_fields",
    "json_number",
    "redacted",
    "scope_fields",
]

log = logging.getLogger(__name__)

DAY_S = 86_400
# A flush that gets no answer within this time counts as failed: a stopped or overloaded
# Redis must not hold the writer (whose pending states keep coalescing meanwhile).
SOCKET_TIMEOUT_S = 2.0
# Retry intervals double from the flush interval up to this cap while Redis is failing.
MAX_BACKOFF_S = 5.0
# A withdrawal tombstone only has to outlive a late write from a worker that lost the
# team (a rebalance, an outage); a week is far beyond either and costs a few bytes a team.
TOMBSTONE_TTL_S = 7 * DAY_S
# Index set of each scope; the organisation is a single key and needs none.
INDEX_OF: dict[str, str] = {"team": "teams", "department": "departments", "division": "divisions"}
# Non-gauge fields of a scope hash besides as_of/updated_at: the org path of a team.
PATH_FIELDS = ("department", "division")

Key = tuple[str, str]  # (scope, key)

WRITE_SCRIPT = r"""
-- ARGV[1]: JSON payload built by RedisWriter._payload, ARGV[2]: updated_at (epoch seconds).
-- Returns 0: ignored (Redis holds a newer state), 1: written, nothing changed,
--         2: written and changed (notification sent).
local p = cjson.decode(ARGV[1])
local updated_at = ARGV[2]
local as_of = tonumber(p.as_of)

local stored = redis.call('HGET', p.hash, 'as_of')
if stored and tonumber(stored) > as_of then return 0 end
local tomb = redis.call('GET', p.tombstone)
if tomb and tonumber(tomb) > as_of then return 0 end

local function notify(change)
  redis.call('XADD', p.stream, 'MAXLEN', '~', p.maxlen, '*',
             'scope', p.scope, 'key', p.key, 'as_of', p.as_of, 'change', change)
  redis.call('PUBLISH', p.channel, p.scope .. ':' .. p.key)
end

local initiatives_set = p.hash .. ':initiatives'
local function initiative_hash(name) return p.hash .. ':initiative:' .. name end

if p.mode == 'withdraw' then
  local existed = redis.call('EXISTS', p.hash) == 1
  for _, name in ipairs(redis.call('SMEMBERS', initiatives_set)) do
    redis.call('DEL', initiative_hash(name))
  end
  redis.call('DEL', p.hash, initiatives_set)
  if p.index ~= '' then redis.call('SREM', p.index, p.key) end
  redis.call('SET', p.tombstone, p.as_of, 'EX', p.tombstone_ttl)
  if existed then notify('withdrawn'); return 2 end
  return 1
end

-- Same gauges as stored? (as_of and updated_at are not gauges)
local function same(key, fields)
  local flat = redis.call('HGETALL', key)
  local old, count = {}, 0
  for i = 1, #flat, 2 do
    local f = flat[i]
    if f ~= 'as_of' and f ~= 'updated_at' then old[f] = flat[i + 1]; count = count + 1 end
  end
  if count * 2 ~= #fields then return false end
  for i = 1, #fields, 2 do
    if old[fields[i]] ~= fields[i + 1] then return false end
  end
  return true
end

local function rewrite(key, fields)
  redis.call('DEL', key)
  redis.call('HSET', key, 'as_of', p.as_of, 'updated_at', updated_at, unpack(fields))
end

local changed = (stored == false) or not same(p.hash, p.fields)
local names = {}
for _, initiative in ipairs(p.initiatives) do
  names[initiative.name] = true
  local key = initiative_hash(initiative.name)
  if not changed and not same(key, initiative.fields) then changed = true end
  rewrite(key, initiative.fields)
  redis.call('SADD', initiatives_set, initiative.name)
end
for _, name in ipairs(redis.call('SMEMBERS', initiatives_set)) do
  if not names[name] then
    redis.call('DEL', initiative_hash(name))
    redis.call('SREM', initiatives_set, name)
    changed = true
  end
end
rewrite(p.hash, p.fields)
if tomb then redis.call('DEL', p.tombstone) end
if p.index ~= '' then redis.call('SADD', p.index, p.key) end

local h = p.history
redis.call('ZREMRANGEBYSCORE', h.key, h.day, h.day)
redis.call('ZADD', h.key, h.day, h.member)
redis.call('ZREMRANGEBYSCORE', h.key, '-inf', '(' .. h.keep_from)
redis.call('EXPIRE', h.key, h.ttl)

if changed then notify('updated'); return 2 end
return 1
"""


# A tenant's content table (docs/redis-keys.md, "Content"): one hash, content key -> JSON of
# its gauges, replaced whole; an older table never overwrites a newer one.
# KEYS[1]: the hash, KEYS[2]: its as_of key; ARGV[1]: as_of, ARGV[2..]: field, value, ...
CONTENT_SCRIPT = r"""
local stored = redis.call('GET', KEYS[2])
if stored and tonumber(stored) > tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
if #ARGV > 1 then redis.call('HSET', KEYS[1], unpack(ARGV, 2)) end
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """A scope key that is no longer published as of an instant."""

    scope: Scope
    key: str
    as_of: float


State = ScopeSnapshot | Withdrawal


# Decimal places of every number written to Redis: a millionth of a ratio is below anything a
# reader can act on, and a fixed precision keeps float noise out of the published values.
PUBLISHED_DECIMALS = 6


def format_value(value: float) -> str:
    """A gauge as a hash field value: rounded to PUBLISHED_DECIMALS, whole values without
    '.0' (counts), others in their shortest form (docs/redis-keys.md)."""
    if type(value) is int and -(2**53) < value < 2**53:
        return str(value)  # most fields are counts: a snapshot formats about 80 per write
    return str(json_number(value))


def json_number(value: float) -> int | float:
    """A gauge as a JSON number, rounded to PUBLISHED_DECIMALS: a ratio of 1/3 is 0.333333,
    and float noise (0.9999999999999999) is 1. Counts are whole numbers without '.0'."""
    number = round(float(value), PUBLISHED_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


class RedisKeys:
    """Names of the keys of one prefix (docs/redis-keys.md).

    A tenant's keys live under a prefix of their own, `{prefix}tenant:{id}:` (`of_tenant`),
    with the same layout inside it: its hashes, indexes, history and its own update stream,
    so a reader given one tenant's keys cannot name another's, and deleting a tenant is
    deleting one prefix. Without tenants every key is directly under `{prefix}`."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.updates = f"{prefix}updates"  # the stream and the pub/sub channel
        self._tenants: dict[str, RedisKeys] = {}

    def of_tenant(self, tenant: str | None) -> RedisKeys:
        if tenant is None:
            return self
        keys = self._tenants.get(tenant)
        if keys is None:
            keys = self._tenants[tenant] = RedisKeys(tenant_prefix(self.prefix, tenant))
        return keys

    def scoped(self, key: str) -> tuple[RedisKeys, str]:
        """The keys of a scoped name's tenant, and the name its tenant knows."""
        tenant, name = split(key)
        return self.of_tenant(tenant), name

    def scope_hash(self, scope: str, key: str) -> str:
        return f"{self.prefix}org" if scope == "org" else f"{self.prefix}{scope}:{key}"

    def index(self, scope: str) -> str:
        return f"{self.prefix}{INDEX_OF[scope]}" if scope in INDEX_OF else ""

    def initiative_hash(self, scope: str, key: str, initiative: str) -> str:
        return f"{self.scope_hash(scope, key)}:initiative:{initiative}"

    def initiatives(self, scope: str, key: str) -> str:
        return f"{self.scope_hash(scope, key)}:initiatives"

    def history(self, scope: str, key: str) -> str:
        return f"{self.scope_hash(scope, key)}:history"

    def content(self) -> str:
        """The tenant's content table: content key -> JSON of its gauges."""
        return f"{self.prefix}content"

    def content_as_of(self) -> str:
        return f"{self.prefix}content:as_of"

    def tombstone(self, scope: str, key: str) -> str:
        return f"{self.scope_hash(scope, key)}:withdrawn"


def tenant_prefix(prefix: str, tenant: str) -> str:
    """Where every Redis key of one tenant starts."""
    return f"{prefix}tenant:{tenant}:"


class RedisWriter:
    """Coalescing, idempotent, outage-tolerant writer of snapshots to Redis."""

    def __init__(
        self,
        settings: Settings,
        health: PipelineHealth | None = None,
        *,
        clock: Callable[[], float] = time.time,
        socket_timeout_s: float = SOCKET_TIMEOUT_S,
        max_backoff_s: float = MAX_BACKOFF_S,
    ) -> None:
        self.settings = settings
        self.health = health
        self.clock = clock  # updated_at = write time
        self.keys = RedisKeys(settings.redis_prefix)
        self.flush_interval_s = settings.redis_flush_interval_s
        self.max_backoff_s = max_backoff_s
        self._socket_timeout_s = socket_timeout_s
        windows = settings.window_seconds
        self._history_window = min(windows, key=windows.__getitem__)
        # Newest state known per key, withdrawals included: what a resync after an outage
        # writes again. Bounded by the number of keys this worker ever published.
        self._latest: dict[Key, State] = {}
        self._pending: dict[Key, State] = {}  # states not yet written: latest per key
        # tenant -> (as_of, its content table): the latest, and the ones not yet written
        self._content_latest: dict[str | None, tuple[float, list[ContentSnapshot]]] = {}
        self._content_pending: dict[str | None, tuple[float, list[ContentSnapshot]]] = {}
        self._content_script: AsyncScript | None = None
        self._client: Redis | None = None
        self._script: AsyncScript | None = None
        self._task: asyncio.Task[None] | None = None
        self._failures = 0  # consecutive failed flushes; > 0 means an outage is under way
        self._outage_started: float | None = None
        self._broken_keys: set[Key] = set()
        self._wake = asyncio.Event()  # set by flush_soon
        # False while this worker is fenced (its group membership may have lapsed): what it
        # queued is stale then, and its partitions' owner writes them.
        self.may_write: Callable[[], bool] = lambda: True
        # A tenant's own `retention` in seconds (None: the deployment's), read at every write:
        # its history keeps no more days than that.
        self.tenant_retention: Callable[[str | None], int | None] = lambda _tenant: None

    # --- tenants ----------------------------------------------------------------------------
    async def delete_tenant(self, tenant: str) -> int:
        """A deleted tenant: nothing of it is written again, and every key under its prefix
        is removed; returns how many keys were removed. Raises RedisError when Redis does
        not answer (the caller says so: the keys stay until someone deletes them)."""
        for latest in (self._latest, self._pending):
            for key in [k for k in latest if tenant_of(k[1]) == tenant]:
                del latest[key]
        self._content_latest.pop(tenant, None)
        self._content_pending.pop(tenant, None)
        client = self._client or redis_client(self.settings)
        try:
            removed = 0
            pattern = tenant_prefix(self.settings.redis_prefix, tenant) + "*"
            batch: list[str] = []
            async for key in client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    removed += await client.unlink(*batch)
                    batch.clear()
            if batch:
                removed += await client.unlink(*batch)
            return removed
        finally:
            if client is not self._client:
                await client.aclose()

    # --- producer side: never blocks -----------------------------------------------------
    def publish(self, publication: Publication) -> None:
        """The Sink contract: queue what changed and what stopped being published."""
        for team in publication.withdrawn:
            self.withdraw("team", team, publication.as_of)
        for scope, key in publication.withdrawn_rollups:
            self.withdraw(scope, key, publication.as_of)
        if publication.changed.teams or publication.changed.rollups:
            self.submit(publication.changed)
        if publication.content is not None and publication.content_changed:
            self.submit_content(publication.as_of, publication.content)
        if self._pending or self._content_pending:
            # Written right after the export tick that produced it: one cadence, not two
            # intervals whose latencies add up.
            self.flush_soon()

    def submit(self, snapshot: OrgSnapshot) -> None:
        """Queue the teams and roll-ups of a snapshot; only the latest state per key is kept."""
        for team in snapshot.teams.values():
            self._offer(team)
        for rollup in snapshot.rollups:
            self._offer(rollup)

    def submit_content(self, as_of: float, table: list[ContentSnapshot]) -> None:
        """Queue every tenant's content table; a tenant whose table became empty is written
        empty (its hash goes)."""
        by_tenant: dict[str | None, list[ContentSnapshot]] = {t: [] for t in self._content_latest}
        for row in table:
            by_tenant.setdefault(row.tenant, []).append(row)
        for tenant, rows in by_tenant.items():
            self._content_latest[tenant] = self._content_pending[tenant] = (as_of, rows)

    def withdraw(self, scope: Scope, key: str, as_of: float) -> None:
        """Queue the removal of a scope key that is no longer published (suppressed below
        the minimum group size, or gone). Not for a team whose partition moved to another
        worker: its new owner keeps writing it."""
        self._offer(Withdrawal(scope, key, as_of))

    def _offer(self, state: State) -> None:
        key = (state.scope, state.key)
        current = self._latest.get(key)
        if current is not None and current.as_of > state.as_of:
            return  # an older state never replaces a newer one
        self._latest[key] = state
        self._pending[key] = state

    @property
    def pending_keys(self) -> int:
        return len(self._pending)

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is not None:
            return
        self._client = redis_client(
            self.settings,
            socket_timeout=self._socket_timeout_s,
            socket_connect_timeout=self._socket_timeout_s,
            # Retries are this writer's job (with backoff and coalescing), not the client's:
            # its own retries would hold a flush for many timeouts while Redis is down.
            retry=Retry(NoBackoff(), 0),
        )
        self._script = self._client.register_script(WRITE_SCRIPT)
        self._content_script = self._client.register_script(CONTENT_SCRIPT)
        self._task = asyncio.create_task(self._run(), name="teampulse-redis-writer")

    async def stop(self) -> None:
        """Stop the flush loop, make one last attempt to write what is pending, close."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        await self.flush()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def flush_soon(self) -> None:
        """Write what was just submitted now instead of at the next interval, so an export
        tick and its Redis write share one cadence; while Redis fails the backoff stands."""
        if self._failures == 0:
            self._wake.set()

    async def _run(self) -> None:
        crashed = False
        while True:
            if crashed or self._failures:
                await asyncio.sleep(self.max_backoff_s if crashed else self._next_delay())
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.flush_interval_s)
            self._wake.clear()
            try:
                await self.flush()
                crashed = False
            except Exception:  # the loop must outlive a bug in one flush; log it once
                if not crashed:
                    log.exception("unexpected error while writing gauges to Redis; retrying")
                crashed = True

    def _next_delay(self) -> float:
        if self._failures == 0:
            return self.flush_interval_s
        return min(self.max_backoff_s, self.flush_interval_s * 2 ** (self._failures - 1))

    # --- one flush ------------------------------------------------------------------------
    async def flush(self) -> bool:
        """Write every pending state in one pipeline. False if Redis could not be reached
        (the states stay pending)."""
        if self._client is None or self._script is None:
            raise RuntimeError("RedisWriter.flush() before start()")
        if not self.may_write():
            self._pending.clear()
            self._latest.clear()  # nor written again by a resync after an outage
            self._content_pending.clear()
            self._content_latest.clear()
            return True
        batch, self._pending = self._pending, {}
        content, self._content_pending = self._content_pending, {}
        try:
            if batch:
                await self._write(self._client, self._script, batch)
            if content:
                await self._write_content(self._client, content)
            if not batch and not content and self._failures:
                await self._client.ping()  # nothing to write: still learn when Redis is back
        except (RedisError, OSError, TimeoutError) as exc:
            self._restore(batch, content)
            self._failed(exc)
            return False
        except BaseException:  # cancelled (stop) mid-write: the batch is still to be written
            self._restore(batch, content)
            raise
        finally:
            if self.health is not None:
                self.health.set_redis_pending_keys(len(self._pending))
        if self._failures:
            self._recovered(batch)
        return True

    def _restore(
        self,
        batch: dict[Key, State],
        content: dict[str | None, tuple[float, list[ContentSnapshot]]] | None = None,
    ) -> None:
        for key, state in batch.items():
            self._pending.setdefault(key, state)  # a newer submission meanwhile stays
        for tenant, table in (content or {}).items():
            self._content_pending.setdefault(tenant, table)

    async def _write_content(
        self, client: Redis, content: dict[str | None, tuple[float, list[ContentSnapshot]]]
    ) -> None:
        assert self._content_script is not None
        async with client.pipeline(transaction=False) as pipe:
            for tenant, (as_of, rows) in content.items():
                keys = self.keys.of_tenant(tenant)
                fields: list[str | bytes] = []
                for row in rows:
                    fields += [row.key, content_json(row)]
                await self._content_script(
                    keys=[keys.content(), keys.content_as_of()],
                    args=[format_value(as_of), *fields],
                    client=pipe,
                )
            results = await pipe.execute(raise_on_error=False)
        for result in results:
            if isinstance(result, Exception):
                raise result

    async def _write(self, client: Redis, script: AsyncScript, batch: dict[Key, State]) -> None:
        updated_at = format_value(self.clock())
        written: list[Key] = []
        async with client.pipeline(transaction=False) as pipe:
            for key, state in batch.items():
                try:
                    payload = self._payload(state)
                except (TypeError, ValueError) as exc:  # a malformed snapshot: a bug upstream
                    self._broken(key, exc)
                    continue
                await script(args=[payload, updated_at], client=pipe)
                written.append(key)
            results = await pipe.execute(raise_on_error=False)
        self._settle(written, results)

    def _settle(self, written: list[Key], results: list[Any]) -> None:
        transient: BaseException | None = None
        for key, result in zip(written, results, strict=True):
            if isinstance(result, NoScriptError):  # Redis restarted mid-flush
                transient = result
            elif isinstance(result, Exception):
                # Not an outage: this key cannot be written (e.g. a foreign key of another
                # type at its name). Retrying would fail forever, so it is dropped.
                self._broken(key, result)
        if transient is not None:
            raise transient  # the whole batch is retried; rewriting the rest is harmless

    def _broken(self, key: Key, error: BaseException) -> None:
        if self.health is not None:
            self.health.record_redis_failure()
        if key not in self._broken_keys:  # once per key, not once per flush
            self._broken_keys.add(key)
            log.error("cannot write %s %r to Redis, dropped: %s", key[0], key[1], error)

    def _failed(self, exc: BaseException) -> None:
        self._failures += 1
        if self.health is not None:
            self.health.record_redis_failure()
        if self._failures == 1:
            self._outage_started = time.monotonic()
            log.error(
                "cannot write gauges to Redis at %s (%s: %s). Keeping the latest state of "
                "each key (%d pending) and retrying with backoff up to %.0f s. Check "
                "TEAMPULSE_REDIS_URL and that Redis is running (redis-cli -u URL ping).",
                redacted(self.settings.redis_url),
                type(exc).__name__,
                exc,
                len(self._pending),
                self.max_backoff_s,
            )

    def _recovered(self, just_written: dict[Key, State]) -> None:
        started = self._outage_started or time.monotonic()
        log.warning(
            "Redis writes work again after %d failed attempts over %.1f s; rewriting the "
            "latest state of all %d keys",
            self._failures,
            time.monotonic() - started,
            len(self._latest),
        )
        self._failures = 0
        self._outage_started = None
        # Redis may have restarted empty: write every key's latest state again. Writes are
        # idempotent, so keys that survived notify nobody.
        for key, state in self._latest.items():
            if just_written.get(key) is not state:
                self._pending.setdefault(key, state)
        for tenant, table in self._content_latest.items():
            self._content_pending.setdefault(tenant, table)

    # --- payloads -------------------------------------------------------------------------
    def _payload(self, state: State) -> bytes:
        scope = state.scope
        keys, key = self.keys.scoped(state.key)
        common = {
            "scope": scope,
            "key": key,
            "as_of": format_value(state.as_of),
            "hash": keys.scope_hash(scope, key),
            "index": keys.index(scope),
            "tombstone": keys.tombstone(scope, key),
            "stream": keys.updates,
            "channel": keys.updates,
            "maxlen": str(self.settings.redis_stream_maxlen),
        }
        if isinstance(state, Withdrawal):
            return orjson.dumps(
                {**common, "mode": "withdraw", "tombstone_ttl": str(TOMBSTONE_TTL_S)}
            )
        return orjson.dumps(
            {
                **common,
                "mode": "put",
                "fields": scope_fields(state),
                "initiatives": [
                    {"name": name, "fields": initiative_fields(adoption)}
                    for name, adoption in sorted(state.initiatives.items())
                ],
                "history": self._history(state),
            }
        )

    def _history(self, snapshot: ScopeSnapshot) -> dict[str, str]:
        return history_entry(
            self.keys, snapshot, self._history_window, self.history_days(tenant_of(snapshot.key))
        )

    def history_days(self, tenant: str | None) -> int:
        """Days of history kept for a tenant's teams and roll-ups: TEAMPULSE_REDIS_HISTORY_DAYS,
        or fewer when the tenant's retention is shorter (at least the day being written)."""
        days = self.settings.redis_history_days
        retention = self.tenant_retention(tenant)
        return days if retention is None else max(1, min(days, retention // DAY_S))


def history_entry(
    keys: RedisKeys, snapshot: ScopeSnapshot, window: str, keep_days: int
) -> dict[str, str]:
    """The day's history member: the shortest window's gauges and the plain gauges."""
    day = math.floor(snapshot.as_of / DAY_S) * DAY_S
    gauges = {
        f"{g}:{window}": json_number(v)
        for g, v in snapshot.windowed.get(window, {}).items()
        if v is not None
    }
    gauges.update((g, json_number(v)) for g, v in snapshot.plain.items() if v is not None)
    member: dict[str, Any] = {
        "day": dt.datetime.fromtimestamp(day, dt.UTC).date().isoformat(),
        "as_of": json_number(snapshot.as_of),
        "gauges": gauges,
    }
    # The adoption ratio per initiative, so an initiative's progress week by week can be
    # drawn from the history alone (the web app's Initiatives page, the digest).
    adoption = {
        name: json_number(initiative.ratio)
        for name, initiative in snapshot.initiatives.items()
        if initiative.ratio is not None
    }
    if adoption:
        member["adoption"] = adoption
    tenant_keys, name = keys.scoped(snapshot.key)
    return {
        "key": tenant_keys.history(snapshot.scope, name),
        "day": str(day),
        "member": orjson.dumps(member, option=orjson.OPT_SORT_KEYS).decode(),
        "keep_from": str(day - (keep_days - 1) * DAY_S),
        "ttl": str(keep_days * DAY_S),
    }


async def add_past_days(client: Redis, entries: Sequence[dict[str, str]]) -> int:
    """Add history members of days a worker did not live through (the days of a backfill,
    computed by the reference model from the same events). Only the history is touched; a
    day that already has a member keeps it, since a worker's own record wins. Returns the
    members added."""
    pipe = client.pipeline(transaction=False)
    for entry in entries:
        pipe.zcount(entry["key"], entry["day"], entry["day"])
    present = await pipe.execute() if entries else []
    pipe = client.pipeline(transaction=False)
    added = 0
    for entry, count in zip(entries, present, strict=True):
        if count:
            continue
        pipe.zadd(entry["key"], {entry["member"]: float(entry["day"])})
        pipe.zremrangebyscore(entry["key"], "-inf", f"({entry['keep_from']}")
        pipe.expire(entry["key"], int(entry["ttl"]))
        added += 1
    if added:
        await pipe.execute()
    return added


# A team's row of the team x team matrix: `interactions:{window}:{other team}` -> replies.
INTERACTIONS_FIELD = "interactions"


def content_json(row: ContentSnapshot) -> bytes:
    """A content row as its hash field value: its initiative and window -> gauge -> value."""
    return orjson.dumps(
        {
            "initiative": row.initiative,
            "windowed": {
                window: {gauge: json_number(value) for gauge, value in gauges.items()}
                for window, gauges in row.windowed.items()
            },
        }
    )


def scope_fields(snapshot: ScopeSnapshot) -> list[str]:
    """Flat field/value list of a scope hash (without as_of/updated_at)."""
    flat: list[str] = []
    for window, gauges in snapshot.windowed.items():
        for gauge, value in gauges.items():
            if value is not None:
                flat += (f"{gauge}:{window}", format_value(value))
    for gauge, value in snapshot.plain.items():
        if value is not None:
            flat += (gauge, format_value(value))
    for path in PATH_FIELDS:
        if path in snapshot.info and path != snapshot.scope:
            flat += (path, unscoped(snapshot.info[path]))
    if snapshot.drop_signal is not None:
        flat += ("drop_signal", snapshot.drop_signal)
    for window, row in snapshot.interactions.items():
        for other, count in sorted(row.items()):
            flat += (f"{INTERACTIONS_FIELD}:{window}:{unscoped(other)}", format_value(count))
    return flat


def initiative_fields(adoption: InitiativeSnapshot) -> list[str]:
    """Flat field/value list of an initiative hash (without as_of/updated_at)."""
    flat: list[str] = []
    for stage, count in adoption.stage_members.items():
        flat += (f"members:{stage}", format_value(count))
    flat += ("members", format_value(adoption.members))
    if adoption.ratio is not None:
        flat += ("ratio", format_value(adoption.ratio))
    if adoption.index is not None:
        flat += ("index", format_value(adoption.index))
    return flat
