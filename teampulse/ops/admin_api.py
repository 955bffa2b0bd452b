"""`teampulse tenant-admin`: the tenant commands over an authenticated HTTP API.

The same operations as `teampulse tenant create|list|show|suspend|resume|delete`, on the same
tenants file (the one source of truth: the processes that serve tenants take each change
within TEAMPULSE_TENANTS_RELOAD_S), for a platform's provisioning system:

    GET    /tenants                 {"tenants": [{"id", "suspended", "reached_by"}]}
    GET    /tenants/{id}            the entry, every secret masked
    POST   /tenants/{id}            201 {"tenant", "credential"}: created, its credential shown once
    POST   /tenants/{id}/suspend    200 {"tenant", "suspended": true}
    POST   /tenants/{id}/resume     200 {"tenant", "suspended": false}
    DELETE /tenants/{id}            200 {"tenant", "deleted": true, "remains": "..."}
    GET    /tenants/{id}/usage      {"tenant", "usage": {...}, "quotas": {...}} from Prometheus
    GET    /usage                   {"tenants": [the same, for every tenant]}

Every request but GET /healthz carries `Authorization: Bearer <TEAMPULSE_ADMIN_TOKEN>` (401
otherwise). A refused change is a 4xx naming the reason (404 unknown tenant, 409 exists
already, 400 anything else the file's checks refuse); the file is left as it was. Changes are
made one at a time within the process; run one admin process, and not the `teampulse tenant`
commands at the same moment.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from teampulse.ops.tenant_usage import UsageUnavailable, read_usage
from teampulse.ops.tenants import read_raw, write_raw
from teampulse.settings import Settings
from teampulse.tenancy.config import MIN_SECRET_CHARS, TenantConfigError, load_tenants
from teampulse.tenancy.directory import TenantDirectory
from teampulse.tenancy.lifecycle import (
    REMAINS_AFTER_DELETE,
    created,
    deleted,
    described,
    listed,
    suspended,
)

__all__ = ["make_admin_app", "run_admin"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, error: str, detail: str) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status)


def _refusal(exc: TenantConfigError) -> web.Response:
    detail = " | ".join(str(exc).splitlines())
    if detail.startswith("no tenant "):
        return _error(404, "unknown_tenant", detail)
    if detail.endswith("exists already"):
        return _error(409, "tenant_exists", detail)
    return _error(400, "invalid", detail)


def make_admin_app(
    token: str, path: Path, prometheus_url: str = "http://127.0.0.1:9090"
) -> web.Application:
    expected = f"Bearer {token}".encode()
    lock = asyncio.Lock()

    @web.middleware
    async def authenticated(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/healthz":
            return await handler(request)
        offered = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(offered, expected):
            return _error(
                401, "unauthorized", "send 'Authorization: Bearer <TEAMPULSE_ADMIN_TOKEN>'"
            )
        return await handler(request)

    async def change(edit: Callable[[dict[str, Any]], dict[str, Any]]) -> web.Response | None:
        async with lock:
            try:
                write_raw(path, edit(read_raw(path)))
            except TenantConfigError as exc:
                return _refusal(exc)
        return None

    async def list_tenants(request: web.Request) -> web.Response:
        tenants = []
        for line in listed(read_raw(path)):
            tenant, state, reach = line.split("\t")
            tenants.append({"id": tenant, "suspended": state == "suspended", "reached_by": reach})
        return web.json_response({"tenants": tenants})

    async def show(request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        try:
            entry = yaml.safe_load(described(read_raw(path), tenant))
        except TenantConfigError as exc:
            return _refusal(exc)
        return web.json_response({"tenant": tenant, "entry": entry[tenant]})

    async def create(request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        credential = ""

        def edit(raw: dict[str, Any]) -> dict[str, Any]:
            nonlocal credential
            changed, credential = created(raw, tenant)
            return changed

        refused = await change(edit)
        if refused is not None:
            return refused
        return web.json_response({"tenant": tenant, "credential": credential}, status=201)

    def suspension(suspend: bool) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            tenant = request.match_info["tenant"]
            refused = await change(lambda raw: suspended(raw, tenant, suspend))
            if refused is not None:
                return refused
            return web.json_response({"tenant": tenant, "suspended": suspend})

        return handler

    async def delete(request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        refused = await change(lambda raw: deleted(raw, tenant))
        if refused is not None:
            return refused
        return web.json_response(
            {"tenant": tenant, "deleted": True, "remains": REMAINS_AFTER_DELETE}
        )

    async def usage_of(tenants: list[str] | None) -> web.Response:
        try:
            directory = TenantDirectory.configured(load_tenants(path), Settings())
        except TenantConfigError as exc:
            return _refusal(exc)
        if tenants is not None and tenants[0] not in directory.tenants:
            return _error(404, "unknown_tenant", f"no tenant {tenants[0]!r} in the tenants file")
        chosen = sorted(directory.tenants) if tenants is None else tenants
        try:
            reports = await read_usage(prometheus_url, directory, chosen)
        except UsageUnavailable as exc:
            return _error(502, "usage_unavailable", str(exc))
        if tenants is None:
            return web.json_response({"tenants": [report.as_json() for report in reports]})
        return web.json_response(reports[0].as_json())

    async def usage(request: web.Request) -> web.Response:
        return await usage_of([request.match_info["tenant"]])

    async def usage_all(request: web.Request) -> web.Response:
        return await usage_of(None)

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app = web.Application(middlewares=[authenticated])
    app.router.add_get("/tenants", list_tenants)
    app.router.add_get("/tenants/{tenant}", show)
    app.router.add_post("/tenants/{tenant}", create)
    app.router.add_post("/tenants/{tenant}/suspend", suspension(True))
    app.router.add_post("/tenants/{tenant}/resume", suspension(False))
    app.router.add_delete("/tenants/{tenant}", delete)
    app.router.add_get("/tenants/{tenant}/usage", usage)
    app.router.add_get("/usage", usage_all)
    app.router.add_get("/healthz", healthz)
    return app


def run_admin(settings: Settings) -> None:
    if settings.tenants_file is None:
        raise SystemExit("tenant-admin needs TEAMPULSE_TENANTS_FILE (docs/tenancy.md)")
    if len(settings.admin_token) < MIN_SECRET_CHARS:
        raise SystemExit(
            f"set TEAMPULSE_ADMIN_TOKEN to a secret of at least {MIN_SECRET_CHARS} characters: "
            "the admin API creates and deletes tenants"
        )
    print(
        f"[tenant-admin] the tenant admin API on http://{settings.admin_host}:"
        f"{settings.admin_port}/tenants",
        flush=True,
    )
    web.run_app(
        make_admin_app(settings.admin_token, settings.tenants_file, settings.prometheus_url),
        host=settings.admin_host,
        port=settings.admin_port,
        print=None,
    )
