"""`teampulse msteams-subscribe`: create or renew the Graph subscriptions (HTTP client edge).

For each Entra tenant to subscribe in:
1. a token for the Graph app in that Entra tenant by the client-credentials grant (Entra ID);
2. `GET /subscriptions`: is there one for this resource and notification URL?
3. yes: `PATCH /subscriptions/{id}` with a new expiry; no (or it vanished): `POST
   /subscriptions` with resource data encrypted for our certificate and the clientState.
Graph validates the notification and lifecycle URLs during the POST, so the ingest endpoint
must be running and reachable at TEAMPULSE_MSTEAMS_PUBLIC_URL first.

Without a tenants file there is one Entra tenant, TEAMPULSE_MSTEAMS_TENANT_ID, with
TEAMPULSE_MSTEAMS_CLIENT_STATE. With one (docs/tenancy.md), every Entra tenant of every
tenant's `msteams.entra_tenants` gets a subscription of its own with that tenant's clientState
(the one app, multi-tenant, consented to in each), so the endpoint attributes each
notification to its tenant; the file is read again at every renewal, and a suspended
tenant's subscriptions are left to expire. One Entra tenant's failure does not hold up the
others'.
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
from teampulse.tenancy.directory import tenant_directory

__all__ = [
    "SubscribeError",
    "Subscribed",
    "keep_subscribed",
    "spec_from_settings",
    "specs_from_settings",
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
    where: str = ""  # "tenant=acme entra=<guid>: " with tenants, else nothing

    def __str__(self) -> str:
        return f"{self.where}{self.action} subscription {self.id}, expires {self.expires}"


# The settings every subscription needs; without a tenants file, also the one Entra tenant
# and its clientState.
SHARED_SETTINGS = (
    "msteams_resource",
    "msteams_public_url",
    "msteams_client_id",
    "msteams_client_secret",
    "msteams_certificate_file",
)
IMPLICIT_SETTINGS = ("msteams_client_state", "msteams_tenant_id")


def _missing(settings: Settings, names: tuple[str, ...]) -> None:
    missing = [f"TEAMPULSE_{name.upper()}" for name in names if not getattr(settings, name)]
    if missing:
        raise SubscribeError("set " + ", ".join(missing))


def spec_from_settings(settings: Settings) -> SubscriptionSpec:
    """The one subscription of a deployment without tenants."""
    _missing(settings, SHARED_SETTINGS + IMPLICIT_SETTINGS)
    return _spec(settings, settings.msteams_tenant_id, settings.msteams_client_state)


def specs_from_settings(settings: Settings) -> list[tuple[str, SubscriptionSpec]]:
    """(where, spec) of every subscription to keep: the one of TEAMPULSE_MSTEAMS_TENANT_ID
    without tenants; one per Entra tenant of each tenant not suspended with them."""
    directory = tenant_directory(settings)
    if directory.implicit:
        return [("", spec_from_settings(settings))]
    _missing(settings, SHARED_SETTINGS)
    specs = [
        (f"tenant={signer.tenant} entra={entra}: ", _spec(settings, entra, signer.secret))
        for entra, signer in sorted(directory.graph_tenants().items())
        if not directory.tenants[signer.tenant].suspended
    ]
    if not specs:
        raise SubscribeError(
            "no tenant of the tenants file has an Entra tenant to subscribe in: add "
            "msteams: {entra_tenants: {<Entra tenant id>: <clientState>}} to a tenant"
        )
    return specs


def _spec(settings: Settings, entra_tenant: str, client_state: str) -> SubscriptionSpec:
    assert settings.msteams_certificate_file is not None
    try:
        certificate = x509.load_pem_x509_certificate(settings.msteams_certificate_file.read_bytes())
    except (OSError, ValueError) as exc:
        raise SubscribeError(
            f"TEAMPULSE_MSTEAMS_CERTIFICATE_FILE: not a readable PEM certificate ({exc})"
        ) from exc
    return SubscriptionSpec(
        entra_tenant=entra_tenant,
        resource=settings.msteams_resource,
        public_url=settings.msteams_public_url,
        client_state=client_state,
        certificate_b64=base64.b64encode(certificate.public_bytes(Encoding.DER)).decode(),
        certificate_id=settings.msteams_certificate_id,
        minutes=settings.msteams_subscription_minutes,
    )


async def _json(response: aiohttp.ClientResponse, what: str) -> Any:
    if response.status >= 300:
        text = (await response.text())[:300]
        raise SubscribeError(f"{what}: HTTP {response.status}: {text}")
    return await response.json(content_type=None)


async def _token(http: aiohttp.ClientSession, settings: Settings, entra_tenant: str) -> str:
    url = f"{settings.msteams_login_url.rstrip('/')}/{entra_tenant}/oauth2/v2.0/token"
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


async def subscribe_once(
    settings: Settings, now: Callable[[], float], report: Callable[[str], None]
) -> list[Subscribed]:
    """Creates or renews every subscription once, reporting each; raises SubscribeError
    naming every one that failed, after trying them all."""
    done, failed = await _round(settings, now, report)
    if failed:
        raise SubscribeError("\n".join(failed))
    return done


async def _round(
    settings: Settings, now: Callable[[], float], report: Callable[[str], None]
) -> tuple[list[Subscribed], list[str]]:
    """(what was created or renewed, why each other one failed)."""
    done: list[Subscribed] = []
    failed: list[str] = []
    for where, spec in specs_from_settings(settings):
        try:
            result = await _subscribe(spec, settings, now)
        except (aiohttp.ClientError, TimeoutError) as exc:
            failed.append(f"{where}cannot reach Entra ID or Graph: {exc!r}")
        except SubscribeError as exc:
            failed.append(f"{where}{exc}")
        else:
            done.append(Subscribed(result.action, result.id, result.expires, where))
            report(str(done[-1]))
    return done, failed


async def _subscribe(
    spec: SubscriptionSpec, settings: Settings, now: Callable[[], float]
) -> Subscribed:
    graph = settings.msteams_graph_url.rstrip("/")
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        headers = {"Authorization": f"Bearer {await _token(http, settings, spec.entra_tenant)}"}
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
) -> list[Subscribed]:
    """Subscribe, then (every_s > 0) renew every `every_s` seconds until cancelled. While
    renewing, a round where some Entra tenants failed is reported and the next round tries
    them again; a round where all failed stops, since nothing is kept alive."""
    while True:
        done, failed = await _round(settings, now, report)
        if failed and (every_s <= 0 or not done):
            raise SubscribeError("\n".join(failed))
        for problem in failed:
            report(f"not renewed, tried again in {every_s:g} s: {problem}")
        if every_s <= 0:
            return done
        await asyncio.sleep(every_s)
