"""The pure parts of the HTTP edge: credentials and the per-user assumed xAPI version."""

from __future__ import annotations

import base64

import pytest

from teampulse.ingest.http import Credentials, IngestConfigError, assumed_versions
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
