"""What the tenant relay writes for a record of a tenant's own topic."""

from __future__ import annotations

import orjson

from teampulse.contract.events import EventValidator
from teampulse.contract.pseudonym import PSEUDONYM_HOME_PAGE, Pseudonymiser
from teampulse.ingest.relay import relayed_value
from teampulse.settings import Settings
from teampulse.tenancy.config import parse_tenants
from teampulse.tenancy.directory import TenantDirectory
from tests.unit.tenancy.conftest import two_tenants

NOW = 1772496000.0
TENANT = Pseudonymiser("a-tenant-pseudonym-key")
VALIDATOR = EventValidator(Settings(), Pseudonymiser("the-global-pseudonym-key"))
EVENT = {
    "id": "e1",
    "type": "learning.completed",
    "occurred_at": "2026-03-02T10:30:00Z",
    "actor": "jane@example.com",
    "source": "lms",
}
STATEMENT = {
    "id": "6fbd600f-d17c-4c74-801a-2ec2e53231f9",
    "actor": {"mbox": "mailto:jane@example.com"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
    "object": {"id": "https://lms.example.com/courses/agile"},
}


def relayed(route: str, value: bytes) -> bytes:
    return relayed_value(route, value, TENANT, VALIDATOR, NOW)


def test_a_valid_event_is_relayed_with_its_actor_keyed():
    out = orjson.loads(relayed("events", orjson.dumps(EVENT)))
    assert out == {**EVENT, "actor": "pseudonym:" + TENANT.person("jane@example.com")}


def test_a_valid_statement_is_relayed_with_its_actor_keyed():
    out = orjson.loads(relayed("xapi", orjson.dumps(STATEMENT)))
    assert out["actor"]["account"] == {
        "homePage": PSEUDONYM_HOME_PAGE,
        "name": TENANT.person("jane@example.com"),
    }


def test_what_is_not_valid_is_relayed_as_it_came_for_the_worker_to_refuse():
    for route, value in [
        ("events", b"not json"),
        ("events", b"[1, 2]"),
        ("events", orjson.dumps({**EVENT, "type": "unknown"})),
        ("xapi", orjson.dumps({**STATEMENT, "verb": {}})),
    ]:
        assert relayed(route, value) == value


def test_each_tenant_not_suspended_has_its_own_input_topics():
    raw = two_tenants()
    raw["tenants"]["globex"]["suspended"] = True
    directory = TenantDirectory.configured(parse_tenants(raw), Settings())
    assert directory.tenant_topics() == {
        "tenant.acme.events": ("acme", "events"),
        "tenant.acme.xapi": ("acme", "xapi"),
    }
    assert TenantDirectory.single(Settings()).tenant_topics() == {}
