"""What xAPI asks of a statements request besides its body: the `X-Experience-API-Version`
header, and the Alternate Request Syntax that carries headers and body as form fields.

The version is required (1.0.x or 2.0.0) and echoed on every answer; a Basic user named in
TEAMPULSE_INGEST_XAPI_VERSION_BY_USER may omit it and is read as that version, so the
exception to the rule is tied to one authenticated source.
"""

from __future__ import annotations

import re
import urllib.parse

from aiohttp import web

from teampulse.ingest.credentials import Credentials, IngestConfigError, Keyring
from teampulse.ingest.responses import error_response
from teampulse.settings import Settings

__all__ = [
    "SPOKEN_VERSIONS",
    "VERSION_HEADER",
    "XAPI_VERSION",
    "alternate_error",
    "answered_version",
    "assumed_versions",
    "form_fields",
    "statement_version",
]

VERSION_HEADER = "X-Experience-API-Version"
SPOKEN_VERSIONS = ("1.0.3", "2.0.0")
_ACCEPTED_VERSION = re.compile(r"1\.0(?:\.[0-9]+)?|2\.0\.0")
XAPI_VERSION = web.RequestKey("xapi_version", str)  # the version a statements request is read as


def assumed_versions(settings: Settings, users: frozenset[str]) -> dict[str, str]:
    """TEAMPULSE_INGEST_XAPI_VERSION_BY_USER ('ralph=1.0.3, lms=2.0.0') -> user -> version.
    Each user must be one of `users`, the Basic users of TEAMPULSE_INGEST_CREDENTIALS (or of
    the tenants), so that the exception to the version rule is tied to one authenticated
    source."""
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


def statement_version(
    asked: str | None,
    authorization: str | None,
    credentials: Credentials | Keyring,
    assumed: dict[str, str],
) -> str | web.Response:
    """The version a statements request is read as, or its 400."""
    if asked is None and credentials:
        # Conformance is the default; only a source the operator named may omit it.
        user = Credentials.basic_user(authorization)
        asked = assumed.get(user) if user is not None else None
    if asked is None or _ACCEPTED_VERSION.fullmatch(asked) is None:
        return error_response(
            400, "version", f"{VERSION_HEADER} must be 1.0.x or 2.0.0, got {asked!r}"
        )
    return asked


def answered_version(asked: str) -> str:
    """The version echoed on an answer: the one spoken of the asked major version."""
    return "2.0.0" if asked.startswith("2.") else "1.0.3"


def alternate_error(detail: str) -> web.Response:
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


def form_fields(body: bytes) -> dict[str, str] | web.Response:
    """The form of an alternate request, field names lowercased; 400 for an unknown or
    repeated field or a body that is not UTF-8."""
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, errors="strict"
        )
    except (UnicodeDecodeError, ValueError):
        return alternate_error("the form is not URL-encoded UTF-8")
    form: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        if key not in _ALTERNATE_FIELDS:
            return alternate_error(f"unknown form field {name[:60]!r}")
        if key in form:
            return alternate_error(f"form field {name[:60]!r} is sent twice")
        form[key] = value
    return form
