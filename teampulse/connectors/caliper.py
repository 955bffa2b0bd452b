"""IMS Caliper 1.1/1.2 Sensor API envelopes -> canonical events (docs/connectors/caliper.md).

An envelope is `{sensor, sendTime, dataVersion, data: [...]}`, all four required (Caliper 1.2
§5.2); `dataVersion` must be the Context IRI of 1.1 or 1.2, whole: any other is a version
this endpoint cannot support, which §6.1 answers 422 rather than 400. Each event in `data` is
mapped by its `type` and `action` through `caliper.actions` of connectors.yaml:
* MessageEvent -> discussion.posted, or discussion.replied when the Message has `replyTo`
  (thread: the Message's `isPartOf` Thread; channel: that Thread's Forum; content: a link in
  its body, else the first entity up `isPartOf` that is not a container, else its group's);
* GradeEvent -> learning.assessed for the Attempt's `assignee` (the actor is the grader),
  score = `generated.scoreGiven / maxScore`, success when the score reaches `pass_score`;
* any other configured pair -> its learning type with `content` = the object's id;
* `ignore` and pairs not configured are counted as ignored; entities in `data` too.
The canonical id is `caliper:<event id>`; the person is the actor's IRI, keyed at the door;
the event's `group` may be routed to a team or initiative like a channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from teampulse.connectors.canonical import Mapped, door_actor, iso8601_event_time, schema_problem
from teampulse.connectors.config import IGNORE, CaliperConfig
from teampulse.contract.events import MAX_NAME_CHARS, MAX_REF_CHARS
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Rejection
from teampulse.contract.timestamps import parse_iso8601_timestamp

__all__ = [
    "SOURCE",
    "SUPPORTED_DATA_VERSIONS",
    "UnsupportedDataVersion",
    "map_envelope",
    "map_event",
]

SOURCE = "caliper"
SUPPORTED_DATA_VERSIONS = (
    "http://purl.imsglobal.org/ctx/caliper/v1p1",
    "http://purl.imsglobal.org/ctx/caliper/v1p2",
)


@dataclass(frozen=True, slots=True)
class UnsupportedDataVersion:
    """A well-formed envelope of a Caliper version this endpoint does not read (HTTP 422)."""

    version: str

    @property
    def detail(self) -> str:
        return f"dataVersion {self.version[:100]!r} is not supported; send " + " or ".join(
            SUPPORTED_DATA_VERSIONS
        )


def _id(node: Any) -> str | None:
    """An entity's id: Caliper allows the full object or just its IRI."""
    if type(node) is str and node:
        return node
    if type(node) is dict and type(node.get("id")) is str and node["id"]:
        return str(node["id"])
    return None


def _envelope_problem(envelope: Any) -> Rejection | UnsupportedDataVersion | None:
    """Why `envelope` is not a Caliper envelope this endpoint reads, or None."""
    if type(envelope) is not dict:
        return schema_problem("a Caliper envelope is a JSON object")
    sensor, send_time, version, data = (
        envelope.get(k) for k in ("sensor", "sendTime", "dataVersion", "data")
    )
    # Lenient on the form of sendTime: any ISO 8601 instant, not only the millisecond UTC
    # form the spec asks of sensors, since nothing here reads it.
    malformed = (
        ("sensor", "a string", type(sensor) is not str or not sensor),
        (
            "sendTime",
            "an ISO 8601 instant",
            type(send_time) is not str or parse_iso8601_timestamp(send_time) is None,
        ),
        ("dataVersion", "a Caliper Context IRI", type(version) is not str),
        ("data", "an array of one or more events", type(data) is not list or not data),
    )
    for name, form, wrong in malformed:
        if wrong:
            return schema_problem(
                f"envelope: {name} must be {form}; sensor, sendTime, dataVersion and data "
                "are required (Caliper 1.2, 5.2)"
            )
    if version not in SUPPORTED_DATA_VERSIONS:
        return UnsupportedDataVersion(str(version))
    return None


def map_envelope(
    envelope: Any, config: CaliperConfig, pseudonymiser: Pseudonymiser
) -> Mapped | Rejection | UnsupportedDataVersion:
    problem = _envelope_problem(envelope)
    if problem is not None:
        return problem
    mapped = Mapped()
    for index, item in enumerate(envelope["data"]):
        result = map_event(item, config, pseudonymiser)
        if isinstance(result, Rejection):
            return Rejection(result.reason, f"data[{index}]: {result.detail}")
        mapped.extend(result)
    return mapped


def map_event(
    event: Any, config: CaliperConfig, pseudonymiser: Pseudonymiser
) -> Mapped | Rejection:
    if type(event) is not dict:
        return schema_problem("an event is a JSON object")
    kind, action = event.get("type"), event.get("action")
    if type(kind) is not str or not kind.endswith("Event") or action is None:
        return Mapped().ignore("entity")  # an entity describe, not an event
    target = config.actions.get(kind, {}).get(str(action))
    if target is None:
        return Mapped().ignore("unmapped")
    if target == IGNORE:
        return Mapped().ignore(f"{kind}.{action}"[:80])
    event_id = _id(event)
    if event_id is None:
        return schema_problem("id: every Caliper 1.1+ event has one (urn:uuid:...)")
    occurred_at = iso8601_event_time(event.get("eventTime"), "eventTime")
    if isinstance(occurred_at, Rejection):
        return occurred_at
    person = _id(event.get("actor"))
    obj = event.get("object")
    if kind == "GradeEvent":
        person = _id(obj.get("assignee")) if type(obj) is dict else None
    if person is None:
        return schema_problem(f"{kind}: no person (actor.id, or object.assignee for grades)")
    object_id = _id(obj)
    if object_id is None:
        return schema_problem(f"{kind}: object (or its id) is required")
    fields: dict[str, Any] = {
        "id": f"caliper:{event_id}",
        "occurred_at": occurred_at,
        "actor": door_actor(pseudonymiser, person),
        "source": SOURCE,
        **config.route(_id(event.get("group"))),
    }
    if target == "discussion.posted":
        _discussion(fields, obj if type(obj) is dict else {}, object_id)
        content = _content_of(obj if type(obj) is dict else {}, config, _id(event.get("group")))
        if content is not None:
            fields["content"] = content
    elif kind == "GradeEvent":
        _grade(fields, event, obj, config.pass_score)
    else:
        fields.update(type=target, content=object_id)
    return Mapped(events=[fields])


def _discussion(fields: dict[str, Any], message: dict[str, Any], message_id: str) -> None:
    thread = message.get("isPartOf")
    parent = _id(message.get("replyTo"))
    fields.update(
        type="discussion.replied" if parent else "discussion.posted",
        post=message_id,
        thread=_id(thread) or parent or message_id,
    )
    if parent:
        fields["parent"] = parent
    forum = _id(thread.get("isPartOf")) if type(thread) is dict else None
    if forum is not None and len(forum) <= MAX_NAME_CHARS:
        fields["channel"] = forum
    body = message.get("body")
    if type(body) is str:
        fields["length"] = len(body)


# Entities a discussion sits in that are not what it is about: its own containers and the
# course's organisation (Caliper 1.2, Entity subtypes).
_CONTAINERS = frozenset(
    {"Message", "Thread", "Forum", "CourseSection", "CourseOffering", "Group", "Organization"}
)
_MAX_PARTS = 8  # how far up `isPartOf` is followed: a cycle or a deep chain ends there


def _content_of(message: dict[str, Any], config: CaliperConfig, group: str | None) -> str | None:
    """What a Message is about: a learning-platform link in its `body` (`content_links`),
    else the first entity up its `isPartOf` chain (Thread, Forum, ...) that is not a
    container, such as the DigitalResource or Assessment a forum belongs to, else the
    content its group's route names."""
    body = message.get("body")
    linked = config.content_of(body if type(body) is str else None, None)
    if linked is not None:
        return linked
    node: Any = message.get("isPartOf")
    for _ in range(_MAX_PARTS):
        if type(node) is not dict:
            break
        node_id = _id(node)
        kind = node.get("type")
        if type(kind) is str and kind not in _CONTAINERS and node_id is not None:
            return node_id if len(node_id) <= MAX_REF_CHARS else None
        node = node.get("isPartOf")
    return config.content_of(None, group)


def _grade(fields: dict[str, Any], event: dict[str, Any], attempt: Any, pass_score: float) -> None:
    # The content is what was assessed; an Attempt's own IRI often names the learner.
    assignable = _id(attempt.get("assignable")) if type(attempt) is dict else None
    fields["type"] = "learning.assessed"
    if assignable is not None:
        fields["content"] = assignable
    score = event.get("generated")
    if type(score) is dict:
        given, most = score.get("scoreGiven"), score.get("maxScore")
        numbers = (int, float)
        if type(given) in numbers and type(most) in numbers and most is not None and most > 0:
            share = min(max(given / most, 0.0), 1.0)
            fields.update(score=share, success=share >= pass_score)
