"""Who may call the ingest endpoint: the configured credentials, the tenant each speaks
for, and each caller's rate.

TEAMPULSE_INGEST_CREDENTIALS (or, with tenants, each tenant's `credentials`) lists Basic
`user:secret` pairs and bare Bearer tokens; a request that carries none of them is 401, one
of a suspended tenant 403, one past its rate 429 with Retry-After. Without tenants the rate
is per credential (TEAMPULSE_INGEST_RATE_PER_S, _BURST) and each signed connector platform
has its own bucket (docs/security.md); with tenants it is per tenant (docs/tenancy.md).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import time
from dataclasses import dataclass, field

from aiohttp import web

from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.ingest.rate_limit import RateLimiter
from teampulse.ingest.responses import error_response, rate_limited_response
from teampulse.settings import Settings
from teampulse.tenancy.directory import IMPLICIT_TENANT, TenantDirectory
from teampulse.tenancy.source import TenantsSource

__all__ = [
    "CALLER",
    "Caller",
    "Credentials",
    "Gate",
    "IngestConfigError",
    "Keyring",
    "require_credentials",
    "suspended_response",
]

log = logging.getLogger(__name__)


class IngestConfigError(SystemExit):
    """The endpoint refuses to start; the message says what to set."""


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

    def all(self) -> list[tuple[str, int, bytes]]:
        """(scheme, position within the scheme, the credential as a header carries it)."""
        return [("basic", i, c) for i, c in enumerate(self.basic)] + [
            ("bearer", i, c) for i, c in enumerate(self.bearer)
        ]

    @staticmethod
    def name(kind: str, index: int, candidate: bytes) -> str:
        """How logs and rate limits call a credential: 'basic:<user>' or 'bearer:<n>'."""
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


@dataclass(frozen=True)
class Caller:
    """Who a request comes from, once its credential is known: the tenant it speaks for, the
    credential's name (for logs), the person-id keying of that tenant, and the headers that
    carry the tenant on its records. A Caliper sensor's token speaks for that sensor only."""

    tenant: str
    name: str
    pseudonymiser: Pseudonymiser = field(repr=False)
    record_headers: tuple[tuple[str, bytes], ...] = ()
    sensor: str | None = None


CALLER = web.RequestKey("caller", Caller)  # who an admitted request comes from


class Keyring:
    """Every credential of every tenant, found by the SHA-256 digest of what a request offers:
    one digest and one dictionary lookup per request, whatever the number of tenants (2.7 µs
    with 500 tenants of two credentials, where a constant-time comparison with each credential
    in turn cost 429 µs in the same run, paid by every refused request too). The lookup's timing
    can depend only on the digest of the offer itself, which tells nothing about any
    configured secret, and the same path serves a match and a miss."""

    def __init__(self, directory: TenantDirectory) -> None:
        self.directory = directory
        # (scheme, digest of the secret as offered) -> (tenant, credential's name, sensor)
        self.by_digest: dict[tuple[str, bytes], tuple[str, str, str | None]] = {}
        users: set[str] = set()
        for tenant in directory.tenants.values():
            credentials = Credentials.parse(",".join(tenant.credentials))
            users |= credentials.users
            for kind, index, candidate in credentials.all():
                name = credentials.name(kind, index, candidate)
                self.by_digest[(kind, hashlib.sha256(candidate).digest())] = (tenant.id, name, None)
            for token, sensor in tenant.sensor_tokens.items():
                digest = hashlib.sha256(token.encode()).digest()
                self.by_digest[("bearer", digest)] = (tenant.id, "sensor", sensor)
        self.users = frozenset(users)

    def __bool__(self) -> bool:
        return bool(self.by_digest)

    def identify(self, authorization: str | None) -> Caller | None:
        """The caller whose credential `authorization` carries, or None."""
        offered = _offered(authorization)
        if offered is None:
            return None
        scheme, secret = offered
        found = self.by_digest.get((scheme, hashlib.sha256(secret).digest()))
        return None if found is None else self.caller(*found)

    def caller(self, tenant: str, name: str, sensor: str | None = None) -> Caller:
        return Caller(
            tenant,
            name,
            self.directory.pseudonymiser(tenant),
            tuple(self.directory.record_headers(tenant)),
            sensor,
        )


def require_credentials(settings: Settings, insecure_no_auth: bool) -> None:
    if settings.tenants_file is not None:
        return  # each tenant brings its own credentials (or only signed connectors)
    if not Credentials.parse(settings.ingest_credentials) and not insecure_no_auth:
        raise IngestConfigError(
            "refusing to serve without credentials: set TEAMPULSE_INGEST_CREDENTIALS "
            "(comma-separated 'user:secret' for Basic, bare tokens for Bearer), or pass "
            "--insecure-no-auth for a local experiment"
        )


def _unauthorized() -> web.Response:
    response = error_response(401, "unauthorized", "missing or wrong credentials")
    response.headers["WWW-Authenticate"] = 'Basic realm="teampulse"'
    return response


def suspended_response(tenant: str) -> web.Response:
    return error_response(
        403,
        "tenant_suspended",
        f"tenant {tenant} is suspended: its records are refused until it is resumed "
        "(its data is kept)",
    )


class Gate:
    """Admits a request by its credential, and that credential's (or tenant's) rate."""

    def __init__(self, settings: Settings, tenants: TenantsSource) -> None:
        self.settings = settings
        self.tenants = tenants
        self._keyring = Keyring(tenants.directory)
        # Requests are limited in real time, whatever clock the events are read with.
        self.rate_limiter = RateLimiter(
            settings.ingest_rate_per_s, settings.ingest_rate_burst, time.monotonic
        )

    @property
    def keyring(self) -> Keyring:
        """The credentials of the tenants in force (rebuilt after a reload)."""
        if self._keyring.directory is not self.tenants.directory:
            self._keyring = Keyring(self.tenants.directory)
        return self._keyring

    def admit(self, authorization: str | None) -> Caller | web.Response:
        """The caller when the request may go on; else its 401, 403 or 429. Checked before
        the body is read, so a refused request costs little and writes nothing."""
        keyring = self.keyring
        if not keyring and keyring.directory.implicit:
            # --insecure-no-auth: one shared bucket
            caller = keyring.caller(IMPLICIT_TENANT, "anonymous")
        else:
            found = keyring.identify(authorization)
            if found is None:
                return _unauthorized()
            caller = found
        refused = self.refused(caller.tenant, caller.name)
        return caller if refused is None else refused

    def refused(self, tenant_id: str, caller: str) -> web.Response | None:
        """The 403 of a suspended tenant, the 429 of a caller past its rate, or None (a
        token was taken). With tenants configured the bucket is the tenant's, shared by its
        credentials and connectors, so one tenant's flood takes nothing from another's."""
        directory = self.tenants.directory
        tenant = directory.get(tenant_id)
        if tenant is None:  # removed by a reload while the request was under way
            return _unauthorized()
        if tenant.suspended:
            return suspended_response(tenant_id)
        if directory.implicit:
            wait_s = self.rate_limiter.wait_s(caller)
        else:
            wait_s = self.rate_limiter.wait_s(
                f"tenant:{tenant_id}", tenant.rate_per_s, tenant.rate_burst
            )
        if wait_s <= 0:
            return None
        retry_after = max(1, math.ceil(wait_s))
        log.info(
            "ingest request rate-limited caller=%s tenant=%s retry_after_s=%d",
            caller,
            tenant_id,
            retry_after,
        )
        rate, burst = (
            (self.settings.ingest_rate_per_s, self.settings.ingest_rate_burst)
            if directory.implicit
            else (tenant.rate_per_s, tenant.rate_burst)
        )
        whose = "this credential" if directory.implicit else f"tenant {tenant_id}"
        return rate_limited_response(
            retry_after, f"more than {burst} requests in a burst or {rate:g}/s for {whose}"
        )
