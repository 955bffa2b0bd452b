"""Who may read which tenant's figures: the read API's and the web app's one rule.

With tenants configured, every request to the read API (`/teams`, `/org`, ...) and to the
web app names its tenant by a read token of the tenants file (`read_tokens`), sent as
`Authorization: Bearer <token>` or, from a browser, as Basic `<tenant>:<token>`; it is then
answered from that tenant's figures only, as if the deployment held no other tenant.
Without a tenants file there is one implicit tenant and the pages answer whoever reaches
their port, as they always did (put them behind the network's access control).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from teampulse.tenancy.directory import TenantDirectory

__all__ = ["ReadRefusal", "reader_tenant"]

TOKEN_HELP = (
    "this deployment serves several tenants: send 'Authorization: Bearer <read token>', "
    "or Basic '<tenant>:<read token>', with a read token of your tenant (docs/read-api.md)"
)


@dataclass(frozen=True)
class ReadRefusal:
    """A 401: the error code and the reason, for a JSON body or a page."""

    error: str
    detail: str


def reader_tenant(
    directory: TenantDirectory, authorization: str | None
) -> str | None | ReadRefusal:
    """The tenant whose figures a request may read: None for the one implicit tenant of a
    deployment without a tenants file, else the read token's tenant or a refusal."""
    if directory.implicit:
        return None
    if not authorization:
        return ReadRefusal("unauthorized", f"no read token: {TOKEN_HELP}")
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    claimed: str | None = None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credential, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ReadRefusal("unauthorized", f"Basic credentials are not base64: {TOKEN_HELP}")
        claimed, _, credential = decoded.partition(":")
    elif scheme.lower() != "bearer":
        return ReadRefusal("unauthorized", f"unsupported scheme {scheme[:20]!r}: {TOKEN_HELP}")
    tenant = directory.tenant_of_read_token(credential) if credential else None
    if tenant is None or (claimed is not None and claimed != tenant):
        return ReadRefusal("unauthorized", f"unknown read token: {TOKEN_HELP}")
    return tenant
