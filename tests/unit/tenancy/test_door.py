"""A tenant's person ids are keyed at the door, and the pipeline keeps them as they are."""

from __future__ import annotations

from teampulse.contract.pseudonym import PSEUDONYM_HOME_PAGE, Pseudonymiser
from teampulse.tenancy.door import keyed_event, keyed_statement

TENANT = Pseudonymiser("a-tenant-pseudonym-key")
GLOBAL = Pseudonymiser("the-global-pseudonym-key")


def test_a_keyed_event_carries_the_tenants_pseudonym_which_the_pipeline_keeps():
    keyed = keyed_event({"id": "e1", "actor": "Jane@Example.com"}, TENANT)
    expected = TENANT.person("jane@example.com")
    assert keyed == {"id": "e1", "actor": "pseudonym:" + expected}
    assert GLOBAL.person(keyed["actor"]) == expected


def test_a_keyed_statement_names_the_person_by_the_tenants_pseudonym_only():
    statement = {
        "id": "s1",
        "actor": {"objectType": "Agent", "name": "Jane Doe", "mbox": "mailto:jane@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
    }
    keyed = keyed_statement(statement, TENANT)
    expected = TENANT.person("jane@example.com")
    assert keyed["actor"] == {
        "objectType": "Agent",
        "account": {"homePage": PSEUDONYM_HOME_PAGE, "name": expected},
    }
    assert "Jane" not in str(keyed) and "jane@" not in str(keyed)
    assert GLOBAL.xapi_actor(keyed["actor"]) == expected
    assert statement["actor"]["name"] == "Jane Doe"  # the request's statement is left alone


def test_the_same_address_by_mbox_or_sha1_gets_the_same_keyed_account():
    by_mbox = keyed_statement({"actor": {"mbox": "mailto:jane@example.com"}}, TENANT)
    sha1 = "e2d5b0c6d7f2a4f17b8b27b0d4e5b2ab62e3fb4c"  # not jane's: a different person
    by_other = keyed_statement({"actor": {"mbox_sha1sum": sha1}}, TENANT)
    assert by_mbox["actor"] != by_other["actor"]
    again = keyed_statement({"actor": {"mbox": "mailto:JANE@example.com"}}, TENANT)
    assert again["actor"] == by_mbox["actor"]


def test_a_group_actor_is_left_for_the_pipeline_to_refuse():
    statement = {"actor": {"objectType": "Group", "member": []}}
    assert keyed_statement(statement, TENANT) is statement
