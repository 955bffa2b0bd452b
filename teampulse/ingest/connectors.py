"""What the connector routes share: the guarded preamble and the write path (HTTP edge).

Each platform module (slack, msteams, discourse, caliper) declares how its sender proves
itself (a `Guard`); `ConnectorIntake.guarded` runs the preamble every route has, in one
order: the connector enabled, the body read (size-limited), the signature over its exact
bytes with the secret of the tenant that holds the sender (its Slack workspace, its forum;
docs/tenancy.md), that tenant's rate, the JSON parsed. The platform module hands the pure mapper's
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
from teampulse.contract.rejections import Rejection
from teampulse.ingest.credentials import Caller, Gate
from teampulse.ingest.request_body import json_body, read_body
from teampulse.ingest.responses import error_response
from teampulse.ingest.write import IngestWriter
from teampulse.settings import Settings
from teampulse.tenancy.directory import Signer, TenantDirectory
from teampulse.tenancy.source import TenantsSource

__all__ = ["Admitted", "ConnectorIntake", "Guard"]

EVENTS_ROUTE = "events"  # connectors write canonical events, as POST /events does

# (secret, headers, raw body) -> the problem, or None when the body is signed with the secret
SignatureCheck = Callable[[str, Mapping[str, str], bytes], SignatureProblem | None]
# (headers, raw body) -> the tenants (and their secrets) that may have signed this request
SignersOf = Callable[[Mapping[str, str], bytes], list[Signer]]


@dataclass(frozen=True)
class Guard:
    """How a connector route admits a request before its payload is read."""

    platform: str
    enabled_by: str | None = None  # the setting without which the route answers 403
    tenants_entry: str = ""  # the entry of a tenant that enables it, with tenants
    enabled: Callable[[TenantDirectory], bool] | None = None
    signature: SignatureCheck | None = None  # checked over the raw body; 401 when it fails
    signers: SignersOf | None = None  # whose secrets `signature` is tried with
    signature_headers: str = ""  # named in the 401's detail
    # Take from the platform's bucket once the signature holds (the signing secret is the
    # platform's credential). Caliper sensors are limited by their Bearer token instead, and
    # Graph only for genuine notifications, which its mapper tells apart.
    rate_limited: bool = False


@dataclass(frozen=True)
class Admitted:
    payload: Any  # the parsed JSON
    caller: Caller | None  # the tenant proved by the signature (None: the route decides)


class ConnectorIntake:
    """What the platform handlers share: config, tenants, counters, the guard, the write."""

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float],
        gate: Gate,
        writer: IngestWriter,
        validator: EventValidator,
        registry: CollectorRegistry,
        tenants: TenantsSource,
    ) -> None:
        self.settings = settings
        self.now = clock
        self.gate = gate
        self.writer = writer
        self.validator = validator
        self.tenants = tenants
        self.config = ConnectorConfig.load(settings.config_file(CONNECTORS_FILE))
        self.records = Counter(
            "teampulse_connector_records",
            "Records received from discussion platforms and Caliper, by outcome "
            "(written, duplicate, ignored, discarded, refused) and reason",
            ["platform", "outcome", "reason"],
            registry=registry,
        )

    async def guarded(self, request: web.Request, guard: Guard) -> Admitted | web.Response:
        """The request's parsed JSON once `guard` admits it, or the answer that refuses it."""
        directory = self.tenants.directory
        if guard.enabled is not None and not guard.enabled(directory):
            where = (
                f"set {guard.enabled_by}"
                if directory.implicit
                else f"give a tenant `{guard.tenants_entry}` in the tenants file"
            )
            return error_response(403, "connector_disabled", f"{where} to enable this connector")
        body = await read_body(request, self.settings.ingest_max_body_bytes)
        if isinstance(body, web.Response):
            return body
        caller = None
        if guard.signature is not None and guard.signers is not None:
            signed = self._signed_by(guard, guard.signers(request.headers, body), request, body)
            if isinstance(signed, web.Response):
                return signed
            caller = self.gate.keyring.caller(signed, f"connector:{guard.platform}")
            if guard.rate_limited:
                limited = self.rate_limited(guard.platform, caller)
                if limited is not None:
                    return limited
        parsed = json_body(body)
        if isinstance(parsed, web.Response):
            return parsed
        return Admitted(parsed, caller)

    def _signed_by(
        self, guard: Guard, signers: list[Signer], request: web.Request, body: bytes
    ) -> str | web.Response:
        """The tenant whose secret signed `body`, or the refusal: 403 when no tenant holds
        the sender, 401 when none of the candidate secrets signed it."""
        assert guard.signature is not None
        if not signers:
            return self.refuse(
                guard.platform,
                403,
                "unknown_tenant",
                f"no tenant holds this {guard.platform} sender: add it under "
                f"`{guard.tenants_entry}` of a tenant in the tenants file",
            )
        problem: SignatureProblem | None = None
        for signer in signers:
            problem = guard.signature(signer.secret, request.headers, body)
            if problem is None:
                return signer.tenant
        assert problem is not None
        return self.refuse(guard.platform, 401, problem.value, guard.signature_headers)

    def refuse(self, platform: str, status: int, error: str, detail: str) -> web.Response:
        self.records.labels(platform, "refused", error).inc()
        return error_response(status, error, detail)

    def rate_limited(self, platform: str, caller: Caller) -> web.Response | None:
        """The 403 of a suspended tenant or the 429 of a platform (or, with tenants, a
        tenant) past its request rate; None when a token was taken."""
        refused = self.gate.refused(caller.tenant, caller.name)
        if refused is not None:
            reason = "rate_limited" if refused.status == 429 else "tenant_suspended"
            self.records.labels(platform, "refused", reason).inc()
        return refused

    def rejected(self, platform: str, rejection: Rejection) -> web.Response:
        return self.refuse(platform, 400, rejection.reason.value, rejection.detail)

    async def write(
        self, platform: str, mapped: Mapped, status: int, caller: Caller
    ) -> web.StreamResponse:
        """Write what is new for `caller`'s tenant; answer `status`, with no body, once Kafka
        acknowledged it (what happened is counted on /metrics)."""
        for outcome, reasons in (("ignored", mapped.ignored), ("discarded", mapped.discarded)):
            for reason, count in reasons.items():
                self.records.labels(platform, outcome, reason).inc(count)
        recent = self.writer.recent(caller.tenant, EVENTS_ROUTE)
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
            caller.tenant,
            caller.record_headers,
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
