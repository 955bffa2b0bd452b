"""The worker's read API beyond the teams: the roll-up routes and the API's own description.

`GET /departments`, `/departments/{department}`, `/divisions`, `/divisions/{division}` and
`/org` answer from Redis (rollup_reader explains why), with the privacy of the export: a
roll-up that is not published is a 404, as a team below the minimum group size is.
`GET /content` answers the tenant's content table from Redis (content_reader).
`GET /openapi.json` serves `openapi.yaml` beside this module, the description of every route
the worker serves (docs/read-api.md is its prose).

With tenants configured, every route answers a tenant-scoped read token only, from that
tenant's figures (teampulse.tenancy.read_access); `reader` is that check for the worker's
routes and `as_tenant_sees` shows a snapshot with the names its tenant knows.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import cache
from importlib import resources
from typing import Any

import faust
import yaml
from faust.web import Request, Response, View
from redis.asyncio import Redis
from redis.exceptions import RedisError

from teampulse.contract.tenant_scope import unscoped
from teampulse.gauges.model import ORG_KEY, ScopeSnapshot
from teampulse.settings import Settings
from teampulse.sinks.content_reader import read_content
from teampulse.sinks.redis_connection import redis_client
from teampulse.sinks.redis_writer import RedisKeys
from teampulse.sinks.rollup_reader import read_rollup, read_rollup_names
from teampulse.tenancy.read_access import ReadRefusal, reader_tenant
from teampulse.tenancy.source import TenantsSource

__all__ = [
    "OPENAPI_FILE",
    "as_tenant_sees",
    "openapi_document",
    "reader",
    "refused",
    "register_read_api_extras",
]

OPENAPI_FILE = "openapi.yaml"
READ_TIMEOUT_S = 2.0  # a route that waits longer for Redis answers 503 instead


@cache
def openapi_document() -> dict[str, Any]:
    text = (resources.files("teampulse.sinks") / OPENAPI_FILE).read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def reader(tenants: TenantsSource, request: Request) -> str | None | ReadRefusal:
    """The tenant whose figures the request may read (None: the one implicit tenant), or
    why not (`refused` answers it)."""
    return reader_tenant(tenants.directory, request.headers.get("Authorization"))


def refused(web: View, refusal: ReadRefusal) -> Response:
    return web.json(
        {"error": refusal.error, "detail": refusal.detail},
        status=401,
        headers={"WWW-Authenticate": 'Bearer realm="teampulse"'},
    )


def as_tenant_sees(snapshot: ScopeSnapshot) -> dict[str, Any]:
    """A snapshot's JSON body with its key, org path and interaction partners as its tenant
    names them."""
    body = asdict(snapshot)
    body["key"] = unscoped(snapshot.key)
    body["info"] = {name: unscoped(value) for name, value in snapshot.info.items()}
    body["interactions"] = {
        window: {unscoped(other): n for other, n in row.items()}
        for window, row in snapshot.interactions.items()
    }
    return body


def register_read_api_extras(app: faust.App, settings: Settings, tenants: TenantsSource) -> None:
    all_keys = RedisKeys(settings.redis_prefix)
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

    async def rollup(web: View, request: Request, scope: Any, key: str) -> Response:
        tenant = reader(tenants, request)
        if isinstance(tenant, ReadRefusal):
            return refused(web, tenant)
        keys = all_keys.of_tenant(tenant)
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

    async def names(web: View, request: Request, scope: Any, plural: str) -> Response:
        tenant = reader(tenants, request)
        if isinstance(tenant, ReadRefusal):
            return refused(web, tenant)
        keys = all_keys.of_tenant(tenant)
        try:
            return web.json({plural: await read_rollup_names(redis(), keys, scope)})
        except RedisError as exc:
            return unavailable(web, exc)

    @app.page("/departments")
    async def list_departments(web: View, request: Request) -> Response:
        return await names(web, request, "department", "departments")

    @app.page("/departments/{department}")
    async def get_department(web: View, request: Request, department: str) -> Response:
        return await rollup(web, request, "department", department)

    @app.page("/divisions")
    async def list_divisions(web: View, request: Request) -> Response:
        return await names(web, request, "division", "divisions")

    @app.page("/divisions/{division}")
    async def get_division(web: View, request: Request, division: str) -> Response:
        return await rollup(web, request, "division", division)

    @app.page("/org")
    async def get_org(web: View, request: Request) -> Response:
        return await rollup(web, request, "org", ORG_KEY)

    @app.page("/content")
    async def get_content(web: View, request: Request) -> Response:
        tenant = reader(tenants, request)
        if isinstance(tenant, ReadRefusal):
            return refused(web, tenant)
        initiative = request.query.get("initiative")
        try:
            return web.json(await read_content(redis(), all_keys.of_tenant(tenant), initiative))
        except RedisError as exc:
            return unavailable(web, exc)

    @app.page("/openapi.json")
    async def openapi(web: View, request: Request) -> Response:
        return web.json(openapi_document())
