"""xAPI statements -> canonical events, driven by teampulse/config/xapi-verbs.yaml.

`XapiMapper.check` applies the LRS rules (teampulse.contract.xapi_rules); `to_event` maps a
valid statement by its verb IRI to a canonical `Event`, pseudonymising the actor's
identifier on the way. The mapped fields go through the same checks as a producer's
canonical event (`EventValidator.from_mapped`), so both inputs obey one contract.

Mapping rules that are not in the YAML (docs/xapi.md):
* the event id is the statement id; a statement without one (written to Kafka directly, not
  through the endpoint) gets a UUID derived from its content, so a replay dedupes;
* event time is `timestamp`, else `stored`, else `now`;
* `result.score.scaled` (-1..1) is clipped to the canonical 0..1; without `scaled`, a score
  with raw/min/max becomes (raw - min) / (max - min);
* `result.duration` becomes `duration_s`; `result.response` gives a discussion's `length`;
* the team is named first by an xAPI 2.0 contextGroup whose relevantTypes holds one of
  `team_group_types`, then by the `team` paths;
* a Group as actor names no person: rejected as `unmappable`.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from teampulse.contract.event import (
    ADOPTION_TYPES,
    DISCUSSION_TYPES,
    EVENT_TYPES,
    LEARNING_TYPES,
    Event,
)
from teampulse.contract.events import EventValidator
from teampulse.contract.framing import decode_record
from teampulse.contract.json_values import encoded, member_of, object_at, text, text_at
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Reason, Rejection
from teampulse.contract.timestamps import parse_iso8601_duration, parse_iso8601_timestamp
from teampulse.contract.xapi_rules import statement_problem
from teampulse.settings import Settings

__all__ = ["VerbMap", "VerbRule", "XapiMapper", "compile_path", "resolve_text"]

VERB_MAP_FILE = "xapi-verbs.yaml"
# Namespace of the ids derived for statements that arrive without one.
DERIVED_ID_NAMESPACE = uuid.UUID("6f1d5c8e-3b1a-4c55-9a39-2f0b7d6e4a11")

Path_ = tuple[str, ...]  # a compiled path: property names; ("id",) is the statement id
_SEGMENT = re.compile(r"\[([^\]]+)\]|([^.\[\]]+)")


def compile_path(text: str) -> Path_:
    """'context.extensions[http://x.org/a.b].name' -> ('context', 'extensions', 'http://x.org/a.b',
    'name')."""
    segments = tuple(quoted or plain for quoted, plain in _SEGMENT.findall(text))
    if not segments:
        raise ValueError(f"empty path {text!r}")
    return segments


def resolve_text(statement: dict[str, Any], paths: tuple[Path_, ...]) -> str | None:
    """The first non-empty string the paths lead to, or None."""
    for path in paths:
        node: Any = statement
        for segment in path:
            if type(node) is list:
                node = node[0] if node else None
            if type(node) is not dict:
                node = None
                break
            node = node.get(segment)
        if type(node) is list:
            node = node[0] if node else None
        if type(node) is str and node:
            return node
    return None


@dataclass(frozen=True, slots=True)
class VerbRule:
    type: str
    success: bool | None = None  # what the verb itself says about success


@dataclass(frozen=True)
class VerbMap:
    """teampulse/config/xapi-verbs.yaml, checked and compiled."""

    verbs: dict[str, VerbRule]
    fields: dict[str, dict[str, tuple[Path_, ...]]]  # event type -> field -> paths
    team: tuple[Path_, ...] = ()
    initiative: tuple[Path_, ...] = ()
    initiative_aliases: dict[str, str] = field(default_factory=dict)
    source: tuple[Path_, ...] = ()
    default_source: str = "xapi"
    team_group_types: frozenset[str] = frozenset()  # relevantTypes of a team's contextGroup

    @classmethod
    def load(cls, path: Path) -> VerbMap:
        return cls.from_config(yaml.safe_load(path.read_text(encoding="utf-8")) or {}, str(path))

    @classmethod
    def from_config(cls, config: dict[str, Any], origin: str = "verb map") -> VerbMap:
        verbs: dict[str, VerbRule] = {}
        for iri, rule in (config.get("verbs") or {}).items():
            spec = {"type": rule} if isinstance(rule, str) else dict(rule or {})
            if spec.get("type") not in EVENT_TYPES:
                raise ValueError(f"{origin}: verb {iri}: type must be one of {EVENT_TYPES}")
            success = spec.get("success")
            if success is not None and not isinstance(success, bool):
                raise ValueError(f"{origin}: verb {iri}: success must be true or false")
            verbs[str(iri)] = VerbRule(type=spec["type"], success=success)
        # Field paths are given per family or per type; a type's own entry wins.
        families = {
            "learning": LEARNING_TYPES,
            "discussion": DISCUSSION_TYPES,
            "adoption": ADOPTION_TYPES,
        }
        raw_fields: dict[str, Any] = config.get("fields") or {}
        fields: dict[str, dict[str, tuple[Path_, ...]]] = {t: {} for t in EVENT_TYPES}
        for family, types in families.items():
            for event_type in types:
                merged = {**(raw_fields.get(family) or {}), **(raw_fields.get(event_type) or {})}
                fields[event_type] = {
                    name: cls._paths(paths, f"{origin}: fields.{event_type}.{name}")
                    for name, paths in merged.items()
                }
        unknown = set(raw_fields) - set(families) - set(EVENT_TYPES)
        if unknown:
            raise ValueError(f"{origin}: fields: unknown family or type {sorted(unknown)}")
        return cls(
            verbs=verbs,
            fields=fields,
            team=cls._paths(config.get("team") or [], f"{origin}: team"),
            initiative=cls._paths(config.get("initiative") or [], f"{origin}: initiative"),
            initiative_aliases={
                str(k): str(v) for k, v in (config.get("initiative_aliases") or {}).items()
            },
            source=cls._paths(config.get("source") or [], f"{origin}: source"),
            default_source=str(config.get("default_source") or "xapi"),
            team_group_types=cls._iris(config.get("team_group_types") or [], origin),
        )

    @staticmethod
    def _iris(value: object, origin: str) -> frozenset[str]:
        if not isinstance(value, list) or not all(isinstance(iri, str) for iri in value):
            raise ValueError(f"{origin}: team_group_types: must be a list of IRIs")
        return frozenset(value)

    @staticmethod
    def _paths(value: object, where: str) -> tuple[Path_, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
            raise ValueError(f"{where}: must be a list of paths")
        return tuple(compile_path(p) for p in value)


def _finite(value: object) -> float | None:
    if type(value) is int or type(value) is float:
        number = float(value)  # an integer beyond a double's range raises OverflowError
        return number if math.isfinite(number) else None
    return None


def _score(result: dict[str, Any]) -> float | None:
    score = object_at(result, "score")
    if score is None:
        return None
    try:
        scaled = _finite(score.get("scaled"))
        if scaled is not None:
            return min(1.0, max(0.0, scaled))
        raw, low, high = (_finite(score.get(k)) for k in ("raw", "min", "max"))
    except OverflowError:
        return None
    if raw is not None and low is not None and high is not None and high > low:
        return min(1.0, max(0.0, (raw - low) / (high - low)))
    return None


def _context_group_team(statement: dict[str, Any], team_types: frozenset[str]) -> str | None:
    """xAPI 2.0: the name (else the account name) of the first contextGroup whose
    relevantTypes holds one of `team_types`."""
    groups = object_at(statement, "context")
    entries = groups.get("contextGroups") if groups is not None else None
    if not team_types or type(entries) is not list:
        return None
    for entry in entries:
        types = entry.get("relevantTypes") if type(entry) is dict else None
        if type(types) is not list or not any(member_of(t, team_types) for t in types):
            continue
        group = object_at(entry, "group")
        name = text_at(group, "name") or text_at(object_at(group, "account"), "name")
        if name:
            return name
    return None


def _derived_id(statement: dict[str, Any], raw: bytes | None) -> str | None:
    """A UUID from the statement's content; from the bytes it came in when orjson cannot write
    it back (an integer beyond 64 bits, nesting deeper than 255), None without them."""
    content = encoded(statement, sort_keys=True) or raw
    if content is None:
        return None
    return str(uuid.uuid5(DERIVED_ID_NAMESPACE, content.decode("utf-8", "replace")))


class XapiMapper:
    def __init__(
        self,
        settings: Settings,
        pseudonymiser: Pseudonymiser,
        verb_map_path: Path | None = None,
        verb_map: VerbMap | None = None,
    ) -> None:
        self._max_bytes = settings.max_event_bytes
        self._pseudonymiser = pseudonymiser
        self._events = EventValidator(settings, pseudonymiser)
        self.verb_map = verb_map or VerbMap.load(
            verb_map_path or settings.config_file(VERB_MAP_FILE)
        )

    def check(self, statement: object) -> str | None:
        """None when the statement obeys the rules an LRS must enforce, else the problem."""
        return statement_problem(statement)

    def parse(self, raw: bytes | None, now: float) -> Event | Rejection:
        """A record of the xAPI topic -> Event or Rejection; `raw` is parsed exactly once."""
        statement = decode_record(raw, self._max_bytes)
        if isinstance(statement, Rejection):
            return statement
        if type(statement) is not dict:
            return Rejection(Reason.NOT_OBJECT, "an xAPI statement is a JSON object")
        return self.to_event(statement, now, raw=raw)

    def to_event(
        self, statement: dict[str, Any], now: float, *, raw: bytes | None = None
    ) -> Event | Rejection:
        """A parsed statement -> Event or Rejection (`raw`: the bytes it came from, if any)."""
        # Attachments' raw data was checked by the endpoint and never reaches the topic.
        problem = statement_problem(statement, raw, attached=None)
        if problem is not None:
            return Rejection(Reason.XAPI_INVALID, problem)
        # Read through the typed accessors even though the rules passed: the mapping must not
        # depend on every rule having looked at every property it reads.
        verb_iri = text_at(object_at(statement, "verb"), "id") or ""
        rule = self.verb_map.verbs.get(verb_iri)
        if rule is None:
            return Rejection(Reason.UNKNOWN_VERB, f"verb.id: {verb_iri[:300]} is not mapped")
        actor = object_at(statement, "actor") or {}
        if actor.get("objectType") == "Group":
            return Rejection(Reason.UNMAPPABLE, "actor: a Group names no single person")
        when = text_at(statement, "timestamp") or text_at(statement, "stored")
        occurred_at = parse_iso8601_timestamp(when) if when is not None else now
        if occurred_at is None:  # unreachable after statement_problem; kept as a guard
            return Rejection(Reason.BAD_TIMESTAMP, f"timestamp: {str(when)[:64]!r}")

        if "id" not in statement:
            derived = _derived_id(statement, raw)
            if derived is None:
                return Rejection(
                    Reason.UNENCODABLE, "id: absent, and the statement cannot be written as JSON"
                )
            statement = {**statement, "id": derived}  # so that the path `id` works
        mapping = self.verb_map
        fields: dict[str, Any] = {
            "id": statement["id"],
            "type": rule.type,
            "source": resolve_text(statement, mapping.source) or mapping.default_source,
            "team": _context_group_team(statement, mapping.team_group_types)
            or resolve_text(statement, mapping.team),
        }
        initiative = resolve_text(statement, mapping.initiative)
        if initiative is not None:
            fields["initiative"] = mapping.initiative_aliases.get(initiative, initiative)
        for name, paths in mapping.fields[rule.type].items():
            fields[name] = resolve_text(statement, paths)

        result = object_at(statement, "result") or {}
        if rule.type in LEARNING_TYPES:
            duration = text(result.get("duration"))
            if duration is not None:
                fields["duration_s"] = parse_iso8601_duration(duration)
            success = result.get("success")
            fields["success"] = success if type(success) is bool else rule.success
            fields["score"] = _score(result)
        elif rule.type in DISCUSSION_TYPES:
            response = text(result.get("response"))
            if response is not None:
                fields["length"] = len(response)

        actor_pseudonym = self._pseudonymiser.xapi_actor(actor)
        event = self._events.from_mapped(fields, occurred_at, actor_pseudonym, now)
        if isinstance(event, Rejection) and event.reason is Reason.SCHEMA:
            # Valid xAPI, but what it maps to breaks the canonical contract (an id too long,
            # a discussion verb without a thread): a mapping problem, not the producer's schema.
            return Rejection(Reason.UNMAPPABLE, f"mapped event: {event.detail}")
        return event
