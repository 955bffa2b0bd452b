"""POST /slack/events: the Slack Events API request URL (docs/connectors/slack.md)."""

from __future__ import annotations

from aiohttp import web

from teampulse.connectors import slack
from teampulse.contract.rejections import Rejection
from teampulse.ingest.connectors import ConnectorIntake, disabled

__all__ = ["PATH", "PATHS", "SlackEvents", "add_routes"]

PATH = "/slack/events"
PATHS = (PATH,)


class SlackEvents:
    def __init__(self, intake: ConnectorIntake) -> None:
        self.intake = intake
        self.secret = intake.settings.slack_signing_secret

    async def post(self, request: web.Request) -> web.StreamResponse:
        if not self.secret:
            return disabled("TEAMPULSE_SLACK_SIGNING_SECRET")
        intake = self.intake
        body = await intake.body(request)
        if isinstance(body, web.Response):
            return body
        # Even the url_verification handshake is signed: check before anything else.
        problem = slack.signature_problem(self.secret, request.headers, body, intake.now())
        if problem is not None:
            return intake.refuse(
                slack.SOURCE, 401, problem.value, "X-Slack-Signature / X-Slack-Request-Timestamp"
            )
        limited = intake.rate_limited(slack.SOURCE)
        if limited is not None:
            return limited
        payload = intake.json(body)
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
        return await intake.write(slack.SOURCE, result, _ok)


def _ok(_written: int, _duplicates: int) -> web.StreamResponse:
    return web.Response(status=200)


def add_routes(app: web.Application, intake: ConnectorIntake) -> None:
    app.router.add_post(PATH, SlackEvents(intake).post, name="slack")
