"""The `team-counts` record: a team's latest counts as its owner publishes them.

Every worker reads the whole topic back (its own teams' records too: the roll-up owner in its
stages, every worker in its `TeamCountsReader`), and decoding a record was about 10 % of a
worker under load, most of it records this same process had just encoded. So the encoder
remembers, per team, the last records it wrote and the counts it wrote them from; a record
read back with exactly those bytes is that value (`TeamCounts` is immutable and round-trips exactly
through the wire, `tests/unit/gauges/test_counts.py`), anything else is parsed. Bytes decide,
not the team or the sender, so the shortcut can never return another record's counts.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

import orjson

from teampulse.engine.state_store import NO_LOG_POSITION
from teampulse.gauges.counts import TeamCounts

__all__ = ["TeamCountsRecord", "decode_team_counts", "encode_team_counts"]


class TeamCountsRecord(NamedTuple):
    team: str
    # (`seq`, `as_of`): which of two records of a team is the latest (RollupInputs)
    version: tuple[int, float]
    counts: TeamCounts


# The last records encoded per team, by their bytes. The readers trail the export by a few
# ticks under load (one remembered record per team missed a third of them).
REMEMBERED_PER_TEAM = 4
_encoded_by_team: dict[str, deque[bytes]] = {}
_encoded: dict[bytes, TeamCountsRecord] = {}


def encode_team_counts(team: str, seq: int, as_of: float, counts: TeamCounts) -> bytes:
    value = orjson.dumps({"team": team, "seq": seq, "as_of": as_of, "counts": counts.to_wire()})
    recent = _encoded_by_team.get(team)
    if recent is None:
        recent = _encoded_by_team[team] = deque()
    elif len(recent) == REMEMBERED_PER_TEAM:
        _encoded.pop(recent.popleft(), None)
    if value not in _encoded:  # the same counts again: one entry
        recent.append(value)
    _encoded[value] = TeamCountsRecord(team, (seq, as_of), counts)
    return value


def decode_team_counts(record: bytes) -> TeamCountsRecord:
    """The record's team, version and counts; ValueError, KeyError or TypeError if it is not
    a team's counts."""
    known = _encoded.get(record)
    if known is not None:
        return known
    message = orjson.loads(record)
    team = message["team"]
    # A record written before `seq` existed ranks below every record that has one.
    version = (int(message.get("seq", NO_LOG_POSITION)), float(message["as_of"]))
    return TeamCountsRecord(team, version, TeamCounts.from_wire(message["counts"]))
