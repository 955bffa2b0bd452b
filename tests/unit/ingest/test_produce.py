"""`teampulse produce --tenant`: a tenant's records keyed with its own secret, with its header."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from teampulse.contract.pseudonym import PSEUDONYM_HOME_PAGE, Pseudonymiser
from teampulse.ingest.produce import TenantKeying, check_records
from teampulse.settings import Settings
from teampulse.tenancy.directory import TENANT_HEADER
from tests.unit.tenancy.conftest import ACME_KEY, two_tenants

NOW = 1772496000.0
EVENT = {
    "id": "e1",
    "type": "learning.completed",
    "occurred_at": "2026-03-02T10:30:00Z",
    "actor": "jane@example.com",
    "source": "lms",
}
STATEMENT = {
    "id": "6fbd600f-d17c-4c74-801a-2ec2e53231f9",
    "actor": {"mbox": "mailto:jane@example.com", "name": "Jane"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
    "object": {"id": "https://lms.example.com/courses/agile"},
    "timestamp": "2026-03-02T10:30:00Z",
}
ROSTER = {"person": "jane@example.com", "team": "red", "department": "d", "division": "v"}
JANE = Pseudonymiser(ACME_KEY).person("jane@example.com")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(two_tenants()))
    return Settings(tenants_file=path)


def test_a_tenants_records_are_keyed_with_its_secret_and_carry_its_header(settings: Settings):
    keying = TenantKeying.of(settings, "acme")
    assert keying.headers == [(TENANT_HEADER, b"acme")]
    data = b"\n".join(orjson.dumps(r) for r in (EVENT, STATEMENT, ROSTER))
    outgoing, summary = check_records(data, settings, None, NOW, keying)
    assert summary.rejected == 0
    event, statement, roster = (orjson.loads(o.value) for o in outgoing)
    assert event["actor"] == "pseudonym:" + JANE
    assert statement["actor"] == {
        "objectType": "Agent",
        "account": {"homePage": PSEUDONYM_HOME_PAGE, "name": JANE},
    }
    assert roster["person"] == "pseudonym:" + JANE
    assert outgoing[2].key == b"pseudonym:" + JANE.encode()
    assert not any(b"jane@" in o.value for o in outgoing)


def test_without_a_tenant_records_are_sent_as_written(settings: Settings):
    outgoing, _ = check_records(orjson.dumps(EVENT), settings, None, NOW)
    assert orjson.loads(outgoing[0].value) == EVENT


def test_a_tenant_not_in_the_file_is_refused_naming_the_known_ones(settings: Settings):
    with pytest.raises(SystemExit, match=r"--tenant ghost: no such tenant .*\(acme, globex\)"):
        TenantKeying.of(settings, "ghost")


def test_a_tenant_without_a_tenants_file_is_refused():
    with pytest.raises(SystemExit, match="--tenant needs TEAMPULSE_TENANTS_FILE"):
        TenantKeying.of(Settings(), "acme")
