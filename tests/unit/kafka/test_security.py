"""The one place Kafka connections are configured: the options of every aiokafka client."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from teampulse.kafka.security import (
    KafkaSecurityError,
    kafka_client_options,
)
from teampulse.settings import Settings


def sasl_ssl(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "kafka_bootstrap": "kafka-1:9093,kafka-2:9093",
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_username": "teampulse",
        "kafka_sasl_password": "s3cret",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def test_plaintext_is_the_default_and_carries_no_credentials():
    assert kafka_client_options(Settings(kafka_bootstrap="k:9092")) == {
        "bootstrap_servers": "k:9092",
        "security_protocol": "PLAINTEXT",
    }


def test_sasl_ssl_gives_aiokafka_the_mechanism_the_login_and_a_tls_context():
    options = kafka_client_options(sasl_ssl())
    context = options.pop("ssl_context")
    assert options == {
        "bootstrap_servers": "kafka-1:9093,kafka-2:9093",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "teampulse",
        "sasl_plain_password": "s3cret",
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname is True
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_sasl_without_tls_has_no_tls_context():
    settings = sasl_ssl(kafka_security_protocol="SASL_PLAINTEXT")
    assert "ssl_context" not in kafka_client_options(settings)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"kafka_security_protocol": "TLS"}, "use one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
        ({"kafka_sasl_password": ""}, "needs TEAMPULSE_KAFKA_SASL_USERNAME and .*PASSWORD"),
        ({"kafka_sasl_mechanism": "GSSAPI"}, "use one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"),
        ({"kafka_ssl_ca_file": "/nonexistent/ca.pem"}, "KAFKA_SSL_CA_FILE=.*: no such file"),
    ],
)
def test_inconsistent_settings_refuse_to_start_naming_the_setting(
    overrides: dict[str, object], message: str
):
    with pytest.raises(KafkaSecurityError, match=message):
        kafka_client_options(sasl_ssl(**overrides))


def test_a_client_certificate_needs_its_key(tmp_path: Path):
    cert = tmp_path / "client.pem"
    cert.write_text("not used")
    with pytest.raises(KafkaSecurityError, match="CERT_FILE and .*KEY_FILE go together"):
        kafka_client_options(sasl_ssl(kafka_ssl_cert_file=cert))


def test_an_empty_file_variable_means_not_set(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TEAMPULSE_KAFKA_SSL_CA_FILE", "")
    assert Settings().kafka_ssl_ca_file is None
