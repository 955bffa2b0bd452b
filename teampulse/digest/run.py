"""`teampulse digest`: read what is published, compose one scope's digest, deliver it."""

from __future__ import annotations

from pathlib import Path

from redis.exceptions import RedisError

from teampulse.digest.compose import DigestError, compose, parse_scope, render_email_html
from teampulse.digest.deliver import send_email, send_slack, send_teams
from teampulse.settings import Settings
from teampulse.sinks.redis_connection import redacted, redis_client
from teampulse.sinks.redis_writer import RedisKeys, tenant_prefix
from teampulse.tenancy.config import TenantConfigError
from teampulse.tenancy.directory import tenant_directory
from teampulse.web.reading import read_published

__all__ = ["DELIVERIES", "run_digest"]

DELIVERIES = ("email", "teams", "slack", "html")
REDIS_TIMEOUT_S = 5.0


def _keys(settings: Settings, tenant: str | None) -> RedisKeys:
    """The keys the digest reads: the tenant's own prefix (docs/tenancy.md), or the
    deployment's without tenants."""
    if tenant is None:
        return RedisKeys(settings.redis_prefix)
    if settings.tenants_file is None:
        raise DigestError("--tenant needs TEAMPULSE_TENANTS_FILE (docs/tenancy.md)")
    try:
        known = tenant_directory(settings).tenants
    except TenantConfigError as exc:
        raise DigestError(str(exc)) from None
    if tenant not in known:
        raise DigestError(
            f"--tenant {tenant!r} is not in the tenants file (tenants: {', '.join(sorted(known))})"
        )
    return RedisKeys(tenant_prefix(settings.redis_prefix, tenant))


async def run_digest(
    settings: Settings, scope_text: str, to: str, out: Path, tenant: str | None = None
) -> str:
    """Deliver the digest of `tenant`'s scope (the one organisation without tenants); returns
    what was done, in a line. Raises DigestError (a bad scope, an unpublished one, a bad --to
    or tenant) or DeliveryError."""
    if to not in DELIVERIES:
        raise DigestError(f"--to {to!r}: choose one of {', '.join(DELIVERIES)}")
    scope, key = parse_scope(scope_text)
    keys = _keys(settings, tenant)
    client = redis_client(settings, socket_timeout=REDIS_TIMEOUT_S)
    try:
        published = await read_published(client, keys)
    except RedisError as exc:
        raise RuntimeError(f"Redis at {redacted(settings.redis_url)}: {exc}") from exc
    finally:
        await client.aclose()
    digest = compose(published, scope, key)
    if to == "html":
        out.write_text(render_email_html(digest, settings.webapp_url), encoding="utf-8")
        return f"digest of {digest.title} written to {out}"
    send = {"email": send_email, "teams": send_teams, "slack": send_slack}[to]
    await send(digest, settings)
    where = settings.digest_to if to == "email" else to
    return f"digest of {digest.title} sent to {where}"
