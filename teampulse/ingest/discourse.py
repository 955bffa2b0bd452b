"""POST /discourse/webhook: a Discourse webhook's payload URL (docs/connectors/discourse.md)."""

from __future__ import annotations

from aiohttp import web

from teampulse.connectors import discourse
from teampulse.contract.rejections import Rejection
from teampulse.ingest.connectors import ConnectorIntake, Guard

__all__ = ["PATH", "PATHS", "DiscourseWebhook", "add_routes"]

PATH = "/discourse/webhook"
PATHS = (PATH,)


class DiscourseWebhook:
    def __init__(self, intake: ConnectorIntake) -> None:
        self.intake = intake
        secret = intake.settings.discourse_webhook_secret
        self.guard = Guard(
            platform=discourse.SOURCE,
            enabled_by="TEAMPULSE_DISCOURSE_WEBHOOK_SECRET",
            secret=secret,
            signature=lambda headers, body: discourse.signature_problem(secret, headers, body),
            signature_headers="X-Discourse-Event-Signature: sha256=<hmac>",
            rate_limited=True,
        )

    async def post(self, request: web.Request) -> web.StreamResponse:
        intake = self.intake
        payload = await intake.guarded(request, self.guard)
        if isinstance(payload, web.Response):
            return payload
        result = discourse.map_delivery(
            request.headers, payload, intake.config.discourse, intake.pseudonymiser, intake.now()
        )
        if isinstance(result, Rejection):
            return intake.rejected(discourse.SOURCE, result)
        return await intake.write(discourse.SOURCE, result, 200)


def add_routes(app: web.Application, intake: ConnectorIntake) -> None:
    app.router.add_post(PATH, DiscourseWebhook(intake).post, name="discourse")
