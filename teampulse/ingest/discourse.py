"""POST /discourse/webhook: a Discourse webhook's payload URL (docs/connectors/discourse.md)."""

from __future__ import annotations

from aiohttp import web

from teampulse.connectors import discourse
from teampulse.contract.rejections import Rejection
from teampulse.ingest.connectors import ConnectorIntake, disabled

__all__ = ["PATH", "PATHS", "DiscourseWebhook", "add_routes"]

PATH = "/discourse/webhook"
PATHS = (PATH,)


class DiscourseWebhook:
    def __init__(self, intake: ConnectorIntake) -> None:
        self.intake = intake
        self.secret = intake.settings.discourse_webhook_secret

    async def post(self, request: web.Request) -> web.StreamResponse:
        if not self.secret:
            return disabled("TEAMPULSE_DISCOURSE_WEBHOOK_SECRET")
        intake = self.intake
        body = await intake.body(request)
        if isinstance(body, web.Response):
            return body
        problem = discourse.signature_problem(self.secret, request.headers, body)
        if problem is not None:
            return intake.refuse(
                discourse.SOURCE, 401, problem.value, "X-Discourse-Event-Signature: sha256=<hmac>"
            )
        limited = intake.rate_limited(discourse.SOURCE)
        if limited is not None:
            return limited
        payload = intake.json(body)
        if isinstance(payload, web.Response):
            return payload
        result = discourse.map_delivery(
            request.headers, payload, intake.config.discourse, intake.pseudonymiser, intake.now()
        )
        if isinstance(result, Rejection):
            return intake.rejected(discourse.SOURCE, result)
        return await intake.write(discourse.SOURCE, result, lambda _w, _d: web.Response(status=200))


def add_routes(app: web.Application, intake: ConnectorIntake) -> None:
    app.router.add_post(PATH, DiscourseWebhook(intake).post, name="discourse")
