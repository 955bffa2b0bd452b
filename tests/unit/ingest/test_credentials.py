"""The pure parts of admission: credentials and the per-user assumed xAPI version."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web

from teampulse.ingest import credentials
from teampulse.ingest.credentials import Caller, Credentials, Gate, IngestConfigError, Keyring
from teampulse.ingest.xapi_syntax import assumed_versions
from teampulse.settings import Settings
from teampulse.tenancy.directory import TENANT_HEADER, TenantDirectory
from teampulse.tenancy.source import TenantsSource
from tests.unit.tenancy.conftest import two_tenants


def assumed(settings: Settings) -> dict[str, str]:
    return assumed_versions(settings, Credentials.parse(settings.ingest_credentials).users)


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
    assert assumed(settings) == {"ralph": "1.0.3", "lms": "2.0.0"}


def test_no_assumed_versions_by_default():
    assert assumed(Settings(ingest_credentials="ralph:r4lph")) == {}


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
        assumed(settings)


CONFIGURED = "first:one, lrs:s3cret, tok-a, tok-b"


def keyring(configured: str) -> Keyring:
    return Keyring(TenantDirectory.single(Settings(ingest_credentials=configured)))


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
    found = keyring(CONFIGURED).identify(header)
    assert (found.name if found is not None else None) == caller


@pytest.mark.parametrize(
    "header",
    [basic("first:one"), "Bearer tok-b", basic("lrs:wrong"), "Bearer x" * 300],
)
@pytest.mark.parametrize("configured", [CONFIGURED, ",".join(f"u{i}:s{i}" for i in range(1000))])
def test_identifying_costs_one_digest_whichever_credential_and_however_many(
    monkeypatch: pytest.MonkeyPatch, header: str, configured: str
):
    ring = keyring(configured)
    digests: list[int] = []
    real = hashlib.sha256

    def counting(data: bytes) -> Any:
        digests.append(len(data))
        return real(data)

    monkeypatch.setattr(credentials.hashlib, "sha256", counting)
    ring.identify(header)
    # One digest of the offer, then a lookup: neither the work nor its path depends on which
    # secret, if any, was offered, nor on how many are configured.
    assert len(digests) == 1


# --- with tenants ----------------------------------------------------------------------------


@pytest.fixture
def tenant_gate(tmp_path) -> Gate:
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(two_tenants()))
    settings = Settings(tenants_file=path)
    return Gate(settings, TenantsSource(settings))


@pytest.mark.parametrize(
    "header, tenant, sensor",
    [
        (basic("acme-lms:acme-secret"), "acme", None),
        ("Bearer acme-token", "acme", None),
        (basic("globex-lms:globex-secret"), "globex", None),
        ("Bearer acme-sensor-token", "acme", "https://lms.acme.example/sensor"),
    ],
)
def test_a_credential_admits_as_its_tenant(
    tenant_gate: Gate, header: str, tenant: str, sensor: str | None
):
    caller = tenant_gate.admit(header)
    assert isinstance(caller, Caller)
    assert (caller.tenant, caller.sensor) == (tenant, sensor)
    assert caller.record_headers == ((TENANT_HEADER, tenant.encode()),)


@pytest.mark.parametrize(
    "header",
    [None, basic("acme-lms:globex-secret"), basic("lms:secret"), "Bearer globex-secret"],
)
def test_an_unknown_credential_is_refused_401(tenant_gate: Gate, header: str | None):
    refused = tenant_gate.admit(header)
    assert isinstance(refused, web.Response) and refused.status == 401


def test_a_tenants_flood_does_not_take_another_tenants_tokens(tenant_gate: Gate):
    acme = basic("acme-lms:acme-secret")
    answers = [tenant_gate.admit(acme) for _ in range(10)]
    # acme's burst is 3: the rest are 429 with the tenant named
    limited = [a for a in answers if isinstance(a, web.Response)]
    assert len(limited) == 7 and {a.status for a in limited} == {429}
    assert "tenant acme" in orjson.loads(limited[0].body)["detail"]
    # both of acme's credentials share its bucket
    assert isinstance(tenant_gate.admit("Bearer acme-token"), web.Response)
    # globex still has all of its own
    globex = [tenant_gate.admit(basic("globex-lms:globex-secret")) for _ in range(200)]
    assert all(isinstance(a, Caller) for a in globex)


def test_a_suspended_tenant_is_refused_403_with_the_reason(tmp_path):
    raw = two_tenants()
    raw["tenants"]["acme"]["suspended"] = True
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(raw))
    settings = Settings(tenants_file=path)
    gate = Gate(settings, TenantsSource(settings))
    refused = gate.admit(basic("acme-lms:acme-secret"))
    assert isinstance(refused, web.Response) and refused.status == 403
    assert orjson.loads(refused.body)["error"] == "tenant_suspended"
    assert isinstance(gate.admit(basic("globex-lms:globex-secret")), Caller)


def test_a_reload_takes_effect_on_the_next_request(tmp_path):
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(two_tenants()))
    settings = Settings(tenants_file=path)
    source = TenantsSource(settings)
    gate = Gate(settings, source)
    raw = two_tenants()
    raw["tenants"]["globex"]["credentials"] = ["globex-lms:rotated-secret"]
    path.write_text(yaml.safe_dump(raw))
    source.reload_if_changed()
    assert isinstance(gate.admit(basic("globex-lms:globex-secret")), web.Response)
    assert isinstance(gate.admit(basic("globex-lms:rotated-secret")), Caller)


def test_without_tenants_the_rate_stays_per_credential():
    gate = Gate(
        Settings(ingest_credentials="a:1, b:2", ingest_rate_burst=2),
        TenantsSource(Settings(ingest_credentials="a:1, b:2", ingest_rate_burst=2)),
    )
    assert [isinstance(gate.admit(basic("a:1")), Caller) for _ in range(3)] == [True, True, False]
    assert isinstance(gate.admit(basic("b:2")), Caller)
    caller = gate.admit(basic("b:2"))
    assert isinstance(caller, Caller) and caller.record_headers == ()
