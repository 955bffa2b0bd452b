"""POST /caliper/events: an IMS Caliper Sensor API endpoint (docs/connectors/caliper.md).

The sensor authenticates with a Bearer token from TEAMPULSE_INGEST_CREDENTIALS, checked by
the endpoint's middleware like every LRS client. The answers are those of Caliper 1.2 §6.1:
200 with an empty body, 400 for a malformed envelope, 415 for a body that is not JSON by its
Content-Type, 422 for a dataVersion this endpoint does not read.
"""

from __future__ import annotations

from aiohttp import web

from teampulse.connectors import caliper
from teampulse.contract.rejections import Rejection
from teampulse.ingest.connectors import ConnectorIntake, Guard
from teampulse.ingest.credentials import CALLER

__all__ = ["PATH", "CaliperSensorEndpoint", "add_routes"]

PATH = "/caliper/events"
# JSON-LD is JSON: sensors that label it so are taken as well (a leniency, written down).
JSON_TYPES = ("application/json", "application/ld+json")


class CaliperSensorEndpoint:
    def __init__(self, intake: ConnectorIntake) -> None:
        self.intake = intake
        # No signature of its own, and the rate is the Bearer token's, both checked by the
        # endpoint's middleware.
        self.guard = Guard(platform=caliper.SOURCE)

    async def post(self, request: web.Request) -> web.StreamResponse:
        intake = self.intake
        if request.content_type not in JSON_TYPES:
            return intake.refuse(
                caliper.SOURCE,
                415,
                "unsupported_media_type",
                f"Content-Type must be application/json, got {request.content_type[:60]!r}",
            )
        admitted = await intake.guarded(request, self.guard)
        if isinstance(admitted, web.Response):
            return admitted
        envelope, caller = admitted.payload, request[CALLER]
        if caller.sensor is not None:
            sent_by = envelope.get("sensor") if isinstance(envelope, dict) else None
            if sent_by != caller.sensor:
                return intake.refuse(
                    caliper.SOURCE,
                    403,
                    "sensor_token",
                    f"this token is sensor {caller.sensor}'s; the envelope names another sensor",
                )
        result = caliper.map_envelope(envelope, intake.config.caliper, caller.pseudonymiser)
        if isinstance(result, caliper.UnsupportedDataVersion):
            return intake.refuse(caliper.SOURCE, 422, "unsupported_data_version", result.detail)
        if isinstance(result, Rejection):
            return intake.rejected(caliper.SOURCE, result)
        # "The Endpoint SHOULD send back successful responses with an empty body" (6.1).
        return await intake.write(caliper.SOURCE, result, 200, caller)


def add_routes(app: web.Application, intake: ConnectorIntake) -> None:
    app.router.add_post(PATH, CaliperSensorEndpoint(intake).post, name="caliper")
