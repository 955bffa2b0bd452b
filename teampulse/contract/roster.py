"""The roster: who is in which team, department and division, and who is active.

Roster records arrive on a compacted topic keyed by person (pseudonymised at ingestion); a
record with no value (a tombstone) removes the person. `Roster` is the pure view every stage
reads: team of a person, team sizes, the org path of a team.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson

from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Reason, Rejection

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


class Roster:
    def __init__(self, entries: list[RosterEntry] | None = None) -> None:
        self._people: dict[str, RosterEntry] = {}
        self._team_sizes: Counter[str] = Counter()
        self._paths: dict[str, tuple[str, str]] = {}
        for entry in entries or []:
            self.apply(entry)

    def apply(self, entry: RosterEntry) -> None:
        self.remove(entry.person)
        self._people[entry.person] = entry
        if entry.active:
            self._team_sizes[entry.team] += 1
        self._paths[entry.team] = (entry.department, entry.division)

    def remove(self, person: str) -> None:
        previous = self._people.pop(person, None)
        if previous is not None and previous.active:
            self._team_sizes[previous.team] -= 1
            if self._team_sizes[previous.team] <= 0:
                del self._team_sizes[previous.team]

    def team_of(self, person: str) -> str | None:
        entry = self._people.get(person)
        return entry.team if entry is not None else None

    def team_size(self, team: str) -> int:
        """Active members of a team; 0 for a team the roster does not know."""
        return self._team_sizes.get(team, 0)

    def path(self, team: str) -> tuple[str, str] | None:
        """(department, division) of a team, from its members' latest roster records."""
        return self._paths.get(team)

    def teams(self) -> list[str]:
        """Teams with at least one active member, sorted."""
        return sorted(self._team_sizes)

    def __len__(self) -> int:
        return len(self._people)


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
