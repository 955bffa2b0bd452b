"""The worker's read API beyond the teams: the roll-up routes and the API's own description.

`GET /departments`, `/departments/{department}`, `/divisions`, `/divisions/{division}` and
`/org` answer from Redis (rollup_reader explains why), with the privacy of the export: a
roll-up that is not published is a 404, as a team below the minimum group size is.
`GET /openapi.json` serves `openapi.yaml` beside this module, the description of every route
the worker serves (docs/read-api.md is its prose).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import faust
import yaml
from faust.web import Request, Response, View
from redis.asyncio import Redis
from redis.exceptions import RedisError

from teampulse.gauges.model import ORG_KEY
from teampulse.settings import Settings
from teampulse.sinks.redis_connection import redis_client
from teampulse.sinks.redis_writer import RedisKeys
from teampulse.sinks.rollup_reader import read_rollup, read_rollup_names

__all__ = ["OPENAPI_FILE", "openapi_document", "register_read_api_extras"]

OPENAPI_FILE = "openapi.yaml"
READ_TIMEOUT_S = 2.0  # a route that waits longer for Redis answers 503 instead


@cache
def openapi_document() -> dict[str, Any]:
    text = (resources.files("teampulse.sinks") / OPENAPI_FILE).read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def register_read_api_extras(app: faust.App, settings: Settings) -> None:
    keys = RedisKeys(settings.redis_prefix)
    client: list[Redis] = []  # made on the first request, in the worker's event loop

    def redis() -> Redis:
        if not client:
            client.append(
                redis_client(settings, socket_timeout=READ_TIMEOUT_S, decode_responses=True)
            )
        return client[0]

    def unavailable(web: View, exc: RedisError) -> Response:
        return web.json(
            {"error": "redis_unavailable", "detail": f"roll-ups are read from Redis: {exc}"},
            status=503,
        )

    async def rollup(web: View, scope: Any, key: str) -> Response:
        try:
            body = await read_rollup(redis(), keys, scope, key)
        except RedisError as exc:
            return unavailable(web, exc)
        if body is None:
            what = "the organisation" if scope == "org" else f"{scope} {key!r}"
            return web.json(
                {
                    "error": "not_found",
                    "detail": f"{what} is unknown or not published (below the minimum "
                    "group size, or withheld so that no smaller group can be told apart)",
                },
                status=404,
            )
        return web.json(body)

    async def names(web: View, scope: Any, plural: str) -> Response:
        try:
            return web.json({plural: await read_rollup_names(redis(), keys, scope)})
        except RedisError as exc:
            return unavailable(web, exc)

    @app.page("/departments")
    async def list_departments(web: View, request: Request) -> Response:
        return await names(web, "department", "departments")

    @app.page("/departments/{department}")
    async def get_department(web: View, request: Request, department: str) -> Response:
        return await rollup(web, "department", department)

    @app.page("/divisions")
    async def list_divisions(web: View, request: Request) -> Response:
        return await names(web, "division", "divisions")

    @app.page("/divisions/{division}")
    async def get_division(web: View, request: Request, division: str) -> Response:
        return await rollup(web, "division", division)

    @app.page("/org")
    async def get_org(web: View, request: Request) -> Response:
        return await rollup(web, "org", ORG_KEY)

    @app.page("/openapi.json")
    async def openapi(web: View, request: Request) -> Response:
        return web.json(openapi_document())
