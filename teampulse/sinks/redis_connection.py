"""How every Redis client of TeamPulse connects: the URL (user, password, `rediss://` for
TLS) plus the TLS files, from the settings (docs/security.md).

* `redis_tls_options` -> the keyword arguments of redis-py's `from_url` for the TLS files;
* `redis_client` -> the asyncio client the writer and the overview page use;
* `redis_connection_problem` -> a refused login or certificate, as a sentence naming the
  setting to fix (an unreachable Redis is an outage, which the writer rides out).
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, ConnectionError, RedisError, ResponseError

from teampulse.settings import Settings

__all__ = [
    "RedisSecurityError",
    "redacted",
    "redis_client",
    "redis_connection_problem",
    "redis_tls_options",
]

PROBE_TIMEOUT_S = 5.0


class RedisSecurityError(SystemExit):
    """The Redis TLS settings are inconsistent; the message says which to set."""


def redacted(url: str) -> str:
    """The Redis URL without its password, for log lines."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def redis_tls_options(settings: Settings) -> dict[str, Any]:
    """`ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile` for a rediss:// URL (host names are
    checked, as redis-py does by default)."""
    files = {
        "ssl_ca_certs": settings.redis_ssl_ca_file,
        "ssl_certfile": settings.redis_ssl_cert_file,
        "ssl_keyfile": settings.redis_ssl_key_file,
    }
    given = {name: str(path) for name, path in files.items() if path is not None}
    if not settings.redis_url.startswith("rediss://"):
        if given:
            raise RedisSecurityError(
                "TEAMPULSE_REDIS_SSL_* files are set but TEAMPULSE_REDIS_URL is not a "
                "rediss:// (TLS) URL"
            )
        return {}
    for name, path in files.items():
        if path is not None and not path.is_file():
            raise RedisSecurityError(f"the Redis TLS file {path} ({name}) does not exist")
    if ("ssl_certfile" in given) != ("ssl_keyfile" in given):
        raise RedisSecurityError(
            "TEAMPULSE_REDIS_SSL_CERT_FILE and TEAMPULSE_REDIS_SSL_KEY_FILE go together"
        )
    return given


def redis_client(settings: Settings, **options: Any) -> Redis:
    return Redis.from_url(settings.redis_url, **redis_tls_options(settings), **options)


async def redis_connection_problem(settings: Settings) -> str | None:
    """A lasting reason this process cannot use Redis (login or TLS refused), or None: also
    None when Redis does not answer, which is an outage to wait out, not a configuration."""
    where = redacted(settings.redis_url)
    client = redis_client(
        settings, socket_timeout=PROBE_TIMEOUT_S, socket_connect_timeout=PROBE_TIMEOUT_S
    )
    try:
        await client.ping()
    except AuthenticationError as exc:
        return (
            f"Redis at {where} refused the login ({exc}): check the user and password in "
            "TEAMPULSE_REDIS_URL (rediss://user:password@host:port/0)"
        )
    except ResponseError as exc:
        if "NOPERM" in str(exc) or "NOAUTH" in str(exc):
            return (
                f"Redis at {where} refused TeamPulse ({exc}): give the user of "
                "TEAMPULSE_REDIS_URL the keys and channels of TEAMPULSE_REDIS_PREFIX"
            )
        return None
    except ConnectionError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY" in str(exc):
            return (
                f"the certificate of Redis at {where} is not trusted ({exc}): set "
                "TEAMPULSE_REDIS_SSL_CA_FILE to the CA that signed it"
            )
        if isinstance(cause, ssl.SSLError) or "SSL" in str(exc):
            return (
                f"the TLS handshake with Redis at {where} failed ({exc}): is it a TLS port "
                "(rediss://), and does it require a client certificate "
                "(TEAMPULSE_REDIS_SSL_CERT_FILE / TEAMPULSE_REDIS_SSL_KEY_FILE)?"
            )
        return None
    except (RedisError, OSError):
        return None
    finally:
        await client.aclose()
    return None
