"""The read API's content table, read back from Redis (docs/read-api.md, "Content").

The table is computed by the worker that owns the roll-ups (`gauges.content`), so every
worker answers it from Redis, where it is complete for the tenant (Prometheus has only a
bounded view). `read_content` is the I/O (one round trip); `content_body` is pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from redis.asyncio import Redis

from teampulse.sinks.redis_writer import RedisKeys

__all__ = ["content_body", "read_content"]


def content_body(
    as_of: str | None, rows: Mapping[str, str], initiative: str | None = None
) -> dict[str, Any]:
    """`{"as_of", "content": [{"key", "initiative", "windowed"}, ...]}` sorted by key; with
    `initiative`, only that initiative's rows ("" for the rows without one)."""
    content = []
    for key in sorted(rows):
        row = orjson.loads(rows[key])
        if initiative is not None and row.get("initiative", "") != initiative:
            continue
        content.append({"key": key, **row})
    return {"as_of": float(as_of) if as_of is not None else None, "content": content}


async def read_content(
    client: Redis, keys: RedisKeys, initiative: str | None = None
) -> dict[str, Any]:
    """The tenant's published content table (empty before the roll-up owner wrote one)."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.get(keys.content_as_of())
        pipe.hgetall(keys.content())
        as_of, rows = await pipe.execute()
    return content_body(as_of, rows, initiative)
