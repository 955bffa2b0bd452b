"""Turns the state this worker owns into snapshots, on a timer, for the sinks.

A team is recomputed when its state changed, its roster size changed or its windows moved
(a bucket boundary passed); otherwise its previous snapshot stands. Roster teams without any
event are exported too (with zero activity) by the worker that owns their partition, so a
silent team shows as silent instead of vanishing.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from aiokafka.partitioner import murmur2

from teampulse.contract.tenant_scope import tenant_of
from teampulse.gauges.config import GaugeConfig
from teampulse.gauges.content import content_table
from teampulse.gauges.counts import TeamCounts
from teampulse.gauges.model import ContentSnapshot, OrgSnapshot, Scope, ScopeSnapshot
from teampulse.gauges.snapshot import (
    Organisations,
    organisations_of,
    rollup_snapshots,
    team_snapshot,
)
from teampulse.sinks.sink import Publication, Sink, TeamStateView
from teampulse.streams.team_counts_record import encode_team_counts

__all__ = ["Exporter", "team_partition"]

log = logging.getLogger(__name__)

# How often, at most, the teams that were not recounted are judged again because the rest
# of the organisation moved (a recounted team always gets the organisation of the moment).
# It bounds CPU, so it runs on the monotonic clock, not on the event clock (which a test or a
# replay may freeze): a change waits at most this long, never forever.
ORG_REJUDGE_S = 10.0
# (team key, record value) of a team's latest counts, for every worker's organisation and
# the roll-ups.
SendTeamCounts = Callable[[bytes, bytes], None]
# A team's counts record goes out at most this often (monotonic seconds); the newest counts
# wait for the first tick after that. Under load every team is recounted every few tenths of
# a second, and encoding each recount (with the content gauges, counted only for a record)
# was a third of the export's CPU; the roll-ups and the other workers' view of the
# organisation trail by this much at most, a team's own gauges not at all.
TEAM_COUNTS_MIN_GAP_S = 1.0
# The roll-ups (and the content table) are recomputed at most this often when only their
# inputs moved (at once when the windows moved): they merge every team's counts, and with
# inputs changing at every tick under load that was a quarter of the export.
ROLLUP_MIN_GAP_S = 1.0


# Every tick asks for every roster team's partition; hashing them again was 1.5 % of a worker.
@functools.lru_cache(maxsize=1 << 16)
def team_partition(team: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a team key (as the producer does)."""
    return (murmur2(team.encode()) & 0x7FFFFFFF) % partitions


@dataclass
class _Exported:
    bucket: int
    members: int
    counts: TeamCounts  # without the content gauges' part (only the team-counts record has it)
    snapshot: ScopeSnapshot | None
    judged_by: int = -1  # the version of the organisation its snapshot was set against


@dataclass(frozen=True)
class _Unsent:
    """Counts of a team recounted since its last team-counts record, as of their tick."""

    partition: int
    seq: int
    as_of: float


@dataclass
class Exporter:
    state: TeamStateView
    config: GaugeConfig
    partitions: int
    clock: Callable[[], float]
    sinks: list[Sink]
    send_team_counts: SendTeamCounts
    monotonic: Callable[[], float] = time.monotonic
    _exported: dict[str, _Exported] = field(default_factory=dict)
    _rollup_bucket: int | None = None
    _rollups_published: list[ScopeSnapshot] | None = None
    _content_published: list[ContentSnapshot] | None = None
    _org: Organisations | None = None
    _org_judged_by: tuple[object, ...] | None = None  # what the signals read of `_org`
    _org_version: int = 0  # counts the changes of `_org_judged_by`
    _rejudged_at: float = -math.inf  # monotonic
    _unsent: dict[str, _Unsent] = field(default_factory=dict)
    _sent_at: dict[str, float] = field(default_factory=dict)  # team -> monotonic
    _rollups_at: float = -math.inf  # monotonic
    _rollup_pending: bool = False  # inputs moved since the roll-ups were recomputed

    def published(self, team: str) -> ScopeSnapshot | None:
        """The team's latest published snapshot, if this worker owns and publishes it."""
        exported = self._exported.get(team)
        return exported.snapshot if exported is not None else None

    def forget_tenants(self, known: Callable[[str | None], bool]) -> None:
        """A deleted tenant's teams and roll-ups leave the next publication, so its series
        leave /metrics (its state is gone from the partitions and the roster already)."""
        for team in [t for t in self._exported if not known(tenant_of(t))]:
            del self._exported[team]
        self._rollup_bucket = None  # recompute the roll-ups without it at the next tick
        self._org = None

    def judge_again(self) -> None:
        """Every team and roll-up is counted and judged again at the next tick (a tenant's
        minimum group size changed: what may be published changed with it)."""
        for exported in self._exported.values():
            exported.bucket = -1
        self._rollup_bucket = None

    def tick(self, idle: bool = False) -> Publication:
        """`idle`: no batch came since the last tick. The throttle on following the
        organisation is for a busy organisation; once neither this worker's stream nor the
        organisation moved since the last tick, a waiting change is taken up at once, so the
        gauges are final as soon as the streams stop, not ORG_REJUDGE_S later. (Idle alone
        is not enough: a worker done with its partitions while another still sends counts
        would judge every team again on every tick, taking the CPU the other needs.)"""
        now = self.clock()
        bucket = math.floor(now / self.config.bucket_s)
        roster = self.state.roster
        changed: dict[str, ScopeSnapshot] = {}
        published: dict[str, ScopeSnapshot] = {}
        withdrawn: list[str] = []
        live_teams: set[str] = set()
        recounted: dict[str, TeamCounts] = {}
        for partition in self.state.owned_partitions():
            states = self.state.team_states(partition)
            seq = self.state.log_position(partition)
            changed_here = self.state.take_changed_teams(partition)
            candidates = set(states)
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
                    and team not in changed_here
                ):
                    continue
                team_state = states.get(team)
                counts = (
                    team_state.counts(now, members, content=False)
                    if team_state is not None
                    else TeamCounts.empty(self.config, members)
                )
                recounted[team] = counts
                self._exported[team] = _Exported(
                    bucket, members, counts, previous.snapshot if previous is not None else None
                )
                self._unsent[team] = _Unsent(partition, seq, now)
        for gone in set(self._exported) - live_teams:
            del self._exported[gone]
            self._unsent.pop(gone, None)
            self._sent_at.pop(gone, None)
        self._send_team_counts()
        # Every team's drop signal is set against the whole organisation: when what the
        # signals read of it moved (a team recounted here or by another worker, a bucket
        # passed), every team is judged again, not only the recounted ones. Events arrive
        # all the time somewhere in the organisation, so that happens at most every
        # ORG_REJUDGE_S; a change left waiting is taken up by the first tick after it, or by
        # the first one after everything stopped (each snapshot stays exact as of its own
        # instant).
        org_moved = self.state.take_org_change()
        org = self._org_activity() if recounted or org_moved or self._org is None else self._org
        self._org = org
        judged_by = org.judged_by()
        if judged_by != self._org_judged_by:
            self._org_judged_by = judged_by
            self._org_version += 1
        version = self._org_version
        rejudge = False
        settled = idle and not recounted and not org_moved
        if settled or self.monotonic() - self._rejudged_at >= ORG_REJUDGE_S:
            rejudge = any(
                e.judged_by != version for t, e in self._exported.items() if t not in recounted
            )
            if rejudge:
                self._rejudged_at = self.monotonic()
        for team, exported in self._exported.items():
            if team not in recounted and not (rejudge and exported.judged_by != version):
                if exported.snapshot is not None:
                    published[team] = exported.snapshot
                continue
            previous_snapshot = exported.snapshot
            snapshot = team_snapshot(
                team,
                exported.counts,
                exported.members,
                roster.path(team),
                self.config,
                now,
                org.of(team),
                roster,
                org.cross_team_threads_of(team),
            )
            if snapshot is None and previous_snapshot is not None:
                withdrawn.append(team)
            exported.snapshot = snapshot
            exported.judged_by = version
            if snapshot is not None:
                published[team] = snapshot
                changed[team] = snapshot
        rollups_before = self._rollups_published
        changed_rollups, withdrawn_rollups = self._refresh_rollups(now, bucket)
        publication = Publication(
            as_of=now,
            teams=published,
            rollups=self._rollups_published,
            changed=OrgSnapshot(as_of=now, teams=changed, rollups=changed_rollups),
            withdrawn=tuple(withdrawn),
            withdrawn_rollups=withdrawn_rollups,
            content=self._content_published,
            content_changed=self._rollups_published is not rollups_before,
        )
        for sink in self.sinks:
            sink.publish(publication)
        return publication

    def _send_team_counts(self) -> None:
        """The team-counts record of every team recounted since its last one, unless that
        went out less than TEAM_COUNTS_MIN_GAP_S ago; its content gauges are counted here,
        as of the counts' own instant (the team has not changed since, or it would have been
        recounted at this tick)."""
        monotonic = self.monotonic()
        for team, unsent in list(self._unsent.items()):
            if monotonic - self._sent_at.get(team, -math.inf) < TEAM_COUNTS_MIN_GAP_S:
                continue
            del self._unsent[team]
            self._sent_at[team] = monotonic
            exported = self._exported[team]
            counts = exported.counts
            team_state = self.state.team_states(unsent.partition).get(team)
            if team_state is not None:
                content = team_state.content_counts(unsent.as_of, exported.members)
                counts = replace(counts, content=content)
            record = encode_team_counts(team, unsent.seq, unsent.as_of, counts)
            self.send_team_counts(team.encode(), record)

    def _org_activity(self) -> Organisations:
        """Each tenant's whole organisation: every team's latest counts as its owner
        published them on `team-counts` (every worker follows that topic), this worker's
        own teams as they are now."""
        counts = dict(self.state.org_counts())
        counts.update((team, exported.counts) for team, exported in self._exported.items())
        return organisations_of(counts, self.state.roster, self.config)

    def _refresh_rollups(
        self, now: float, bucket: int
    ) -> tuple[list[ScopeSnapshot], tuple[tuple[Scope, str], ...]]:
        """Recompute department/division/org snapshots if this worker owns the roll-ups and
        their inputs changed or the windows moved; returns what was recomputed and the
        roll-ups that stopped being published."""
        inputs = self.state.rollup_inputs()
        if inputs is None:
            self._rollups_published = None
            self._content_published = None
            self._rollup_bucket = None
            return [], ()
        self._rollup_pending |= self.state.take_rollup_change()
        if self._rollup_bucket == bucket and (
            not self._rollup_pending or self.monotonic() - self._rollups_at < ROLLUP_MIN_GAP_S
        ):
            return [], ()
        self._rollup_pending = False
        self._rollups_at = self.monotonic()
        self._rollup_bucket = bucket
        before = {(s.scope, s.key) for s in self._rollups_published or ()}
        self._rollups_published = rollup_snapshots(inputs, self.state.roster, self.config, now)
        # The content table sums the same teams' counts per tenant (`gauges.content`).
        self._content_published = content_table(
            {team: counts.content for team, counts in inputs.items()}, self.config
        )
        # Complementary suppression can withhold a roll-up whose own size did not change: it
        # must leave the sinks too, not linger with its last values.
        withdrawn = before - {(s.scope, s.key) for s in self._rollups_published}
        return self._rollups_published, tuple(sorted(withdrawn))
