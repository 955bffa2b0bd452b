"""`teampulse notify`: Alertmanager's webhook receiver that posts to Microsoft Teams.

Alertmanager 0.25 (Debian's) has no receiver for Teams, and Microsoft retired the Office 365
connectors it could have used; Teams takes Workflows webhooks carrying Adaptive Cards. This
server takes Alertmanager's webhook (`POST /alerts`, any path below it) and posts one card
per notification to `TEAMPULSE_NOTIFY_TEAMS_WEBHOOK_URL`.

Answers: 200 once Teams accepted the card; 400 with the reason for a body that is not an
Alertmanager payload (Alertmanager does not retry a 4xx); 503 when Teams did not accept it,
so that Alertmanager retries the notification later.
"""

from __future__ import annotations

import logging

import aiohttp
import orjson
from aiohttp import web

from teampulse.notify.message import notices, teams_message
from teampulse.settings import Settings

__all__ = ["make_notify_app", "run_notify"]

log = logging.getLogger(__name__)
POST_TIMEOUT_S = 10.0


def make_notify_app(settings: Settings) -> web.Application:
    web_url = settings.webapp_url

    async def receive(request: web.Request) -> web.Response:
        try:
            payload = orjson.loads(await request.read())
            if not isinstance(payload, dict):
                raise ValueError("the body is not a JSON object")
            items = notices(payload, web_url)
        except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
            return web.json_response({"error": "bad_payload", "detail": str(exc)}, status=400)
        if not items:
            return web.json_response({"delivered": 0})
        target = settings.notify_teams_webhook_url
        if not target:
            return web.json_response(
                {
                    "error": "not_configured",
                    "detail": "set TEAMPULSE_NOTIFY_TEAMS_WEBHOOK_URL to the Teams Workflows "
                    "webhook of the channel",
                },
                status=503,
            )
        timeout = aiohttp.ClientTimeout(total=POST_TIMEOUT_S)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(target, json=teams_message(items, web_url)) as answer,
            ):
                if answer.status >= 300:
                    text = (await answer.text())[:200]
                    raise aiohttp.ClientError(f"Teams answered {answer.status}: {text}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("posting %d alert(s) to Teams failed: %s", len(items), exc)
            return web.json_response({"error": "teams_unavailable", "detail": str(exc)}, status=503)
        return web.json_response({"delivered": len(items)})

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_post("/alerts", receive)
    app.router.add_post("/alerts/{tail:.*}", receive)
    app.router.add_get("/healthz", healthz)
    return app


def run_notify(settings: Settings) -> None:
    where = f"http://{settings.notify_host}:{settings.notify_port}/alerts"
    print(f"[notify] Alertmanager webhook receiver on {where}", flush=True)
    web.run_app(
        make_notify_app(settings),
        host=settings.notify_host,
        port=settings.notify_port,
        print=None,
        access_log=None,
    )
