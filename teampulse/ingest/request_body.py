"""Reading a request's body: size-limited, and kept as the exact bytes (signatures are
computed over them)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from teampulse.ingest.responses import error_response

__all__ = ["json_body", "read_body"]

READ_CHUNK_BYTES = 65_536


async def read_body(
    request: web.Request, limit: int, *, multipart: bool = False
) -> bytes | web.Response:
    """The raw body, or 413 past `limit` bytes (read no further), or 400 for a multipart body
    where none is accepted."""
    too_large = error_response(413, "too_large", f"the body exceeds {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        return too_large
    if request.content_type.startswith("multipart/") and not multipart:
        return error_response(400, "not_json", "a multipart body is not accepted here")
    body = bytearray()
    async for chunk in request.content.iter_chunked(READ_CHUNK_BYTES):
        body += chunk
        if len(body) > limit:
            return too_large
    return bytes(body)


def json_body(body: bytes) -> Any | web.Response:
    """The parsed JSON, or its 400."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return error_response(400, "not_json", str(exc)[:200])
