"""POST /slack/events: the Slack Events API request URL (docs/connectors/slack.md)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiohttp import web

from teampulse.connectors import slack
from teampulse.connectors.signatures import SignatureProblem
from teampulse.contract.rejections import Rejection
from teampulse.ingest.connectors import ConnectorIntake, Guard
from teampulse.tenancy.directory import Signer, TenantDirectory

__all__ = ["PATH", "PATHS", "SlackEvents", "add_routes"]

log = logging.getLogger(__name__)

PATH = "/slack/events"
PATHS = (PATH,)


class SlackEvents:
    def __init__(self, intake: ConnectorIntake) -> None:
        self.intake = intake
        # Even the url_verification handshake is signed: it is checked like any delivery.
        self.guard = Guard(
            platform=slack.SOURCE,
            enabled_by="TEAMPULSE_SLACK_SIGNING_SECRET",
            tenants_entry="slack.workspaces",
            enabled=TenantDirectory.has_slack,
            signature=self._signature_problem,
            signers=self._signers,
            signature_headers="X-Slack-Signature / X-Slack-Request-Timestamp",
            rate_limited=True,
        )

    def _signature_problem(
        self, secret: str, headers: Mapping[str, str], body: bytes
    ) -> SignatureProblem | None:
        return slack.signature_problem(secret, headers, body, self.intake.now())

    def _signers(self, _headers: Mapping[str, str], body: bytes) -> list[Signer]:
        """The workspace's tenant; every tenant's secret for a delivery that names no
        workspace (the url_verification handshake), the signature deciding."""
        directory = self.intake.tenants.directory
        workspace = slack.workspace_of(body)
        if workspace is None:
            return directory.slack_signers()
        signer = directory.slack_signer(workspace)
        return [signer] if signer is not None else []

    async def post(self, request: web.Request) -> web.StreamResponse:
        intake = self.intake
        admitted = await intake.guarded(request, self.guard)
        if isinstance(admitted, web.Response):
            return admitted
        payload, caller = admitted.payload, admitted.caller
        assert caller is not None  # the guard checks a signature
        result = slack.map_delivery(payload, intake.config.slack, caller.pseudonymiser)
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
        return await intake.write(slack.SOURCE, result, 200, caller)


def add_routes(app: web.Application, intake: ConnectorIntake) -> None:
    app.router.add_post(PATH, SlackEvents(intake).post, name="slack")
