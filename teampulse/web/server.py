"""`teampulse web`: the L&D web app, an aiohttp server apart from the workers.

It reads only what is published (Redis) and what Prometheus and Alertmanager say about
alerts, holds no state of its own, and so scales on its own: run as many as readers need.
Redis away is a 503 page that names it; Prometheus or Alertmanager away leaves the figures
and says that the alerts are unavailable.

With tenants configured, every page but /healthz and the runbooks asks for a read token of
one tenant (teampulse.tenancy.read_access; a browser asks for it as Basic
`<tenant>:<read token>`) and shows that tenant's figures and alerts only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from teampulse.settings import Settings
from teampulse.sinks.content_reader import read_content
from teampulse.sinks.redis_connection import redacted, redis_client
from teampulse.sinks.redis_writer import RedisKeys
from teampulse.tenancy.read_access import ReadRefusal, reader_tenant
from teampulse.tenancy.source import TenantsSource
from teampulse.web.pages import (
    alerts_page,
    content_page,
    initiatives_page,
    network_page,
    not_found_page,
    organisation_page,
    runbook_page,
    team_page,
)
from teampulse.web.reading import Published, read_alerts, read_published, read_scopes
from teampulse.web.runbooks import runbooks

__all__ = ["make_app", "run_web"]

log = logging.getLogger(__name__)
REDIS_TIMEOUT_S = 2.0
HTML = "text/html"
CONTENT_DEFAULT_WINDOW = "28d"


def make_app(settings: Settings, tenants: TenantsSource | None = None) -> web.Application:
    all_keys = RedisKeys(settings.redis_prefix)
    tenants = tenants if tenants is not None else TenantsSource(settings)
    clients: list[Redis] = []  # made on the first request, in the server's event loop

    def redis() -> Redis:
        if not clients:
            clients.append(
                redis_client(
                    settings,
                    socket_timeout=REDIS_TIMEOUT_S,
                    socket_connect_timeout=REDIS_TIMEOUT_S,
                )
            )
        return clients[0]

    def page(text: str, status: int = 200) -> web.Response:
        return web.Response(text=text, content_type=HTML, status=status)

    def unavailable(exc: RedisError) -> web.Response:
        log.warning("Redis at %s did not answer: %s", redacted(settings.redis_url), exc)
        return page(
            not_found_page(
                f"The published figures are read from Redis at {redacted(settings.redis_url)}, "
                f"which did not answer ({exc}). Check TEAMPULSE_REDIS_URL and that Redis runs."
            ),
            503,
        )

    def reader(request: web.Request) -> str | None:
        """The tenant whose figures the request may see; a 401 that asks for a read token."""
        found = reader_tenant(tenants.directory, request.headers.get("Authorization"))
        if isinstance(found, ReadRefusal):
            raise web.HTTPUnauthorized(
                text=not_found_page(found.detail),
                content_type=HTML,
                headers={"WWW-Authenticate": 'Basic realm="TeamPulse"'},
            )
        return found

    async def alerts(tenant: str | None) -> tuple[list, str]:
        found, problems = await read_alerts(settings.prometheus_url, settings.alertmanager_url)
        if tenant is not None:  # a tenant sees the alerts of its own teams and groups only
            found = [alert for alert in found if alert.labels.get("tenant") == tenant]
        return found, problems

    async def published_of(tenant: str | None) -> Published | web.Response:
        """Everything the tenant's read token may see, or the 503 that says Redis is away."""
        try:
            return await read_published(redis(), all_keys.of_tenant(tenant))
        except RedisError as exc:
            return unavailable(exc)

    async def organisation(request: web.Request) -> web.Response:
        tenant = reader(request)
        published = await published_of(tenant)
        if isinstance(published, web.Response):
            return published
        name = tenants.directory.organisation_of(tenant)
        return page(organisation_page(published, *await alerts(tenant), name))

    async def initiatives(request: web.Request) -> web.Response:
        published = await published_of(reader(request))
        if isinstance(published, web.Response):
            return published
        return page(initiatives_page(published))

    async def network(request: web.Request) -> web.Response:
        published = await published_of(reader(request))
        if isinstance(published, web.Response):
            return published
        return page(network_page(published))

    async def content(request: web.Request) -> web.Response:
        tenant = reader(request)
        initiative = request.query.get("initiative")
        window = request.query.get("window", CONTENT_DEFAULT_WINDOW)
        try:
            body = await read_content(redis(), all_keys.of_tenant(tenant), initiative)
        except RedisError as exc:
            return unavailable(exc)
        return page(content_page(body, window, initiative))

    async def team(request: web.Request) -> web.Response:
        tenant = reader(request)
        keys = all_keys.of_tenant(tenant)
        name = request.match_info["team"]
        try:
            found = await read_scopes(redis(), keys, "team", [name])
        except RedisError as exc:
            return unavailable(exc)
        if not found:
            return page(
                not_found_page(
                    f"Team {name!r} is unknown or not published (below the minimum group size)."
                ),
                404,
            )
        return page(team_page(found[0], *await alerts(tenant)))

    async def alert_list(request: web.Request) -> web.Response:
        return page(alerts_page(*await alerts(reader(request))))

    async def runbook(request: web.Request) -> web.Response:
        name = request.match_info["name"].lower()
        books = runbooks()
        titles = {n: title for n, (title, _) in books.items()}
        if name not in books:
            return page(not_found_page(f"No runbook {name!r}; there are: {', '.join(titles)}"), 404)
        title, markdown = books[name]
        return page(runbook_page(title, markdown, titles))

    async def runbook_index(request: web.Request) -> web.Response:
        first = sorted(runbooks())[0]
        raise web.HTTPFound(f"/runbooks/{first}")

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def close(app: web.Application) -> None:
        for client in clients:
            await client.aclose()

    async def reload_tenants(app: web.Application) -> AsyncIterator[None]:
        async def every_interval() -> None:
            while True:
                await asyncio.sleep(settings.tenants_reload_s)
                tenants.reload_if_changed()

        task = asyncio.create_task(every_interval())
        yield
        task.cancel()

    app = web.Application()
    app.cleanup_ctx.append(reload_tenants)
    app.router.add_get("/", organisation)
    app.router.add_get("/initiatives", initiatives)
    app.router.add_get("/network", network)
    app.router.add_get("/content", content)
    app.router.add_get("/teams/{team}", team)
    app.router.add_get("/alerts", alert_list)
    app.router.add_get("/runbooks", runbook_index)
    app.router.add_get("/runbooks/{name}", runbook)
    app.router.add_get("/healthz", healthz)
    app.on_cleanup.append(close)
    return app


def run_web(settings: Settings) -> None:
    print(f"[web] TeamPulse for L&D on {settings.webapp_url}/", flush=True)
    web.run_app(
        make_app(settings),
        host=settings.webapp_host,
        port=settings.webapp_port,
        print=None,
        access_log=None,
    )
