"""What the connector routes share: the guarded preamble and the write path (HTTP edge).

Each platform module (slack, msteams, discourse, caliper) declares how its sender proves
itself (a `Guard`); `ConnectorIntake.guarded` runs the preamble every route has, in one
order: the connector enabled, the body read (size-limited), the signature over its exact
bytes, the platform's rate, the JSON parsed. The platform module hands the pure mapper's
result (teampulse.connectors) to `write`:
* ids already written recently are duplicates (a platform's retry): counted, not written;
* the rest go through the POST /events path: validated as canonical events, produced to the
  events topic, and acknowledged by Kafka before the platform gets its answer;
* every outcome is counted in `teampulse_connector_records_total{platform,outcome,reason}`,
  including the items a platform's rules say to acknowledge and drop (`discarded`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from teampulse.connectors.canonical import Mapped
from teampulse.connectors.config import CONNECTORS_FILE, ConnectorConfig
from teampulse.connectors.signatures import SignatureProblem
from teampulse.contract.events import EventValidator
from teampulse.contract.intake import Refusal, plan_events
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Rejection
from teampulse.ingest.credentials import Gate
from teampulse.ingest.request_body import json_body, read_body
from teampulse.ingest.responses import error_response
from teampulse.ingest.write import IngestWriter
from teampulse.settings import Settings

__all__ = ["ConnectorIntake", "Guard"]

EVENTS_ROUTE = "events"  # connectors write canonical events, as POST /events does

SignatureCheck = Callable[[Mapping[str, str], bytes], SignatureProblem | None]


@dataclass(frozen=True)
class Guard:
    """How a connector route admits a request before its payload is read."""

    platform: str
    enabled_by: str | None = None  # the setting without which the route answers 403
    secret: str = ""  # that setting's value
    signature: SignatureCheck | None = None  # checked over the raw body; 401 when it fails
    signature_headers: str = ""  # named in the 401's detail
    # Take from the platform's bucket once the signature holds (the signing secret is the
    # platform's credential). Caliper sensors are limited by their Bearer token instead, and
    # Graph only for genuine notifications, which its mapper tells apart.
    rate_limited: bool = False


class ConnectorIntake:
    """What the platform handlers share: config, pseudonymiser, counters, the guard, the write."""

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float],
        gate: Gate,
        writer: IngestWriter,
        validator: EventValidator,
        registry: CollectorRegistry,
    ) -> None:
        self.settings = settings
        self.now = clock
        self.gate = gate
        self.writer = writer
        self.validator = validator
        self.config = ConnectorConfig.load(settings.config_file(CONNECTORS_FILE))
        self.pseudonymiser = Pseudonymiser(settings.pseudonym_secret)
        self.records = Counter(
            "teampulse_connector_records",
            "Records received from discussion platforms and Caliper, by outcome "
            "(written, duplicate, ignored, discarded, refused) and reason",
            ["platform", "outcome", "reason"],
            registry=registry,
        )

    async def guarded(self, request: web.Request, guard: Guard) -> Any | web.Response:
        """The request's parsed JSON once `guard` admits it, or the answer that refuses it."""
        if guard.enabled_by is not None and not guard.secret:
            return error_response(
                403, "connector_disabled", f"set {guard.enabled_by} to enable this connector"
            )
        body = await read_body(request, self.settings.ingest_max_body_bytes)
        if isinstance(body, web.Response):
            return body
        if guard.signature is not None:
            problem = guard.signature(request.headers, body)
            if problem is not None:
                return self.refuse(guard.platform, 401, problem.value, guard.signature_headers)
        if guard.rate_limited:
            limited = self.rate_limited(guard.platform)
            if limited is not None:
                return limited
        return json_body(body)

    def refuse(self, platform: str, status: int, error: str, detail: str) -> web.Response:
        self.records.labels(platform, "refused", error).inc()
        return error_response(status, error, detail)

    def rate_limited(self, platform: str) -> web.Response | None:
        """The 429 for a platform past its request rate, or None (a token was taken)."""
        refused = self.gate.rate_limited(f"connector:{platform}")
        if refused is not None:
            self.records.labels(platform, "refused", "rate_limited").inc()
        return refused

    def rejected(self, platform: str, rejection: Rejection) -> web.Response:
        return self.refuse(platform, 400, rejection.reason.value, rejection.detail)

    async def write(self, platform: str, mapped: Mapped, status: int) -> web.StreamResponse:
        """Write what is new; answer `status`, with no body, once Kafka acknowledged it (what
        happened is counted on /metrics)."""
        for outcome, reasons in (("ignored", mapped.ignored), ("discarded", mapped.discarded)):
            for reason, count in reasons.items():
                self.records.labels(platform, outcome, reason).inc(count)
        recent = self.writer.recent[EVENTS_ROUTE]
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
            self.validator,
            now=self.now(),
            max_record_bytes=self.settings.max_event_bytes,
        )
        response = await self.writer.write(
            EVENTS_ROUTE,
            intake,
            len(fresh),
            lambda _intake: web.Response(status=status),
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
