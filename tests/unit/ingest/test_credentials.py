"""The pure parts of admission: credentials and the per-user assumed xAPI version."""

from __future__ import annotations

import base64
import hmac

import pytest

from teampulse.ingest import credentials
from teampulse.ingest.credentials import Credentials, IngestConfigError
from teampulse.ingest.xapi_syntax import assumed_versions
from teampulse.settings import Settings


def basic(user_and_secret: str) -> str:
    return "Basic " + base64.b64encode(user_and_secret.encode()).decode()


def test_the_basic_user_of_a_header_is_its_name_before_the_colon():
    assert Credentials.basic_user(basic("ralph:pa:ss")) == "ralph"


@pytest.mark.parametrize("header", [None, "", "Bearer ralph", "Basic !!!"])
def test_a_header_without_basic_credentials_names_no_user(header: str | None):
    assert Credentials.basic_user(header) is None


def test_assumed_versions_map_basic_users_to_versions():
    settings = Settings(
        ingest_credentials="ralph:r4lph, lms:secret, tok-1",
        ingest_xapi_version_by_user="ralph=1.0.3, lms = 2.0.0",
    )
    assert assumed_versions(settings) == {"ralph": "1.0.3", "lms": "2.0.0"}


def test_no_assumed_versions_by_default():
    assert assumed_versions(Settings(ingest_credentials="ralph:r4lph")) == {}


@pytest.mark.parametrize(
    "mapping, message",
    [
        ("ralph=3.0", "'ralph=3.0' needs 'user=version' with version 1.0.x or 2.0.0"),
        ("ralph", "'ralph' needs 'user=version' with version 1.0.x or 2.0.0"),
        ("tok-1=1.0.3", "'tok-1' is not a Basic user of TEAMPULSE_INGEST_CREDENTIALS"),
        ("nobody=1.0.3", "'nobody' is not a Basic user of TEAMPULSE_INGEST_CREDENTIALS"),
    ],
)
def test_a_wrong_assumed_version_setting_refuses_to_start(mapping: str, message: str):
    settings = Settings(
        ingest_credentials="ralph:r4lph, tok-1", ingest_xapi_version_by_user=mapping
    )
    with pytest.raises(IngestConfigError, match=message):
        assumed_versions(settings)


CONFIGURED = "first:one, lrs:s3cret, tok-a, tok-b"


@pytest.mark.parametrize(
    "header, caller",
    [
        (basic("lrs:s3cret"), "basic:lrs"),
        (basic("first:one"), "basic:first"),
        ("Bearer tok-b", "bearer:2"),
        ("bearer tok-a", "bearer:1"),
        (basic("lrs:wrong"), None),
        (basic("tok-a"), None),  # a Bearer token offered as Basic is not that token
        ("Bearer lrs:s3cret", None),  # nor a Basic pair offered as Bearer
        ("Bearer ", None),
        ("Digest lrs:s3cret", None),
        (None, None),
    ],
)
def test_a_header_is_identified_as_the_credential_it_carries(header: str | None, caller: str):
    assert Credentials.parse(CONFIGURED).identify(header) == caller


@pytest.mark.parametrize(
    "header",
    [basic("first:one"), "Bearer tok-b", basic("lrs:wrong"), "Bearer x" * 300],
)
def test_every_configured_credential_is_compared_whichever_matches(
    monkeypatch: pytest.MonkeyPatch, header: str
):
    compared: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(credentials.hmac, "compare_digest", counting)
    Credentials.parse(CONFIGURED).identify(header)
    # No early exit on a match, and every comparison is between digests of one length, so
    # neither the count nor the lengths depend on which secret, if any, was offered.
    assert compared == [(32, 32)] * 4
