"""xAPI statements become canonical events as teampulse/config/xapi-verbs.yaml says."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from teampulse.contract.event import Event
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Reason, Rejection
from teampulse.contract.xapi import VerbMap, XapiMapper, compile_path, resolve_text
from teampulse.settings import Settings

NOW = 1772496000.0  # 2026-03-03T00:00:00Z
JANE = "4175f91e00536a0f4f76d8392d0a9453"  # pseudonym of jane.doe@example.com
STATEMENT_ID = "5b1d8e3c-0f4e-4d8e-9b5e-1f2a3b4c5d6e"
ADL = "http://adlnet.gov/expapi/verbs/"


def statement(verb: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": STATEMENT_ID,
        "actor": {"objectType": "Agent", "name": "Jane Doe", "mbox": "mailto:jane.doe@example.com"},
        "verb": {"id": verb},
        "object": {"id": "https://lms.example.com/courses/agile"},
        "timestamp": "2026-03-02T10:30:00Z",
    }
    base.update(copy.deepcopy(overrides))
    return base


SUPPORTED_VERBS = {
    ADL + "registered": "learning.started",
    ADL + "launched": "learning.started",
    ADL + "initialized": "learning.started",
    ADL + "attempted": "learning.started",
    ADL + "progressed": "learning.progressed",
    ADL + "experienced": "learning.progressed",
    ADL + "attended": "learning.progressed",
    ADL + "resumed": "learning.progressed",
    ADL + "interacted": "learning.progressed",
    ADL + "answered": "learning.progressed",
    ADL + "completed": "learning.completed",
    ADL + "passed": "learning.assessed",
    ADL + "failed": "learning.assessed",
    ADL + "mastered": "learning.assessed",
    ADL + "scored": "learning.assessed",
    ADL + "asked": "discussion.posted",
    ADL + "shared": "discussion.posted",
    ADL + "commented": "discussion.replied",
    ADL + "responded": "discussion.replied",
    "https://w3id.org/xapi/adl/verbs/satisfied": "learning.completed",
    "https://w3id.org/xapi/video/verbs/played": "learning.progressed",
    "http://id.tincanapi.com/verb/viewed": "learning.progressed",
    "http://id.tincanapi.com/verb/replied": "discussion.replied",
    "http://id.tincanapi.com/verb/liked": "discussion.reacted",
    "http://id.tincanapi.com/verb/voted-up": "discussion.reacted",
    "http://activitystrea.ms/schema/1.0/start": "learning.started",
    "http://activitystrea.ms/schema/1.0/complete": "learning.completed",
    "http://activitystrea.ms/schema/1.0/post": "discussion.posted",
    "http://activitystrea.ms/schema/1.0/share": "discussion.posted",
    "http://activitystrea.ms/schema/1.0/like": "discussion.reacted",
    "http://activitystrea.ms/schema/1.0/use": "adoption.practiced",
    "urn:teampulse:verb:practiced": "adoption.practiced",
}


def test_the_verb_map_lists_exactly_the_supported_verbs(mapper: XapiMapper):
    assert {iri: rule.type for iri, rule in mapper.verb_map.verbs.items()} == SUPPORTED_VERBS


@pytest.mark.parametrize("verb", SUPPORTED_VERBS)
def test_each_supported_verb_becomes_its_canonical_type(mapper: XapiMapper, verb: str):
    event = mapper.to_event(statement(verb), NOW)
    assert isinstance(event, Event)
    assert (event.id, event.type, event.actor, event.occurred_at) == (
        STATEMENT_ID,
        SUPPORTED_VERBS[verb],
        JANE,
        1772447400.0,
    )


def test_a_completion_carries_content_duration_success_score_and_source(mapper):
    event = mapper.to_event(
        statement(
            ADL + "completed",
            result={"success": True, "duration": "PT1H30M", "score": {"scaled": 0.92}},
            context={"platform": "Moodle"},
        ),
        NOW,
    )
    assert event == Event(
        id=STATEMENT_ID,
        type="learning.completed",
        occurred_at=1772447400.0,
        actor=JANE,
        source="Moodle",
        content="https://lms.example.com/courses/agile",
        duration_s=5400.0,
        success=True,
        score=0.92,
    )


def test_the_verb_says_success_when_the_result_does_not(mapper):
    assert mapper.to_event(statement(ADL + "passed"), NOW).success is True
    assert mapper.to_event(statement(ADL + "failed"), NOW).success is False
    overruled = statement(ADL + "passed", result={"success": False})
    assert mapper.to_event(overruled, NOW).success is False


@pytest.mark.parametrize(
    "score, expected",
    [
        ({"scaled": -0.4}, 0.0),  # the canonical score is 0..1: negative scaled scores clip to 0
        ({"scaled": 1}, 1.0),
        ({"raw": 17, "min": 0, "max": 20}, 0.85),
        ({"raw": 17}, None),  # no range: no scaled score can be derived
    ],
)
def test_scores_become_0_to_1(mapper, score, expected):
    event = mapper.to_event(statement(ADL + "scored", result={"score": score}), NOW)
    assert event.score == expected


def test_a_reply_maps_thread_post_parent_and_length(mapper):
    event = mapper.to_event(
        statement(
            "http://id.tincanapi.com/verb/replied",
            object={"id": "https://community.example.com/posts/5501"},
            result={"response": "Agreed!"},
            context={
                "contextActivities": {
                    "parent": [{"id": "https://community.example.com/threads/77"}]
                },
                "extensions": {
                    "urn:teampulse:extension:post": "https://community.example.com/posts/5502",
                    "urn:teampulse:extension:channel": "agile-community",
                },
            },
        ),
        NOW,
    )
    assert (event.thread, event.post, event.parent, event.channel, event.length) == (
        "https://community.example.com/threads/77",
        "https://community.example.com/posts/5502",
        "https://community.example.com/posts/5501",
        "agile-community",
        7,
    )


def test_a_reply_about_a_course_names_it_from_a_context_activity_or_an_extension(mapper):
    about = {"contextActivities": {"other": [{"id": "https://lms.example.com/courses/agile"}]}}
    tagged = {"extensions": {"urn:teampulse:extension:content": "course:agile"}, **about}

    from_activity = mapper.to_event(statement(ADL + "commented", context=about), NOW)
    from_extension = mapper.to_event(statement(ADL + "commented", context=tagged), NOW)
    untagged = mapper.to_event(statement(ADL + "commented"), NOW)

    assert from_activity.content == "https://lms.example.com/courses/agile"
    assert from_extension.content == "course:agile"
    assert untagged.content is None


def test_a_reply_without_post_extension_is_its_own_statement(mapper):
    event = mapper.to_event(statement(ADL + "commented"), NOW)
    assert (event.thread, event.post, event.parent) == (
        "https://lms.example.com/courses/agile",
        STATEMENT_ID,
        "https://lms.example.com/courses/agile",
    )


def test_a_post_starts_its_own_thread(mapper):
    event = mapper.to_event(statement(ADL + "shared", object={"id": "urn:post:1"}), NOW)
    assert (event.thread, event.post, event.parent) == ("urn:post:1", "urn:post:1", None)


def test_adoption_practice_is_the_object(mapper):
    event = mapper.to_event(
        statement("urn:teampulse:verb:practiced", object={"id": "urn:practice:retro"}), NOW
    )
    assert event.practice == "urn:practice:retro"


@pytest.mark.parametrize(
    "context, team",
    [
        (
            {
                "team": {
                    "objectType": "Group",
                    "name": "payments-platform",
                    "member": [{"mbox": "mailto:a@example.com"}],
                }
            },
            "payments-platform",
        ),
        (
            {
                "team": {
                    "objectType": "Group",
                    "account": {"homePage": "https://hr.example.com", "name": "team-7"},
                }
            },
            "team-7",
        ),
        ({"extensions": {"urn:teampulse:extension:team": "search"}}, "search"),
        ({}, None),  # the roster decides later
    ],
)
def test_the_team_comes_from_context_team_or_an_extension(mapper, context, team):
    assert mapper.to_event(statement(ADL + "completed", context=context), NOW).team == team


def _context_group(name: str, relevant_type: str) -> dict[str, Any]:
    return {
        "objectType": "contextGroup",
        "group": {"objectType": "Group", "account": {"homePage": "https://hr.x.org", "name": name}},
        "relevantTypes": [relevant_type],
    }


def test_a_context_group_of_the_configured_team_type_names_the_team(mapper):
    context = {
        "contextGroups": [
            _context_group("book-club", "https://example.com/types/club"),
            _context_group("team-7", "urn:teampulse:relevant-type:team"),
        ],
        "extensions": {"urn:teampulse:extension:team": "search"},
    }
    assert mapper.to_event(statement(ADL + "completed", context=context), NOW).team == "team-7"


def test_a_context_group_of_another_type_names_no_team(mapper):
    context = {"contextGroups": [_context_group("book-club", "https://example.com/types/club")]}
    assert mapper.to_event(statement(ADL + "completed", context=context), NOW).team is None


def test_the_initiative_comes_from_an_extension_or_grouping_with_aliases(mapper):
    by_extension = statement(
        ADL + "completed",
        context={"extensions": {"urn:teampulse:extension:initiative": "digital-workplace"}},
    )
    by_grouping = statement(
        ADL + "completed",
        context={
            "contextActivities": {
                "grouping": [{"id": "https://lxp.example.com/programs/agile-ways-of-working"}]
            }
        },
    )
    unlisted = statement(
        ADL + "completed",
        context={
            "contextActivities": {"grouping": [{"id": "https://lxp.example.com/programs/other"}]}
        },
    )
    assert mapper.to_event(by_extension, NOW).initiative == "digital-workplace"
    assert mapper.to_event(by_grouping, NOW).initiative == "agile-ways-of-working"
    assert mapper.to_event(unlisted, NOW).initiative == "https://lxp.example.com/programs/other"


def test_the_raw_email_appears_nowhere_in_the_mapped_event(mapper):
    event = mapper.to_event(statement(ADL + "completed"), NOW)
    assert b"jane" not in orjson.dumps(event.to_wire()).lower()


def test_mbox_mbox_sha1sum_and_canonical_email_are_one_person(mapper, validator):
    by_mbox = mapper.to_event(statement(ADL + "completed"), NOW)
    by_sha1 = mapper.to_event(
        statement(
            ADL + "completed", actor={"mbox_sha1sum": "90045cddf482e1bd1773fb8bb9cd8a9e75c9c0a4"}
        ),
        NOW,
    )
    canonical = validator.validate(
        {
            "id": "x",
            "type": "learning.started",
            "occurred_at": "2026-03-02T10:30:00Z",
            "actor": "Jane.Doe@example.com",
            "source": "lms",
        },
        NOW,
    )
    assert by_mbox.actor == by_sha1.actor == canonical.actor == JANE


def test_a_statement_without_id_gets_an_id_derived_from_its_content(mapper):
    first = statement(ADL + "completed")
    del first["id"]
    again = mapper.to_event(copy.deepcopy(first), NOW)
    assert mapper.to_event(first, NOW).id == again.id
    assert again.id != mapper.to_event({**first, "timestamp": "2026-03-02T10:31:00Z"}, NOW).id


def test_without_timestamp_stored_then_now_is_the_event_time(mapper):
    stored = statement(ADL + "completed", stored="2026-03-02T11:00:00Z")
    del stored["timestamp"]
    assert mapper.to_event(stored, NOW).occurred_at == 1772449200.0
    del stored["stored"]
    assert mapper.to_event(stored, NOW).occurred_at == NOW


# --- rejections ----------------------------------------------------------------------------


def test_an_invalid_statement_is_xapi_invalid_with_the_rule(mapper):
    broken = statement(ADL + "completed")
    del broken["actor"]
    assert mapper.to_event(broken, NOW) == Rejection(Reason.XAPI_INVALID, "actor: required")


def test_an_unknown_verb_is_kept_as_unknown_verb_not_guessed(mapper):
    assert mapper.to_event(statement(ADL + "suspended"), NOW) == Rejection(
        Reason.UNKNOWN_VERB, "verb.id: http://adlnet.gov/expapi/verbs/suspended is not mapped"
    )


def test_a_group_actor_is_unmappable(mapper):
    group = statement(
        ADL + "completed",
        actor={"objectType": "Group", "name": "t", "member": [{"mbox": "mailto:a@example.com"}]},
    )
    assert mapper.to_event(group, NOW) == Rejection(
        Reason.UNMAPPABLE, "actor: a Group names no single person"
    )


def test_a_future_statement_is_future(mapper):
    result = mapper.to_event(statement(ADL + "completed", timestamp="2026-03-03T01:00:00Z"), NOW)
    assert result.reason is Reason.FUTURE


def test_a_mapped_event_that_breaks_the_canonical_contract_is_unmappable(mapper):
    long_iri = "https://lms.example.com/" + "x" * 1100
    result = mapper.to_event(statement(ADL + "completed", object={"id": long_iri}), NOW)
    assert result == Rejection(
        Reason.UNMAPPABLE, "mapped event: content: must be a string of 1 to 1024 characters"
    )


def test_parse_handles_bytes_once(mapper):
    assert mapper.parse(orjson.dumps(statement(ADL + "completed")), NOW).type == (
        "learning.completed"
    )
    assert mapper.parse(b"[]", NOW).reason is Reason.NOT_OBJECT
    assert mapper.parse(b"{", NOW).reason is Reason.NOT_JSON
    assert mapper.parse(None, NOW).reason is Reason.NOT_JSON


# --- the mapping is configuration ----------------------------------------------------------


def test_a_custom_verb_map_file_changes_the_mapping(tmp_path: Path, settings: Settings):
    config = {
        "verbs": {"https://example.com/verbs/watched": "learning.progressed"},
        "fields": {"learning": {"content": ["object.definition.type", "object.id"]}},
    }
    path = tmp_path / "verbs.yaml"
    path.write_text(yaml.safe_dump(config))
    mapper = XapiMapper(settings, Pseudonymiser("contract-test-secret"), verb_map_path=path)
    event = mapper.to_event(
        statement(
            "https://example.com/verbs/watched",
            object={
                "id": "urn:video:1",
                "definition": {"type": "http://adlnet.gov/expapi/activities/media"},
            },
        ),
        NOW,
    )
    assert (event.type, event.content, event.source) == (
        "learning.progressed",
        "http://adlnet.gov/expapi/activities/media",
        "xapi",
    )
    assert mapper.to_event(statement(ADL + "completed"), NOW).reason is Reason.UNKNOWN_VERB


def test_a_verb_map_with_an_unknown_type_is_refused():
    with pytest.raises(ValueError, match="verb urn:v: type must be one of"):
        VerbMap.from_config({"verbs": {"urn:v": "learning.enrolled"}})


def test_paths_quote_keys_with_dots_in_brackets():
    path = compile_path("context.extensions[http://example.com/ext/team.v1]")
    assert path == ("context", "extensions", "http://example.com/ext/team.v1")
    document = {"context": {"extensions": {"http://example.com/ext/team.v1": "search"}}}
    assert resolve_text(document, (path,)) == "search"


def test_paths_take_the_first_element_of_arrays_and_skip_empty_values():
    document = {"a": [{"b": ""}, {"b": "second"}], "c": {"d": "fallback"}}
    assert resolve_text(document, (compile_path("a.b"), compile_path("c.d"))) == "fallback"
    assert resolve_text({"a": [{"b": "first"}]}, (compile_path("a.b"),)) == "first"
