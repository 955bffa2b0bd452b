"""The read API's department, division and organisation routes, read back from Redis.

Roll-ups are computed by the one worker that owns the roll-up partition, so another worker has
nothing in memory to answer with; Redis holds exactly the published roll-ups (a withheld one
has no hash, docs/privacy.md), so every worker answers every roll-up from there, in the shape
`GET /teams/{team}` has. Values are Redis's: rounded to PUBLISHED_DECIMALS, and as fresh as
the last flush.

`read_rollup` and `read_rollup_names` are the I/O (one pipelined round trip each);
`rollup_body` is pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis

from teampulse.gauges.model import STAGES, Scope
from teampulse.sinks.redis_writer import PATH_FIELDS, RedisKeys

__all__ = ["ROLLUP_SCOPES", "read_rollup", "read_rollup_names", "rollup_body"]

ROLLUP_SCOPES: tuple[Scope, ...] = ("department", "division", "org")
_NOT_GAUGES = {"as_of", "updated_at", *PATH_FIELDS}
_STAGE_FIELD = "members:"


def _number(text: str) -> int | float:
    number = float(text)
    return int(number) if number.is_integer() else number


def rollup_body(
    scope: Scope,
    key: str,
    fields: Mapping[str, str],
    initiatives: Mapping[str, Mapping[str, str]],
) -> dict[str, Any]:
    """A roll-up's hashes -> the body of `GET /teams/{team}` (windowed, plain, initiatives,
    info; a gauge without a field is undefined and absent, as there)."""
    windowed: dict[str, dict[str, int | float]] = {}
    plain: dict[str, int | float] = {}
    for name, value in fields.items():
        if name in _NOT_GAUGES:
            continue
        gauge, _, window = name.partition(":")
        if window:
            windowed.setdefault(window, {})[gauge] = _number(value)
        else:
            plain[gauge] = _number(value)
    return {
        "scope": scope,
        "key": key,
        "as_of": _number(fields["as_of"]),
        "windowed": windowed,
        "plain": plain,
        "initiatives": {
            initiative: _initiative_body(adoption) for initiative, adoption in initiatives.items()
        },
        "info": {name: fields[name] for name in PATH_FIELDS if name in fields},
    }


def _initiative_body(adoption: Mapping[str, str]) -> dict[str, Any]:
    return {
        "stage_members": {s: int(adoption.get(f"{_STAGE_FIELD}{s}", 0)) for s in STAGES},
        "members": int(adoption.get("members", 0)),
        "ratio": _number(adoption["ratio"]) if "ratio" in adoption else None,
        "index": _number(adoption["index"]) if "index" in adoption else None,
    }


async def read_rollup_names(client: Redis, keys: RedisKeys, scope: Scope) -> list[str]:
    """The published departments or divisions, sorted (the client decodes responses)."""
    return sorted(str(name) for name in await client.smembers(keys.index(scope)))


async def read_rollup(
    client: Redis, keys: RedisKeys, scope: Scope, key: str
) -> dict[str, Any] | None:
    """A published roll-up as `rollup_body` gives it, or None when it is not published."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.hgetall(keys.scope_hash(scope, key))
        pipe.smembers(keys.initiatives(scope, key))
        fields, names = await pipe.execute()
    if not fields:
        return None
    ordered = sorted(names)
    async with client.pipeline(transaction=True) as pipe:
        for initiative in ordered:
            pipe.hgetall(keys.initiative_hash(scope, key, initiative))
        adoptions = await pipe.execute()
    return rollup_body(scope, key, fields, dict(zip(ordered, adoptions, strict=True)))
