"""/msteams/notifications and /msteams/lifecycle: the notificationUrl and
lifecycleNotificationUrl of a Microsoft Graph subscription (docs/connectors/msteams.md).

Graph first validates each URL: a POST (or GET) with `?validationToken=...` that must be
echoed as text/plain within 10 s. Notifications are answered 202 once written; those that
are not genuine (clientState, dataSignature) are discarded and counted, and the answer is the
same 202, as Graph's guidance asks.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from teampulse.connectors import msteams
from teampulse.connectors.graph_subscription import LIFECYCLE_PATH, NOTIFICATIONS_PATH
from teampulse.contract.rejections import Rejection
from teampulse.ingest.connectors import ConnectorIntake, Guard

__all__ = ["PATHS", "MsTeamsNotifications", "add_routes", "load_private_key"]

log = logging.getLogger(__name__)

PATHS = (NOTIFICATIONS_PATH, LIFECYCLE_PATH)


class MsTeamsConfigError(SystemExit):
    """The private key file is unreadable; the message says which setting."""


def load_private_key(path: Path | None) -> rsa.RSAPrivateKey | None:
    if path is None:
        return None
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise MsTeamsConfigError(
            f"TEAMPULSE_MSTEAMS_PRIVATE_KEY_FILE={path}: not a readable PEM private key ({exc})"
        ) from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise MsTeamsConfigError("TEAMPULSE_MSTEAMS_PRIVATE_KEY_FILE: Graph needs an RSA key")
    return key


class MsTeamsNotifications:
    def __init__(self, intake: ConnectorIntake) -> None:
        self.intake = intake
        self.client_state = intake.settings.msteams_client_state
        self.private_key = load_private_key(intake.settings.msteams_private_key_file)
        # The clientState travels inside each notification, so the mapper checks it; the
        # platform's rate is taken only for genuine ones.
        self.guard = Guard(
            platform=msteams.SOURCE,
            enabled_by="TEAMPULSE_MSTEAMS_CLIENT_STATE",
            secret=self.client_state,
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("validationToken")
        if token is not None:
            # The handshake carries no clientState: echoing a token proves only that this
            # URL answers, which is all Graph asks.
            return web.Response(text=token, content_type="text/plain")
        if request.method != "POST":
            return self.intake.refuse(
                msteams.SOURCE, 400, "validation", "a GET must carry ?validationToken="
            )
        intake = self.intake
        payload = await intake.guarded(request, self.guard)
        if isinstance(payload, web.Response):
            return payload
        result = msteams.map_notifications(
            payload,
            self.client_state,
            intake.config.msteams,
            intake.pseudonymiser,
            self.private_key,
        )
        if isinstance(result, Rejection):
            return intake.rejected(msteams.SOURCE, result)
        for reason, count in result.ignored.items():
            if reason.startswith("lifecycle_"):
                log.warning("Graph lifecycle notification %s x%d", reason, count)
        for reason, count in result.discarded.items():
            # Graph asks to investigate where such notifications come from; the answer to
            # the sender stays 202.
            log.warning("Graph notification discarded as not genuine: %s x%d", reason, count)
        if result.events:
            # Only genuine notifications take from the bucket, so forgeries cannot exhaust it.
            limited = intake.rate_limited(msteams.SOURCE)
            if limited is not None:
                return limited
        return await intake.write(msteams.SOURCE, result, 202)


def add_routes(app: web.Application, intake: ConnectorIntake) -> None:
    handler = MsTeamsNotifications(intake).handle
    for path, name in ((NOTIFICATIONS_PATH, "msteams"), (LIFECYCLE_PATH, "msteams_lifecycle")):
        app.router.add_post(path, handler, name=name)
        app.router.add_get(path, handler, name=f"{name}_validation")
