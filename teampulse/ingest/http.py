"""`teampulse ingest`: the statement-writing part of an xAPI LRS, POST /events and the
connectors, served over HTTP.

Routes (docs/xapi.md, docs/events.md, docs/connectors/):
* `POST /xAPI/statements`: one statement or an array -> 200 with the list of ids;
* `PUT /xAPI/statements?statementId=<uuid>`: one statement -> 204;
* `POST /xAPI/statements?method=PUT|POST`: the Alternate Request Syntax (headers, statementId
  and the body as form fields) -> as the request it stands for;
* `GET /xAPI/about`: the versions spoken (no credentials needed, as the spec says);
* `POST /events`: canonical events as a JSON array, one object, or NDJSON -> 200 with ids;
* the connector routes (teampulse.ingest.connector_routes);
* `GET /metrics`: this process's request and record counters.

What an LRS must do, this does, each concern in its module: credentials and their rate
(credentials), the version header and the Alternate Request Syntax (xapi_syntax), attachments
(multipart), the write path that answers only once Kafka acknowledged (write), the producer
(producer). A body over TEAMPULSE_INGEST_MAX_BODY_BYTES is 413; a batch is all or nothing
(400 with a JSON `{"error", "detail"}`); duplicate ids in a batch are 400; a known id with
other content is 409, with the same content a success without writing again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from teampulse.contract.attachments import Part, check_parts
from teampulse.contract.events import EventValidator
from teampulse.contract.framing import split_json_records
from teampulse.contract.intake import plan_events, plan_statements
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Rejection
from teampulse.contract.timestamps import format_rfc3339
from teampulse.ingest.caliper import PATH as CALIPER_PATH
from teampulse.ingest.connector_routes import add_connector_routes
from teampulse.ingest.connectors import ConnectorIntake
from teampulse.ingest.credentials import (
    CALLER,
    Caller,
    Credentials,
    Gate,
    require_credentials,
)
from teampulse.ingest.multipart import statements_and_parts
from teampulse.ingest.producer import KafkaProducer, ingest_producer
from teampulse.ingest.request_body import json_body, read_body
from teampulse.ingest.responses import error_response
from teampulse.ingest.tenant_metrics import TenantsCollector
from teampulse.ingest.write import RECENT_IDS, IngestWriter, planned, recall_recent_ids
from teampulse.ingest.xapi_syntax import (
    SPOKEN_VERSIONS,
    VERSION_HEADER,
    XAPI_VERSION,
    alternate_error,
    answered_version,
    assumed_versions,
    form_fields,
    statement_version,
)
from teampulse.settings import Settings
from teampulse.tenancy.door import keyed_event, keyed_statement
from teampulse.tenancy.source import TenantsSource

__all__ = ["ENDPOINT", "IngestEndpoint", "build_ingest_app", "serve_ingest"]

log = logging.getLogger(__name__)

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class IngestEndpoint:
    """The handlers of the LRS and events routes, and what every request passes through."""

    def __init__(
        self,
        settings: Settings,
        producer: KafkaProducer,
        *,
        clock: Callable[[], float],
        recent_ids: int = RECENT_IDS,
        registry: CollectorRegistry | None = None,
        tenants: TenantsSource | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.tenants = tenants or TenantsSource(settings)
        self.gate = Gate(settings, self.tenants)
        self.assumed_versions = assumed_versions(settings, self.gate.keyring.users)
        self.validator = EventValidator(settings, Pseudonymiser(settings.pseudonym_secret))
        self.open_paths = {"/xAPI/about", "/metrics"}  # no ingest credentials asked
        self.registry = registry or CollectorRegistry()
        TenantsCollector(self.tenants, self.registry)
        self.writer = IngestWriter(settings, producer, self.registry, recent_ids)
        self.requests = Counter(
            "teampulse_ingest_http_requests",
            "HTTP requests answered by the ingest endpoint",
            ["route", "code"],
            registry=self.registry,
        )

    def connector_intake(self) -> ConnectorIntake:
        return ConnectorIntake(
            self.settings,
            self.clock,
            self.gate,
            self.writer,
            self.validator,
            self.registry,
            self.tenants,
        )

    async def tenants_reloading(self, _app: web.Application) -> AsyncIterator[None]:
        """Checks the tenants file for changes while the endpoint serves (docs/tenancy.md)."""

        async def reload_forever() -> None:
            while True:
                await asyncio.sleep(self.settings.tenants_reload_s)
                self.tenants.reload_if_changed()

        task = asyncio.create_task(reload_forever())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # ------------------------------------------------------------------ middleware
    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.name or "other"
        try:
            response = await self._admitted(request, handler)
        except web.HTTPException as exc:  # 404, 405 from the router
            response = error_response(exc.status, "http", exc.reason)
        except Exception:  # a genuine server fault: input problems are answered before this
            log.exception("ingest request failed route=%s", route)
            response = error_response(
                500, "internal", "the request could not be handled; retry later"
            )
        if request.path.startswith("/xAPI/"):
            asked = str(request.get(XAPI_VERSION) or request.headers.get(VERSION_HEADER) or "")
            response.headers[VERSION_HEADER] = answered_version(asked)
        self.requests.labels(route, str(response.status)).inc()
        return response

    async def _admitted(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if (
            request.path == "/xAPI/statements"
            and request.method == "POST"
            and "method" in request.query
        ):
            # The Alternate Request Syntax carries credentials and version in the form body.
            return await self._alternate_syntax(request)
        authorization = request.headers.get("Authorization")
        if request.path not in self.open_paths:
            caller = self.gate.admit(authorization)
            if isinstance(caller, web.Response):
                return caller
            if caller.sensor is not None and request.path != CALIPER_PATH:
                return error_response(
                    403, "sensor_token", f"a Caliper sensor's token may only post to {CALIPER_PATH}"
                )
            request[CALLER] = caller
        if request.path == "/xAPI/statements":
            version = self._version(request.headers.get(VERSION_HEADER), authorization)
            if isinstance(version, web.Response):
                return version
            request[XAPI_VERSION] = version
        return await handler(request)

    def _version(self, asked: str | None, authorization: str | None) -> str | web.Response:
        return statement_version(asked, authorization, self.gate.keyring, self.assumed_versions)

    async def _read(self, request: web.Request, *, multipart: bool = False) -> bytes | web.Response:
        return await read_body(request, self.settings.ingest_max_body_bytes, multipart=multipart)

    async def _alternate_syntax(self, request: web.Request) -> web.StreamResponse:
        """`POST /xAPI/statements?method=PUT|POST` with a form body holding the headers, the
        `statementId` and the request body as `content` (xAPI 1.0.3, Part Three, 1.3)."""
        method = request.query.get("method", "")
        if set(request.query) != {"method"}:
            return alternate_error(
                "only `method` may be in the query string; send the rest as form fields"
            )
        if method not in ("PUT", "POST"):
            return alternate_error(f"method must be PUT or POST here, got {method[:20]!r}")
        if request.content_type != "application/x-www-form-urlencoded":
            return alternate_error("the body must be application/x-www-form-urlencoded")
        body = await self._read(request)
        if isinstance(body, web.Response):
            return body
        form = form_fields(body)
        if isinstance(form, web.Response):
            return form
        authorization = form.get("authorization")
        caller = self.gate.admit(authorization)
        if isinstance(caller, web.Response):
            return caller
        if caller.sensor is not None:
            return error_response(
                403, "sensor_token", f"a Caliper sensor's token may only post to {CALIPER_PATH}"
            )
        version = self._version(form.get(VERSION_HEADER.lower()), authorization)
        if isinstance(version, web.Response):
            return version
        request[XAPI_VERSION] = version
        content_type = form.get("content-type", "application/json")
        if content_type.split(";")[0].strip().lower() != "application/json":
            return alternate_error(f"content must be application/json, got {content_type[:60]!r}")
        content = form.get("content", "").encode()
        if method == "PUT":
            return await self._put_statement(caller, content, [], form.get("statementid"), version)
        return await self._post_statements(caller, content, [], version)

    # ------------------------------------------------------------------ routes
    async def about(self, request: web.Request) -> web.Response:
        return web.json_response({"version": list(SPOKEN_VERSIONS)})

    async def metrics(self, request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(self.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def post_statements(self, request: web.Request) -> web.StreamResponse:
        body = await self._statements_body(request)
        if isinstance(body, web.Response):
            return body
        return await self._post_statements(request[CALLER], *body, request[XAPI_VERSION])

    async def put_statement(self, request: web.Request) -> web.StreamResponse:
        statement_id = request.query.get("statementId")
        if statement_id is None or _UUID.fullmatch(statement_id) is None:
            return error_response(
                400, "xapi_invalid", "statementId: a UUID query parameter is required"
            )
        body = await self._statements_body(request)
        if isinstance(body, web.Response):
            return body
        return await self._put_statement(
            request[CALLER], *body, statement_id, request[XAPI_VERSION]
        )

    async def _statements_body(
        self, request: web.Request
    ) -> tuple[bytes, list[Part]] | web.Response:
        """The statements' JSON and the attachments' raw parts (none unless multipart/mixed)."""
        body = await self._read(request, multipart=True)
        if isinstance(body, web.Response):
            return body
        return statements_and_parts(
            request.content_type, request.headers.get("Content-Type", ""), body
        )

    async def _post_statements(
        self, caller: Caller, body: bytes, parts: list[Part], version: str
    ) -> web.StreamResponse:
        parsed = json_body(body)
        if isinstance(parsed, web.Response):
            return parsed
        if isinstance(parsed, dict):
            statements = [parsed]
        elif isinstance(parsed, list):
            statements = parsed
        else:
            return error_response(
                400, "not_object", "the body must be a statement or an array of them"
            )
        attached = check_parts(statements, parts)
        if isinstance(attached, str):
            return error_response(400, "attachment", attached)
        intake = planned(
            lambda: plan_statements(
                statements,
                self.writer.recent(caller.tenant, "xapi"),
                stored=format_rfc3339(self.clock()),
                new_id=lambda: str(uuid.uuid4()),
                max_record_bytes=self.settings.max_event_bytes,
                version=version,
                attached=attached,
                keyed=self._statement_keying(caller),
            )
        )
        return await self.writer.write(
            "xapi",
            intake,
            len(statements),
            lambda i: web.json_response(i.ids),
            caller.tenant,
            caller.record_headers,
        )

    async def _put_statement(
        self,
        caller: Caller,
        body: bytes,
        parts: list[Part],
        statement_id: str | None,
        version: str,
    ) -> web.StreamResponse:
        if statement_id is None or _UUID.fullmatch(statement_id) is None:
            return error_response(400, "xapi_invalid", "statementId: a UUID parameter is required")
        parsed = json_body(body)
        if isinstance(parsed, web.Response):
            return parsed
        if not isinstance(parsed, dict):
            return error_response(400, "not_object", "the body of a PUT must be one statement")
        attached = check_parts([parsed], parts)
        if isinstance(attached, str):
            return error_response(400, "attachment", attached)
        intake = planned(
            lambda: plan_statements(
                [parsed],
                self.writer.recent(caller.tenant, "xapi"),
                stored=format_rfc3339(self.clock()),
                new_id=lambda: str(uuid.uuid4()),
                max_record_bytes=self.settings.max_event_bytes,
                statement_id=statement_id,
                version=version,
                attached=attached,
                keyed=self._statement_keying(caller),
            )
        )
        return await self.writer.write(
            "xapi",
            intake,
            1,
            lambda i: web.Response(status=204),
            caller.tenant,
            caller.record_headers,
        )

    async def post_events(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        if isinstance(body, web.Response):
            return body
        records = self._events_in(body)
        if isinstance(records, web.Response):
            return records
        caller = request[CALLER]
        pseudonymiser = caller.pseudonymiser
        intake = planned(
            lambda: plan_events(
                records,
                self.writer.recent(caller.tenant, "events"),
                self.validator,
                now=self.clock(),
                max_record_bytes=self.settings.max_event_bytes,
                keyed=(lambda r: keyed_event(r, pseudonymiser)) if caller.record_headers else None,
            )
        )
        return await self.writer.write(
            "events",
            intake,
            len(records),
            lambda i: web.json_response(
                {"ids": i.ids, "written": len(i.new), "unchanged": len(i.unchanged)}
            ),
            caller.tenant,
            caller.record_headers,
        )

    @staticmethod
    def _statement_keying(caller: Caller) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
        """A tenant's statements are keyed at the door; the implicit tenant's are written as
        sent (the pipeline keys them, as it always did)."""
        if not caller.record_headers:
            return None
        pseudonymiser = caller.pseudonymiser
        return lambda statement: keyed_statement(statement, pseudonymiser)

    @staticmethod
    def _events_in(body: bytes) -> list[Any] | web.Response:
        """A JSON array, one JSON object, or NDJSON (one object per line)."""
        records = split_json_records(body)
        if not records:
            return error_response(400, "not_json", "the body holds no JSON")
        for record in records:
            if isinstance(record.value, Rejection):
                return error_response(400, "not_json", f"{record.where}: {record.value.detail}")
        return [record.value for record in records]


ENDPOINT = web.AppKey("endpoint", IngestEndpoint)


def build_ingest_app(
    settings: Settings,
    producer: KafkaProducer,
    *,
    insecure_no_auth: bool = False,
    clock: Callable[[], float] | None = None,
    recent_ids: int = RECENT_IDS,
) -> web.Application:
    """The aiohttp application; the caller owns (starts and stops) the producer."""
    require_credentials(settings, insecure_no_auth)
    endpoint = IngestEndpoint(
        settings,
        producer,
        clock=clock or settings.now_source(),
        recent_ids=recent_ids,
    )
    app = web.Application(middlewares=[endpoint.middleware])
    app[ENDPOINT] = endpoint
    app.cleanup_ctx.append(endpoint.tenants_reloading)
    app.router.add_post("/xAPI/statements", endpoint.post_statements, name="xapi_statements")
    app.router.add_put("/xAPI/statements", endpoint.put_statement, name="xapi_statement")
    app.router.add_get("/xAPI/about", endpoint.about, name="xapi_about")
    app.router.add_post("/events", endpoint.post_events, name="events")
    app.router.add_get("/metrics", endpoint.metrics, name="metrics")
    endpoint.open_paths |= add_connector_routes(app, endpoint.connector_intake())
    return app


async def serve_ingest(settings: Settings, *, insecure_no_auth: bool = False) -> None:
    """Run the endpoint on TEAMPULSE_INGEST_HOST:TEAMPULSE_INGEST_PORT until cancelled."""
    from aiokafka.errors import KafkaConnectionError

    from teampulse.engine.undecodable import skip_undecodable_records
    from teampulse.kafka.security import kafka_connection_problem
    from teampulse.kafka.topics import ensure_topics

    require_credentials(settings, insecure_no_auth)
    skip_undecodable_records()  # the recall steps over (and logs) what it cannot decode
    await ensure_topics(settings)
    producer = ingest_producer(settings)
    try:
        await producer.start()
    except KafkaConnectionError:
        raise SystemExit((await kafka_connection_problem(settings)).message) from None
    runner: web.AppRunner | None = None
    try:
        app = build_ingest_app(settings, producer, insecure_no_auth=insecure_no_auth)
        recalled = await recall_recent_ids(settings, app[ENDPOINT].writer)
        log.info("recalled %d recent ids from Kafka", recalled)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, settings.ingest_host, settings.ingest_port)
        try:
            await site.start()
        except OSError as exc:
            raise SystemExit(
                f"cannot listen on {settings.ingest_host}:{settings.ingest_port} ({exc.strerror}); "
                "set TEAMPULSE_INGEST_PORT to a free port"
            ) from exc
        if insecure_no_auth and not Credentials.parse(settings.ingest_credentials):
            log.warning("serving WITHOUT credentials (--insecure-no-auth)")
        log.info(
            "ingest endpoint on http://%s:%d (xAPI at /xAPI/statements, events at /events)",
            settings.ingest_host,
            settings.ingest_port,
        )
        await asyncio.Event().wait()
    finally:
        if runner is not None:
            await runner.cleanup()
        await producer.stop()
