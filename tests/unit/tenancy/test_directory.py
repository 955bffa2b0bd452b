"""Who a request or a record belongs to: the rules of the tenant directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from teampulse.contract.rejections import Reason, Rejection
from teampulse.settings import Settings
from teampulse.tenancy.config import load_tenants
from teampulse.tenancy.directory import (
    IMPLICIT_TENANT,
    TENANT_HEADER,
    Signer,
    TenantDirectory,
    tenant_directory,
)
from tests.unit.tenancy.conftest import ACME_KEY


@pytest.fixture
def directory(tenants_file: Path) -> TenantDirectory:
    return TenantDirectory.configured(load_tenants(tenants_file), Settings(ingest_rate_per_s=9))


def test_without_a_tenants_file_there_is_one_implicit_tenant_from_the_settings():
    settings = Settings(
        ingest_credentials="lms:secret, tok",
        pseudonym_secret="the-global-pseudonym-key",
        slack_signing_secret="slack-secret",
    )
    directory = tenant_directory(settings)
    assert directory.implicit
    assert list(directory.tenants) == [IMPLICIT_TENANT]
    assert directory.tenants[IMPLICIT_TENANT].credentials == ("lms:secret", "tok")
    # one secret answers for any workspace, as before tenants
    assert directory.slack_signer("T-ANY") == Signer(IMPLICIT_TENANT, "slack-secret")
    assert directory.graph_signer("any") is None  # that connector is not enabled
    assert not directory.has_graph()


def test_the_implicit_tenant_writes_no_header_and_ignores_one():
    directory = TenantDirectory.single(Settings())
    assert directory.record_headers(IMPLICIT_TENANT) == []
    assert directory.tenant_of_record([(TENANT_HEADER, b"acme")]) is None


def test_a_configured_tenant_travels_in_a_header(directory: TenantDirectory):
    assert directory.record_headers("acme") == [(TENANT_HEADER, b"acme")]
    assert directory.tenant_of_record([("other", b"x"), (TENANT_HEADER, b"acme")]) == "acme"


def test_a_record_without_a_tenant_header_is_refused_with_a_reason(directory: TenantDirectory):
    refused = directory.tenant_of_record([])
    assert isinstance(refused, Rejection) and refused.reason is Reason.UNKNOWN_TENANT
    assert "no teampulse-tenant header" in refused.detail


def test_a_record_of_a_tenant_not_in_the_file_is_refused(directory: TenantDirectory):
    refused = directory.tenant_of_record([(TENANT_HEADER, b"ghost")])
    assert isinstance(refused, Rejection) and refused.reason is Reason.UNKNOWN_TENANT
    assert "tenant 'ghost' is not in the tenants file" in refused.detail


def test_senders_resolve_to_the_tenant_that_holds_them(directory: TenantDirectory):
    assert directory.slack_signer("TACME") == Signer("acme", "acme-slack-secret")
    assert directory.slack_signer("TOTHER") is None
    assert directory.slack_signer(None) is None
    assert directory.graph_signer("entra-acme") == Signer("acme", "acme-client-state")
    assert directory.graph_signer("entra-other") is None
    assert directory.forum_signer("https://Forum.Acme.example/") == Signer(
        "acme", "acme-forum-secret"
    )
    assert directory.forum_signer(None) is None


def test_a_tenant_without_its_own_rate_has_the_settings_rate(directory: TenantDirectory):
    acme, globex = directory.tenants["acme"], directory.tenants["globex"]
    assert (acme.rate_per_s, acme.rate_burst) == (2, 3)
    assert (globex.rate_per_s, globex.rate_burst) == (9, 200)
    assert acme.sensor_tokens == {"acme-sensor-token": "https://lms.acme.example/sensor"}


def test_each_tenant_keys_people_with_its_own_secret(directory: TenantDirectory):
    acme = directory.pseudonymiser("acme").person("jane@example.com")
    globex = directory.pseudonymiser("globex").person("jane@example.com")
    assert acme != globex
    assert directory.tenants["acme"].pseudonym_secret == ACME_KEY
    assert directory.pseudonymiser("acme") is directory.pseudonymiser("acme")
