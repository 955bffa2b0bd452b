"""The state phase of `make bench`: what the core holds per person, and how long it restores.

The worker's RSS says how much the process holds, not what of it is the gauges' state; this
phase applies the measured load (the first N events of the corpus, teams resolved from its
roster) through the two stateful stages in this process, as `benchmarks.gauges_memory`
does, and reports:

* the state's bytes as tracemalloc sees them, per person of the roster and per event kept;
* the teams stage's snapshot (`teampulse.streams.state_snapshots`, the format a restart
  loads), its size and the time to load it: the CPU part of a restore. Reading the snapshot
  and the log records after it from Kafka adds to it (docs/architecture.md).

Pure CPU and memory in one process: no broker. It is opt-in (`--state`, implied by
`--large-org`) because tracing every allocation makes the apply several times slower.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from dataclasses import dataclass

import orjson

from teampulse.contract.event import Event
from teampulse.contract.roster import RosterEntry
from teampulse.contract.timestamps import parse_rfc3339
from teampulse.enrichment.roster import Roster, resolve_team
from teampulse.gauges.config import GaugeConfig
from teampulse.streams.partitions import TeamPartition
from teampulse.streams.state_snapshots import dump_teams, load_teams

from .corpus import Record
from .gauges_memory import Pipeline

__all__ = ["StateFigures", "measure_state"]


@dataclass(frozen=True)
class StateFigures:
    people: int
    events: int
    state_bytes: int
    snapshot_bytes: int
    restore_s: float

    @property
    def bytes_per_person(self) -> float:
        return self.state_bytes / self.people

    @property
    def bytes_per_event(self) -> float:
        return self.state_bytes / self.events


def _roster(records: list[Record]) -> Roster:
    entries = []
    for _, value in records:
        r = orjson.loads(value)
        entries.append(
            RosterEntry(r["person"], r["team"], r["department"], r["division"], r["active"])
        )
    return Roster(entries)


def _event(raw: bytes, roster: Roster, known: frozenset[str]) -> Event:
    """The event as the by-team topic carries it: team resolved, time in epoch seconds."""
    wire = orjson.loads(raw)
    fields = {k: v for k, v in wire.items() if k in known}
    fields["occurred_at"] = parse_rfc3339(wire["occurred_at"])
    fields["team"] = resolve_team(wire.get("team"), wire["actor"], roster)
    fields["tags"] = tuple(wire.get("tags", ()))
    return Event(**fields)


def measure_state(
    roster_records: list[Record], events: list[Record], config: GaugeConfig
) -> StateFigures:
    roster = _roster(roster_records)
    known = frozenset(Event.__struct_fields__)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    pipeline = Pipeline(config, roster)
    for _, raw in events:  # parsed inside the traced region: the strings kept are the state's
        pipeline.apply(_event(raw, roster, known))
    now = max(t.watermark or 0.0 for t in pipeline.teams.values())
    for team in pipeline.teams.values():  # what the exporter keeps warm: the day caches
        team.counts(now, roster.team_size(team.team))
    gc.collect()
    state_bytes = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    snapshot = dump_teams(config)(TeamPartition(config, pipeline.teams))
    started = time.perf_counter()
    load_teams(config)(0, snapshot)
    restore_s = time.perf_counter() - started
    return StateFigures(
        people=len(roster_records),
        events=pipeline.events,
        state_bytes=state_bytes,
        snapshot_bytes=len(snapshot),
        restore_s=restore_s,
    )
