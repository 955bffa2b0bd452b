"""Turns the state this worker owns into snapshots, on a timer, for the sinks.

A team is recomputed when its state changed, its roster size changed or its windows moved
(a bucket boundary passed); otherwise its previous snapshot stands. Roster teams without any
event are exported too (with zero activity) by the worker that owns their partition, so a
silent team shows as silent instead of vanishing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import orjson
from aiokafka.partitioner import murmur2

from teampulse.gauges.config import GaugeConfig
from teampulse.gauges.counts import TeamCounts
from teampulse.gauges.model import OrgSnapshot, Scope, ScopeSnapshot
from teampulse.gauges.snapshot import rollup_snapshots, team_snapshot
from teampulse.streams.app import Topics
from teampulse.streams.pipeline import Pipeline

log = logging.getLogger(__name__)


def team_partition(team: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a team key (as the producer does)."""
    return (murmur2(team.encode()) & 0x7FFFFFFF) % partitions


class SnapshotSink(Protocol):
    """Where snapshots go; the Prometheus collector and the Redis writer implement it."""

    def publish_teams(self, snapshots: dict[str, ScopeSnapshot]) -> None: ...
    def publish_rollups(self, snapshots: list[ScopeSnapshot] | None) -> None: ...


@dataclass
class _Exported:
    bucket: int
    members: int
    counts: TeamCounts
    snapshot: ScopeSnapshot | None


@dataclass
class Exporter:
    pipeline: Pipeline
    topics: Topics
    config: GaugeConfig
    partitions: int
    clock: Callable[[], float]
    sinks: list[SnapshotSink]
    submit: Callable[[OrgSnapshot], None]
    withdraw: Callable[[Scope, str, float], None]
    _exported: dict[str, _Exported] = field(default_factory=dict)
    _rollup_bucket: int | None = None
    _rollups_published: list[ScopeSnapshot] | None = None

    def published(self, team: str) -> ScopeSnapshot | None:
        """The team's latest published snapshot, if this worker owns and publishes it."""
        exported = self._exported.get(team)
        return exported.snapshot if exported is not None else None

    def tick(self) -> OrgSnapshot:
        now = self.clock()
        bucket = math.floor(now / self.config.bucket_s)
        roster = self.pipeline.roster.roster
        owned = {p for p in self.pipeline.teams.states if self.pipeline.teams.is_ready(p)}
        changed: dict[str, ScopeSnapshot] = {}
        published: dict[str, ScopeSnapshot] = {}
        live_teams: set[str] = set()
        for partition in owned:
            state = self.pipeline.teams.states[partition]
            candidates = set(state.teams)
            candidates.update(
                t for t in roster.teams() if team_partition(t, self.partitions) == partition
            )
            for team in candidates:
                live_teams.add(team)
                members = roster.team_size(team)
                previous = self._exported.get(team)
                if (
                    previous is not None
                    and previous.bucket == bucket
                    and previous.members == members
                    and team not in state.changed
                ):
                    if previous.snapshot is not None:
                        published[team] = previous.snapshot
                    continue
                team_state = state.teams.get(team)
                counts = (
                    team_state.counts(now, members)
                    if team_state is not None
                    else TeamCounts.empty(self.config, members)
                )
                snapshot = team_snapshot(team, counts, members, roster.path(team), self.config, now)
                if snapshot is None and previous is not None and previous.snapshot is not None:
                    self.withdraw("team", team, now)
                self._exported[team] = _Exported(bucket, members, counts, snapshot)
                self.topics.team_counts.send_soon(
                    key=team.encode(),
                    value=orjson.dumps({"team": team, "as_of": now, "counts": counts.to_wire()}),
                )
                if snapshot is not None:
                    published[team] = snapshot
                    changed[team] = snapshot
            state.changed.clear()
        for gone in set(self._exported) - live_teams:
            del self._exported[gone]
        changed_rollups = self._refresh_rollups(now, bucket)
        for sink in self.sinks:
            sink.publish_teams(published)
            sink.publish_rollups(self._rollups_published)
        update = OrgSnapshot(as_of=now, teams=changed, rollups=changed_rollups)
        if changed or changed_rollups:
            self.submit(update)
        return update

    def _refresh_rollups(self, now: float, bucket: int) -> list[ScopeSnapshot]:
        """Recompute department/division/org snapshots if this worker owns the roll-up
        partition and its inputs changed or the windows moved; returns what was recomputed."""
        rollup_state = self.pipeline.rollup_inputs
        owners = [p for p in rollup_state.states if rollup_state.is_ready(p)]
        if not owners:
            self._rollups_published = None
            self._rollup_bucket = None
            return []
        inputs = rollup_state.states[owners[0]]
        if not inputs.changed and self._rollup_bucket == bucket:
            return []
        inputs.changed = False
        self._rollup_bucket = bucket
        self._rollups_published = rollup_snapshots(
            inputs.counts, self.pipeline.roster.roster, self.config, now
        )
        return self._rollups_published
