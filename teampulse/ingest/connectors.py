"""The connector routes of the ingest endpoint, and the write path they share (HTTP edge).

Each platform module (slack, msteams, discourse, caliper) checks its signature, parses the
body once and hands the pure mapper's result (teampulse.connectors) here:
* ids already written recently are duplicates (a platform's retry): counted, not written;
* the rest go through the POST /events path: validated as canonical events, produced to the
  events topic, and acknowledged by Kafka before the platform gets its answer;
* every outcome is counted in `teampulse_connector_records_total{platform,outcome,reason}`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from prometheus_client import Counter

from teampulse.connectors.canonical import Mapped
from teampulse.connectors.config import CONNECTORS_FILE, ConnectorConfig
from teampulse.contract.intake import Refusal, plan_events
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Rejection
from teampulse.ingest.responses import error_response as refusal

if TYPE_CHECKING:
    from teampulse.ingest.http import IngestEndpoint

__all__ = ["ConnectorIntake", "add_connector_routes", "disabled", "refusal"]

EVENTS_ROUTE = "events"  # connectors write canonical events, as POST /events does


def disabled(setting: str) -> web.Response:
    return refusal(403, "connector_disabled", f"set {setting} to enable this connector")


class ConnectorIntake:
    """What the platform handlers share: config, pseudonymiser, counters, the write."""

    def __init__(self, endpoint: IngestEndpoint) -> None:
        self.endpoint = endpoint
        self.settings = endpoint.settings
        self.config = ConnectorConfig.load(endpoint.settings.config_file(CONNECTORS_FILE))
        self.pseudonymiser = Pseudonymiser(endpoint.settings.pseudonym_secret)
        self.records = Counter(
            "teampulse_connector_records",
            "Records received from discussion platforms and Caliper, by outcome "
            "(written, duplicate, ignored, refused) and reason",
            ["platform", "outcome", "reason"],
            registry=endpoint.registry,
        )

    def now(self) -> float:
        return self.endpoint.clock()

    async def body(self, request: web.Request) -> bytes | web.Response:
        return await self.endpoint.read_body(request)

    @staticmethod
    def json(body: bytes) -> Any | web.Response:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return refusal(400, "not_json", str(exc)[:200])

    def refuse(self, platform: str, status: int, error: str, detail: str) -> web.Response:
        self.records.labels(platform, "refused", error).inc()
        return refusal(status, error, detail)

    def rate_limited(self, platform: str) -> web.Response | None:
        """The 429 for a signed platform past its request rate, or None. Call it once the
        signature holds: the signing secret is the platform's credential."""
        refused = self.endpoint.rate_limited(f"connector:{platform}")
        if refused is not None:
            self.records.labels(platform, "refused", "rate_limited").inc()
        return refused

    def rejected(self, platform: str, rejection: Rejection) -> web.Response:
        return self.refuse(platform, 400, rejection.reason.value, rejection.detail)

    async def write(
        self, platform: str, mapped: Mapped, answer: Callable[[int, int], web.StreamResponse]
    ) -> web.StreamResponse:
        """Write what is new; `answer(written, duplicates)` once Kafka acknowledged it."""
        for reason, count in mapped.ignored.items():
            self.records.labels(platform, "ignored", reason).inc(count)
        recent = self.endpoint.recent[EVENTS_ROUTE]
        fresh: dict[str, dict[str, Any]] = {}
        duplicates = 0
        for event in mapped.events:
            # A known id is the same fact delivered again (a retry, or a topic and its first
            # post): the first delivery stands, whatever the second carries.
            if event["id"] in fresh or recent.digest_of(event["id"]) is not None:
                duplicates += 1
            else:
                fresh[event["id"]] = event
        intake = plan_events(
            list(fresh.values()),
            recent,
            self.endpoint.validator,
            now=self.now(),
            max_record_bytes=self.settings.max_event_bytes,
        )
        response = await self.endpoint.write_events(
            intake, len(fresh), lambda i: answer(len(i.new), duplicates + len(i.unchanged))
        )
        if response.status < 300:
            self.records.labels(platform, "written", "").inc(len(fresh))
            if duplicates:
                self.records.labels(platform, "duplicate", "").inc(duplicates)
        else:
            # a Refusal names its error; otherwise it is a conflict (409) or Kafka (503)
            reason = intake.error if isinstance(intake, Refusal) else f"http_{response.status}"
            self.records.labels(platform, "refused", reason).inc(len(fresh))
        return response


def add_connector_routes(app: web.Application, endpoint: IngestEndpoint) -> None:
    """Mount Slack, Microsoft Teams, Discourse and Caliper on the ingest application."""
    from teampulse.ingest import caliper, discourse, msteams, slack

    intake = ConnectorIntake(endpoint)
    for module in (slack, msteams, discourse):
        # These platforms sign their requests themselves; the ingest credentials are for
        # LRS clients and Caliper sensors.
        endpoint.open_paths.update(module.PATHS)
        module.add_routes(app, intake)
    caliper.add_routes(app, intake)
