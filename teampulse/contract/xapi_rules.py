"""The rules an xAPI LRS must enforce on a statement (xAPI 1.0.3 / 2.0.0, IEEE 9274.1.1).

`statement_problem(statement)` returns None for a valid statement, else one sentence that
names the offending property by its path ("actor.mbox: ..."), which the HTTP endpoint sends
back with its 400 and the pipeline puts in the dead letter. The rules follow the MUSTs that
ADL's LRS conformance suite checks: required actor/verb/object; exactly one identifier per
Agent; well-formed IRIs, mailto addresses and UUIDs; no null outside extensions; language
maps; ISO 8601 timestamps and durations; score ranges; objectType rules; SubStatements.

An attachment without `fileUrl` needs its raw data sent alongside (multipart/mixed): the
caller passes the SHA-2 hashes of the raw parts it checked (`attached`).
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

import orjson

from teampulse.contract.json_values import member_of
from teampulse.contract.timestamps import parse_iso8601_duration, parse_iso8601_timestamp

__all__ = ["statement_problem"]

MAX_PATH_CHARS = 120  # of a property path quoted in a rejection detail
VOIDED_VERB = "http://adlnet.gov/expapi/verbs/voided"

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# An absolute IRI: a scheme, a colon, then no blank or character IRIs exclude.
_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+")
_MAILTO = re.compile(r"mailto:[^@\s<>\"]+@[^@\s<>\"]+")
_SHA1 = re.compile(r"[0-9a-fA-F]{40}")
# RFC 5646, loosely: a 2-8 letter language (or x-/i- private/grandfathered) and subtags.
_LANGUAGE_TAG = re.compile(r"(?:[A-Za-z]{2,8}|[xXiI])(?:-[A-Za-z0-9]{1,8})*")
_VERSION = re.compile(r"1\.0(?:\.[0-9]+)?|2\.0\.[0-9]+")

_IFIS = ("mbox", "mbox_sha1sum", "openid", "account")
_AGENT_KEYS = frozenset(("objectType", "name", *_IFIS))
_GROUP_KEYS = _AGENT_KEYS | {"member"}
_STATEMENT_KEYS = frozenset(
    (
        "id",
        "actor",
        "verb",
        "object",
        "result",
        "context",
        "timestamp",
        "stored",
        "authority",
        "version",
        "attachments",
    )
)
_SUBSTATEMENT_KEYS = frozenset(
    (
        "objectType",
        "actor",
        "verb",
        "object",
        "result",
        "context",
        "timestamp",
        "attachments",
    )
)
_DEFINITION_KEYS = frozenset(
    (
        "name",
        "description",
        "type",
        "moreInfo",
        "extensions",
        "interactionType",
        "correctResponsesPattern",
        "choices",
        "scale",
        "source",
        "target",
        "steps",
    )
)
_INTERACTION_TYPES = frozenset(
    (
        "true-false",
        "choice",
        "fill-in",
        "long-fill-in",
        "matching",
        "performance",
        "sequencing",
        "likert",
        "numeric",
        "other",
    )
)
_COMPONENT_LISTS = ("choices", "scale", "source", "target", "steps")
_CONTEXT_KEYS_1_0 = frozenset(
    (
        "registration",
        "instructor",
        "team",
        "contextActivities",
        "revision",
        "platform",
        "language",
        "statement",
        "extensions",
    )
)
_CONTEXT_KEYS_2_0 = _CONTEXT_KEYS_1_0 | {"contextAgents", "contextGroups"}
_CONTEXT_ACTIVITY_KEYS = frozenset(("parent", "grouping", "category", "other"))
_RESULT_KEYS = frozenset(("score", "success", "completion", "response", "duration", "extensions"))
_SCORE_KEYS = frozenset(("scaled", "raw", "min", "max"))
_ATTACHMENT_KEYS = frozenset(
    (
        "usageType",
        "display",
        "description",
        "contentType",
        "length",
        "sha2",
        "fileUrl",
    )
)


class _Invalid(Exception):
    """Raised inside the checks; `statement_problem` turns it into its message."""


def _fail(path: str, message: str) -> NoReturn:
    raise _Invalid(f"{path}: {message}")


def _is_number(value: object) -> bool:
    return type(value) is int or type(value) is float


def _object(value: object, path: str, allowed: frozenset[str]) -> dict[str, Any]:
    if type(value) is not dict:
        _fail(path, "must be a JSON object")
    for key in value:
        if key not in allowed:
            _fail(path, f"unknown property {key[:60]!r}")
    return value


def _string(value: object, path: str) -> str:
    if type(value) is not str:
        _fail(path, "must be a string")
    return value


def _iri(value: object, path: str) -> None:
    if type(value) is not str or _IRI.fullmatch(value) is None:
        _fail(path, "must be an absolute IRI (e.g. http://adlnet.gov/expapi/verbs/completed)")


def _uuid(value: object, path: str) -> None:
    if type(value) is not str or _UUID.fullmatch(value) is None:
        _fail(path, "must be a UUID (8-4-4-4-12 hexadecimal digits)")


def _timestamp(value: object, path: str) -> None:
    if type(value) is not str or parse_iso8601_timestamp(value) is None:
        _fail(path, "must be an ISO 8601 timestamp such as 2026-03-02T09:15:00Z (not -00:00)")


def _language_map(value: object, path: str) -> None:
    if type(value) is not dict or not value:
        _fail(path, 'must be a language map with at least one entry, e.g. {"en-US": "..."}')
    for tag, text in value.items():
        if _LANGUAGE_TAG.fullmatch(tag) is None:
            _fail(path, f"{tag[:40]!r} is not an RFC 5646 language tag")
        _string(text, f"{path}.{tag}")


def _extensions(value: object, path: str) -> None:
    if type(value) is not dict:
        _fail(path, "must be a JSON object keyed by IRIs")
    for key in value:
        if _IRI.fullmatch(key) is None:
            _fail(path, f"key {key[:60]!r} is not an absolute IRI")


def _agent(value: object, path: str, *, allow_group: bool = True) -> None:
    kind = value.get("objectType") if type(value) is dict else None
    if kind == "Group" and allow_group:
        _group(value, path)
        return
    if kind == "Group":
        _fail(f"{path}.objectType", "must be Agent here (a Group cannot be a member of a Group)")
    agent = _object(value, path, _AGENT_KEYS)
    if kind is not None and kind != "Agent":
        _fail(f"{path}.objectType", "must be Agent or Group")
    if _identifier_count(agent) != 1:
        _fail(path, "an Agent must have exactly one of mbox, mbox_sha1sum, openid, account")
    _identifier(agent, path)


def _group(group_value: object, path: str) -> None:
    group = _object(group_value, path, _GROUP_KEYS)
    identifiers = _identifier_count(group)
    if identifiers > 1:
        _fail(path, "an identified Group has exactly one of mbox, mbox_sha1sum, openid, account")
    if identifiers == 1:
        _identifier(group, path)
    members = group.get("member")
    if identifiers == 0 and (type(members) is not list or not members):
        _fail(f"{path}.member", "an anonymous Group must list its members")
    if members is not None:
        if type(members) is not list:
            _fail(f"{path}.member", "must be an array of Agents")
        for index, member in enumerate(members):
            _agent(member, f"{path}.member[{index}]", allow_group=False)


def _authority(value: object, path: str) -> None:
    """An Agent, or, for three-legged OAuth, the consumer and the user together: an anonymous
    Group of exactly two Agents. An identified Group, or any other number of members, would
    not say which application acted for which person."""
    _agent(value, path)
    if type(value) is dict and value.get("objectType") == "Group":
        if _identifier_count(value) != 0:
            _fail(
                path,
                "a Group as authority must be anonymous (no mbox, mbox_sha1sum, openid or account)",
            )
        members = value.get("member")
        if type(members) is not list or len(members) != 2:
            _fail(f"{path}.member", "a Group as authority has exactly two Agents")


def _identifier_count(actor: dict[str, Any]) -> int:
    return (
        ("mbox" in actor) + ("mbox_sha1sum" in actor) + ("openid" in actor) + ("account" in actor)
    )


def _identifier(actor: dict[str, Any], path: str) -> None:
    if "name" in actor:
        _string(actor["name"], f"{path}.name")
    if "mbox" in actor:
        mbox = actor["mbox"]
        if type(mbox) is not str or _MAILTO.fullmatch(mbox) is None:
            _fail(f"{path}.mbox", "must be 'mailto:' followed by an e-mail address")
    elif "mbox_sha1sum" in actor:
        sha1 = actor["mbox_sha1sum"]
        if type(sha1) is not str or _SHA1.fullmatch(sha1) is None:
            _fail(f"{path}.mbox_sha1sum", "must be 40 hexadecimal digits")
    elif "openid" in actor:
        _iri(actor["openid"], f"{path}.openid")
    elif "account" in actor:
        account = _object(actor["account"], f"{path}.account", frozenset(("homePage", "name")))
        if "homePage" not in account or "name" not in account:
            _fail(f"{path}.account", "needs both homePage and name")
        _iri(account["homePage"], f"{path}.account.homePage")
        _string(account["name"], f"{path}.account.name")


def _verb(value: object, path: str) -> str:
    verb = _object(value, path, frozenset(("id", "display")))
    if "id" not in verb:
        _fail(f"{path}.id", "required")
    _iri(verb["id"], f"{path}.id")
    if "display" in verb:
        _language_map(verb["display"], f"{path}.display")
    return verb["id"]


def _activity(value: object, path: str) -> None:
    activity = _object(value, path, frozenset(("objectType", "id", "definition")))
    if activity.get("objectType", "Activity") != "Activity":
        _fail(f"{path}.objectType", "must be Activity")
    if "id" not in activity:
        _fail(f"{path}.id", "required for an Activity")
    _iri(activity["id"], f"{path}.id")
    if "definition" in activity:
        _definition(activity["definition"], f"{path}.definition")


def _definition(value: object, path: str) -> None:
    definition = _object(value, path, _DEFINITION_KEYS)
    for key in ("name", "description"):
        if key in definition:
            _language_map(definition[key], f"{path}.{key}")
    for key in ("type", "moreInfo"):
        if key in definition:
            _iri(definition[key], f"{path}.{key}")
    if "extensions" in definition:
        _extensions(definition["extensions"], f"{path}.extensions")
    interaction = definition.get("interactionType")
    if interaction is not None and not member_of(interaction, _INTERACTION_TYPES):
        _fail(f"{path}.interactionType", f"must be one of {', '.join(sorted(_INTERACTION_TYPES))}")
    if "correctResponsesPattern" in definition:
        if interaction is None:
            _fail(f"{path}.correctResponsesPattern", "needs an interactionType")
        pattern = definition["correctResponsesPattern"]
        if type(pattern) is not list or any(type(p) is not str for p in pattern):
            _fail(f"{path}.correctResponsesPattern", "must be an array of strings")
    for key in _COMPONENT_LISTS:
        if key not in definition:
            continue
        if interaction is None:
            _fail(f"{path}.{key}", "needs an interactionType")
        components = definition[key]
        if type(components) is not list:
            _fail(f"{path}.{key}", "must be an array of interaction components")
        for index, component in enumerate(components):
            where = f"{path}.{key}[{index}]"
            item = _object(component, where, frozenset(("id", "description")))
            if "id" not in item:
                _fail(f"{where}.id", "required")
            _string(item["id"], f"{where}.id")
            if "description" in item:
                _language_map(item["description"], f"{where}.description")


def _statement_ref(value: object, path: str) -> None:
    ref = _object(value, path, frozenset(("objectType", "id")))
    if ref.get("objectType") != "StatementRef":
        _fail(f"{path}.objectType", "must be StatementRef")
    if "id" not in ref:
        _fail(f"{path}.id", "required")
    _uuid(ref["id"], f"{path}.id")


def _statement_object(
    value: object, path: str, *, inside_substatement: bool, version_2: bool
) -> str:
    """Checks the object; returns its objectType (Activity when absent)."""
    if type(value) is not dict:
        _fail(path, "must be a JSON object")
    kind = value.get("objectType", "Activity")
    if kind == "Activity":
        _activity(value, path)
    elif kind in ("Agent", "Group"):
        _agent(value, path)
    elif kind == "StatementRef":
        _statement_ref(value, path)
    elif kind == "SubStatement":
        if inside_substatement:
            _fail(f"{path}.objectType", "a SubStatement cannot contain a SubStatement")
        _statement(value, path, substatement=True, version_2=version_2, attached=frozenset())
    else:
        _fail(f"{path}.objectType", "must be Activity, Agent, Group, StatementRef or SubStatement")
    return kind


def _result(value: object, path: str) -> None:
    result = _object(value, path, _RESULT_KEYS)
    for key in ("success", "completion"):
        if key in result and type(result[key]) is not bool:
            _fail(f"{path}.{key}", "must be true or false")
    if "response" in result:
        _string(result["response"], f"{path}.response")
    if "duration" in result:
        duration = result["duration"]
        if type(duration) is not str or parse_iso8601_duration(duration) is None:
            _fail(f"{path}.duration", "must be an ISO 8601 duration such as PT1H30M")
    if "extensions" in result:
        _extensions(result["extensions"], f"{path}.extensions")
    if "score" in result:
        _score(result["score"], f"{path}.score")


def _score(value: object, path: str) -> None:
    score = _object(value, path, _SCORE_KEYS)
    for key, number in score.items():
        if not _is_number(number):
            _fail(f"{path}.{key}", "must be a number")
    scaled = score.get("scaled")
    if scaled is not None and not -1 <= scaled <= 1:
        _fail(f"{path}.scaled", "must be from -1 to 1")
    low, high, raw = score.get("min"), score.get("max"), score.get("raw")
    if low is not None and high is not None and not low < high:
        _fail(f"{path}.min", "must be less than max")
    if raw is not None and ((low is not None and raw < low) or (high is not None and raw > high)):
        _fail(f"{path}.raw", "must lie from min to max")


def _context(value: object, path: str, object_kind: str, *, version_2: bool) -> None:
    context = _object(value, path, _CONTEXT_KEYS_2_0 if version_2 else _CONTEXT_KEYS_1_0)
    if "registration" in context:
        _uuid(context["registration"], f"{path}.registration")
    if "instructor" in context:
        _agent(context["instructor"], f"{path}.instructor")
    if "team" in context:
        team = context["team"]
        if type(team) is not dict or team.get("objectType") != "Group":
            _fail(f"{path}.team", "must be a Group (objectType Group)")
        _group(team, f"{path}.team")
    if "contextActivities" in context:
        activities = _object(
            context["contextActivities"], f"{path}.contextActivities", _CONTEXT_ACTIVITY_KEYS
        )
        for key, entries in activities.items():
            where = f"{path}.contextActivities.{key}"
            for index, entry in enumerate(entries if type(entries) is list else [entries]):
                _activity(entry, f"{where}[{index}]" if type(entries) is list else where)
    for key in ("revision", "platform"):
        if key in context:
            _string(context[key], f"{path}.{key}")
            if object_kind != "Activity":
                _fail(f"{path}.{key}", "only allowed when the object is an Activity")
    if "language" in context:
        language = context["language"]
        if type(language) is not str or _LANGUAGE_TAG.fullmatch(language) is None:
            _fail(f"{path}.language", "must be an RFC 5646 language tag")
    if "statement" in context:
        _statement_ref(context["statement"], f"{path}.statement")
    if "extensions" in context:
        _extensions(context["extensions"], f"{path}.extensions")
    for key, kind, member in (
        ("contextAgents", "contextAgent", "agent"),
        ("contextGroups", "contextGroup", "group"),
    ):
        if key in context:
            _context_actors(context[key], f"{path}.{key}", kind, member)


def _context_actors(value: object, path: str, kind: str, member: str) -> None:
    """xAPI 2.0 contextAgents (each an Agent) / contextGroups (each a Group), each with
    optional relevantTypes."""
    if type(value) is not list:
        _fail(path, "must be an array")
    for index, item in enumerate(value):
        where = f"{path}[{index}]"
        entry = _object(item, where, frozenset(("objectType", member, "relevantTypes")))
        if entry.get("objectType") != kind:
            _fail(f"{where}.objectType", f"must be {kind}")
        if member not in entry:
            _fail(f"{where}.{member}", "required")
        if member == "group":
            group = entry["group"]
            if type(group) is not dict or group.get("objectType") != "Group":
                _fail(f"{where}.group", "must be a Group")
            _group(group, f"{where}.group")
        else:
            agent = entry["agent"]
            if type(agent) is dict and agent.get("objectType") == "Group":
                _fail(f"{where}.agent.objectType", "must be Agent (a Group goes in contextGroups)")
            _agent(agent, f"{where}.agent")
        if "relevantTypes" in entry:
            types = entry["relevantTypes"]
            if type(types) is not list or not types:
                _fail(f"{where}.relevantTypes", "must be a non-empty array of IRIs")
            for position, iri in enumerate(types):
                _iri(iri, f"{where}.relevantTypes[{position}]")


def _attachments(value: object, path: str, attached: frozenset[str] | None) -> None:
    if type(value) is not list:
        _fail(path, "must be an array")
    for index, item in enumerate(value):
        where = f"{path}[{index}]"
        attachment = _object(item, where, _ATTACHMENT_KEYS)
        for key in ("usageType", "display", "contentType", "length", "sha2"):
            if key not in attachment:
                _fail(f"{where}.{key}", "required")
        _iri(attachment["usageType"], f"{where}.usageType")
        _language_map(attachment["display"], f"{where}.display")
        if "description" in attachment:
            _language_map(attachment["description"], f"{where}.description")
        _string(attachment["contentType"], f"{where}.contentType")
        length = attachment["length"]
        if type(length) is not int or length < 0:
            _fail(f"{where}.length", "must be a non-negative integer")
        sha2 = _string(attachment["sha2"], f"{where}.sha2")
        if "fileUrl" in attachment:
            _iri(attachment["fileUrl"], f"{where}.fileUrl")
        elif attached is not None and sha2.lower() not in attached:
            _fail(f"{where}.fileUrl", "required unless its raw data is sent (multipart/mixed)")


def _statement(
    value: object,
    path: str,
    *,
    substatement: bool = False,
    version_2: bool = True,
    attached: frozenset[str] | None = frozenset(),
) -> None:
    allowed = _SUBSTATEMENT_KEYS if substatement else _STATEMENT_KEYS
    if substatement and type(value) is dict:
        for key in ("id", "stored", "version", "authority"):
            if key in value:
                _fail(f"{path}.{key}", "not allowed in a SubStatement")
    statement = _object(value, path or "statement", allowed)
    prefix = f"{path}." if path else ""
    for key in ("actor", "verb", "object"):
        if key not in statement:
            _fail(f"{prefix}{key}", "required")
    if "id" in statement:
        _uuid(statement["id"], f"{prefix}id")
    _agent(statement["actor"], f"{prefix}actor")
    verb = _verb(statement["verb"], f"{prefix}verb")
    object_kind = _statement_object(
        statement["object"],
        f"{prefix}object",
        inside_substatement=substatement,
        version_2=version_2,
    )
    if verb == VOIDED_VERB and object_kind != "StatementRef":
        _fail(f"{prefix}object", "a voiding statement's object must be a StatementRef")
    if "result" in statement:
        _result(statement["result"], f"{prefix}result")
    if "context" in statement:
        _context(statement["context"], f"{prefix}context", object_kind, version_2=version_2)
    if "timestamp" in statement:
        _timestamp(statement["timestamp"], f"{prefix}timestamp")
    if "stored" in statement:
        _timestamp(statement["stored"], f"{prefix}stored")
    if "authority" in statement:
        _authority(statement["authority"], f"{prefix}authority")
    if "version" in statement:
        version = statement["version"]
        if type(version) is not str or _VERSION.fullmatch(version) is None:
            _fail(f"{prefix}version", "must be 1.0.x or 2.0.x")
    if "attachments" in statement:
        _attachments(statement["attachments"], f"{prefix}attachments", attached)


def _may_contain_null(statement: object) -> bool:
    """False when the statement's JSON has no `null` token at all, which orjson (C) tells
    far faster than a walk in Python; a `null` inside a string only costs the walk."""
    try:
        return b"null" in orjson.dumps(statement)
    except (orjson.JSONEncodeError, TypeError):
        return True


def _has_null(statement: object) -> bool:
    """True when a null lies outside extensions. Walked without recursion (the input may be
    nested as deep as the JSON parser allows) and without building paths (the common case)."""
    stack: list[object] = [statement]
    while stack:
        node = stack.pop()
        if node is None:
            return True
        if type(node) is dict:
            for key, child in node.items():
                if key != "extensions":  # extension values may be null
                    stack.append(child)
        elif type(node) is list:
            stack.extend(node)
    return False


def _null_path(statement: object) -> str | None:
    """Path of the first null outside extensions, for the rejection detail."""
    stack: list[tuple[object, str]] = [(statement, "")]
    while stack:
        node, path = stack.pop()
        if node is None:
            return path or "statement"
        if type(node) is dict:
            for key, child in node.items():
                if key != "extensions":  # extension values may be null
                    stack.append((child, f"{path}.{key}" if path else str(key)))
        elif type(node) is list:
            stack.extend((child, f"{path}[{index}]") for index, child in enumerate(node))
    return None


def statement_problem(
    statement: object,
    raw: bytes | None = None,
    *,
    version: str | None = None,
    attached: frozenset[str] | None = frozenset(),
) -> str | None:
    """None when the statement obeys the LRS rules, else the first problem found. `raw`, the
    JSON the statement was parsed from, when at hand, spares re-serialising it. `version` is
    the X-Experience-API-Version it was sent with: under 1.0.x the properties xAPI 2.0 added
    (`context.contextAgents`, `context.contextGroups`) are unknown; without one (a record
    read from Kafka) the rules of both versions are allowed. `attached`: the SHA-2 hashes of
    the raw attachment parts sent with it; None when the parts were checked where the
    statement came in (a record of the xAPI topic, which never holds the bytes)."""
    if type(statement) is not dict:
        return "statement: must be a JSON object"
    may_contain_null = b"null" in raw if raw is not None else _may_contain_null(statement)
    if may_contain_null and _has_null(statement):
        path = _null_path(statement) or "statement"
        if len(path) > MAX_PATH_CHARS:
            path = path[:MAX_PATH_CHARS] + "..."
        return f"{path}: null is only allowed inside extensions"
    try:
        _statement(
            statement,
            "",
            version_2=version is None or version.startswith("2."),
            attached=attached,
        )
    except _Invalid as problem:
        return str(problem)
    return None
