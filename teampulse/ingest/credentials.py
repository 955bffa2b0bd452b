"""Who may call the ingest endpoint: the configured credentials, and each caller's rate.

TEAMPULSE_INGEST_CREDENTIALS lists Basic `user:secret` pairs and bare Bearer tokens; a
request that carries none of them is 401, one past its credential's rate
(TEAMPULSE_INGEST_RATE_PER_S, _BURST) is 429 with Retry-After. The signed connectors are
callers too, each platform with its own bucket (docs/security.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import math
import time
from dataclasses import dataclass

from aiohttp import web

from teampulse.ingest.rate_limit import RateLimiter
from teampulse.ingest.responses import error_response, rate_limited_response
from teampulse.settings import Settings

__all__ = ["Credentials", "Gate", "IngestConfigError", "require_credentials"]

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


def require_credentials(settings: Settings, insecure_no_auth: bool) -> None:
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


class Gate:
    """Admits a request by its credential and that credential's rate."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.credentials = Credentials.parse(settings.ingest_credentials)
        # Requests are limited in real time, whatever clock the events are read with.
        self.rate_limiter = RateLimiter(
            settings.ingest_rate_per_s, settings.ingest_rate_burst, time.monotonic
        )

    def admit(self, authorization: str | None) -> web.Response | None:
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
