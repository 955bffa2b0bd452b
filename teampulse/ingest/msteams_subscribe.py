"""`teampulse msteams-subscribe`: create or renew the Graph subscription (HTTP client edge).

1. a token for the Graph app by the client-credentials grant (Entra ID);
2. `GET /subscriptions`: is there one for this resource and notification URL?
3. yes: `PATCH /subscriptions/{id}` with a new expiry; no (or it vanished): `POST
   /subscriptions` with resource data encrypted for our certificate and our clientState.
Graph validates the notification and lifecycle URLs during the POST, so the ingest endpoint
must be running and reachable at TEAMPULSE_MSTEAMS_PUBLIC_URL first.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from teampulse.connectors.graph_subscription import (
    SubscriptionSpec,
    create_body,
    existing_subscription,
    renew_body,
)
from teampulse.settings import Settings

__all__ = [
    "SubscribeError",
    "Subscribed",
    "keep_subscribed",
    "spec_from_settings",
    "subscribe_once",
]

log = logging.getLogger(__name__)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
REQUEST_TIMEOUT_S = 30  # Graph waits up to 10 s for our validation answer during a POST


class SubscribeError(SystemExit):
    """The subscription could not be made; the message says what Graph or Entra ID said."""


@dataclass(frozen=True, slots=True)
class Subscribed:
    action: str  # "created" or "renewed"
    id: str
    expires: str

    def __str__(self) -> str:
        return f"{self.action} subscription {self.id}, expires {self.expires}"


def spec_from_settings(settings: Settings) -> SubscriptionSpec:
    missing = [
        f"TEAMPULSE_{name.upper()}"
        for name in (
            "msteams_resource",
            "msteams_public_url",
            "msteams_client_state",
            "msteams_tenant_id",
            "msteams_client_id",
            "msteams_client_secret",
            "msteams_certificate_file",
        )
        if not getattr(settings, name)
    ]
    if missing:
        raise SubscribeError("set " + ", ".join(missing))
    assert settings.msteams_certificate_file is not None
    try:
        certificate = x509.load_pem_x509_certificate(settings.msteams_certificate_file.read_bytes())
    except (OSError, ValueError) as exc:
        raise SubscribeError(
            f"TEAMPULSE_MSTEAMS_CERTIFICATE_FILE: not a readable PEM certificate ({exc})"
        ) from exc
    return SubscriptionSpec(
        resource=settings.msteams_resource,
        public_url=settings.msteams_public_url,
        client_state=settings.msteams_client_state,
        certificate_b64=base64.b64encode(certificate.public_bytes(Encoding.DER)).decode(),
        certificate_id=settings.msteams_certificate_id,
        minutes=settings.msteams_subscription_minutes,
    )


async def _json(response: aiohttp.ClientResponse, what: str) -> Any:
    if response.status >= 300:
        text = (await response.text())[:300]
        raise SubscribeError(f"{what}: HTTP {response.status}: {text}")
    return await response.json(content_type=None)


async def _token(http: aiohttp.ClientSession, settings: Settings) -> str:
    url = f"{settings.msteams_login_url.rstrip('/')}/{settings.msteams_tenant_id}/oauth2/v2.0/token"
    form = {
        "client_id": settings.msteams_client_id,
        "client_secret": settings.msteams_client_secret,
        "scope": GRAPH_SCOPE,
        "grant_type": "client_credentials",
    }
    async with http.post(url, data=form) as response:
        token = (await _json(response, "token request")).get("access_token")
    if not isinstance(token, str):
        raise SubscribeError("token request: the answer has no access_token")
    return token


async def subscribe_once(settings: Settings, now: Callable[[], float]) -> Subscribed:
    try:
        return await _subscribe(spec_from_settings(settings), settings, now)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SubscribeError(f"cannot reach Entra ID or Graph: {exc!r}") from exc


async def _subscribe(
    spec: SubscriptionSpec, settings: Settings, now: Callable[[], float]
) -> Subscribed:
    graph = settings.msteams_graph_url.rstrip("/")
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        headers = {"Authorization": f"Bearer {await _token(http, settings)}"}
        async with http.get(f"{graph}/subscriptions", headers=headers) as response:
            known = existing_subscription(await _json(response, "list subscriptions"), spec)
        if known is not None:
            async with http.patch(
                f"{graph}/subscriptions/{known}", json=renew_body(spec, now()), headers=headers
            ) as response:
                if response.status != 404:  # 404: it expired meanwhile; create a new one
                    renewed = await _json(response, "renew subscription")
                    return Subscribed("renewed", known, str(renewed.get("expirationDateTime")))
        async with http.post(
            f"{graph}/subscriptions", json=create_body(spec, now()), headers=headers
        ) as response:
            created = await _json(response, "create subscription")
    return Subscribed("created", str(created.get("id")), str(created.get("expirationDateTime")))


async def keep_subscribed(
    settings: Settings, now: Callable[[], float], every_s: float, report: Callable[[str], None]
) -> Subscribed:
    """Subscribe, then (every_s > 0) renew every `every_s` seconds until cancelled."""
    while True:
        result = await subscribe_once(settings, now)
        report(str(result))
        if every_s <= 0:
            return result
        await asyncio.sleep(every_s)
