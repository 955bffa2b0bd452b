"""The rules an LRS must enforce: each broken statement is refused with a reason naming the
property. Valid shapes from the spec are accepted."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from teampulse.contract.xapi_rules import statement_problem

STATEMENT_ID = "5b1d8e3c-0f4e-4d8e-9b5e-1f2a3b4c5d6e"


def statement(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": STATEMENT_ID,
        "actor": {"objectType": "Agent", "name": "Jane Doe", "mbox": "mailto:jane@example.com"},
        "verb": {
            "id": "http://adlnet.gov/expapi/verbs/completed",
            "display": {"en-US": "completed"},
        },
        "object": {"id": "https://lms.example.com/courses/agile"},
        "timestamp": "2026-03-02T10:30:00Z",
    }
    base.update(copy.deepcopy(overrides))
    return {k: v for k, v in base.items() if v is not ...}


def test_a_plain_statement_is_valid():
    assert statement_problem(statement()) is None


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("no id: the LRS assigns one", {"id": ...}),
        ("no timestamp", {"timestamp": ...}),
        ("uppercase UUID", {"id": STATEMENT_ID.upper()}),
        ("mbox_sha1sum", {"actor": {"mbox_sha1sum": "90045cddf482e1bd1773fb8bb9cd8a9e75c9c0a4"}}),
        ("openid", {"actor": {"openid": "https://id.example.com/jane"}}),
        ("account", {"actor": {"account": {"homePage": "https://lms.example.com", "name": "u1"}}}),
        ("identified group", {"actor": {"objectType": "Group", "mbox": "mailto:team@example.com"}}),
        (
            "anonymous group",
            {"actor": {"objectType": "Group", "member": [{"mbox": "mailto:a@example.com"}]}},
        ),
        ("null inside extensions", {"context": {"extensions": {"http://example.com/x": None}}}),
        ("score bounds", {"result": {"score": {"scaled": -1, "raw": 0, "min": 0, "max": 10}}}),
        ("ISO durations", {"result": {"duration": "P1DT2H3M4.5S"}}),
        ("weeks alone", {"result": {"duration": "P4W"}}),
        ("offset timestamp", {"timestamp": "2026-03-02T11:30:00+01:00"}),
        ("timestamp without seconds or offset", {"timestamp": "2026-03-02T10:30"}),
        (
            "single context activity",
            {"context": {"contextActivities": {"parent": {"id": "urn:x:1"}}}},
        ),
        (
            "context team group",
            {
                "context": {
                    "team": {
                        "objectType": "Group",
                        "name": "payments",
                        "account": {"homePage": "https://hr.example.com", "name": "team-7"},
                    }
                }
            },
        ),
        (
            "statement ref object",
            {
                "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
                "object": {"objectType": "StatementRef", "id": STATEMENT_ID},
            },
        ),
        ("agent object", {"object": {"objectType": "Agent", "mbox": "mailto:bob@example.com"}}),
        (
            "substatement",
            {
                "object": {
                    "objectType": "SubStatement",
                    "actor": {"mbox": "mailto:bob@example.com"},
                    "verb": {"id": "http://adlnet.gov/expapi/verbs/attempted"},
                    "object": {"id": "https://lms.example.com/courses/agile"},
                }
            },
        ),
        (
            "interaction",
            {
                "object": {
                    "id": "urn:q:1",
                    "definition": {
                        "interactionType": "choice",
                        "correctResponsesPattern": ["a"],
                        "choices": [{"id": "a", "description": {"en": "A"}}],
                    },
                }
            },
        ),
        ("version 1.0.3", {"version": "1.0.3"}),
        ("version 2.0.0", {"version": "2.0.0"}),
        (
            "xAPI 2.0 contextAgents",
            {
                "context": {
                    "contextAgents": [
                        {
                            "objectType": "contextAgent",
                            "agent": {"mbox": "mailto:coach@example.com"},
                            "relevantTypes": ["https://example.com/types/coach"],
                        }
                    ]
                }
            },
        ),
        (
            "attachment by URL",
            {
                "attachments": [
                    {
                        "usageType": "http://adlnet.gov/expapi/attachments/signature",
                        "display": {"en-US": "signature"},
                        "contentType": "application/pdf",
                        "length": 10,
                        "sha2": "abc",
                        "fileUrl": "https://files.example.com/a.pdf",
                    }
                ]
            },
        ),
    ],
)
def test_valid_shapes_are_accepted(name, overrides):
    assert statement_problem(statement(**overrides)) is None


@pytest.mark.parametrize(
    "overrides, problem",
    [
        ({"actor": ...}, "actor: required"),
        ({"verb": ...}, "verb: required"),
        ({"object": ...}, "object: required"),
        (
            {"actor": {"name": "Jane"}},
            "actor: an Agent must have exactly one of mbox, mbox_sha1sum, openid, account",
        ),
        (
            {"actor": {"mbox": "mailto:jane@example.com", "openid": "https://id.example.com/jane"}},
            "actor: an Agent must have exactly one of mbox, mbox_sha1sum, openid, account",
        ),
        (
            {"actor": {"mbox": "jane@example.com"}},
            "actor.mbox: must be 'mailto:' followed by an e-mail address",
        ),
        (
            {"actor": {"mbox": "mailto:jane"}},
            "actor.mbox: must be 'mailto:' followed by an e-mail address",
        ),
        ({"actor": {"mbox_sha1sum": "abc"}}, "actor.mbox_sha1sum: must be 40 hexadecimal digits"),
        (
            {"actor": {"openid": "not an iri"}},
            "actor.openid: must be an absolute IRI (e.g. http://adlnet.gov/expapi/verbs/completed)",
        ),
        ({"actor": {"account": {"name": "u1"}}}, "actor.account: needs both homePage and name"),
        (
            {"actor": {"objectType": "Person", "mbox": "mailto:j@example.com"}},
            "actor.objectType: must be Agent or Group",
        ),
        (
            {"actor": {"objectType": "Group"}},
            "actor.member: an anonymous Group must list its members",
        ),
        (
            {
                "actor": {
                    "objectType": "Group",
                    "member": [{"objectType": "Group", "mbox": "mailto:t@example.com"}],
                }
            },
            "actor.member[0].objectType: must be Agent here "
            "(a Group cannot be a member of a Group)",
        ),
        (
            {"id": "AA97B177-9383-4934-8543-0F91A7A028368"},
            "id: must be a UUID (8-4-4-4-12 hexadecimal digits)",
        ),
        (
            {"id": "MA97B177-9383-4934-8543-0F91A7A02836"},
            "id: must be a UUID (8-4-4-4-12 hexadecimal digits)",
        ),
        ({"id": 12345}, "id: must be a UUID (8-4-4-4-12 hexadecimal digits)"),
        ({"result": {"response": None}}, "result.response: null is only allowed inside extensions"),
        (
            {"actor": {"mbox": "mailto:j@example.com", "name": None}},
            "actor.name: null is only allowed inside extensions",
        ),
        (
            {"verb": {"id": "completed"}},
            "verb.id: must be an absolute IRI (e.g. http://adlnet.gov/expapi/verbs/completed)",
        ),
        ({"verb": {"display": {"en-US": "completed"}}}, "verb.id: required"),
        (
            {"verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {}}},
            'verb.display: must be a language map with at least one entry, e.g. {"en-US": "..."}',
        ),
        (
            {
                "verb": {
                    "id": "http://adlnet.gov/expapi/verbs/completed",
                    "display": {"a12345": "x"},
                }
            },
            "verb.display: 'a12345' is not an RFC 5646 language tag",
        ),
        (
            {"object": {"id": "https://lms.example.com/c", "definition": {"name": "Agile"}}},
            "object.definition.name: must be a language map with at least one entry, "
            'e.g. {"en-US": "..."}',
        ),
        (
            {"object": {"objectType": "Course", "id": "https://lms.example.com/c"}},
            "object.objectType: must be Activity, Agent, Group, StatementRef or SubStatement",
        ),
        ({"object": {"definition": {"name": {"en": "x"}}}}, "object.id: required for an Activity"),
        (
            {"object": {"objectType": "StatementRef", "id": "not-a-uuid"}},
            "object.id: must be a UUID (8-4-4-4-12 hexadecimal digits)",
        ),
        (
            {"verb": {"id": "http://adlnet.gov/expapi/verbs/voided"}},
            "object: a voiding statement's object must be a StatementRef",
        ),
        (
            {
                "object": {
                    "objectType": "SubStatement",
                    "id": STATEMENT_ID,
                    "actor": {"mbox": "mailto:b@example.com"},
                    "verb": {"id": "http://adlnet.gov/expapi/verbs/attempted"},
                    "object": {"id": "urn:x:1"},
                }
            },
            "object.id: not allowed in a SubStatement",
        ),
        (
            {
                "object": {
                    "objectType": "SubStatement",
                    "actor": {"mbox": "mailto:b@example.com"},
                    "verb": {"id": "http://adlnet.gov/expapi/verbs/attempted"},
                    "object": {"objectType": "SubStatement"},
                }
            },
            "object.object.objectType: a SubStatement cannot contain a SubStatement",
        ),
        (
            {"result": {"duration": "90 minutes"}},
            "result.duration: must be an ISO 8601 duration such as PT1H30M",
        ),
        (
            {"result": {"duration": "PT"}},
            "result.duration: must be an ISO 8601 duration such as PT1H30M",
        ),
        (
            {"result": {"duration": "P4W1D"}},
            "result.duration: must be an ISO 8601 duration such as PT1H30M",
        ),
        ({"result": {"score": {"scaled": 1.5}}}, "result.score.scaled: must be from -1 to 1"),
        ({"result": {"score": {"scaled": "0.5"}}}, "result.score.scaled: must be a number"),
        (
            {"result": {"score": {"raw": 11, "min": 0, "max": 10}}},
            "result.score.raw: must lie from min to max",
        ),
        ({"result": {"score": {"min": 10, "max": 10}}}, "result.score.min: must be less than max"),
        ({"result": {"success": "yes"}}, "result.success: must be true or false"),
        ({"result": {"grade": "A"}}, "result: unknown property 'grade'"),
        (
            {"timestamp": "yesterday"},
            "timestamp: must be an ISO 8601 timestamp such as 2026-03-02T09:15:00Z (not -00:00)",
        ),
        (
            {"timestamp": "2026-03-02T10:30:00-00:00"},
            "timestamp: must be an ISO 8601 timestamp such as 2026-03-02T09:15:00Z (not -00:00)",
        ),
        (
            {"context": {"registration": "x"}},
            "context.registration: must be a UUID (8-4-4-4-12 hexadecimal digits)",
        ),
        (
            {"context": {"team": {"mbox": "mailto:t@example.com"}}},
            "context.team: must be a Group (objectType Group)",
        ),
        (
            {"context": {"language": "english!"}},
            "context.language: must be an RFC 5646 language tag",
        ),
        (
            {"context": {"extensions": {"team": "payments"}}},
            "context.extensions: key 'team' is not an absolute IRI",
        ),
        (
            {
                "object": {"objectType": "Agent", "mbox": "mailto:bob@example.com"},
                "context": {"platform": "Moodle"},
            },
            "context.platform: only allowed when the object is an Activity",
        ),
        (
            {"context": {"contextActivities": {"parent": [{"id": "no iri"}]}}},
            "context.contextActivities.parent[0].id: must be an absolute IRI "
            "(e.g. http://adlnet.gov/expapi/verbs/completed)",
        ),
        ({"version": "0.95"}, "version: must be 1.0.x or 2.0.x"),
        (
            {"stored": "later"},
            "stored: must be an ISO 8601 timestamp such as 2026-03-02T09:15:00Z (not -00:00)",
        ),
        ({"mood": "happy"}, "statement: unknown property 'mood'"),
        (
            {"object": {"id": "urn:q:1", "definition": {"choices": [{"id": "a"}]}}},
            "object.definition.choices: needs an interactionType",
        ),
        (
            {"object": {"id": "urn:q:1", "definition": {"interactionType": "essay"}}},
            "object.definition.interactionType: must be one of choice, fill-in, likert, "
            "long-fill-in, matching, numeric, other, performance, sequencing, true-false",
        ),
        (
            {
                "attachments": [
                    {
                        "usageType": "http://example.com/u",
                        "display": {"en": "a"},
                        "contentType": "text/plain",
                        "length": 3,
                        "sha2": "abc",
                    }
                ]
            },
            "attachments[0].fileUrl: required unless its raw data is sent (multipart/mixed)",
        ),
    ],
)
def test_broken_statements_are_refused_with_the_property_named(overrides, problem):
    assert statement_problem(statement(**overrides)) == problem


@pytest.mark.parametrize("value", [[], "statement", 42, None])
def test_a_statement_must_be_an_object(value):
    assert statement_problem(value) == "statement: must be a JSON object"


def test_deep_nesting_inside_extensions_does_not_break_the_checks():
    deep: Any = 0
    for _ in range(5000):
        deep = [deep]
    with_extension = statement()
    with_extension["context"] = {"extensions": {"urn:x:deep": deep}}
    assert statement_problem(with_extension) is None
    with_response = statement()
    with_response["result"] = {"response": deep}
    assert statement_problem(with_response) == "result.response: must be a string"


@pytest.mark.parametrize("interaction", [{"type": "choice"}, ["choice"], 3, True])
def test_an_interaction_type_of_another_json_type_is_refused_with_its_path(interaction: object):
    activity = {
        "id": "https://lms.example.com/quiz/1",
        "definition": {"interactionType": interaction},
    }
    assert statement_problem(statement(object=activity)) == (
        "object.definition.interactionType: must be one of choice, fill-in, likert, "
        "long-fill-in, matching, numeric, other, performance, sequencing, true-false"
    )


CONSUMER = {
    "objectType": "Agent",
    "account": {"homePage": "https://lms.example.com", "name": "app"},
}
USER = {"objectType": "Agent", "mbox": "mailto:jane@example.com"}
THIRD = {"objectType": "Agent", "mbox": "mailto:bob@example.com"}


def test_an_authority_group_of_an_oauth_consumer_and_a_user_is_valid():
    authority = {"objectType": "Group", "member": [CONSUMER, USER]}
    assert statement_problem(statement(authority=authority)) is None


@pytest.mark.parametrize(
    "authority, problem",
    [
        (
            {"objectType": "Group", "member": [CONSUMER]},
            "authority.member: a Group as authority has exactly two Agents",
        ),
        (
            {"objectType": "Group", "member": [CONSUMER, USER, THIRD]},
            "authority.member: a Group as authority has exactly two Agents",
        ),
        (
            {"objectType": "Group", "mbox": "mailto:team@example.com", "member": [CONSUMER, USER]},
            "authority: a Group as authority must be anonymous "
            "(no mbox, mbox_sha1sum, openid or account)",
        ),
        (
            {"objectType": "Group", "mbox": "mailto:team@example.com"},
            "authority: a Group as authority must be anonymous "
            "(no mbox, mbox_sha1sum, openid or account)",
        ),
    ],
)
def test_an_authority_group_other_than_two_anonymous_agents_is_refused(authority, problem):
    assert statement_problem(statement(authority=authority)) == problem


COACH = {
    "objectType": "contextAgent",
    "agent": {"mbox": "mailto:coach@example.com"},
    "relevantTypes": ["https://example.com/types/coach"],
}
SQUAD = {
    "objectType": "contextGroup",
    "group": {"objectType": "Group", "name": "payments", "mbox": "mailto:pay@example.com"},
    "relevantTypes": ["urn:teampulse:relevant-type:team"],
}


def test_context_agents_and_groups_are_valid_under_2_0():
    with_both = statement(context={"contextAgents": [COACH], "contextGroups": [SQUAD]})
    assert statement_problem(with_both, version="2.0.0") is None


@pytest.mark.parametrize("key, entry", [("contextAgents", COACH), ("contextGroups", SQUAD)])
def test_context_agents_and_groups_are_unknown_under_1_0_3(key: str, entry: dict[str, Any]):
    sent = statement(context={key: [entry]})
    assert statement_problem(sent, version="1.0.3") == f"context: unknown property '{key}'"


@pytest.mark.parametrize(
    "context, problem",
    [
        (
            {"contextAgents": [{**COACH, "agent": {"objectType": "Group", "member": []}}]},
            "context.contextAgents[0].agent.objectType: must be Agent "
            "(a Group goes in contextGroups)",
        ),
        (
            {"contextAgents": [{**COACH, "objectType": "Agent"}]},
            "context.contextAgents[0].objectType: must be contextAgent",
        ),
        (
            {"contextAgents": [{**COACH, "relevantTypes": []}]},
            "context.contextAgents[0].relevantTypes: must be a non-empty array of IRIs",
        ),
        (
            {"contextGroups": [{**SQUAD, "group": {"mbox": "mailto:pay@example.com"}}]},
            "context.contextGroups[0].group: must be a Group",
        ),
        (
            {"contextGroups": [{**SQUAD, "group": {"objectType": "Group", "member": []}}]},
            "context.contextGroups[0].group.member: an anonymous Group must list its members",
        ),
        (
            {"contextGroups": [{**SQUAD, "relevantTypes": ["team"]}]},
            "context.contextGroups[0].relevantTypes[0]: must be an absolute IRI "
            "(e.g. http://adlnet.gov/expapi/verbs/completed)",
        ),
    ],
)
def test_broken_context_agents_and_groups_are_refused_under_2_0(
    context: dict[str, Any], problem: str
):
    assert statement_problem(statement(context=context), version="2.0.0") == problem


RAW_ATTACHMENT = {
    "usageType": "http://example.com/u",
    "display": {"en": "a"},
    "contentType": "text/plain",
    "length": 3,
    "sha2": "ABC",
}


def test_an_attachment_without_file_url_is_valid_when_its_raw_part_was_sent():
    sent = statement(attachments=[RAW_ATTACHMENT])
    assert statement_problem(sent, attached=frozenset({"abc"})) is None


def test_an_attachment_without_file_url_is_valid_on_the_topic_where_parts_never_are():
    assert statement_problem(statement(attachments=[RAW_ATTACHMENT]), attached=None) is None
