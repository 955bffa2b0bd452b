"""Roster records: who is in which team, department and division, and who is active.

Roster records arrive on a compacted topic keyed by person (pseudonymised at ingestion); a
record with no value (a tombstone) removes the person. This module validates one record;
`teampulse.enrichment.roster.Roster` is the lookup every stage reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Reason, Rejection

__all__ = ["RosterEntry", "parse_roster_record"]

MAX_ROSTER_RECORD_BYTES = 16_384  # a roster record is a handful of short strings
MAX_ROSTER_PERSON_CHARS = 512  # as an event's actor
MAX_ROSTER_NAME_CHARS = 200  # as an event's team


@dataclass(frozen=True, slots=True)
class RosterEntry:
    person: str  # pseudonym
    team: str
    department: str
    division: str
    active: bool = True


def _roster_text(value: object, limit: int) -> bool:
    return type(value) is str and 0 < len(value) <= limit


def parse_roster_record(
    key: bytes | None, value: bytes | None, pseudonymiser: Pseudonymiser
) -> RosterEntry | str | Rejection:
    """A record of the roster topic -> the entry to apply, the pseudonym to remove (for a
    tombstone), or a Rejection. Schema: schemas/roster-record/v1.json.

    The person may be in the value (`person`, which wins) or only in the key; either way it
    is pseudonymised here, so the raw id never reaches the roster table.
    """
    key_person: str | None = None
    if key is not None:
        try:
            key_person = bytes(key).decode("utf-8").strip() or None
        except UnicodeDecodeError:
            return Rejection(Reason.ROSTER_INVALID, "key: not UTF-8 text")
    if value is None:
        if key_person is None:
            return Rejection(Reason.ROSTER_INVALID, "tombstone without a key: nobody to remove")
        return pseudonymiser.person(key_person)
    if len(value) > MAX_ROSTER_RECORD_BYTES:
        return Rejection(
            Reason.TOO_LARGE, f"{len(value)} bytes, the limit is {MAX_ROSTER_RECORD_BYTES}"
        )
    try:
        record: Any = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return Rejection(Reason.NOT_JSON, str(exc)[:200])
    if type(record) is not dict:
        return Rejection(Reason.NOT_OBJECT, "a roster record is a JSON object")
    person: Any = record.get("person", key_person)
    if not _roster_text(person, MAX_ROSTER_PERSON_CHARS):
        return Rejection(
            Reason.ROSTER_INVALID,
            f"person: a string of 1 to {MAX_ROSTER_PERSON_CHARS} characters, in the value or "
            "the record key",
        )
    for name in ("team", "department", "division"):
        if not _roster_text(record.get(name), MAX_ROSTER_NAME_CHARS):
            return Rejection(
                Reason.ROSTER_INVALID,
                f"{name}: required, a string of 1 to {MAX_ROSTER_NAME_CHARS} characters",
            )
    active = record.get("active", True)
    if type(active) is not bool:
        return Rejection(Reason.ROSTER_INVALID, "active: must be true or false")
    return RosterEntry(
        person=pseudonymiser.person(person),
        team=record["team"],
        department=record["department"],
        division=record["division"],
        active=active,
    )
