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
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from teampulse.connectors import msteams
from teampulse.connectors.canonical import Mapped
from teampulse.connectors.graph_subscription import LIFECYCLE_PATH, NOTIFICATIONS_PATH
from teampulse.contract.rejections import Rejection
from teampulse.ingest.connectors import ConnectorIntake, Guard
from teampulse.ingest.credentials import Caller
from teampulse.tenancy.directory import Signer, TenantDirectory

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
        self.private_key = load_private_key(intake.settings.msteams_private_key_file)
        # The clientState travels inside each notification, so the mapper checks it; the
        # platform's rate is taken only for genuine ones.
        self.guard = Guard(
            platform=msteams.SOURCE,
            enabled_by="TEAMPULSE_MSTEAMS_CLIENT_STATE",
            tenants_entry="msteams.entra_tenants",
            enabled=TenantDirectory.has_graph,
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
        admitted = await intake.guarded(request, self.guard)
        if isinstance(admitted, web.Response):
            return admitted
        by_tenant = self._by_tenant(admitted.payload)
        results: list[tuple[Caller, Mapped]] = []
        for signer, payload in by_tenant.items():
            caller = intake.gate.keyring.caller(signer.tenant, f"connector:{msteams.SOURCE}")
            result = msteams.map_notifications(
                payload,
                signer.secret,
                intake.config.msteams,
                caller.pseudonymiser,
                self.private_key,
            )
            if isinstance(result, Rejection):
                return intake.rejected(msteams.SOURCE, result)
            results.append((caller, result))
        answer: web.StreamResponse = web.Response(status=202)
        for caller, result in results:
            self._log(result)
            if result.events:
                # Only genuine notifications take from the bucket, so forgeries cannot
                # exhaust it.
                limited = intake.rate_limited(msteams.SOURCE, caller)
                if limited is not None:
                    return limited
            written = await intake.write(msteams.SOURCE, result, 202, caller)
            if written.status >= 300:
                return written
            answer = written
        return answer

    def _by_tenant(self, payload: Any) -> dict[Signer, Any]:
        """The notifications grouped by the tenant that holds their Entra tenant (`tenantId`),
        each group checked with that tenant's clientState. Notifications of an Entra tenant no
        tenant holds are discarded and counted, and the answer stays 202, as for any
        notification that is not genuine."""
        directory = self.intake.tenants.directory
        items = payload.get("value") if type(payload) is dict else None
        if type(items) is not list:
            # The mapper refuses the request's shape; any tenant's clientState will do.
            return {directory.graph_signers()[0]: payload}
        groups: dict[Signer, list[Any]] = {}
        unknown = 0
        for item in items:
            entra = item.get("tenantId") if type(item) is dict else None
            signer = directory.graph_signer(entra if type(entra) is str else None)
            if signer is None:
                unknown += 1
            else:
                groups.setdefault(signer, []).append(item)
        if unknown:
            self.intake.records.labels(msteams.SOURCE, "discarded", "unknown_tenant").inc(unknown)
            log.warning("Graph notification of an Entra tenant no tenant holds x%d", unknown)
        return {signer: {**payload, "value": group} for signer, group in groups.items()}

    @staticmethod
    def _log(result: Mapped) -> None:
        for reason, count in result.ignored.items():
            if reason.startswith("lifecycle_"):
                log.warning("Graph lifecycle notification %s x%d", reason, count)
        for reason, count in result.discarded.items():
            # Graph asks to investigate where such notifications come from; the answer to
            # the sender stays 202.
            log.warning("Graph notification discarded as not genuine: %s x%d", reason, count)


def add_routes(app: web.Application, intake: ConnectorIntake) -> None:
    handler = MsTeamsNotifications(intake).handle
    for path, name in ((NOTIFICATIONS_PATH, "msteams"), (LIFECYCLE_PATH, "msteams_lifecycle")):
        app.router.add_post(path, handler, name=name)
        app.router.add_get(path, handler, name=f"{name}_validation")
