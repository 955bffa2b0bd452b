"""The export stage's two contracts: what it reads (`TeamStateView`) and where it writes (`Sink`).

The exporter reads the stream's state only through `TeamStateView`, a narrow read-only view
(the stream topology implements it; the exporter never sees the pipeline), and hands every
sink the same `Publication` once per tick.

Invariants every sink may rely on:
* `teams` is the complete set of teams this worker publishes now (the teams of the partitions
  it owns that pass the privacy rule); a team absent from it is no longer this worker's to
  export, whether its partition moved away or it was withdrawn.
* `rollups` is the complete set of roll-ups, or None when this worker does not own them.
* `changed` holds only what was recomputed this tick, and `withdrawn` the teams that stopped
  being published (suppressed or gone from the roster), never a team whose partition moved;
  `withdrawn_rollups` likewise the (scope, key) of roll-ups that stopped being published
  (complementary suppression), never because the roll-up owner moved.
* `content` is every tenant's complete content table when this worker owns the roll-ups (it
  is computed with them, from the same counts), else None; `content_changed` says whether
  it was recomputed this tick.
* Publications arrive in `as_of` order; a sink must not block (it queues and returns).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from teampulse.enrichment.roster import Roster
from teampulse.gauges.counts import TeamCounts
from teampulse.gauges.model import ContentSnapshot, OrgSnapshot, Scope, ScopeSnapshot
from teampulse.gauges.team_state import TeamState

__all__ = ["Publication", "Sink", "TeamStateView"]


@dataclass(frozen=True)
class Publication:
    as_of: float
    teams: Mapping[str, ScopeSnapshot]
    rollups: list[ScopeSnapshot] | None
    changed: OrgSnapshot
    withdrawn: tuple[str, ...] = field(default=())
    withdrawn_rollups: tuple[tuple[Scope, str], ...] = field(default=())
    content: list[ContentSnapshot] | None = None
    content_changed: bool = False


class Sink(Protocol):
    """Where publications go; the Prometheus collector and the Redis writer implement it."""

    def publish(self, publication: Publication) -> None: ...


class TeamStateView(Protocol):
    """What the exporter may read of the stream's state, and nothing else."""

    @property
    def roster(self) -> Roster: ...

    def owned_partitions(self) -> Iterable[int]:
        """Partitions of the team stage this worker owns and has restored."""
        ...

    def team_states(self, partition: int) -> Mapping[str, TeamState]: ...

    def log_position(self, partition: int) -> int:
        """How far the partition's state is known to be durable: the offset of the last
        acknowledged state-log record it includes (-1 for none). It only grows, whichever
        worker owns the partition, so it orders two owners' counts of one team."""
        ...

    def take_changed_teams(self, partition: int) -> set[str]:
        """Teams whose state changed since the last call (the call resets the set)."""
        ...

    def org_counts(self) -> Mapping[str, TeamCounts]:
        """Every team's latest counts as published on `team-counts` (all workers' teams),
        whatever partitions this worker owns: the organisation the drop signal reads."""
        ...

    def take_org_change(self) -> bool:
        """Whether `org_counts` changed since the last call (the call resets it)."""
        ...

    def rollup_inputs(self) -> Mapping[str, TeamCounts] | None:
        """Every team's latest counts if this worker owns the roll-ups, else None."""
        ...

    def take_rollup_change(self) -> bool:
        """Whether the roll-up inputs changed since the last call (the call resets it)."""
        ...
