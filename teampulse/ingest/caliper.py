"""POST /caliper/events: an IMS Caliper Sensor API endpoint (docs/connectors/caliper.md).

The sensor authenticates with a Bearer token from TEAMPULSE_INGEST_CREDENTIALS, checked by
the endpoint's middleware like every LRS client.
"""

from __future__ import annotations

from aiohttp import web

from teampulse.connectors import caliper
from teampulse.contract.rejections import Rejection
from teampulse.ingest.connectors import ConnectorIntake

__all__ = ["PATH", "CaliperSensorEndpoint", "add_routes"]

PATH = "/caliper/events"


class CaliperSensorEndpoint:
    def __init__(self, intake: ConnectorIntake) -> None:
        self.intake = intake

    async def post(self, request: web.Request) -> web.StreamResponse:
        intake = self.intake
        body = await intake.body(request)
        if isinstance(body, web.Response):
            return body
        envelope = intake.json(body)
        if isinstance(envelope, web.Response):
            return envelope
        result = caliper.map_envelope(envelope, intake.config.caliper, intake.pseudonymiser)
        if isinstance(result, Rejection):
            return intake.rejected(caliper.SOURCE, result)
        ignored = sum(result.ignored.values())

        def answer(written: int, duplicates: int) -> web.StreamResponse:
            return web.json_response(
                {"written": written, "duplicates": duplicates, "ignored": ignored}
            )

        return await intake.write(caliper.SOURCE, result, answer)


def add_routes(app: web.Application, intake: ConnectorIntake) -> None:
    app.router.add_post(PATH, CaliperSensorEndpoint(intake).post, name="caliper")
