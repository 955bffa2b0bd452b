"""`teampulse ingest`: the statement-writing part of an xAPI LRS, and POST /events (HTTP edge).

Routes (docs/xapi.md, docs/events.md):
* `POST /xAPI/statements`: one statement or an array -> 200 with the list of ids;
* `PUT /xAPI/statements?statementId=<uuid>`: one statement -> 204;
* `POST /xAPI/statements?method=PUT|POST`: the Alternate Request Syntax (headers, statementId
  and the body as form fields) -> as the request it stands for;
* `GET /xAPI/about`: the versions spoken (no credentials needed, as the spec says);
* `POST /events`: canonical events as a JSON array, one object, or NDJSON -> 200 with ids;
* `GET /metrics`: this process's request and record counters.

What an LRS must do, this does: `X-Experience-API-Version` required (1.0.x, 2.0.0; a Basic
user named in TEAMPULSE_INGEST_XAPI_VERSION_BY_USER may omit it) and echoed on every
response; Basic or Bearer credentials (TEAMPULSE_INGEST_CREDENTIALS) -> 401;
a credential past its rate (TEAMPULSE_INGEST_RATE_PER_S, _BURST) -> 429 with Retry-After;
a body over TEAMPULSE_INGEST_MAX_BODY_BYTES -> 413; a batch is all or nothing (400 with a
JSON `{"error", "detail"}`); duplicate ids in a batch -> 400; a known id with other content
-> 409, with the same content -> success without writing again. The answer comes only after
Kafka acknowledged every record (acks=all). If Kafka does not take them within
TEAMPULSE_INGEST_WRITE_TIMEOUT_S, the answer is 503 with Retry-After, and the records are
never written later (see `ingest_producer`): a client may retry, with or without ids, and
nothing is doubled.

Known ids are remembered in memory (RECENT_IDS, least recently used dropped first) and
recovered at start from the digests this endpoint writes as a Kafka header on every record.
Several endpoint processes do not share that memory: a statement re-sent to another process
is written again, and the pipeline's dedupe by id counts it once.
"""

from __future__ import annotations

import asyncio
import base64
import email.message
import hashlib
import hmac
import logging
import math
import re
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from teampulse.contract.attachments import Part, check_parts, split_parts
from teampulse.contract.events import EventValidator
from teampulse.contract.framing import split_json_records
from teampulse.contract.intake import (
    Intake,
    NewRecord,
    RecentIds,
    Refusal,
    plan_events,
    plan_statements,
)
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Rejection
from teampulse.contract.timestamps import format_rfc3339
from teampulse.ingest.connectors import add_connector_routes
from teampulse.ingest.rate_limit import RateLimiter
from teampulse.ingest.responses import error_response, rate_limited_response, refusal_response
from teampulse.kafka.security import kafka_client_options
from teampulse.settings import Settings

__all__ = [
    "DIGEST_HEADER",
    "ENDPOINT",
    "VERSION_HEADER",
    "Credentials",
    "assumed_versions",
    "IngestConfigError",
    "IngestEndpoint",
    "KafkaProducer",
    "build_ingest_app",
    "recall_recent_ids",
    "require_credentials",
    "serve_ingest",
]

log = logging.getLogger(__name__)

RECENT_IDS = 200_000  # ids remembered per route for same-content / 409 decisions (~50 MB)
DIGEST_HEADER = "teampulse-digest"
VERSION_HEADER = "X-Experience-API-Version"
SPOKEN_VERSIONS = ("1.0.3", "2.0.0")
_ACCEPTED_VERSION = re.compile(r"1\.0(?:\.[0-9]+)?|2\.0\.0")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
XAPI_VERSION = web.RequestKey("xapi_version", str)  # the version a statements request is read as
READ_CHUNK_BYTES = 65_536
INGEST_RETRY_BACKOFF_MS = 100


class IngestConfigError(SystemExit):
    """The endpoint refuses to start; the message says what to set."""


class KafkaProducer(Protocol):
    """What the endpoint needs of aiokafka's AIOKafkaProducer."""

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Awaitable[Any]: ...


@dataclass(frozen=True)
class Credentials:
    basic: tuple[bytes, ...]  # "user:secret", as in a Basic header once decoded
    bearer: tuple[bytes, ...]

    @classmethod
    def parse(cls, text: str) -> Credentials:
        """'user:secret,token' -> Basic user:secret and Bearer token."""
        entries = [entry.strip() for entry in text.split(",") if entry.strip()]
        return cls(
            basic=tuple(e.encode() for e in entries if ":" in e),
            bearer=tuple(e.encode() for e in entries if ":" not in e),
        )

    def __bool__(self) -> bool:
        return bool(self.basic or self.bearer)

    @property
    def users(self) -> frozenset[str]:
        """The Basic user names."""
        return frozenset(entry.split(b":", 1)[0].decode() for entry in self.basic)

    @staticmethod
    def basic_user(authorization: str | None) -> str | None:
        """The user name of a Basic header (checked by `identify` first), else None."""
        offered = _offered(authorization)
        if offered is None or offered[0] != "basic":
            return None
        return offered[1].split(b":", 1)[0].decode("utf-8", "replace")

    def identify(self, authorization: str | None) -> str | None:
        """Which configured credential `authorization` carries ('basic:<user>' or
        'bearer:<n>'), or None. The offer is compared with every configured credential of
        either scheme, each in constant time over digests of equal length, and the loop never
        stops early: neither the time nor the answer's path tells which entry came close."""
        offered = _offered(authorization)
        if offered is None:
            return None
        scheme, secret = offered
        wanted = hashlib.sha256(secret).digest()
        found: str | None = None
        for kind, index, candidate in self._all():
            same = hmac.compare_digest(wanted, hashlib.sha256(candidate).digest())
            if same and kind == scheme:
                found = self._name(kind, index, candidate)
        return found

    def _all(self) -> list[tuple[str, int, bytes]]:
        return [("basic", i, c) for i, c in enumerate(self.basic)] + [
            ("bearer", i, c) for i, c in enumerate(self.bearer)
        ]

    @staticmethod
    def _name(kind: str, index: int, candidate: bytes) -> str:
        # A Bearer token is a secret through and through: it is named by its position.
        if kind == "basic":
            return "basic:" + candidate.split(b":", 1)[0].decode("utf-8", "replace")
        return f"bearer:{index + 1}"


def _offered(authorization: str | None) -> tuple[str, bytes] | None:
    """('basic', b'user:secret') or ('bearer', b'token') from an Authorization header."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "basic":
        try:
            return "basic", base64.b64decode(value.strip(), validate=True)
        except ValueError:
            return None
    if scheme.lower() == "bearer":
        return "bearer", value.strip().encode()
    return None


def assumed_versions(settings: Settings) -> dict[str, str]:
    """TEAMPULSE_INGEST_XAPI_VERSION_BY_USER ('ralph=1.0.3, lms=2.0.0') -> user -> version.
    Each user must be a Basic user of TEAMPULSE_INGEST_CREDENTIALS, so that the exception
    to the version rule is tied to one authenticated source."""
    users = Credentials.parse(settings.ingest_credentials).users
    versions: dict[str, str] = {}
    for entry in settings.ingest_xapi_version_by_user.split(","):
        if not entry.strip():
            continue
        user, _, version = (part.strip() for part in entry.partition("="))
        if _ACCEPTED_VERSION.fullmatch(version) is None:
            raise IngestConfigError(
                f"TEAMPULSE_INGEST_XAPI_VERSION_BY_USER: {entry.strip()!r} needs 'user=version' "
                "with version 1.0.x or 2.0.0"
            )
        if user not in users:
            raise IngestConfigError(
                f"TEAMPULSE_INGEST_XAPI_VERSION_BY_USER: {user!r} is not a Basic user of "
                "TEAMPULSE_INGEST_CREDENTIALS"
            )
        versions[user] = version
    return versions


def _unauthorized() -> web.Response:
    response = error_response(401, "unauthorized", "missing or wrong credentials")
    response.headers["WWW-Authenticate"] = 'Basic realm="teampulse"'
    return response


def _boundary(content_type: str) -> str | None:
    """The `boundary` parameter of a Content-Type header (quoted or not)."""
    header = email.message.Message()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary")
    return boundary if isinstance(boundary, str) and boundary else None


def _alternate_error(detail: str) -> web.Response:
    return error_response(400, "alternate_syntax", detail)


# Form fields of the Alternate Request Syntax (names compared without case): the headers a
# client could not set, the query parameter of a PUT, and the body itself.
_ALTERNATE_FIELDS = frozenset(
    (
        "authorization",
        VERSION_HEADER.lower(),
        "content-type",
        "content-length",
        "if-match",
        "if-none-match",
        "statementid",
        "content",
    )
)


def _form_fields(body: bytes) -> dict[str, str] | web.Response:
    """The form of an alternate request, field names lowercased; 400 for an unknown or
    repeated field or a body that is not UTF-8."""
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, errors="strict"
        )
    except (UnicodeDecodeError, ValueError):
        return _alternate_error("the form is not URL-encoded UTF-8")
    form: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        if key not in _ALTERNATE_FIELDS:
            return _alternate_error(f"unknown form field {name[:60]!r}")
        if key in form:
            return _alternate_error(f"form field {name[:60]!r} is sent twice")
        form[key] = value
    return form


class KafkaUnavailable(Exception):
    """Kafka did not take a request's records within the write timeout."""


def ingest_producer(settings: Settings) -> Any:
    """The endpoint's producer, configured so that a record it answered 503 for is never
    written afterwards.

    aiokafka retries a batch until it is delivered when idempotence is on (it never expires
    one), so a statement refused during an outage would reach Kafka when the broker returns.
    Without idempotence a batch fails for good once it is older than `request_timeout_ms`,
    and every send has settled, delivered or failed, within two request timeouts (a batch
    may wait for one request in flight to the same broker, then has its own) plus the retry
    backoff. Both fit in the write timeout, so when the endpoint answers 503 the producer has
    already given the records up. A retried send may duplicate a record the broker wrote but
    whose acknowledgement was lost; the pipeline's dedupe by id counts it once.
    """
    from aiokafka import AIOKafkaProducer

    timeout_ms = int(settings.ingest_write_timeout_s * 1000)
    return AIOKafkaProducer(
        **kafka_client_options(settings),
        acks="all",
        enable_idempotence=False,
        linger_ms=5,
        retry_backoff_ms=INGEST_RETRY_BACKOFF_MS,
        request_timeout_ms=max(1, (timeout_ms - 2 * INGEST_RETRY_BACKOFF_MS) // 2 - 100),
    )


def _planned(plan: Callable[[], Intake | Refusal]) -> Intake | Refusal:
    """The plan for a request's records. The validators answer any JSON with a refusal; should
    one raise all the same (a bug), the records are refused as `internal`, a 400 like any
    refusal of input: nothing was written, and the error type is logged, never the content."""
    try:
        return plan()
    except Exception as exc:  # noqa: BLE001 - input must never cause a 5xx
        cause = type(exc).__name__
        log.warning("ingest records refused as internal: unexpected %s", cause)
        return Refusal(400, "internal", f"the records could not be validated ({cause})")


class IngestEndpoint:
    """The handlers and their state: recent ids per route and the writes in flight."""

    def __init__(
        self,
        settings: Settings,
        producer: KafkaProducer,
        *,
        clock: Callable[[], float],
        recent_ids: int = RECENT_IDS,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.producer = producer
        self.clock = clock
        self.credentials = Credentials.parse(settings.ingest_credentials)
        # Requests are limited in real time, whatever clock the events are read with.
        self.rate_limiter = RateLimiter(
            settings.ingest_rate_per_s, settings.ingest_rate_burst, time.monotonic
        )
        self.assumed_versions = assumed_versions(settings)
        self.validator = EventValidator(settings, Pseudonymiser(settings.pseudonym_secret))
        self.recent = {"xapi": RecentIds(recent_ids), "events": RecentIds(recent_ids)}
        # (route, id) -> (digest, done) of the writes not yet acknowledged by Kafka
        self.in_flight: dict[tuple[str, str], tuple[bytes, asyncio.Future[None]]] = {}
        self.open_paths = {"/xAPI/about", "/metrics"}  # no ingest credentials asked
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "teampulse_ingest_http_requests",
            "HTTP requests answered by the ingest endpoint",
            ["route", "code"],
            registry=self.registry,
        )
        self.records = Counter(
            "teampulse_ingest_records",
            "Records received over HTTP, by outcome (written, unchanged, refused)",
            ["route", "outcome"],
            registry=self.registry,
        )

    # ------------------------------------------------------------------ middleware
    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        route = request.match_info.route.name or "other"
        try:
            response = await self._guarded(request, handler)
        except web.HTTPException as exc:  # 404, 405 from the router
            response = error_response(exc.status, "http", exc.reason)
        except Exception:  # a genuine server fault: input problems are answered before this
            log.exception("ingest request failed route=%s", route)
            response = error_response(
                500, "internal", "the request could not be handled; retry later"
            )
        if request.path.startswith("/xAPI/"):
            asked = str(request.get(XAPI_VERSION) or request.headers.get(VERSION_HEADER) or "")
            response.headers[VERSION_HEADER] = "2.0.0" if asked.startswith("2.") else "1.0.3"
        self.requests.labels(route, str(response.status)).inc()
        return response

    async def _guarded(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if (
            request.path == "/xAPI/statements"
            and request.method == "POST"
            and "method" in request.query
        ):
            # The Alternate Request Syntax carries credentials and version in the form body.
            return await self._alternate_syntax(request)
        authorization = request.headers.get("Authorization")
        if request.path not in self.open_paths:
            refused = self._admit(authorization)
            if refused is not None:
                return refused
        if request.path == "/xAPI/statements":
            version = self._version(request.headers.get(VERSION_HEADER), authorization)
            if isinstance(version, web.Response):
                return version
            request[XAPI_VERSION] = version
        return await handler(request)

    def _admit(self, authorization: str | None) -> web.Response | None:
        """None when the request may go on; else its 401 or 429. Checked before the body is
        read, so a refused request costs little and writes nothing."""
        if not self.credentials:
            return self.rate_limited("anonymous")  # --insecure-no-auth: one shared bucket
        caller = self.credentials.identify(authorization)
        if caller is None:
            return _unauthorized()
        return self.rate_limited(caller)

    def rate_limited(self, caller: str) -> web.Response | None:
        """The 429 for a caller whose bucket is empty, or None (a token was taken). Callers
        are credentials ('basic:lrs', 'bearer:1') and signed connectors ('connector:slack')."""
        wait_s = self.rate_limiter.wait_s(caller)
        if wait_s <= 0:
            return None
        retry_after = max(1, math.ceil(wait_s))
        log.info("ingest request rate-limited caller=%s retry_after_s=%d", caller, retry_after)
        return rate_limited_response(
            retry_after,
            f"more than {self.settings.ingest_rate_burst} requests in a burst or "
            f"{self.settings.ingest_rate_per_s:g}/s for this credential",
        )

    def _version(self, asked: str | None, authorization: str | None) -> str | web.Response:
        """The version a statements request is read as, or its 400."""
        if asked is None and self.credentials:
            # Conformance is the default; only a source the operator named may omit it.
            user = Credentials.basic_user(authorization)
            asked = self.assumed_versions.get(user) if user is not None else None
        if asked is None or _ACCEPTED_VERSION.fullmatch(asked) is None:
            return error_response(
                400, "version", f"{VERSION_HEADER} must be 1.0.x or 2.0.0, got {asked!r}"
            )
        return asked

    async def _alternate_syntax(self, request: web.Request) -> web.StreamResponse:
        """`POST /xAPI/statements?method=PUT|POST` with a form body holding the headers, the
        `statementId` and the request body as `content` (xAPI 1.0.3, Part Three, 1.3)."""
        method = request.query.get("method", "")
        if set(request.query) != {"method"}:
            return _alternate_error(
                "only `method` may be in the query string; send the rest as form fields"
            )
        if method not in ("PUT", "POST"):
            return _alternate_error(f"method must be PUT or POST here, got {method[:20]!r}")
        if request.content_type != "application/x-www-form-urlencoded":
            return _alternate_error("the body must be application/x-www-form-urlencoded")
        body = await self.read_body(request)
        if isinstance(body, web.Response):
            return body
        form = _form_fields(body)
        if isinstance(form, web.Response):
            return form
        authorization = form.get("authorization")
        refused = self._admit(authorization)
        if refused is not None:
            return refused
        version = self._version(form.get(VERSION_HEADER.lower()), authorization)
        if isinstance(version, web.Response):
            return version
        request[XAPI_VERSION] = version
        content_type = form.get("content-type", "application/json")
        if content_type.split(";")[0].strip().lower() != "application/json":
            return _alternate_error(f"content must be application/json, got {content_type[:60]!r}")
        content = form.get("content", "").encode()
        if method == "PUT":
            return await self._put_statement(content, [], form.get("statementid"), version)
        return await self._post_statements(content, [], version)

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
        return await self._post_statements(*body, request[XAPI_VERSION])

    async def put_statement(self, request: web.Request) -> web.StreamResponse:
        statement_id = request.query.get("statementId")
        if statement_id is None or _UUID.fullmatch(statement_id) is None:
            return error_response(
                400, "xapi_invalid", "statementId: a UUID query parameter is required"
            )
        body = await self._statements_body(request)
        if isinstance(body, web.Response):
            return body
        return await self._put_statement(*body, statement_id, request[XAPI_VERSION])

    async def _statements_body(
        self, request: web.Request
    ) -> tuple[bytes, list[Part]] | web.Response:
        """The statements' JSON and the attachments' raw parts (none unless multipart/mixed)."""
        body = await self.read_body(request, multipart=True)
        if isinstance(body, web.Response):
            return body
        if not request.content_type.startswith("multipart/"):
            return body, []
        if request.content_type != "multipart/mixed":
            return error_response(
                400, "attachment", "statements with attachments are multipart/mixed"
            )
        boundary = _boundary(request.headers.get("Content-Type", ""))
        if not boundary:
            return error_response(400, "attachment", "multipart/mixed needs a boundary parameter")
        parts = split_parts(body, boundary)
        if isinstance(parts, str):
            return error_response(400, "attachment", parts)
        if not parts or not parts[0].headers.get("content-type", "").startswith("application/json"):
            return error_response(400, "attachment", "the first part must be the statements (JSON)")
        return parts[0].content, parts[1:]

    async def _post_statements(
        self, body: bytes, parts: list[Part], version: str
    ) -> web.StreamResponse:
        parsed = self._json(body)
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
        intake = _planned(
            lambda: plan_statements(
                statements,
                self.recent["xapi"],
                stored=format_rfc3339(self.clock()),
                new_id=lambda: str(uuid.uuid4()),
                max_record_bytes=self.settings.max_event_bytes,
                version=version,
                attached=attached,
            )
        )
        return await self._write(
            "xapi", intake, len(statements), lambda i: web.json_response(i.ids)
        )

    async def _put_statement(
        self, body: bytes, parts: list[Part], statement_id: str | None, version: str
    ) -> web.StreamResponse:
        if statement_id is None or _UUID.fullmatch(statement_id) is None:
            return error_response(400, "xapi_invalid", "statementId: a UUID parameter is required")
        parsed = self._json(body)
        if isinstance(parsed, web.Response):
            return parsed
        if not isinstance(parsed, dict):
            return error_response(400, "not_object", "the body of a PUT must be one statement")
        attached = check_parts([parsed], parts)
        if isinstance(attached, str):
            return error_response(400, "attachment", attached)
        intake = _planned(
            lambda: plan_statements(
                [parsed],
                self.recent["xapi"],
                stored=format_rfc3339(self.clock()),
                new_id=lambda: str(uuid.uuid4()),
                max_record_bytes=self.settings.max_event_bytes,
                statement_id=statement_id,
                version=version,
                attached=attached,
            )
        )
        return await self._write("xapi", intake, 1, lambda i: web.Response(status=204))

    async def post_events(self, request: web.Request) -> web.StreamResponse:
        body = await self.read_body(request)
        if isinstance(body, web.Response):
            return body
        records = self._events_in(body)
        if isinstance(records, web.Response):
            return records
        intake = _planned(
            lambda: plan_events(
                records,
                self.recent["events"],
                self.validator,
                now=self.clock(),
                max_record_bytes=self.settings.max_event_bytes,
            )
        )
        return await self._write(
            "events",
            intake,
            len(records),
            lambda i: web.json_response(
                {"ids": i.ids, "written": len(i.new), "unchanged": len(i.unchanged)}
            ),
        )

    # ------------------------------------------------------------------ helpers
    async def read_body(
        self, request: web.Request, *, multipart: bool = False
    ) -> bytes | web.Response:
        """The raw body (signatures are computed over these exact bytes), size-limited."""
        limit = self.settings.ingest_max_body_bytes
        too_large = error_response(413, "too_large", f"the body exceeds {limit} bytes")
        if request.content_length is not None and request.content_length > limit:
            return too_large
        if request.content_type.startswith("multipart/") and not multipart:
            return error_response(400, "not_json", "a multipart body is not accepted here")
        body = bytearray()
        async for chunk in request.content.iter_chunked(READ_CHUNK_BYTES):
            body += chunk
            if len(body) > limit:
                return too_large
        return bytes(body)

    @staticmethod
    def _json(body: bytes) -> Any:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return error_response(400, "not_json", str(exc)[:200])

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

    async def _write(
        self,
        route: str,
        intake: Intake | Refusal,
        received: int,
        answer: Callable[[Intake], web.StreamResponse],
    ) -> web.StreamResponse:
        if isinstance(intake, Refusal):
            self.records.labels(route, "refused").inc(received)
            return refusal_response(intake)
        # Another request may be writing the same id right now: same content -> this answer
        # waits for that write (and fails with it); other content -> conflict.
        waiting: list[asyncio.Future[None]] = []
        claimed: list[NewRecord] = []
        for record in intake.new:
            flying = self.in_flight.get((route, record.id))
            if flying is None:
                claimed.append(record)
            elif flying[0] == record.digest:
                waiting.append(flying[1])
            else:
                self.records.labels(route, "refused").inc(received)
                return error_response(
                    409, "conflict", f"id {record.id} is being written with other content"
                )
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for record in claimed:
            self.in_flight[(route, record.id)] = (record.digest, done)
        try:
            await self._send(self.settings.topic(route), claimed)
            for record in claimed:
                self.recent[route].remember(record.id, record.digest)
            done.set_result(None)
            if waiting:
                await asyncio.gather(*(asyncio.shield(w) for w in waiting))
        except Exception as exc:  # noqa: BLE001 - any Kafka failure is a 503 for the client
            if not done.done():
                done.set_exception(exc)
                done.exception()  # mark it retrieved: the waiters re-raise it themselves
            log.warning("ingest write failed route=%s records=%d: %r", route, len(claimed), exc)
            self.records.labels(route, "refused").inc(received)
            unavailable = error_response(
                503, "kafka_unavailable", "the records were not stored; retry"
            )
            unavailable.headers["Retry-After"] = str(self.settings.ingest_retry_after_s)
            return unavailable
        finally:
            for record in claimed:
                self.in_flight.pop((route, record.id), None)
        self.records.labels(route, "written").inc(len(claimed))
        self.records.labels(route, "unchanged").inc(received - len(claimed))
        response = answer(intake)
        response.headers["X-TeamPulse-Written"] = str(len(claimed))
        response.headers["X-TeamPulse-Unchanged"] = str(received - len(claimed))
        return response

    async def write_events(
        self,
        intake: Intake | Refusal,
        received: int,
        answer: Callable[[Intake], web.StreamResponse],
    ) -> web.StreamResponse:
        """The POST /events write path, for the connectors (teampulse.ingest.connectors)."""
        return await self._write("events", intake, received, answer)

    async def _send(self, topic: str, records: list[NewRecord]) -> None:
        """Hands the records to the producer and waits for every acknowledgement, for at most
        the write timeout; raises when any record is not acknowledged by then."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.ingest_write_timeout_s
        delivered: list[Any] = []  # aiokafka's delivery futures
        try:
            async with asyncio.timeout_at(deadline):
                for record in records:
                    delivered.append(
                        await self.producer.send(
                            topic,
                            value=record.value,
                            key=record.id.encode(),
                            headers=[(DIGEST_HEADER, record.digest)],
                        )
                    )
        except TimeoutError:
            raise KafkaUnavailable("the producer did not take the records in time") from None
        if not delivered:
            return
        done, pending = await asyncio.wait(delivered, timeout=max(0.0, deadline - loop.time()))
        if pending:
            # Not expected with ingest_producer's timeouts; said loudly, since these records
            # might still be written.
            log.error("ingest write outcome unknown for %d records after the timeout", len(pending))
            raise KafkaUnavailable("Kafka did not acknowledge the records in time")
        for future in done:
            future.result()  # the first failure, if any


ENDPOINT = web.AppKey("endpoint", IngestEndpoint)


def require_credentials(settings: Settings, insecure_no_auth: bool) -> None:
    if not Credentials.parse(settings.ingest_credentials) and not insecure_no_auth:
        raise IngestConfigError(
            "refusing to serve without credentials: set TEAMPULSE_INGEST_CREDENTIALS "
            "(comma-separated 'user:secret' for Basic, bare tokens for Bearer), or pass "
            "--insecure-no-auth for a local experiment"
        )


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
    app.router.add_post("/xAPI/statements", endpoint.post_statements, name="xapi_statements")
    app.router.add_put("/xAPI/statements", endpoint.put_statement, name="xapi_statement")
    app.router.add_get("/xAPI/about", endpoint.about, name="xapi_about")
    app.router.add_post("/events", endpoint.post_events, name="events")
    app.router.add_get("/metrics", endpoint.metrics, name="metrics")
    add_connector_routes(app, endpoint)
    return app


async def recall_recent_ids(settings: Settings, endpoint: IngestEndpoint) -> int:
    """Reads back the newest records of the xapi and events topics and remembers their ids
    and digests, so that a restart keeps answering re-sent statements as unchanged / 409."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    from teampulse.kafka.reading import read_to_end

    names = [settings.topic(route) for route in ("xapi", "events")]
    admin = AIOKafkaAdminClient(**kafka_client_options(settings))
    await admin.start()
    try:
        described = {t["topic"]: t for t in await admin.describe_topics(names)}
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        **kafka_client_options(settings), enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    recalled = 0
    try:
        for route, topic in zip(("xapi", "events"), names, strict=True):
            found = described.get(topic, {})
            if found.get("error_code") != 0 or not found.get("partitions"):
                continue  # no such topic yet: nothing to recall
            partitions = [TopicPartition(topic, p["partition"]) for p in found["partitions"]]
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.beginning_offsets(partitions)
            quota = endpoint.recent[route].capacity // len(partitions)
            for tp in partitions:
                consumer.seek(tp, max(starts[tp], ends[tp] - quota))
            async for _tp, records in read_to_end(consumer, partitions):
                for record in records:
                    digest = dict(record.headers or ()).get(DIGEST_HEADER)
                    if digest is not None and record.key is not None:
                        record_id = record.key.decode("utf-8", "replace")
                        endpoint.recent[route].remember(record_id, digest)
                        recalled += 1
    finally:
        await consumer.stop()
    return recalled


async def serve_ingest(settings: Settings, *, insecure_no_auth: bool = False) -> None:
    """Run the endpoint on TEAMPULSE_INGEST_HOST:TEAMPULSE_INGEST_PORT until cancelled."""
    from aiokafka.errors import KafkaConnectionError

    from teampulse.kafka.security import kafka_connection_problem
    from teampulse.kafka.topics import ensure_topics
    from teampulse.kafka.undecodable import skip_undecodable_records

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
        recalled = await recall_recent_ids(settings, app[ENDPOINT])
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
