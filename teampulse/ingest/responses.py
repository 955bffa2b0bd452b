"""The answers every ingest route gives when it refuses: a JSON `error` code and `detail`."""

from __future__ import annotations

import orjson
from aiohttp import web

from teampulse.contract.intake import Refusal

__all__ = ["error_response", "rate_limited_response", "refusal_response"]


def refusal_response(refusal: Refusal) -> web.Response:
    return web.json_response(
        {"error": refusal.error, "detail": refusal.detail},
        status=refusal.status,
        dumps=lambda obj: orjson.dumps(obj).decode(),
    )


def error_response(status: int, error: str, detail: str) -> web.Response:
    """A 4xx/5xx answer with a machine-readable `error` and a human `detail`."""
    return refusal_response(Refusal(status, error, detail))


def rate_limited_response(retry_after_s: int, detail: str) -> web.Response:
    """429 with Retry-After: the caller's credential sent more than its rate allows."""
    response = web.json_response(
        {"error": "rate_limited", "detail": detail, "retry_after_s": retry_after_s},
        status=429,
        dumps=lambda obj: orjson.dumps(obj).decode(),
    )
    response.headers["Retry-After"] = str(retry_after_s)
    return response
