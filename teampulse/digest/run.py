"""`teampulse digest`: read what is published, compose one scope's digest, deliver it."""

from __future__ import annotations

from pathlib import Path

from redis.exceptions import RedisError

from teampulse.digest.compose import DigestError, compose, parse_scope, render_email_html
from teampulse.digest.deliver import send_email, send_slack, send_teams
from teampulse.settings import Settings
from teampulse.sinks.redis_connection import redacted, redis_client
from teampulse.sinks.redis_writer import RedisKeys
from teampulse.web.reading import read_published

__all__ = ["DELIVERIES", "run_digest"]

DELIVERIES = ("email", "teams", "slack", "html")
REDIS_TIMEOUT_S = 5.0


async def run_digest(settings: Settings, scope_text: str, to: str, out: Path) -> str:
    """Deliver the digest; returns what was done, in a line. Raises DigestError (a bad scope,
    an unpublished one, a bad --to) or DeliveryError."""
    if to not in DELIVERIES:
        raise DigestError(f"--to {to!r}: choose one of {', '.join(DELIVERIES)}")
    scope, key = parse_scope(scope_text)
    client = redis_client(settings, socket_timeout=REDIS_TIMEOUT_S)
    try:
        published = await read_published(client, RedisKeys(settings.redis_prefix))
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
