"""How every Kafka client of TeamPulse connects: bootstrap servers, TLS and SASL.

One source of truth, read from the settings (docs/security.md):
* `kafka_client_options` -> the keyword arguments of aiokafka's producer, consumer and admin
  client (`bootstrap_servers`, `security_protocol`, `ssl_context`, `sasl_*`);
* `kafka_connection_problem` -> why a client could not connect, as a sentence that names the
  setting to fix (a wrong password otherwise shows as aiokafka's "Unable to bootstrap").
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError, SaslAuthenticationFailed
from aiokafka.helpers import create_ssl_context

from teampulse.settings import Settings

__all__ = [
    "KafkaProblem",
    "KafkaSecurityError",
    "kafka_client_options",
    "kafka_connection_problem",
    "kafka_ssl_context",
]

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
PROBE_TIMEOUT_S = 10.0


class KafkaSecurityError(SystemExit):
    """The Kafka security settings are inconsistent; the message says which to set."""


def _protocol(settings: Settings) -> str:
    protocol = settings.kafka_security_protocol.strip().upper()
    if protocol not in PROTOCOLS:
        raise KafkaSecurityError(
            f"TEAMPULSE_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol!r}: "
            f"use one of {', '.join(PROTOCOLS)}"
        )
    if protocol.startswith("SASL_"):
        if settings.kafka_sasl_mechanism not in SASL_MECHANISMS:
            raise KafkaSecurityError(
                f"TEAMPULSE_KAFKA_SASL_MECHANISM={settings.kafka_sasl_mechanism!r}: use one of "
                f"{', '.join(SASL_MECHANISMS)}"
            )
        if not settings.kafka_sasl_username or not settings.kafka_sasl_password:
            raise KafkaSecurityError(
                f"TEAMPULSE_KAFKA_SECURITY_PROTOCOL={protocol} needs "
                "TEAMPULSE_KAFKA_SASL_USERNAME and TEAMPULSE_KAFKA_SASL_PASSWORD"
            )
    return protocol


def _readable(setting: str, path: Path | None) -> str | None:
    if path is None:
        return None
    if not path.is_file():
        raise KafkaSecurityError(f"TEAMPULSE_{setting}={path}: no such file")
    return str(path)


def kafka_ssl_context(settings: Settings) -> ssl.SSLContext:
    """The TLS context: the CA file (else the system's trust store) and, for brokers that
    ask for one, the client certificate and key. Host names are checked."""
    cert = _readable("KAFKA_SSL_CERT_FILE", settings.kafka_ssl_cert_file)
    key = _readable("KAFKA_SSL_KEY_FILE", settings.kafka_ssl_key_file)
    if (cert is None) != (key is None):
        raise KafkaSecurityError(
            "TEAMPULSE_KAFKA_SSL_CERT_FILE and TEAMPULSE_KAFKA_SSL_KEY_FILE go together"
        )
    try:
        return create_ssl_context(
            cafile=_readable("KAFKA_SSL_CA_FILE", settings.kafka_ssl_ca_file),
            certfile=cert,
            keyfile=key,
        )
    except ssl.SSLError as exc:
        raise KafkaSecurityError(
            f"the Kafka TLS files could not be loaded ({exc.reason or exc}): check "
            "TEAMPULSE_KAFKA_SSL_CA_FILE, TEAMPULSE_KAFKA_SSL_CERT_FILE and "
            "TEAMPULSE_KAFKA_SSL_KEY_FILE (PEM, key unencrypted)"
        ) from None


def kafka_client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
    protocol = _protocol(settings)
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": protocol,
    }
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = kafka_ssl_context(settings)
    if protocol.startswith("SASL_"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password
    return options


@dataclass(frozen=True)
class KafkaProblem:
    message: str
    lasting: bool  # a refused login or certificate: trying again will not help


def _first_server(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    return host.strip("[]") or first, int(port or 9092)


async def kafka_connection_problem(settings: Settings) -> KafkaProblem:
    """Why Kafka cannot be used with these settings, as one sentence naming the fix: one
    connection to the first bootstrap server, with the TLS and SASL handshakes."""
    options = kafka_client_options(settings)
    bootstrap = options.pop("bootstrap_servers")
    host, port = _first_server(bootstrap)
    protocol = options["security_protocol"]
    try:
        conn = await asyncio.wait_for(
            create_conn(host, port, request_timeout_ms=int(PROBE_TIMEOUT_S * 1000), **options),
            PROBE_TIMEOUT_S,
        )
    except SaslAuthenticationFailed:
        return KafkaProblem(
            f"Kafka at {bootstrap} refused the {settings.kafka_sasl_mechanism} login of user "
            f"{settings.kafka_sasl_username!r} (wrong user name or password): check "
            "TEAMPULSE_KAFKA_SASL_USERNAME and TEAMPULSE_KAFKA_SASL_PASSWORD, and that the "
            "user exists on the broker for that mechanism (TEAMPULSE_KAFKA_SASL_MECHANISM)",
            lasting=True,
        )
    except ssl.SSLCertVerificationError as exc:
        return KafkaProblem(
            f"the certificate of Kafka at {bootstrap} is not trusted ({exc.verify_message}): "
            "set TEAMPULSE_KAFKA_SSL_CA_FILE to the CA that signed it",
            lasting=True,
        )
    except ssl.SSLError as exc:
        return KafkaProblem(
            f"the TLS handshake with Kafka at {bootstrap} failed ({exc.reason or exc}): does "
            "the listener speak TLS (TEAMPULSE_KAFKA_SECURITY_PROTOCOL), and does it require a "
            "client certificate (TEAMPULSE_KAFKA_SSL_CERT_FILE / TEAMPULSE_KAFKA_SSL_KEY_FILE)?",
            lasting=True,
        )
    except TimeoutError:
        return KafkaProblem(
            f"Kafka at {bootstrap} did not complete a {protocol} handshake within "
            f"{PROBE_TIMEOUT_S:.0f} s: check that TEAMPULSE_KAFKA_SECURITY_PROTOCOL matches the "
            "broker's listener",
            lasting=True,
        )
    except KafkaError as exc:
        if "closed" in str(exc):
            # Under TLS 1.3 a broker that wants a client certificate says so only by closing
            # the connection after the handshake; a broker shutting down closes it too, so
            # that is worth waiting for only when a certificate was given.
            without_certificate = "ssl_context" in options and settings.kafka_ssl_cert_file is None
            certificate = (
                " and, if the listener requires a client certificate, set "
                "TEAMPULSE_KAFKA_SSL_CERT_FILE and TEAMPULSE_KAFKA_SSL_KEY_FILE"
                if without_certificate
                else ""
            )
            return KafkaProblem(
                f"Kafka at {bootstrap} closed a {protocol} connection at once ({exc}): check "
                "that TEAMPULSE_KAFKA_SECURITY_PROTOCOL matches the broker's listener"
                + certificate,
                lasting=without_certificate,
            )
        return KafkaProblem(
            f"cannot reach Kafka at {bootstrap} ({exc}): start it with `make up`, or point "
            "TEAMPULSE_KAFKA_BOOTSTRAP at your broker",
            lasting=False,
        )
    except OSError as exc:
        return KafkaProblem(
            f"cannot reach Kafka at {bootstrap} ({exc}): start it with `make up`, or point "
            "TEAMPULSE_KAFKA_BOOTSTRAP at your broker",
            lasting=False,
        )
    conn.close()
    return KafkaProblem(
        f"cannot reach Kafka at {bootstrap} (one connection works; is the broker starting?)",
        lasting=False,
    )
