"""POST /slack/events: the Slack Events API request URL (docs/connectors/slack.md)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiohttp import web

from teampulse.connectors import slack
from teampulse.connectors.signatures import SignatureProblem
from teampulse.contract.rejections import Rejection
from teampulse.ingest.connectors import ConnectorIntake, Guard

__all__ = ["PATH", "PATHS", "SlackEvents", "add_routes"]

log = logging.getLogger(__name__)

PATH = "/slack/events"
PATHS = (PATH,)


class SlackEvents:
    def __init__(self, intake: ConnectorIntake) -> None:
        self.intake = intake
        secret = intake.settings.slack_signing_secret
        # Even the url_verification handshake is signed: it is checked like any delivery.
        self.guard = Guard(
            platform=slack.SOURCE,
            enabled_by="TEAMPULSE_SLACK_SIGNING_SECRET",
            secret=secret,
            signature=self._signature_problem,
            signature_headers="X-Slack-Signature / X-Slack-Request-Timestamp",
            rate_limited=True,
        )

    def _signature_problem(
        self, headers: Mapping[str, str], body: bytes
    ) -> SignatureProblem | None:
        return slack.signature_problem(self.guard.secret, headers, body, self.intake.now())

    async def post(self, request: web.Request) -> web.StreamResponse:
        intake = self.intake
        payload = await intake.guarded(request, self.guard)
        if isinstance(payload, web.Response):
            return payload
        result = slack.map_delivery(payload, intake.config.slack, intake.pseudonymiser)
        if isinstance(result, Rejection):
            refused = intake.rejected(slack.SOURCE, result)
            # Slack would send the same unmappable delivery three more times; say not to.
            refused.headers["X-Slack-No-Retry"] = "1"
            return refused
        if isinstance(result, slack.Challenge):
            return web.Response(text=result.challenge, content_type="text/plain")
        if payload.get("type") == "app_rate_limited":  # a Mapped result: payload is an object
            log.warning(
                "Slack is rate-limiting this app's events (more than it may send an hour "
                "from one workspace): some events are not delivered"
            )
        return await intake.write(slack.SOURCE, result, 200)


def add_routes(app: web.Application, intake: ConnectorIntake) -> None:
    app.router.add_post(PATH, SlackEvents(intake).post, name="slack")
