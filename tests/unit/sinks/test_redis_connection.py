"""The Redis connection settings: TLS files only with rediss://, and passwords never logged."""

from __future__ import annotations

from pathlib import Path

import pytest

from teampulse.settings import Settings
from teampulse.sinks.redis_connection import RedisSecurityError, redacted, redis_tls_options


def pem(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return path


def test_a_plain_url_needs_no_tls_options():
    assert redis_tls_options(Settings(redis_url="redis://cache:6379/0")) == {}


def test_a_rediss_url_gets_the_ca_and_client_files(tmp_path: Path):
    settings = Settings(
        redis_url="rediss://teampulse:pw@cache:6380/0",
        redis_ssl_ca_file=pem(tmp_path, "ca.pem"),
        redis_ssl_cert_file=pem(tmp_path, "client.pem"),
        redis_ssl_key_file=pem(tmp_path, "client.key"),
    )
    assert redis_tls_options(settings) == {
        "ssl_ca_certs": str(tmp_path / "ca.pem"),
        "ssl_certfile": str(tmp_path / "client.pem"),
        "ssl_keyfile": str(tmp_path / "client.key"),
    }


def test_tls_files_with_a_plain_url_refuse_to_start(tmp_path: Path):
    settings = Settings(redis_url="redis://cache:6379/0", redis_ssl_ca_file=pem(tmp_path, "ca"))
    with pytest.raises(RedisSecurityError, match="not a rediss:// .TLS. URL"):
        redis_tls_options(settings)


def test_a_client_certificate_needs_its_key(tmp_path: Path):
    settings = Settings(redis_url="rediss://cache:6380/0", redis_ssl_cert_file=pem(tmp_path, "c"))
    with pytest.raises(RedisSecurityError, match="CERT_FILE and .*KEY_FILE go together"):
        redis_tls_options(settings)


def test_a_missing_file_refuses_to_start(tmp_path: Path):
    settings = Settings(redis_url="rediss://cache:6380/0", redis_ssl_ca_file=tmp_path / "none")
    with pytest.raises(RedisSecurityError, match="does not exist"):
        redis_tls_options(settings)


def test_the_acl_password_is_hidden_in_log_lines():
    url = "rediss://teampulse:s3cret@cache:6380/0"
    assert redacted(url) == "rediss://teampulse:***@cache:6380/0"
