"""POST /discourse/webhook: a Discourse webhook's payload URL (docs/connectors/discourse.md)."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from teampulse.connectors import discourse
from teampulse.contract.rejections import Rejection
from teampulse.ingest.connectors import ConnectorIntake, Guard
from teampulse.tenancy.directory import Signer, TenantDirectory

__all__ = ["PATH", "PATHS", "DiscourseWebhook", "add_routes"]

PATH = "/discourse/webhook"
PATHS = (PATH,)
INSTANCE_HEADER = "X-Discourse-Instance"  # the forum's base URL, sent with every webhook


class DiscourseWebhook:
    def __init__(self, intake: ConnectorIntake) -> None:
        self.intake = intake
        self.guard = Guard(
            platform=discourse.SOURCE,
            enabled_by="TEAMPULSE_DISCOURSE_WEBHOOK_SECRET",
            tenants_entry="discourse.forums",
            enabled=TenantDirectory.has_forums,
            signature=discourse.signature_problem,
            signers=self._signers,
            signature_headers="X-Discourse-Event-Signature: sha256=<hmac>",
            rate_limited=True,
        )

    def _signers(self, headers: Mapping[str, str], _body: bytes) -> list[Signer]:
        """The tenant of the forum the X-Discourse-Instance header names."""
        signer = self.intake.tenants.directory.forum_signer(headers.get(INSTANCE_HEADER))
        return [signer] if signer is not None else []

    async def post(self, request: web.Request) -> web.StreamResponse:
        intake = self.intake
        admitted = await intake.guarded(request, self.guard)
        if isinstance(admitted, web.Response):
            return admitted
        caller = admitted.caller
        assert caller is not None  # the guard checks a signature
        result = discourse.map_delivery(
            request.headers,
            admitted.payload,
            intake.config.discourse,
            caller.pseudonymiser,
            intake.now(),
        )
        if isinstance(result, Rejection):
            return intake.rejected(discourse.SOURCE, result)
        return await intake.write(discourse.SOURCE, result, 200, caller)


def add_routes(app: web.Application, intake: ConnectorIntake) -> None:
    app.router.add_post(PATH, DiscourseWebhook(intake).post, name="discourse")
